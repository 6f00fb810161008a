import assert from 'node:assert/strict'
import {existsSync, writeFileSync} from 'node:fs'
import {basename, join} from 'node:path'
import {test} from 'node:test'

import {makeTempDir, registeredCleanupCount} from '../../../src/lib/lab/index.js'

test('makeTempDir - a fresh directory registered for the lab cleanup, removed by remove() (twice is harmless)', () => {
  const before = registeredCleanupCount()
  const temp = makeTempDir('dw-temp-test-')
  assert.match(basename(temp.path), /^dw-temp-test-.{6}$/)
  writeFileSync(join(temp.path, 'x'), 'x')
  assert.equal(registeredCleanupCount(), before + 1)
  temp.remove()
  temp.remove()
  assert.equal(existsSync(temp.path), false)
  assert.equal(registeredCleanupCount(), before)
})
