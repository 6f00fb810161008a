import assert from 'node:assert/strict'
import {test} from 'node:test'

import {AccountRateLimiter, globalBanReason} from '../../../src/lib/server/index.js'

test('trust - a honeypot account alone makes a global ban', () => {
  const policy = {honeypots: new Set(['trap']), minAccounts: 3}
  assert.equal(globalBanReason(policy, 'trap', []), 'honeypot trap')
  assert.equal(globalBanReason(policy, 'acme', []), undefined)
})

test('trust - ordinary accounts need global_min_accounts distinct reporters, the reporting one included', () => {
  const policy = {honeypots: new Set<string>(), minAccounts: 3}
  assert.equal(globalBanReason(policy, 'a', ['a']), undefined)
  assert.equal(globalBanReason(policy, 'a', ['a', 'a', 'b']), undefined) // one account twice is one account
  assert.equal(globalBanReason(policy, 'c', ['a', 'b']), '3 accounts')
})

test('trust - the rate limiter lets one second of reports through, then the rate', () => {
  const limiter = new AccountRateLimiter(10)
  let passed = 0
  for (let i = 0; i < 100; i++) if (limiter.take('flood', 0)) passed++
  assert.equal(passed, 10)
  // another account is not affected by the flood
  assert.equal(limiter.take('quiet', 0), true)
  // half a second later, five more
  passed = 0
  for (let i = 0; i < 100; i++) if (limiter.take('flood', 500)) passed++
  assert.equal(passed, 5)
  // tokens do not pile up beyond one second's worth
  passed = 0
  for (let i = 0; i < 100; i++) if (limiter.take('flood', 60_000)) passed++
  assert.equal(passed, 10)
})
