/**
 * The daemon's local control socket: newline-delimited JSON over a root-only unix socket
 * (`[daemon] socket`, /run/diswall/diswall.sock). A request is one line `{"command":"status"}`; the answer
 * is one line `{"ok":true,"result":…}` or `{"ok":false,"error":{"code","message","hint"?,"exitCode"?}}`.
 * `diswall status` is the client (queryDaemon()).
 */
import {Buffer} from 'node:buffer'
import {chmod, link, lstat, mkdir, mkdtemp, rm, unlink} from 'node:fs/promises'
import {createConnection, createServer} from 'node:net'
import type {Server, Socket} from 'node:net'
import {dirname, join} from 'node:path'

import {asDiswallError, DiswallError, ExitCode} from '../errors.js'
import type {DaemonStatus} from '../daemon/status.js'

/** Longest request or response line, bytes; a peer that sends a longer one is disconnected. */
export const MAX_CONTROL_LINE_BYTES = 64 * 1024
/** Longest answer the client accepts, bytes (a status is a few KiB; this only bounds a broken peer). */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024
/** Linux `sun_path` holds 108 bytes including the final NUL. */
const MAX_SOCKET_PATH_BYTES = 107
/** Name of the private directory the socket is bound in before it is linked into place, plus `/s`. */
const PRIVATE_DIR_PREFIX = '.dw'
const PRIVATE_SOCKET_SUFFIX_BYTES = `/${PRIVATE_DIR_PREFIX}XXXXXX/s`.length
/** Connections served at once; the socket is root-only, this only bounds a runaway local script. */
const MAX_CONNECTIONS = 128
/** How long openControlServer() waits for an existing socket to accept a probe connection. */
const PROBE_TIMEOUT_MS = 1000

/** One request line, parsed. Handlers may read further fields (arguments of the command). */
export interface ControlRequest {
  command: string
  [field: string]: unknown
}

/** Answers one command; what it returns (or resolves to) must be JSON-serialisable. */
export type ControlHandler = (request: ControlRequest) => unknown

/** The commands the control socket answers: `status` always, others as the daemon provides them. */
export interface ControlHandlers {
  status(request: ControlRequest): DaemonStatus | Promise<DaemonStatus>
  reload?(request: ControlRequest): Promise<unknown>
  [command: string]: ControlHandler | undefined
}

/** One answer line. `exitCode` and `hint` travel so that the client can report the daemon's error as its own. */
export type ControlResponse =
  | {ok: false; error: {code: string; exitCode?: number; hint?: string; message: string}}
  | {ok: true; result: unknown}

/** A listening control socket. */
export interface ControlServer {
  /** The socket's path. */
  readonly path: string
  /** Stops listening, disconnects open clients and removes the socket file. Safe to call twice. */
  close(): Promise<void>
}

/** No daemon answers on the control socket (exit 4). */
export class DaemonNotRunningError extends DiswallError {
  constructor(path: string, why: string, options?: ErrorOptions) {
    super(`the diswall daemon is not running: ${why} (${path})`, 'E_DAEMON_NOT_RUNNING', ExitCode.ENVIRONMENT,
      'Start it: systemctl start diswall (or run "diswall daemon").', options)
  }
}

/** Another daemon already answers on the control socket (exit 4). */
export class DaemonRunningError extends DiswallError {
  constructor(path: string) {
    super(`another diswall daemon is already listening on ${path}`, 'E_DAEMON_RUNNING', ExitCode.ENVIRONMENT,
      'Stop it first (systemctl stop diswall), or give this one another [daemon] socket.')
  }
}

/** The daemon did not answer in time (exit 4). */
export class DaemonTimeoutError extends DiswallError {
  constructor(path: string, command: string, timeoutMs: number) {
    super(`the diswall daemon did not answer "${command}" within ${timeoutMs} ms on ${path}`, 'E_DAEMON_TIMEOUT',
      ExitCode.ENVIRONMENT, 'It may be busy or hung; check its log: journalctl -u diswall.')
  }
}

/** The control socket path cannot be used: not a socket, too long, or not accessible (exit 4). */
export class ControlSocketError extends DiswallError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, 'E_CONTROL_SOCKET', ExitCode.ENVIRONMENT, hint, options)
  }
}

/** The daemon's answer was not a valid response line (exit 1: a bug on one side). */
export class DaemonProtocolError extends DiswallError {
  constructor(path: string, why: string) {
    super(`invalid answer from the diswall daemon on ${path}: ${why}`, 'E_DAEMON_PROTOCOL', ExitCode.INTERNAL,
      'Check that "diswall status" and the daemon are the same version (restart the daemon after an upgrade).')
  }
}

/**
 * Listens on the unix socket `path` and answers requests with `handlers`. The parent directory is
 * created (0755) when missing. The socket is bound inside a fresh 0700 directory, made 0600 and then
 * hard-linked into place, so it is never connectable by other users, and a live socket is never replaced.
 * An existing socket nobody listens on (ECONNREFUSED) is removed.
 * Throws DaemonRunningError when a daemon answers on `path`, ControlSocketError when `path` exists
 * and is not a socket (it is left alone) or is too long for a unix socket.
 */
export async function openControlServer(path: string, handlers: ControlHandlers): Promise<ControlServer> {
  const dir = dirname(path)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES || Buffer.byteLength(dir) + PRIVATE_SOCKET_SUFFIX_BYTES > MAX_SOCKET_PATH_BYTES) {
    throw new ControlSocketError(`control socket path ${path} is too long for a unix socket (at most `
      + `${MAX_SOCKET_PATH_BYTES - PRIVATE_SOCKET_SUFFIX_BYTES} bytes for its directory)`, 'Set a shorter [daemon] socket in the config.')
  }
  let privateDir: string
  try {
    await mkdir(dir, {mode: 0o755, recursive: true})
    privateDir = await mkdtemp(join(dir, PRIVATE_DIR_PREFIX)) // mode 0700: nobody else can reach what is bound here
  } catch (error) {
    throw setupError(path, error)
  }
  const bound = join(privateDir, 's')
  const connections = new Set<Socket>()
  const server = createServer((socket) => serveConnection(socket, handlers, connections))
  server.maxConnections = MAX_CONNECTIONS
  try {
    await listen(server, bound)
    await chmod(bound, 0o600)
    await linkIntoPlace(bound, path)
  } catch (error) {
    await closeServer(server, connections)
    throw setupError(path, error)
  } finally {
    await rm(privateDir, {force: true, recursive: true})
  }

  const {ino} = await lstat(path)
  let closing: Promise<void> | undefined
  return {
    close() {
      closing ??= (async () => {
        await closeServer(server, connections)
        // Only our own socket: if someone replaced it meanwhile, theirs stays.
        const now = await lstat(path).catch(() => undefined)
        if (now?.ino === ino) await unlink(path).catch(() => {})
      })()
      return closing
    },
    path,
  }
}

/**
 * Sends `command` to the daemon on the unix socket `path` and returns its result.
 * Throws DaemonNotRunningError (no socket, or nobody listening), a DiswallError with code E_NOT_ROOT
 * (permission denied), DaemonTimeoutError (no answer within `timeoutMs`), DaemonProtocolError (a
 * malformed answer), and the daemon's own error (its code, message and hint) when it answers `ok: false`.
 */
export async function queryDaemon<T = unknown>(
  path: string,
  command: string,
  {args = {}, timeoutMs = 5000}: {args?: Record<string, unknown>; timeoutMs?: number} = {},
): Promise<T> {
  const line = await new Promise<string>((resolve, reject) => {
    const socket = createConnection({path})
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const finish = (error: Error | undefined, value?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(value!)
    }

    const timer = setTimeout(() => finish(new DaemonTimeoutError(path, command, timeoutMs)), timeoutMs)
    socket.on('connect', () => socket.write(JSON.stringify({...args, command}) + '\n'))
    socket.on('data', (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a)
      if (newline === -1) {
        chunks.push(chunk)
        size += chunk.length
        if (size > MAX_RESPONSE_BYTES) finish(new DaemonProtocolError(path, `answer longer than ${MAX_RESPONSE_BYTES} bytes`))
        return
      }
      chunks.push(chunk.subarray(0, newline))
      finish(undefined, Buffer.concat(chunks).toString('utf8'))
    })
    socket.on('end', () => finish(new DaemonProtocolError(path, 'the connection closed before an answer')))
    socket.on('close', () => finish(new DaemonProtocolError(path, 'the connection closed before an answer')))
    socket.on('error', (error: NodeJS.ErrnoException) => finish(connectError(path, error)))
  })
  const response = parseResponse(path, line)
  if (!response.ok) {
    const {code, exitCode, hint, message} = response.error
    const exit = typeof exitCode === 'number' && Number.isInteger(exitCode) && exitCode >= 1 && exitCode <= 7
      ? exitCode
      : ExitCode.INTERNAL
    throw new DiswallError(message, code, exit, hint)
  }
  return response.result as T
}

function setupError(path: string, error: unknown): DiswallError {
  if (error instanceof DiswallError) return error
  const {code, message} = error as NodeJS.ErrnoException
  return new ControlSocketError(`cannot create the control socket ${path}: ${message}`,
    code === 'EACCES' || code === 'EPERM' ? 'Run the daemon as root.' : 'Check [daemon] socket in the config.', {cause: error})
}

function connectError(path: string, error: NodeJS.ErrnoException): DiswallError {
  switch (error.code) {
    case 'ENOENT':
    case 'ENOTDIR': {
      return new DaemonNotRunningError(path, 'its control socket does not exist', {cause: error})
    }
    case 'ECONNREFUSED': {
      return new DaemonNotRunningError(path, 'nothing listens on its control socket', {cause: error})
    }
    case 'EACCES':
    case 'EPERM': {
      return new DiswallError(`permission denied on the daemon's control socket ${path} (it is root only)`, 'E_NOT_ROOT',
        ExitCode.ENVIRONMENT, 'Run it as root, e.g. with sudo.', {cause: error})
    }
    default: {
      return new ControlSocketError(`cannot connect to the daemon's control socket ${path}: ${error.message}`,
        'Check [daemon] socket in the config, or pass --socket PATH.', {cause: error})
    }
  }
}

function parseResponse(path: string, line: string): ControlResponse {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    throw new DaemonProtocolError(path, 'not JSON')
  }
  if (typeof value !== 'object' || value === null) throw new DaemonProtocolError(path, 'not a JSON object')
  const response = value as Record<string, unknown>
  if (response.ok === true && 'result' in response) return response as ControlResponse
  const error = response.error as Record<string, unknown> | undefined
  if (response.ok === false && typeof error?.code === 'string' && typeof error.message === 'string') {
    return response as ControlResponse
  }
  throw new DaemonProtocolError(path, 'neither {"ok":true,"result":…} nor {"ok":false,"error":…}')
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

async function closeServer(server: Server, connections: Set<Socket>): Promise<void> {
  if (!server.listening) return
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  for (const socket of connections) socket.destroy() // server.close() waits for open connections
  await closed
}

/**
 * Hard-links the bound socket to `path`. link() never replaces an existing file, so a socket that a
 * live daemon holds, or a file that is not ours, survives; a stale socket is removed and the link retried.
 */
async function linkIntoPlace(bound: string, path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await link(bound, path)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error
    }
    await removeIfStale(path)
  }
}

async function removeIfStale(path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = (await lstat(path)).isSocket()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return // gone meanwhile
    throw error
  }
  if (!isSocket) {
    throw new ControlSocketError(`${path} exists and is not a socket; the daemon will not replace it`,
      'Move the file away, or set another [daemon] socket in the config.')
  }
  switch (await probe(path)) {
    case 'live': {
      throw new DaemonRunningError(path)
    }
    case 'refused': {
      await unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error
      })
      break
    }
    case 'missing': {
      break
    }
  }
}

/** Connects to an existing socket: `live` when something accepts, `refused` when nobody listens. */
function probe(path: string): Promise<'live' | 'missing' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({path})
    // A daemon that accepts but is hung still counts as live: replacing its socket would hide it.
    const timer = setTimeout(() => done(() => resolve('live')), PROBE_TIMEOUT_MS)
    const done = (fn: () => void) => {
      clearTimeout(timer)
      socket.destroy()
      fn()
    }

    socket.on('connect', () => done(() => resolve('live')))
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done(() => resolve('refused'))
      else if (error.code === 'EAGAIN') done(() => resolve('live')) // backlog full: someone listens
      else if (error.code === 'ENOENT') done(() => resolve('missing'))
      else done(() => reject(connectError(path, error)))
    })
  })
}

/** Reads request lines of one connection and answers them in order. Never throws. */
function serveConnection(socket: Socket, handlers: ControlHandlers, connections: Set<Socket>): void {
  connections.add(socket)
  socket.on('close', () => connections.delete(socket))
  socket.on('error', () => {}) // a client that went away (EPIPE, ECONNRESET) is no concern of the daemon
  let pending: Buffer = Buffer.alloc(0)
  let queue = Promise.resolve()
  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let newline: number
    while ((newline = pending.indexOf(0x0a)) !== -1) {
      const line = pending.subarray(0, newline)
      pending = pending.subarray(newline + 1)
      if (line.length > MAX_CONTROL_LINE_BYTES) {
        socket.destroy()
        return
      }
      const text = line.toString('utf8').trim()
      if (text === '') continue
      // One answer per request, in request order, even when a later handler is faster.
      queue = queue.then(async () => {
        const answer = await answerLine(text, handlers)
        if (!socket.destroyed && socket.writable) socket.write(answer + '\n')
      })
    }
    if (pending.length > MAX_CONTROL_LINE_BYTES) socket.destroy()
  })
}

/** The response line for one request line: the handler's result, or an error; never throws. */
async function answerLine(text: string, handlers: ControlHandlers): Promise<string> {
  let response: ControlResponse
  try {
    response = {ok: true, result: (await handle(text, handlers)) ?? null} // undefined would drop the key
    return JSON.stringify(response)
  } catch (error) {
    const e = asDiswallError(error)
    response = {error: {code: e.code, exitCode: e.exitCode, hint: e.hint, message: e.message}, ok: false}
    return JSON.stringify(response)
  }
}

async function handle(text: string, handlers: ControlHandlers): Promise<unknown> {
  let request: unknown
  try {
    request = JSON.parse(text)
  } catch {
    throw new DiswallError('the request is not valid JSON', 'E_BAD_REQUEST', ExitCode.USAGE,
      'Send one JSON object per line, e.g. {"command":"status"}.')
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)
    || typeof (request as {command?: unknown}).command !== 'string') {
    throw new DiswallError('the request is not an object with a "command" string', 'E_BAD_REQUEST', ExitCode.USAGE,
      'Send one JSON object per line, e.g. {"command":"status"}.')
  }
  const {command} = request as ControlRequest
  // Only own command names: "constructor", "toString", "__proto__" must not reach Object.prototype.
  const handler = /^[a-z][\w-]{0,63}$/i.test(command) && !(command in Object.prototype) ? handlers[command] : undefined
  if (typeof handler !== 'function') {
    const known = Object.keys(handlers).filter((k) => typeof handlers[k] === 'function').sort()
    throw new DiswallError(`unknown command ${JSON.stringify(command.slice(0, 64))}`, 'E_UNKNOWN_COMMAND', ExitCode.USAGE,
      known.length > 0 ? `Known commands: ${known.join(', ')}.` : undefined)
  }
  return handler.call(handlers, request as ControlRequest)
}
