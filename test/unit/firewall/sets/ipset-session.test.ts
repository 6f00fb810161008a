import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {CommandFailedError, MissingDependencyError} from '../../../../src/lib/errors.js'
import {IpsetSession, SessionClosedError} from '../../../../src/lib/firewall/sets/index.js'
import {spawnCoprocess} from '../../../../src/lib/system/index.js'
import type {SpawnCoprocess} from '../../../../src/lib/system/index.js'
import {fakeSpawner as fakeIpsetSpawner} from './fake-coprocess.js'
import type {FakeProgram, LineAction} from './fake-coprocess.js'

const SENTINEL = 'test diswall-bl 255.255.255.255'
const NOT_IN_SET = '255.255.255.255 is NOT in set diswall-bl.\n'

/** ipset 7.17 answers the sentinel line on stderr. */
const IPSET: FakeProgram = {answer: (line) => (line === SENTINEL ? NOT_IN_SET : undefined), args: ['-exist', '-'], program: 'ipset'}
const fakeSpawner = (react?: (line: string) => LineAction) => fakeIpsetSpawner(IPSET, react)

test('IpsetSession - a batch resolves once the sentinel is answered; the process starts with the first batch', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  assert.equal(started.length, 0)
  assert.equal(session.pid, undefined)

  await session.run(['add diswall-bl 203.0.113.7 timeout 600', 'del diswall-bl 203.0.113.8'])
  await session.run(['add diswall-bl6 2001:db8::1 timeout 60'])
  assert.equal(started.length, 1)
  assert.equal(started[0]!.program, 'ipset')
  assert.deepEqual(started[0]!.args, ['-exist', '-'])
  assert.equal(session.pid, started[0]!.fake.pid)
  assert.deepEqual(started[0]!.fake.written, [
    `add diswall-bl 203.0.113.7 timeout 600\ndel diswall-bl 203.0.113.8\n${SENTINEL}\n`,
    `add diswall-bl6 2001:db8::1 timeout 60\n${SENTINEL}\n`,
  ])
  await session.close()
})

test('IpsetSession - "Warning: … is in set" answers the sentinel too', async () => {
  const {spawn} = fakeSpawner((line) => (line === SENTINEL ? 'Warning: 255.255.255.255 is in set diswall-bl.\n' : undefined))
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  await session.run(['add diswall-bl 255.255.255.255'])
  await session.close()
})

test('IpsetSession - a failed line rejects the batch with its stderr, and the same process takes the next batch', async () => {
  const {spawn, started} = fakeSpawner((line) =>
    (line.includes('nosuch') ? 'ipset v7.17: The set with the given name does not exist\n' : undefined))
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  await assert.rejects(session.run(['add diswall-bl 203.0.113.1', 'add nosuch 203.0.113.2', 'add diswall-bl 203.0.113.3']),
    (error: unknown) => {
      assert.ok(error instanceof CommandFailedError)
      assert.equal(error.program, 'ipset')
      assert.equal(error.stderr, 'ipset v7.17: The set with the given name does not exist\n')
      return true
    })
  await session.run(['add diswall-bl 203.0.113.4'])
  assert.equal(started.length, 1)
  await session.close()
})

test('IpsetSession - stderr that arrives in pieces is judged by whole lines', async () => {
  const {spawn, started} = fakeSpawner((line) => (line === SENTINEL || line.includes('nosuch') ? '' : undefined))
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  const failing = session.run(['add nosuch 203.0.113.2'])
  await new Promise((resolve) => setImmediate(resolve))
  const fake = started[0]!.fake
  // ipset 7.17 writes its "ipset v7.17: " prefix and the message separately.
  for (const piece of ['ipset v7.17: ', 'The set with the given name ', 'does not exist\n255.255.255.255 is ', 'NOT in set diswall-bl.', '\n']) {
    fake.emit('stderr', piece)
  }

  await assert.rejects(failing, {stderr: 'ipset v7.17: The set with the given name does not exist\n'})
  const ok = session.run(['add diswall-bl 203.0.113.3'])
  await new Promise((resolve) => setImmediate(resolve))
  fake.emit('stderr', '255.255.255.255 is NOT in ')
  fake.emit('stderr', 'set diswall-bl.\n')
  await ok
  await session.close()
})

test('IpsetSession - a process that exits mid-batch fails the batch, and the next batch starts a new process', async () => {
  let exitOnce = true
  const {spawn, started} = fakeSpawner((line) => {
    if (line.startsWith('add nosuch') && exitOnce) {
      exitOnce = false
      return {exit: 1}
    }

    return undefined
  })
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  await session.run(['add diswall-bl 203.0.113.1'])
  const firstPid = session.pid
  await assert.rejects(session.run(['add nosuch 203.0.113.2']), (error: unknown) =>
    error instanceof CommandFailedError && error.programExitCode === 1)
  assert.equal(session.pid, undefined)

  await session.run(['add diswall-bl 203.0.113.3'])
  assert.equal(started.length, 2)
  assert.notEqual(session.pid, firstPid)
  assert.equal(session.pid, started[1]!.fake.pid)
  await session.close()
})

test('IpsetSession - a process killed while idle is replaced by the next batch', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  await session.run(['add diswall-bl 203.0.113.1'])
  started[0]!.fake.kill('SIGKILL')
  await started[0]!.fake.exited
  await session.run(['add diswall-bl 203.0.113.2'])
  assert.equal(started.length, 2)
  assert.deepEqual(started[1]!.fake.written, [`add diswall-bl 203.0.113.2\n${SENTINEL}\n`])
  await session.close()
})

test('IpsetSession - an unanswered batch times out: the process is killed, the next batch gets a new one', async () => {
  const {spawn, started} = fakeSpawner((line) => (line.includes('203.0.113.66') ? 'hang' : undefined))
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn, timeoutMs: 50})
  const started_ = performance.now()
  await assert.rejects(session.run(['add diswall-bl 203.0.113.66']), (error: unknown) => {
    assert.ok(error instanceof CommandFailedError)
    assert.match(error.message, /timed out/)
    return true
  })
  assert.ok(performance.now() - started_ >= 45)
  assert.deepEqual(started[0]!.fake.signals, ['SIGKILL'])
  await session.run(['add diswall-bl 203.0.113.67'])
  assert.equal(started.length, 2)
  await session.close()
})

test('IpsetSession - batches run one at a time, in the order they were given', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  const order: number[] = []
  const runs = [1, 2, 3].map((n) => session.run([`add diswall-bl 203.0.113.${n}`]).then(() => order.push(n)))
  // Only the first batch is written before it is answered.
  assert.equal(started[0]?.fake.written.length ?? 0, 0)
  await runs[0]
  await Promise.all(runs)
  assert.deepEqual(order, [1, 2, 3])
  assert.deepEqual(started[0]!.fake.written, [1, 2, 3].map((n) => `add diswall-bl 203.0.113.${n}\n${SENTINEL}\n`))
  await session.close()
})

test('IpsetSession - close() ends stdin and waits for the exit; later batches are refused', async () => {
  const {spawn, started} = fakeSpawner()
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  await session.run(['add diswall-bl 203.0.113.1'])
  await session.close()
  const fake = started[0]!.fake
  assert.equal(fake.closedStdin, true)
  assert.equal(fake.running, false)
  assert.deepEqual(fake.signals, [])
  await assert.rejects(session.run(['add diswall-bl 203.0.113.2']), SessionClosedError)
  assert.equal(started.length, 1)
  await session.close() // twice is fine
})

test('IpsetSession - close() lets the running batch finish', async () => {
  const {spawn} = fakeSpawner()
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  const running = session.run(['add diswall-bl 203.0.113.1'])
  await session.close()
  await running
})

test('IpsetSession - close() before any batch starts nothing', async () => {
  const {spawn, started} = fakeSpawner()
  await new IpsetSession({sentinelSet: 'diswall-bl', spawn}).close()
  assert.equal(started.length, 0)
})

test('IpsetSession - refuses a line with a newline and a set name ipset would not take', () => {
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn: fakeSpawner().spawn})
  assert.throws(() => session.run(['add diswall-bl 203.0.113.1\nflush diswall-bl']), TypeError)
  assert.throws(() => new IpsetSession({sentinelSet: 'bad name'}), TypeError)
})

test('IpsetSession - a missing ipset rejects with MissingDependencyError, without retrying every batch', async () => {
  let spawned = 0
  const spawn: SpawnCoprocess = (_program, args, options) => {
    spawned++
    return spawnCoprocess('/nonexistent/dw-ipset', args, options)
  }

  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  await assert.rejects(session.run(['add diswall-bl 203.0.113.1']), MissingDependencyError)
  await assert.rejects(session.run(['add diswall-bl 203.0.113.2']), MissingDependencyError)
  assert.equal(spawned, 1)
  await session.close()
})

/**
 * A real process behind spawnCoprocess: a node script that talks like `ipset -exist -` (prompts on
 * stdout, errors and test answers on stderr, goes on after errors, exits 0 at EOF).
 */
const FAKE_IPSET_SCRIPT = `
const readline = require('node:readline')
process.stdout.write('ipset> ')
const rl = readline.createInterface({input: process.stdin})
rl.on('line', (line) => {
  const [cmd, set, addr] = line.split(' ')
  if (cmd === 'test') process.stderr.write(addr + ' is NOT in set ' + set + '.\\n')
  else if (set === 'nosuch') process.stderr.write('ipset v7.17: The set with the given name does not exist\\n')
  else if (cmd === 'exit') process.exit(Number(set))
  process.stdout.write('ipset> ')
})
`

function withFakeIpset(body: (spawn: SpawnCoprocess) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dw-fake-ipset-'))
    try {
      const script = join(dir, 'ipset.cjs')
      writeFileSync(script, FAKE_IPSET_SCRIPT)
      // `node SCRIPT ipset -exist -`: the script ignores its arguments.
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

test('IpsetSession - with a real process: batches, a failed line, a kill by PID survived, close() leaves nothing', withFakeIpset(async (spawn) => {
  const session = new IpsetSession({sentinelSet: 'diswall-bl', spawn})
  await session.run(['add diswall-bl 203.0.113.1'])
  const pid = session.pid
  assert.ok(pid !== undefined && isAlive(pid))
  await assert.rejects(session.run(['add nosuch 203.0.113.2', 'add diswall-bl 203.0.113.3']), {
    stderr: 'ipset v7.17: The set with the given name does not exist\n',
  })
  assert.equal(session.pid, pid)

  process.kill(pid, 'SIGKILL')
  // The next batch either finds the old process dead and is refused, or starts a new one; then one works.
  await session.run(['add diswall-bl 203.0.113.4']).catch(() => session.run(['add diswall-bl 203.0.113.4']))
  const newPid = session.pid
  assert.ok(newPid !== undefined && newPid !== pid)

  await assert.rejects(session.run(['exit 3']), (error: unknown) => error instanceof CommandFailedError && error.programExitCode === 3)
  await session.run(['add diswall-bl 203.0.113.5'])
  const lastPid = session.pid!
  await session.close()
  assert.equal(isAlive(lastPid), false)
  assert.equal(session.pid, undefined)
}))

test('spawnCoprocess - reports a missing program as MissingDependencyError and a non-zero exit as CommandFailedError', async () => {
  const missing = spawnCoprocess('/nonexistent/dw-program', [])
  assert.equal(missing.write('x\n'), true) // accepted until the failed start is known; never throws
  assert.ok((await missing.exited).error instanceof MissingDependencyError)
  assert.equal(missing.running, false)
  assert.equal(missing.write('x\n'), false)

  const failing = spawnCoprocess(process.execPath, ['-e', 'process.stderr.write("boom\\n"); process.exit(4)'])
  const exit = await failing.exited
  assert.equal(exit.exitCode, 4)
  assert.ok(exit.error instanceof CommandFailedError)
  assert.equal(exit.error.stderr, 'boom\n')
})

test('spawnCoprocess - close() ends stdin, then SIGTERM after the grace for a program that ignores EOF', async () => {
  const echo = spawnCoprocess(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'])
  const out: string[] = []
  echo.on('stdout', (text) => out.push(text))
  echo.write('hello\n')
  assert.deepEqual(await echo.close(), {exitCode: 0})
  assert.equal(out.join(''), 'hello\n')

  const stubborn = spawnCoprocess(process.execPath, ['-e', 'process.stdin.resume(); process.stdin.on("end", () => {}); setInterval(() => {}, 1000)'])
  const exit = await stubborn.close(100)
  assert.equal(exit.signal, 'SIGTERM')
  assert.equal(exit.error, undefined) // our own signal is no failure
})
