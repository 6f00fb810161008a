import assert from 'node:assert/strict'
import {existsSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {test} from 'node:test'

import {LatencyTrace, latencyTraceFromEnv, Ring, traceStages} from '../../../src/lib/daemon/index.js'
import type {TraceDump} from '../../../src/lib/daemon/index.js'
import {makeTempDir} from '../../../src/lib/lab/index.js'

test('Ring - keeps the last items, oldest first, and never grows past its capacity', () => {
  const ring = new Ring<number>(3)
  assert.deepEqual(ring.toArray(), [])
  ring.push(1)
  ring.push(2)
  assert.deepEqual(ring.toArray(), [1, 2])
  ring.push(3)
  assert.deepEqual(ring.toArray(), [1, 2, 3])
  for (let i = 4; i <= 1000; i++) ring.push(i)
  assert.deepEqual(ring.toArray(), [998, 999, 1000])
})

test('Ring - refuses a capacity that is not a positive integer', () => {
  for (const bad of [0, -1, 1.5, Number.NaN]) assert.throws(() => new Ring(bad), RangeError)
})

test('traceStages - splits each ban into engine and write time and counts the GC time inside it', () => {
  const dump: Pick<TraceDump, 'bans' | 'gcs'> = {
    bans: [
      {committed: 110, decided: 101, received: 100, target: '198.18.0.1'},
      {committed: 205, decided: 200.5, received: 200, target: '198.18.0.2'},
    ],
    gcs: [
      {at: 250, kind: 'minor', ms: 1}, // after both
      {at: 95, kind: 'minor', ms: 7}, // 100..102 overlaps the first ban
      {at: 108, kind: 'major', ms: 10}, // 108..110 overlaps the first ban
    ],
  }
  const [first, second] = traceStages(dump)
  assert.equal(first!.engineMs, 1)
  assert.equal(first!.writeMs, 9)
  assert.equal(first!.gcMs, 4)
  assert.equal(second!.engineMs, 0.5)
  assert.equal(second!.writeMs, 4.5)
  assert.equal(second!.gcMs, 0)
})

test('latencyTraceFromEnv - on only when DISWALL_LATENCY_TRACE names a file', () => {
  assert.equal(latencyTraceFromEnv({}), undefined)
  assert.equal(latencyTraceFromEnv({DISWALL_LATENCY_TRACE: ''}), undefined)
  assert.equal(latencyTraceFromEnv({DISWALL_LATENCY_TRACE: '/tmp/x.json'})?.file, '/tmp/x.json')
})

test('LatencyTrace - records bans and the collections of the run and writes them at stop', () => {
  const dir = makeTempDir('diswall-trace-')
  try {
    const file = join(dir.path, 'trace.json')
    const trace = new LatencyTrace(file, 2)
    trace.start()
    for (let i = 1; i <= 3; i++) trace.ban({committed: i + 0.5, decided: i + 0.1, received: i, target: `198.18.0.${i}`})
    trace.stop()
    assert.ok(existsSync(file))
    const dump = JSON.parse(readFileSync(file, 'utf8')) as TraceDump
    assert.deepEqual(dump.bans.map((b) => b.target), ['198.18.0.2', '198.18.0.3'])
    assert.ok(Array.isArray(dump.gcs))
    assert.equal(typeof dump.loopDelayMs.max, 'number')
  } finally {
    dir.remove()
  }
})
