import assert from 'node:assert/strict'
import {test} from 'node:test'

import {DedupCache} from '../../../src/lib/detect/index.js'

test('dedup - a key is known for ttlMs after it was added, however often it is seen', () => {
  const d = new DedupCache({max: 10, ttlMs: 60_000})
  assert.equal(d.has('203.0.113.7', 0), false)
  d.add('203.0.113.7', 0)
  assert.equal(d.has('203.0.113.7', 1), true)
  assert.equal(d.has('203.0.113.7', 59_999), true)
  assert.equal(d.has('203.0.113.7', 60_000), false) // expired and removed
  assert.equal(d.size, 0)
  d.add('203.0.113.7', 60_000)
  assert.equal(d.has('203.0.113.7', 119_999), true)
})

test('dedup - when full, the least recently used key is evicted', () => {
  const d = new DedupCache({max: 3, ttlMs: 60_000})
  d.add('a', 0)
  d.add('b', 1)
  d.add('c', 2)
  assert.equal(d.has('a', 3), true) // "a" is now the most recently used
  d.add('d', 4)
  assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => d.has(k, 5)), [true, false, true, true])
  assert.equal(d.size, 3)
  assert.equal(d.evicted, 1)
})

test('dedup - expired keys are swept once per TTL, so memory follows the live keys', () => {
  const d = new DedupCache({max: 100_000, ttlMs: 1000})
  for (let i = 0; i < 10_000; i++) d.add(`k${i}`, 0)
  assert.equal(d.size, 10_000)
  d.add('later', 1000)
  assert.equal(d.size, 1)
  d.sweep(5000)
  assert.equal(d.size, 0)
})

test('dedup - configure() changes TTL and capacity, shrinking to the new maximum', () => {
  const d = new DedupCache({max: 10, ttlMs: 1000})
  for (const k of ['a', 'b', 'c', 'd']) d.add(k, 0)
  d.configure({max: 2, ttlMs: 5000})
  assert.deepEqual(['a', 'b', 'c', 'd'].map((k) => d.has(k, 1)), [false, false, true, true])
  assert.equal(d.has('c', 999), true)
  assert.equal(d.has('c', 1000), false) // the old expiry stays
  d.add('e', 1000)
  assert.equal(d.has('e', 5999), true)
  assert.equal(d.delete('e'), true)
  assert.equal(d.delete('e'), false)
  d.clear()
  assert.equal(d.size, 0)
})
