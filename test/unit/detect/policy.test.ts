import assert from 'node:assert/strict'
import {test} from 'node:test'

import {classifyPort, portScanReason, SlidingWindowCounter, WELL_KNOWN_PORTS} from '../../../src/lib/detect/index.js'

test('policy - classifyPort: low, registered and well-known ports ban at once, ephemeral ports count', () => {
  const cases: Array<[number, number, string]> = [
    [0, 49_152, 'instant'],
    [22, 49_152, 'instant'],
    [1024, 49_152, 'instant'],
    [1025, 49_152, 'instant'],
    [2323, 49_152, 'instant'],
    [49_151, 49_152, 'instant'],
    [49_152, 49_152, 'ephemeral'],
    [65_535, 49_152, 'ephemeral'],
    // a host with a wider ephemeral range (ip_local_port_range 32768–60999): well-known ports still ban at once
    [32_768, 32_768, 'ephemeral'],
    [40_000, 32_768, 'ephemeral'],
    [8080, 1025, 'instant'],
    [11_211, 1025, 'instant'],
    [11_212, 1025, 'ephemeral'],
    [1024, 1025, 'instant'],
  ]
  for (const [port, min, expected] of cases) assert.equal(classifyPort(port, min), expected, `${port} with min ${min}`)
  assert.deepEqual(WELL_KNOWN_PORTS, [1433, 1434, 1521, 1583, 1830, 2049, 3050, 3306, 3351, 3389, 5432, 5900, 6379, 7210, 8080, 8081,
    8443, 9200, 9216, 9300, 11_211])
})

test('policy - portScanReason is "port-scan PORT/PROTO" within 25 characters', () => {
  assert.equal(portScanReason(23, 'tcp'), 'port-scan 23/tcp')
  assert.equal(portScanReason(65_535, 'udplite'), 'port-scan 65535/udplite')
  assert.equal(portScanReason(65_535, 'someverylongproto'), 'port-scan 65535/someveryl')
})

test('policy - SlidingWindowCounter fires at the threshold within the window and then starts over', () => {
  const c = new SlidingWindowCounter({maxKeys: 100, threshold: 3, windowMs: 10_000})
  const steps: Array<[string, number, boolean]> = [
    ['a', 0, false],
    ['a', 4000, false],
    ['b', 5000, false],
    ['a', 9999, true], // 3 hits within 10 s
    ['a', 10_000, false], // counting starts over
    ['b', 15_000, false],
    ['b', 15_001, false], // the hit at 5000 left the window (15001 - 10000 > 5000)
    ['b', 20_000, true],
  ]
  for (const [key, t, fired] of steps) assert.equal(c.hit(key, t), fired, `${key}@${t}`)
  assert.equal(c.count('a', 20_000), 0) // pruned: its last hit (10 s) is a window old
  assert.equal(c.count('nope', 0), 0)
  assert.equal(c.hit('a', 20_001), false)
  assert.equal(c.count('a', 20_001), 1)
})

test('policy - SlidingWindowCounter: a hit exactly one window old no longer counts', () => {
  const c = new SlidingWindowCounter({maxKeys: 10, threshold: 2, windowMs: 1000})
  assert.equal(c.hit('a', 0), false)
  assert.equal(c.hit('a', 1000), false)
  assert.equal(c.hit('a', 1999), true)
})

test('policy - SlidingWindowCounter with threshold 1 fires on every hit and stores nothing', () => {
  const c = new SlidingWindowCounter({maxKeys: 10, threshold: 1, windowMs: 1000})
  assert.equal(c.hit('a', 0), true)
  assert.equal(c.hit('a', 1), true)
  assert.equal(c.size, 0)
})

test('policy - SlidingWindowCounter memory is bounded by time and by maxKeys', () => {
  const c = new SlidingWindowCounter({maxKeys: 1000, threshold: 5, windowMs: 60_000})
  for (let i = 0; i < 5000; i++) c.hit(`k${i}`, i)
  assert.equal(c.size, 1000)
  assert.equal(c.evicted, 4000)
  assert.equal(c.count('k3999', 5000), 0) // evicted: the least recently hit go first
  assert.equal(c.count('k4999', 5000), 1)
  // every key leaves the window: the next hit prunes them all
  c.hit('late', 200_000)
  assert.equal(c.size, 1)
  // each key keeps at most threshold - 1 hits
  for (let t = 0; t < 4; t++) c.hit('x', 200_000 + t)
  assert.equal(c.count('x', 200_004), 4)
  c.delete('x')
  assert.equal(c.count('x', 200_004), 0)
  c.clear()
  assert.equal(c.size, 0)
})

test('policy - SlidingWindowCounter prunes only keys whose last hit left the window', () => {
  const c = new SlidingWindowCounter({maxKeys: 100, threshold: 3, windowMs: 1000})
  c.hit('old', 0)
  c.hit('fresh', 0)
  c.hit('fresh', 900) // moves "fresh" behind "old"
  c.prune(1500)
  assert.equal(c.size, 1)
  assert.equal(c.count('fresh', 1500), 1)
})
