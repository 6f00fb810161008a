import assert from 'node:assert/strict'
import {test} from 'node:test'

import {checkLogPrefix, LOG_PREFIX_MAX} from '../../../src/lib/config/index.js'

test('checkLogPrefix - 1 to 29 printable ASCII characters for every program', () => {
  assert.equal(LOG_PREFIX_MAX, 29)
  for (const program of ['any', 'iptables', 'nft'] as const) {
    assert.equal(checkLogPrefix('diswall-log: ', program), undefined)
    assert.equal(checkLogPrefix('x'.repeat(29), program), undefined)
    for (const bad of ['', 'x'.repeat(30), 'line\nbreak', 'tab\t', 'é']) {
      const problem = checkLogPrefix(bad, program)
      assert.ok(problem, `${program}: ${JSON.stringify(bad)}`)
      assert.match(problem.reason, /1 to 29 printable ASCII characters/)
      assert.match(problem.hint ?? '', /29/)
    }
  }
})

test('checkLogPrefix - iptables carries ", \\ and $; nft and the config (any) refuse them', () => {
  for (const prefix of ['say "hi"', 'a\\b', 'cost $5']) {
    assert.equal(checkLogPrefix(prefix, 'iptables'), undefined, prefix)
    for (const program of ['any', 'nft'] as const) {
      const problem = checkLogPrefix(prefix, program)
      assert.ok(problem, `${program}: ${prefix}`)
      assert.match(problem.reason, /without ", \\ or \$/)
      assert.ok(problem.reason.includes(JSON.stringify(prefix)), problem.reason)
    }
  }
  assert.equal(checkLogPrefix(`it's: `), undefined)
})
