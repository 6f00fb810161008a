import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {chmod, link, lstat, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {createConnection, createServer} from 'node:net'
import type {Server, Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'
import {fileURLToPath} from 'node:url'

import {DiswallError} from '../../../src/lib/errors.js'
import {openControlServer, queryControl} from '../../../src/lib/service/index.js'
import type {ControlHandlers, QueryControlOptions, ServiceIdentity} from '../../../src/lib/service/index.js'

/** A service that is not the daemon, so that every message below shows it is named from here. */
const SERVICE: ServiceIdentity = {client: 'diswall server status', name: 'server', socketSetting: '[server] socket', unit: 'diswall-server'}
const STATUS = {mode: 'central', pid: 4242, uptimeSec: 7, version: '0.1.0'}
const HANDLERS: ControlHandlers<typeof STATUS> = {status: () => STATUS}

/** queryControl() for SERVICE. */
function query<T = unknown>(path: string, command: string, options: Omit<QueryControlOptions, 'service'> = {}): Promise<T> {
  return queryControl<T>(path, command, {...options, service: SERVICE})
}

let root: string
let counter = 0
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'dw-ctl-')) // short: a unix socket path has at most 107 bytes
})
after(async () => {
  await rm(root, {force: true, recursive: true})
})

/** A fresh directory under the test root for one test. */
async function freshDir(): Promise<string> {
  const dir = join(root, String(++counter))
  await mkdir(dir)
  return dir
}

/** Rejects with the DiswallError that `promise` rejects with; fails when it resolves. */
async function rejection(promise: Promise<unknown>): Promise<DiswallError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof DiswallError, `expected a DiswallError, got ${String(error)}`)
    return error
  }
  assert.fail('expected a rejection')
}

/** A raw client: send text, collect answer lines; resolves `closed` when the server closes the connection. */
function rawClient(path: string): {socket: Socket; lines: string[]; nextLine(): Promise<string>; closed: Promise<void>} {
  const socket = createConnection({path})
  const lines: string[] = []
  const waiters: Array<() => void> = []
  let buffer = ''
  socket.setEncoding('utf8')
  socket.on('data', (d: string) => {
    buffer += d
    let i: number
    while ((i = buffer.indexOf('\n')) !== -1) {
      lines.push(buffer.slice(0, i))
      buffer = buffer.slice(i + 1)
      waiters.shift()?.()
    }
  })
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()))
  let read = 0
  return {
    closed,
    lines,
    async nextLine() {
      while (lines.length <= read) await new Promise<void>((resolve) => waiters.push(resolve))
      return lines[read++]
    },
    socket,
  }
}

/** Leaves a socket file at `path` that nobody listens on (as after a crash). */
async function staleSocket(path: string): Promise<void> {
  const server: Server = createServer()
  const bound = `${path}.tmp`
  await new Promise<void>((resolve) => server.listen(bound, resolve))
  await link(bound, path) // the link survives close(), which unlinks only the bound name
  await new Promise<void>((resolve) => server.close(() => resolve()))
}

test('control - status round trip over the socket', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  try {
    assert.equal(server.path, path)
    assert.deepEqual(await query(path, 'status'), STATUS)
  } finally {
    await server.close()
  }
})

test('control - the socket is 0600 from the start, and nothing else is left in its directory', async () => {
  const dir = await freshDir()
  const path = join(dir, 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  try {
    const st = await lstat(path)
    assert.ok(st.isSocket())
    assert.equal(st.mode & 0o777, 0o600)
    assert.deepEqual(await readdir(dir), ['diswall.sock'])
  } finally {
    await server.close()
  }
})

test('control - a missing parent directory is created 0755', async () => {
  const dir = join(await freshDir(), 'run', 'diswall')
  const server = await openControlServer(join(dir, 'diswall.sock'), HANDLERS, SERVICE)
  try {
    assert.equal((await stat(dir)).mode & 0o777, 0o755)
  } finally {
    await server.close()
  }
})

test('control - close() removes the socket file and may be called twice', async () => {
  const dir = await freshDir()
  const path = join(dir, 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  await server.close()
  await server.close()
  assert.deepEqual(await readdir(dir), [])
})

test('control - close() does not wait for idle clients', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  const client = rawClient(path)
  await new Promise((resolve) => client.socket.once('connect', resolve))
  await server.close()
  await client.closed
})

test('control - an unknown command answers E_UNKNOWN_COMMAND, also for names of Object.prototype', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  try {
    for (const command of ['frobnicate', 'constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const error = await rejection(query(path, command))
      assert.equal(error.code, 'E_UNKNOWN_COMMAND', command)
      assert.equal(error.exitCode, 2)
      assert.match(error.hint ?? '', /Known commands: status\./)
    }
  } finally {
    await server.close()
  }
})

test('control - bad JSON and bad requests answer E_BAD_REQUEST and the connection stays usable', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  try {
    const client = rawClient(path)
    client.socket.write('not json\n[]\n{"command":1}\n\n{"command":"status"}\n')
    for (let i = 0; i < 3; i++) {
      const answer = JSON.parse(await client.nextLine())
      assert.equal(answer.ok, false)
      assert.equal(answer.error.code, 'E_BAD_REQUEST')
    }
    assert.deepEqual(JSON.parse(await client.nextLine()), {ok: true, result: STATUS})
    client.socket.destroy()
  } finally {
    await server.close()
  }
})

test('control - pipelined requests are answered in order, even when an earlier one is slower', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, {
    fast: () => 'fast',
    slow: async () => {
      await new Promise((resolve) => setTimeout(resolve, 50))
      return 'slow'
    },
    status: () => STATUS,
  }, SERVICE)
  try {
    const client = rawClient(path)
    client.socket.write('{"command":"slow"}\n{"command":"fast"}\n')
    assert.deepEqual(JSON.parse(await client.nextLine()), {ok: true, result: 'slow'})
    assert.deepEqual(JSON.parse(await client.nextLine()), {ok: true, result: 'fast'})
    client.socket.destroy()
  } finally {
    await server.close()
  }
})

test('control - a request line over 64 KiB closes the connection; the server goes on', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  try {
    const client = rawClient(path)
    client.socket.write('{"command":"' + 'x'.repeat(70 * 1024)) // no newline: the server must not buffer forever
    await client.closed
    assert.deepEqual(client.lines, [])

    const withNewline = rawClient(path)
    withNewline.socket.write(`{"command":"status","pad":"${'x'.repeat(65 * 1024)}"}\n`)
    await withNewline.closed
    assert.deepEqual(withNewline.lines, [])

    assert.deepEqual(await query(path, 'status'), STATUS)
  } finally {
    await server.close()
  }
})

test('control - handler errors reach the client with code, message, hint and exit code', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, {
    broken: () => {
      throw new Error('boom')
    },
    reload: async () => {
      throw new DiswallError('config is bad', 'E_CONFIG', 3, 'Fix it.')
    },
    status: () => STATUS,
    weird: () => ({big: 1n}), // not JSON-serialisable
  }, SERVICE)
  try {
    const reload = await rejection(query(path, 'reload'))
    assert.deepEqual([reload.code, reload.message, reload.hint, reload.exitCode], ['E_CONFIG', 'config is bad', 'Fix it.', 3])
    const broken = await rejection(query(path, 'broken'))
    assert.deepEqual([broken.code, broken.message, broken.exitCode], ['E_INTERNAL', 'boom', 1])
    const weird = await rejection(query(path, 'weird'))
    assert.equal(weird.code, 'E_INTERNAL')
    assert.deepEqual(await query(path, 'status'), STATUS) // still serving
  } finally {
    await server.close()
  }
})

test('control - a request may carry arguments for its handler', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, {echo: (request) => request, status: () => STATUS}, SERVICE)
  try {
    assert.deepEqual(await query(path, 'echo', {args: {target: '203.0.113.7'}}), {command: 'echo', target: '203.0.113.7'})
  } finally {
    await server.close()
  }
})

test('control - a stale socket (nobody listening) is removed and replaced', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  await staleSocket(path)
  assert.ok((await lstat(path)).isSocket())
  const server = await openControlServer(path, HANDLERS, SERVICE)
  try {
    assert.deepEqual(await query(path, 'status'), STATUS)
  } finally {
    await server.close()
  }
})

test('control - a second server on a live socket throws E_DAEMON_RUNNING and leaves the first one working', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const first = await openControlServer(path, HANDLERS, SERVICE)
  try {
    const error = await rejection(openControlServer(path, {status: () => ({...STATUS, pid: 1})}, SERVICE))
    assert.equal(error.code, 'E_DAEMON_RUNNING')
    assert.equal(error.exitCode, 4)
    assert.equal(error.message, `another diswall server is already listening on ${path}`)
    assert.equal(error.hint, 'Stop it first (systemctl stop diswall-server), or give this one another [server] socket.')
    assert.deepEqual(await query(path, 'status'), STATUS)
  } finally {
    await first.close()
  }
})

test('control - a regular file at the socket path is refused and left untouched', async () => {
  const dir = await freshDir()
  const path = join(dir, 'diswall.sock')
  await writeFile(path, 'precious\n')
  const error = await rejection(openControlServer(path, HANDLERS, SERVICE))
  assert.equal(error.code, 'E_CONTROL_SOCKET')
  assert.equal(error.exitCode, 4)
  assert.equal(error.message, `${path} exists and is not a socket; the server will not replace it`)
  assert.equal(error.hint, 'Move the file away, or set another [server] socket in the config.')
  assert.equal(await readFile(path, 'utf8'), 'precious\n')
  assert.deepEqual(await readdir(dir), ['diswall.sock']) // no private directory left behind
})

test('control - a path too long for a unix socket is refused with a clear error', async () => {
  const error = await rejection(openControlServer(join(root, 'x'.repeat(120), 'diswall.sock'), HANDLERS, SERVICE))
  assert.equal(error.code, 'E_CONTROL_SOCKET')
  assert.match(error.message, /too long/)
  assert.equal(error.hint, 'Set a shorter [server] socket in the config.')
})

test('control - client: no socket file means E_DAEMON_NOT_RUNNING (exit 4) with a hint to start it', async () => {
  const error = await rejection(query(join(await freshDir(), 'missing.sock'), 'status'))
  assert.equal(error.code, 'E_DAEMON_NOT_RUNNING')
  assert.equal(error.exitCode, 4)
  assert.equal(error.hint, 'Start it: systemctl start diswall-server (or run "diswall server").')
  assert.match(error.message, /^the diswall server is not running: its control socket does not exist \(/)
})

test('control - client: a refused connection (stale socket) means E_DAEMON_NOT_RUNNING', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  await staleSocket(path)
  const error = await rejection(query(path, 'status'))
  assert.equal(error.code, 'E_DAEMON_NOT_RUNNING')
  assert.equal(error.exitCode, 4)
  assert.match(error.message, /nothing listens/)
})

test('control - client: no answer within timeoutMs means E_DAEMON_TIMEOUT', async () => {
  const path = join(await freshDir(), 'mute.sock')
  const connections: Socket[] = []
  const mute = createServer((socket) => connections.push(socket)) // accepts, never answers
  await new Promise<void>((resolve) => mute.listen(path, resolve))
  try {
    const started = Date.now()
    const error = await rejection(query(path, 'status', {timeoutMs: 100}))
    assert.equal(error.code, 'E_DAEMON_TIMEOUT')
    assert.equal(error.exitCode, 4)
    assert.equal(error.message, `the diswall server did not answer "status" within 100 ms on ${path}`)
    assert.equal(error.hint, 'It may be busy or hung; check its log: journalctl -u diswall-server.')
    assert.ok(Date.now() - started < 2000)
  } finally {
    for (const socket of connections) socket.destroy()
    await new Promise((resolve) => mute.close(resolve))
  }
})

test('control - client: a malformed answer is E_DAEMON_PROTOCOL', async () => {
  const path = join(await freshDir(), 'liar.sock')
  const liar = createServer((socket) => socket.resume().end('hello\n')) // resume: read to the end, so it can close
  await new Promise<void>((resolve) => liar.listen(path, resolve))
  try {
    const error = await rejection(query(path, 'status'))
    assert.equal(error.code, 'E_DAEMON_PROTOCOL')
    assert.equal(error.message, `invalid answer from the diswall server on ${path}: not JSON`)
    assert.equal(error.hint, 'Check that "diswall server status" and the server are the same version (restart the server after an upgrade).')
  } finally {
    await new Promise((resolve) => liar.close(resolve))
  }
})

test('control - other users cannot connect: E_NOT_ROOT for them', {skip: process.getuid?.() !== 0 && 'needs root to run a client as nobody'}, async () => {
  const dir = await freshDir()
  await chmod(root, 0o755) // let nobody reach the socket itself, so only its own mode stops them
  await chmod(dir, 0o755)
  const path = join(dir, 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  try {
    const control = fileURLToPath(new URL('../../../src/lib/service/control.ts', import.meta.url))
    const script = `import {queryControl} from ${JSON.stringify(control)}
      queryControl(${JSON.stringify(path)}, 'status', {service: ${JSON.stringify(SERVICE)}}).then(() => console.log('connected'), (e) => console.log(e.code, e.exitCode))`
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
      {cwd: fileURLToPath(new URL('../../..', import.meta.url)), env: {...process.env, TSX_DISABLE_CACHE: '1'}, gid: 65_534, uid: 65_534})
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
    const code = await new Promise((resolve) => child.on('close', resolve))
    assert.equal(code, 0, err)
    assert.equal(out.trim(), 'E_NOT_ROOT 4')
  } finally {
    await server.close()
    await chmod(root, 0o700)
  }
})

/** Polls `value` until it stays the same for `quietMs` (a bounded number of rounds), then returns it. */
async function settled(value: () => number, quietMs = 300): Promise<number> {
  let last = value()
  for (let round = 0; round < 100; round++) {
    await new Promise((resolve) => setTimeout(resolve, quietMs))
    if (value() === last) return last
    last = value()
  }
  return last
}

test('control - 200 idle connections do not lock out a new status: the idlest one gives up its slot', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, HANDLERS, SERVICE)
  const idle: Array<ReturnType<typeof rawClient>> = []
  try {
    for (let i = 0; i < 200; i++) {
      const client = rawClient(path)
      await new Promise((resolve) => client.socket.once('connect', resolve))
      idle.push(client)
    }
    assert.deepEqual(await query(path, 'status'), STATUS)
    assert.deepEqual(await query(path, 'status'), STATUS)
    // The first connections were the idlest: they made room; the last one is still served.
    await idle[0].closed
    const last = idle.at(-1)!
    last.socket.write('{"command":"status"}\n')
    assert.deepEqual(JSON.parse(await last.nextLine()), {ok: true, result: STATUS})
  } finally {
    for (const client of idle) client.socket.destroy()
    await server.close()
  }
})

test('control - a connection without a request for idleTimeoutMs is closed; one waiting for its answer is not', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const server = await openControlServer(path, {
    slow: async () => {
      await new Promise((resolve) => setTimeout(resolve, 300))
      return 'slow'
    },
    status: () => STATUS,
  }, SERVICE, {idleTimeoutMs: 100})
  try {
    const quiet = rawClient(path)
    await quiet.closed // closed by the server: the test would time out otherwise
    const busy = rawClient(path)
    busy.socket.write('{"command":"slow"}\n')
    assert.deepEqual(JSON.parse(await busy.nextLine()), {ok: true, result: 'slow'})
    await busy.closed // and idle again afterwards
  } finally {
    await server.close()
  }
})

test('control - pipelined requests are answered one at a time and in order, and reading stops while answers are not read', async () => {
  const path = join(await freshDir(), 'diswall.sock')
  const REQUESTS = 20_000
  let calls = 0
  let running = 0
  let maxRunning = 0
  const padding = 'x'.repeat(1000) // 20 MB of answers in all: far more than the socket buffers hold
  const server = await openControlServer(path, {
    status: async () => {
      running++
      maxRunning = Math.max(maxRunning, running)
      await Promise.resolve()
      running--
      return {n: ++calls, padding}
    },
  }, SERVICE)
  try {
    const socket = createConnection({path})
    await new Promise((resolve) => socket.once('connect', resolve))
    socket.pause() // the client reads no answers yet
    socket.write('{"command":"status"}\n'.repeat(REQUESTS))
    const answeredUnread = await settled(() => calls)
    assert.ok(answeredUnread < REQUESTS / 4, `the service answered ${answeredUnread} of ${REQUESTS} requests nobody read`)

    let buffer = ''
    let expected = 1
    await new Promise<void>((resolve, reject) => {
      socket.setEncoding('utf8')
      socket.on('data', (d: string) => {
        buffer += d
        let i: number
        while ((i = buffer.indexOf('\n')) !== -1) {
          const answer = JSON.parse(buffer.slice(0, i)) as {result: {n: number}}
          buffer = buffer.slice(i + 1)
          if (answer.result.n !== expected) reject(new Error(`answer ${answer.result.n} came where ${expected} was due`))
          if (++expected > REQUESTS) resolve()
        }
      })
      socket.resume()
    })
    assert.equal(calls, REQUESTS)
    assert.equal(maxRunning, 1)
    socket.destroy()
  } finally {
    await server.close()
  }
})
