import assert from 'node:assert/strict'
import {test} from 'node:test'

import {MAX_SCAN_SOURCES, scanSource} from '../../../src/lib/lab/index.js'
import {parseNetwork} from '../../../src/lib/net/index.js'

test('scanSource - distinct addresses of 198.19.128.0/17, never .0 or .255', () => {
  assert.equal(scanSource(0), '198.19.128.1')
  assert.equal(scanSource(253), '198.19.128.254')
  assert.equal(scanSource(254), '198.19.129.1')
  assert.equal(scanSource(MAX_SCAN_SOURCES - 1), '198.19.255.254')
  const all = Array.from({length: MAX_SCAN_SOURCES}, (_, i) => scanSource(i))
  assert.equal(new Set(all).size, MAX_SCAN_SOURCES)
  assert.ok(all.every((a) => !/\.(?:0|255)$/.test(a) && parseNetwork(`${a}/17`).text === '198.19.128.0/17'))
  for (const bad of [-1, MAX_SCAN_SOURCES, 1.5]) assert.throws(() => scanSource(bad), RangeError)
})
