import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {CommandFailedError, MissingDependencyError} from '../../../../src/lib/errors.js'
import {isNftSessionStatement, NftSession, NftSessionClosedError, SessionClosedError} from '../../../../src/lib/firewall/sets/index.js'
import {spawnCoprocess} from '../../../../src/lib/system/index.js'
import type {SpawnCoprocess} from '../../../../src/lib/system/index.js'
import {fakeSpawner as fakeNftSpawner} from './fake-coprocess.js'
import type {FakeProgram, LineAction} from './fake-coprocess.js'

const MARKER = /^diswall-batch-end-\d+$/
const ADD = 'add element inet diswall diswall-bl { 203.0.113.7 timeout 600s }'

/** nft 1.0.6's answer to a marker line: a syntax error that echoes the line. */
function markerAnswer(marker: string): string {
  return `Error: syntax error, unexpected newline, expecting string\n${marker}\n${' '.repeat(marker.length)}^\n`
}

/** nft 1.0.6's error for a line: the message, the line, a pointer. */
function nftError(message: string, line: string): string {
  return `Error: ${message}\n${line}\n${' '.repeat(10)}^^^^^^\n`
}

/** nft 1.0.6 answers a marker line with a syntax error on stderr. */
const NFT: FakeProgram = {answer: (line) => (MARKER.test(line) ? markerAnswer(line) : undefined), args: ['-i'], program: 'nft'}
const fakeSpawner = (react?: (line: string) => LineAction) => fakeNftSpawner(NFT, react)

test('NftSession - a batch is one line plus a marker and resolves on the marker\'s echo; the process starts with the first batch', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new NftSession({spawn})
  assert.equal(started.length, 0)
  assert.equal(session.pid, undefined)

  await session.run([ADD, 'delete element inet diswall diswall-bl { 203.0.113.8 }'])
  await session.run(['add element inet diswall diswall-bl6 { 2001:db8::1 timeout 60s }'])
  await session.run([])
  assert.equal(started.length, 1)
  assert.equal(started[0]!.program, 'nft')
  assert.deepEqual(started[0]!.args, ['-i'])
  // No history file in root's home.
  assert.deepEqual(started[0]!.options, {env: {HOME: '/dev/null'}})
  assert.equal(session.pid, started[0]!.fake.pid)
  assert.deepEqual(started[0]!.fake.written, [
    `${ADD}; delete element inet diswall diswall-bl { 203.0.113.8 }\ndiswall-batch-end-1\n`,
    'add element inet diswall diswall-bl6 { 2001:db8::1 timeout 60s }\ndiswall-batch-end-2\n',
    'diswall-batch-end-3\n',
  ])
  await session.close()
})

test('NftSession - a failed batch is rejected with its stderr (without the marker\'s), and the same process takes the next', async () => {
  const bad = 'add element inet diswall nosuch { 203.0.113.2 }'
  const {spawn, started} = fakeSpawner((line) => (line.includes('nosuch') ? nftError('No such file or directory', line) : undefined))
  const session = new NftSession({spawn})
  await assert.rejects(session.run([ADD, bad]), (error: unknown) => {
    assert.ok(error instanceof CommandFailedError)
    assert.equal(error.program, 'nft')
    assert.deepEqual(error.args, ['-i'])
    assert.equal(error.stderr, nftError('No such file or directory', `${ADD}; ${bad}`))
    return true
  })
  await session.run([ADD])
  assert.equal(started.length, 1)
  await session.close()
})

test('NftSession - several errors of one batch are all reported', async () => {
  const {spawn} = fakeSpawner((line) => (line.includes('nosuch')
    ? nftError('No such file or directory', line) + nftError('Could not process rule: No such file or directory', line)
    : undefined))
  const session = new NftSession({spawn})
  await assert.rejects(session.run(['add element inet diswall nosuch { 203.0.113.2 }']), (error: unknown) =>
    error instanceof CommandFailedError && error.stderr.split('Error: ').length === 3)
  await session.close()
})

test('NftSession - stderr that arrives in pieces is judged by whole lines', async () => {
  const {spawn, started} = fakeSpawner((line) => (MARKER.test(line) || line.includes('nosuch') ? '' : undefined))
  const session = new NftSession({spawn})
  const failing = session.run(['add element inet diswall nosuch { 203.0.113.2 }'])
  await new Promise((resolve) => setImmediate(resolve))
  const fake = started[0]!.fake
  // nft 1.0.6 writes "Error: " and the rest separately.
  for (const piece of ['Error: ', 'No such file or directory\nadd element inet diswall nosuch { 203.0.113.2 }\n   ^^^\nErr',
    'or: syntax error, unexpected newline, expecting string\ndiswall-batch-', 'end-1\n', '                  ^\n']) {
    fake.emit('stderr', piece)
  }

  await assert.rejects(failing, {stderr: 'Error: No such file or directory\nadd element inet diswall nosuch { 203.0.113.2 }\n   ^^^\n'})
  const ok = session.run([ADD])
  await new Promise((resolve) => setImmediate(resolve))
  fake.emit('stderr', 'Error: syntax error, unexpected newline, expecting string\ndiswall-batch-end-2')
  fake.emit('stderr', '\n                  ^\n')
  await ok
  await session.close()
})

test('NftSession - the pointer line of a marker that comes after the next batch started is not that batch\'s error', async () => {
  const {spawn, started} = fakeSpawner((line) => (MARKER.test(line) ? `Error: syntax error\n${line}\n` : undefined))
  const session = new NftSession({spawn})
  await session.run([ADD])
  const next = session.run([ADD])
  await new Promise((resolve) => setImmediate(resolve))
  started[0]!.fake.emit('stderr', '                  ^\n') // late pointer of marker 1
  await next
  await session.close()
})

test('NftSession - a process that exits mid-batch fails the batch, and the next batch starts a new process', async () => {
  let exitOnce = true
  const {spawn, started} = fakeSpawner((line) => {
    if (line.includes('203.0.113.66') && exitOnce) {
      exitOnce = false
      return {exit: 1}
    }

    return undefined
  })
  const session = new NftSession({spawn})
  await session.run([ADD])
  const firstPid = session.pid
  await assert.rejects(session.run(['add element inet diswall diswall-bl { 203.0.113.66 }']), (error: unknown) =>
    error instanceof CommandFailedError && error.programExitCode === 1)
  assert.equal(session.pid, undefined)

  await session.run([ADD])
  assert.equal(started.length, 2)
  assert.notEqual(session.pid, firstPid)
  assert.equal(session.pid, started[1]!.fake.pid)
  await session.close()
})

test('NftSession - a process killed while idle is replaced by the next batch', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new NftSession({spawn})
  await session.run([ADD])
  started[0]!.fake.kill('SIGKILL')
  await started[0]!.fake.exited
  await session.run([ADD])
  assert.equal(started.length, 2)
  assert.deepEqual(started[1]!.fake.written, [`${ADD}\ndiswall-batch-end-2\n`])
  await session.close()
})

test('NftSession - an unanswered batch times out: the process is killed, the next batch gets a new one', async () => {
  const {spawn, started} = fakeSpawner((line) => (line.includes('203.0.113.66') ? 'hang' : undefined))
  const session = new NftSession({spawn, timeoutMs: 50})
  await session.run([ADD])
  const before = performance.now()
  await assert.rejects(session.run(['add element inet diswall diswall-bl { 203.0.113.66 }']), (error: unknown) => {
    assert.ok(error instanceof CommandFailedError)
    assert.match(error.message, /timed out/)
    return true
  })
  assert.ok(performance.now() - before >= 45)
  assert.deepEqual(started[0]!.fake.signals, ['SIGKILL'])
  await session.run([ADD])
  assert.equal(started.length, 2)
  await session.close()
})

test('NftSession - a process that never answers a marker is given up: later batches fail at once', async () => {
  const {spawn, started} = fakeSpawner((line) => (MARKER.test(line) ? '' : undefined))
  const session = new NftSession({spawn, timeoutMs: 30})
  await assert.rejects(session.run([ADD]), {message: /timed out/})
  const before = performance.now()
  await assert.rejects(session.run([ADD]), {message: /timed out/})
  assert.ok(performance.now() - before < 25)
  assert.equal(started.length, 1)
  await session.close()
})

test('NftSession - after maxBatches the process is ended and the next batch starts a new one', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new NftSession({maxBatches: 2, spawn})
  for (let n = 0; n < 5; n++) await session.run([ADD])
  assert.equal(started.length, 3)
  assert.deepEqual(started.map((s) => s.fake.written.length), [2, 2, 1])
  assert.equal(started[0]!.fake.closedStdin, true)
  await session.close()
  assert.ok(started.every((s) => !s.fake.running))
  assert.ok(started.every((s) => s.fake.signals.length === 0))
})

test('NftSession - batches run one at a time, in the order they were given', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new NftSession({spawn})
  const order: number[] = []
  const runs = [1, 2, 3].map((n) => session.run([`add element inet diswall diswall-bl { 203.0.113.${n} }`]).then(() => order.push(n)))
  assert.equal(started[0]?.fake.written.length ?? 0, 0)
  await Promise.all(runs)
  assert.deepEqual(order, [1, 2, 3])
  assert.deepEqual(started[0]!.fake.written, [1, 2, 3].map((n) => `add element inet diswall diswall-bl { 203.0.113.${n} }\ndiswall-batch-end-${n}\n`))
  await session.close()
})

test('NftSession - close() ends stdin and waits for the exit; later batches are refused', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new NftSession({spawn})
  const running = session.run([ADD])
  await session.close() // lets the running batch finish
  await running
  const fake = started[0]!.fake
  assert.equal(fake.closedStdin, true)
  assert.equal(fake.running, false)
  assert.deepEqual(fake.signals, [])
  await assert.rejects(session.run([ADD]), (error: unknown) => error instanceof NftSessionClosedError && error instanceof SessionClosedError &&
    error.message === 'the nft session is closed')
  assert.equal(started.length, 1)
  await session.close() // twice is fine
})

test('NftSession - close() before any batch starts nothing', async () => {
  const {spawn, started} = fakeSpawner()
  await new NftSession({spawn}).close()
  assert.equal(started.length, 0)
})

test('NftSession - refuses statements that cannot travel on one nft -i line', () => {
  const session = new NftSession({spawn: fakeSpawner().spawn})
  for (const bad of [`${ADD}\nflush ruleset`, 'add element inet diswall diswall-wl { 10.0.0.0/8 comment "café" }',
    `${ADD} \\`, `${ADD} # note`, 'diswall-batch-end-7', '\tadd table inet x']) {
    assert.throws(() => session.run([bad]), TypeError, bad)
    assert.equal(isNftSessionStatement(bad), false, bad)
  }

  assert.equal(isNftSessionStatement('add element inet diswall diswall-wl { 10.0.0.0/8 comment "office # 2; east" }'), true)
  assert.equal(isNftSessionStatement(ADD), true)
  assert.throws(() => new NftSession({maxBatches: 0}), TypeError)
})

test('NftSession - a missing nft rejects with MissingDependencyError, without retrying every batch', async () => {
  let spawned = 0
  const spawn: SpawnCoprocess = (_program, args, options) => {
    spawned++
    return spawnCoprocess('/nonexistent/dw-nft', args, options)
  }

  const session = new NftSession({spawn})
  await assert.rejects(session.run([ADD]), MissingDependencyError)
  await assert.rejects(session.run([ADD]), MissingDependencyError)
  assert.equal(spawned, 1)
  await session.close()
})

/**
 * A real process behind spawnCoprocess: a node script that talks like nft 1.0.6 `nft -i` with a piped
 * stdin (nothing on stdout, errors with the echoed line on stderr, goes on after errors, exits 0 at EOF).
 */
const FAKE_NFT_SCRIPT = `
const readline = require('node:readline')
const rl = readline.createInterface({input: process.stdin})
const error = (message, line) => process.stderr.write('Error: ' + message + '\\n' + line + '\\n' + '^^^\\n')
rl.on('line', (line) => {
  if (line === 'quit') process.exit(3)
  if (/^diswall-batch-end-/.test(line)) error('syntax error, unexpected newline, expecting string', line)
  else if (line.includes('nosuch')) error('No such file or directory', line)
})
`

function withFakeNft(body: (spawn: SpawnCoprocess) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dw-fake-nft-'))
    try {
      const script = join(dir, 'nft.cjs')
      writeFileSync(script, FAKE_NFT_SCRIPT)
      // `node SCRIPT nft -i`: the script ignores its arguments.
      await body((program, args, options) => spawnCoprocess(program, args, {...options, wrap: [process.execPath, script]}))
    } finally {
      rmSync(dir, {force: true, recursive: true})
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('NftSession - with a real process: batches, a failed one, a kill by PID survived, close() leaves nothing', withFakeNft(async (spawn) => {
  const session = new NftSession({spawn})
  await session.run([ADD])
  const pid = session.pid
  assert.ok(pid !== undefined && isAlive(pid))
  await assert.rejects(session.run([ADD, 'add element inet diswall nosuch { 203.0.113.2 }']), {
    stderr: `Error: No such file or directory\n${ADD}; add element inet diswall nosuch { 203.0.113.2 }\n^^^\n`,
  })
  assert.equal(session.pid, pid)

  process.kill(pid, 'SIGKILL')
  // The next batch either finds the old process dead and is refused, or starts a new one; then one works.
  await session.run([ADD]).catch(() => session.run([ADD]))
  const newPid = session.pid
  assert.ok(newPid !== undefined && newPid !== pid)

  await assert.rejects(session.run(['quit']), (error: unknown) => error instanceof CommandFailedError && error.programExitCode === 3)
  await session.run([ADD])
  const lastPid = session.pid!
  await session.close()
  assert.equal(isAlive(lastPid), false)
  assert.equal(session.pid, undefined)
}))
