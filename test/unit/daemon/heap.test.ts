import assert from 'node:assert/strict'
import {test} from 'node:test'

import {collectGarbage, runsDaemon} from '../../../src/lib/daemon/index.js'

test('collectGarbage - a full collection frees what nothing references any more', () => {
  collectGarbage()
  const before = process.memoryUsage().heapUsed
  let garbage: Array<{i: number; text: string}> | undefined = Array.from({length: 500_000}, (_, i) => ({i, text: `entry ${i}`}))
  assert.ok(process.memoryUsage().heapUsed - before > 20e6, 'the garbage was not allocated')
  garbage = undefined
  collectGarbage()
  collectGarbage() // a second call reuses the collector
  assert.equal(garbage, undefined)
  assert.ok(process.memoryUsage().heapUsed - before < 5e6, `${((process.memoryUsage().heapUsed - before) / 1e6).toFixed(1)} MB still held`)
})

test('runsDaemon - only the daemon command holds the young generation', () => {
  assert.equal(runsDaemon(['daemon', '--local-only', '-c', '/etc/diswall/diswall.conf']), true)
  assert.equal(runsDaemon(['block', 'add', 'daemon']), false)
  assert.equal(runsDaemon([]), false)
  assert.equal(runsDaemon(['--daemon']), false)
})
