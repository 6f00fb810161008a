import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CommandFailedError, MissingDependencyError} from '../../../src/lib/errors.js'
import {threadExec} from '../../../src/lib/system/index.js'

test('threadExec - output, stdin, environment and errors are the ones of exec', async () => {
  const run = threadExec()
  try {
    assert.deepEqual(await run('sh', ['-c', 'cat; printf "%s" "$X" >&2', 'x'], {env: {X: 'from env'}, input: 'from stdin\n'}),
      {stderr: 'from env', stdout: 'from stdin\n'})
    await assert.rejects(run('sh', ['-c', 'echo nope >&2; exit 3']), (error: unknown) => {
      assert.ok(error instanceof CommandFailedError)
      assert.equal(error.programExitCode, 3)
      assert.equal(error.stderr, 'nope\n')
      assert.equal(error.code, 'E_COMMAND_FAILED')
      return true
    })
    await assert.rejects(run('sleep', ['5'], {timeoutMs: 100}), (error: unknown) => error instanceof CommandFailedError && error.timedOut)
    await assert.rejects(run('diswall-no-such-program', []), MissingDependencyError)
    // Many at once: each answer reaches its own caller.
    const answers = await Promise.all(Array.from({length: 20}, (_, i) => run('echo', [String(i)])))
    assert.deepEqual(answers.map((a) => a.stdout), Array.from({length: 20}, (_, i) => `${i}\n`))
  } finally {
    await run.close()
  }
})

test('threadExec - the event loop keeps turning while a program starts', async () => {
  const run = threadExec()
  try {
    await run('true', []) // the thread is up
    let turns = 0
    const timer = setInterval(() => turns++, 0)
    try {
      await run('sleep', ['0.2'])
    } finally {
      clearInterval(timer)
    }
    assert.ok(turns > 10, `only ${turns} timer turns while the program ran`)
  } finally {
    await run.close()
  }
})

test('threadExec - close() is safe twice, and a call after it starts a new thread', async () => {
  const run = threadExec()
  await run('true', [])
  await run.close()
  await run.close()
  try {
    assert.equal((await run('echo', ['again'])).stdout, 'again\n')
  } finally {
    await run.close()
  }
})
