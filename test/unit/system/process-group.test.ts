import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {CommandFailedError} from '../../../src/lib/errors.js'
import {exec, killProcessGroup, processGroupMembers} from '../../../src/lib/system/index.js'

/** A temporary directory for PID files, removed after the test. */
function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-pgroup-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

/** Reads a PID a script wrote, waiting until it is there. */
async function readPid(path: string): Promise<number> {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      const pid = Number.parseInt(readFileSync(path, 'utf8'), 10)
      if (Number.isInteger(pid)) return pid
    } catch {
      // Not written yet.
    }
    if (Date.now() > deadline) throw new Error(`no PID in ${path}`)
    await sleep(20)
  }
}

/** Whether `pid` is a live process (not gone, not a zombie). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!)
  } catch {
    return false
  }
}

test('exec processGroup - settles when the program exits although a background child keeps its stdout open', async (t) => {
  const dir = tempDir(t)
  const result = await exec('sh', ['-c', `sleep 1000 & echo $! > ${dir}/child; echo started`], {processGroup: true, timeoutMs: 60_000})
  const child = await readPid(join(dir, 'child'))
  t.after(() => process.kill(child, 'SIGKILL'))
  assert.equal(result.stdout, 'started\n')
  assert.deepEqual(result.background, [child])
  assert.ok(isAlive(child), 'the background child is left running, as a shell leaves it')
})

test('exec processGroup - a timeout kills the program and everything in its group, and fails as timed out', async (t) => {
  const dir = tempDir(t)
  const running = exec('sh', ['-c', `echo $$ > ${dir}/script; sleep 1000 & echo $! > ${dir}/child; sleep 1000`],
    {processGroup: true, timeoutMs: 300})
  const error = await running.then(() => undefined, (e: unknown) => e)
  assert.ok(error instanceof CommandFailedError, String(error))
  assert.equal(error.timedOut, true)
  assert.match(error.message, /^sh -c .* timed out after 300 ms/)
  const script = await readPid(join(dir, 'script'))
  const child = await readPid(join(dir, 'child'))
  assert.equal(isAlive(script), false)
  assert.equal(isAlive(child), false)
  assert.deepEqual(processGroupMembers(script), [])
})

test('exec processGroup - aborting kills the group and rejects with the abort reason', async (t) => {
  const dir = tempDir(t)
  const ac = new AbortController()
  const running = exec('sh', ['-c', `echo $$ > ${dir}/script; sleep 1000 & sleep 1000`], {processGroup: true, signal: ac.signal, timeoutMs: 60_000})
  const script = await readPid(join(dir, 'script'))
  assert.ok(processGroupMembers(script).length >= 2, 'the script and its children share a group of their own')
  const reason = new Error('stop now')
  ac.abort(reason)
  await assert.rejects(running, (e) => e === reason)
  assert.deepEqual(processGroupMembers(script), [])
})

test('exec processGroup - an already aborted signal starts nothing', async () => {
  const ac = new AbortController()
  const reason = new Error('stopped before')
  ac.abort(reason)
  await assert.rejects(exec('sh', ['-c', 'exit 0'], {processGroup: true, signal: ac.signal}), (e) => e === reason)
})

test('exec processGroup - a failing program is a CommandFailedError with its exit code and stderr', async () => {
  await assert.rejects(exec('sh', ['-c', 'echo boom >&2; exit 3'], {processGroup: true}), (e) => {
    assert.ok(e instanceof CommandFailedError)
    assert.equal(e.programExitCode, 3)
    assert.equal(e.stderr, 'boom\n')
    assert.equal(e.timedOut, false)
    return true
  })
})

test('exec processGroup - refuses input: the program runs with stdin closed', async () => {
  await assert.rejects(exec('cat', [], {input: 'x', processGroup: true}), TypeError)
})

test('killProcessGroup - SIGKILLs what ignores SIGTERM after the grace period', async (t) => {
  const dir = tempDir(t)
  const running = exec('sh', ['-c', `trap "" TERM; echo $$ > ${dir}/script; sleep 1000 & wait`], {processGroup: true, timeoutMs: 60_000})
  running.catch(() => {})
  const script = await readPid(join(dir, 'script'))
  assert.deepEqual(await killProcessGroup(script, 200), [])
  assert.deepEqual(processGroupMembers(script), [])
  await assert.rejects(running, CommandFailedError)
})
