import assert from 'node:assert/strict'
import {readFileSync} from 'node:fs'
import {test} from 'node:test'

import {renderConfigReference} from '../../src/lib/config/index.js'

test('readme - the configuration table matches the config schema', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const table = readme.match(/<!-- config-reference:start -->\n([\s\S]*?)<!-- config-reference:end -->/)?.[1]
  assert.ok(table, 'README.md lacks the config-reference markers')
  assert.equal(table, renderConfigReference(),
    'README.md is out of date: paste the output of renderConfigReference() between the markers')
})
