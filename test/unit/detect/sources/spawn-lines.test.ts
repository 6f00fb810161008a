// Tests of src/lib/system/stream.ts, kept beside its only user (the journal source).
import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CommandFailedError, MissingDependencyError} from '../../../../src/lib/errors.js'
import {spawnLines} from '../../../../src/lib/system/stream.js'
import {until} from './collect.js'

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

test('spawnLines - yields stdout line by line, the unterminated last line too, and ends on exit 0', async () => {
  const stream = spawnLines(process.execPath, ['-e', 'process.stdout.write("one\\ntwo\\r\\n\\nthree")'])
  const lines: string[] = []
  for await (const line of stream) lines.push(line)
  assert.deepEqual(lines, ['one', 'two', '', 'three'])
})

test('spawnLines - a non-zero exit throws CommandFailedError with the exit code and stderr', async () => {
  const stream = spawnLines(process.execPath, ['-e', 'console.log("partial"); console.error("no journal files"); process.exit(3)'])
  const lines: string[] = []
  await assert.rejects(
    (async () => {
      for await (const line of stream) lines.push(line)
    })(),
    (error: unknown) => {
      assert.ok(error instanceof CommandFailedError, String(error))
      assert.equal(error.programExitCode, 3)
      assert.match(error.message, /no journal files/)
      return true
    },
  )
  assert.deepEqual(lines, ['partial'])
})

test('spawnLines - a missing program throws MissingDependencyError', async () => {
  const stream = spawnLines('dw-no-such-program', ['-f'])
  await assert.rejects(
    (async () => {
      for await (const _ of stream) assert.fail('no output expected')
    })(),
    MissingDependencyError,
  )
})

test('spawnLines - close() kills the program and ends the iteration without an error', async () => {
  const stream = spawnLines(process.execPath, ['-e', 'console.log("ready"); setInterval(() => {}, 1000)'])
  const pid = stream.pid!
  const lines: string[] = []
  const done = (async () => {
    for await (const line of stream) lines.push(line)
  })()
  await until(() => lines.length === 1, 'the first line')
  await stream.close()
  await done
  assert.equal(isAlive(pid), false)
})

test('spawnLines - breaking out of the iteration kills the program', async () => {
  const stream = spawnLines(process.execPath, ['-e', 'setInterval(() => console.log("tick"), 5)'])
  const pid = stream.pid!
  for await (const line of stream) {
    assert.equal(line, 'tick')
    break
  }
  await until(() => !isAlive(pid), `process ${pid} to exit`)
})
