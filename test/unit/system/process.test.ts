import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {test} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import {CommandFailedError, MissingDependencyError} from '../../../src/lib/errors.js'
import {execSync, netnsPrefix, spawnDetached, spawnProcess} from '../../../src/lib/system/index.js'

const NODE = process.execPath

/** The state letter of /proc/PID/stat, or undefined when the process is gone. */
function procState(pid: number): {state: string; session: number} | undefined {
  try {
    // comm (field 2) is in parentheses and may hold spaces; the fields after it are fixed.
    const afterComm = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ')
    return {session: Number(afterComm[3]), state: afterComm[0]!}
  } catch {
    return undefined
  }
}

/** Gone, or a zombie waiting for a parent that is not us to reap it. */
function isDead(pid: number): boolean {
  const stat = procState(pid)
  return stat === undefined || stat.state === 'Z' || stat.state === 'X'
}

async function until(predicate: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
}

test('spawnProcess - captures stdout and stderr and reports the exit code', async () => {
  const proc = spawnProcess(NODE, ['-e', 'process.stdout.write("out"); process.stderr.write("err"); process.exitCode = 3'])
  assert.ok(proc.pid > 0)
  const exit = await proc.exited
  assert.deepEqual(exit, {code: 3, signal: null})
  assert.deepEqual(proc.exitStatus, exit)
  assert.deepEqual(proc.output(), {stderr: 'err', stdout: 'out'})
})

test('spawnProcess - passes env and cwd, and runs the program through a wrap prefix under its own PID', async () => {
  const script = 'console.log(JSON.stringify({cwd: process.cwd(), pid: process.pid, v: process.env.DW_A, w: process.env.DW_W}))'
  // env(1) execs the program, as `ip netns exec` does.
  const proc = spawnProcess(NODE, ['-e', script], {cwd: '/', env: {DW_A: 'a'}, wrap: ['env', 'DW_W=w']})
  await proc.exited
  assert.deepEqual(JSON.parse(proc.output().stdout), {cwd: '/', pid: proc.pid, v: 'a', w: 'w'})
})

test('spawnProcess - onExit reports the exit once the output is read', async () => {
  const proc = spawnProcess(NODE, ['-e', 'console.log("last words"); process.exit(7)'])
  // onExit() does not keep this process alive by itself (neither does the program): a timer does.
  const keepAlive = setInterval(() => {}, 1000)
  try {
    const seen = await new Promise<{code: number | null; stdout: string}>((resolve) => {
      proc.onExit((exit) => resolve({code: exit.code, stdout: proc.output().stdout}))
    })
    assert.deepEqual(seen, {code: 7, stdout: 'last words\n'})
  } finally {
    clearInterval(keepAlive)
  }
})

test('spawnProcess - stop() ends the program and what it started (its process group)', async () => {
  const script = `
    const {spawn} = require('node:child_process')
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], {stdio: 'ignore'})
    console.log('child ' + child.pid)
    setInterval(() => {}, 1000)`
  const proc = spawnProcess(NODE, ['-e', script])
  let grandchild = 0
  await until(() => {
    const m = proc.output().stdout.match(/child (\d+)/)
    if (m) grandchild = Number(m[1])
    return m !== null
  }, 'the grandchild PID')
  assert.equal(isDead(grandchild), false)

  const exit = await proc.stop()
  assert.equal(exit.signal, 'SIGTERM')
  await until(() => isDead(grandchild), `grandchild ${grandchild} to die`)
  assert.equal(await proc.stop(), exit, 'a second stop() returns the same exit')
})

test('spawnProcess - stop() sends SIGKILL after the grace period when SIGTERM is ignored', async () => {
  const proc = spawnProcess(NODE, ['-e', 'process.on("SIGTERM", () => {}); console.log("ready"); setInterval(() => {}, 1000)'])
  await until(() => proc.output().stdout.includes('ready'), 'the program to install its handler')
  const started = Date.now()
  const exit = await proc.stop(200)
  assert.equal(exit.signal, 'SIGKILL')
  assert.ok(Date.now() - started >= 190, 'waited for the grace period')
})

test('spawnProcess - signal() reaches the process by PID without waiting', async () => {
  const proc = spawnProcess(NODE, ['-e', 'setInterval(() => {}, 1000)'])
  proc.signal('SIGKILL')
  assert.deepEqual(await proc.exited, {code: null, signal: 'SIGKILL'})
  proc.signal('SIGKILL') // after the exit: nothing, no throw
})

test('spawnProcess - a missing program is a MissingDependencyError', () => {
  assert.throws(() => spawnProcess('dw-no-such-program'), (error: unknown) => {
    assert.ok(error instanceof MissingDependencyError)
    assert.equal(error.program, 'dw-no-such-program')
    return true
  })
  assert.throws(() => spawnProcess(NODE, [], {wrap: ['dw-no-such-wrapper']}), MissingDependencyError)
})

test('spawnProcess - a running process does not keep its parent alive', async () => {
  const module = fileURLToPath(new URL('../../../src/lib/system/process.ts', import.meta.url))
  const script = `
    const {spawnProcess} = await import(${JSON.stringify(module)})
    const proc = spawnProcess(process.execPath, ['-e', 'setInterval(() => {}, 1000)'])
    console.log(proc.pid)`
  const parent = spawnProcess(NODE, ['--import', 'tsx', '--input-type=module', '-e', script])
  const exit = await Promise.race([parent.exited, sleep(30_000, 'still running', {ref: false})])
  const orphan = Number(parent.output().stdout.trim())
  try {
    assert.deepEqual(exit, {code: 0, signal: null}, parent.output().stderr)
    assert.ok(orphan > 0 && !isDead(orphan), 'the spawned program outlived its parent')
  } finally {
    if (orphan > 0) process.kill(orphan, 'SIGKILL')
    await parent.stop()
  }
})

test('spawnDetached - starts the program in its own session and returns its PID', async () => {
  const pid = spawnDetached(NODE, ['-e', 'setTimeout(() => {}, 30_000)'])
  try {
    const stat = procState(pid)
    assert.ok(stat, `process ${pid} runs`)
    // setsid(2): the new session's id is the program's own PID, so a hang-up of ours does not reach it.
    assert.equal(stat.session, pid)
  } finally {
    process.kill(pid, 'SIGKILL')
  }
  assert.throws(() => spawnDetached('dw-no-such-program', []), MissingDependencyError)
})

test('execSync - returns stdout and stderr, untranslated', () => {
  const {stderr, stdout} = execSync(NODE, ['-e', 'process.stdout.write(process.env.LC_ALL); process.stderr.write("e")'])
  assert.deepEqual({stderr, stdout}, {stderr: 'e', stdout: 'C'})
})

test('execSync - a failing program is a CommandFailedError with its exit code and stderr', () => {
  assert.throws(() => execSync(NODE, ['-e', 'process.stderr.write("File exists\\n"); process.exit(2)']), (error: unknown) => {
    assert.ok(error instanceof CommandFailedError)
    assert.equal(error.programExitCode, 2)
    assert.match(error.stderr, /File exists/)
    return true
  })
  assert.throws(() => execSync(NODE, ['-e', 'setTimeout(() => {}, 10_000)'], {timeoutMs: 200}), /timed out/)
  assert.throws(() => execSync('dw-no-such-program', []), MissingDependencyError)
})

test('netnsPrefix - builds ip netns exec NAME and refuses names ip would refuse', () => {
  assert.deepEqual(netnsPrefix('dw-1a2b-3c'), ['ip', 'netns', 'exec', 'dw-1a2b-3c'])
  for (const bad of ['', '-x', 'a b', 'a/b', 'x'.repeat(33)]) assert.throws(() => netnsPrefix(bad), TypeError, bad)
})
