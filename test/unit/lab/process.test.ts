import assert from 'node:assert/strict'
import {test} from 'node:test'

import {cleanupAll, type ProcessExit, registeredCleanupCount, spawnProcess} from '../../../src/lib/lab/index.js'

test('lab spawnProcess - registers the process for cleanup until it has exited', async () => {
  const before = registeredCleanupCount()
  const proc = spawnProcess(process.execPath, ['-e', 'setTimeout(() => {}, 200)'])
  assert.equal(registeredCleanupCount(), before + 1)
  assert.deepEqual(await proc.exited, {code: 0, signal: null})
  // The registry entry goes once the exit is reported.
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(registeredCleanupCount(), before)
})

test('lab spawnProcess - cleanupAll stops a process nobody stopped', async () => {
  const proc = spawnProcess(process.execPath, ['-e', 'setInterval(() => {}, 1000)'])
  const status = (): ProcessExit | undefined => proc.exitStatus
  assert.equal(status(), undefined)
  await cleanupAll()
  assert.equal(status()?.signal, 'SIGTERM')
  assert.equal(registeredCleanupCount(), 0)
})

test('lab spawnProcess - a netns option runs the program through ip netns exec', () => {
  // Refused before anything starts: the name is checked by system's netnsPrefix().
  assert.throws(() => spawnProcess(process.execPath, [], {netns: 'bad name'}), /invalid network namespace name/)
})
