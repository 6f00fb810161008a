import assert from 'node:assert/strict'
import {test} from 'node:test'

import {IPSET_MAX_TIMEOUT_SEC} from '../../../src/lib/net/index.js'
import {escalate, stepFor} from '../../../src/lib/server/index.js'
import type {EscalationPolicy, OffenderHistory} from '../../../src/lib/server/index.js'

const POLICY: EscalationPolicy = {steps: [900, 1800, 3600, 21_600, 86_400, 604_800], windowSec: 30 * 86_400}

test('escalation - the first ban takes the first step', () => {
  assert.deepEqual(escalate(POLICY, undefined, 1000), {bannedUntil: 1900, bans: 1, escalated: true, timeoutSec: 900})
})

test('escalation - each ban after the previous one ended takes the next step; the last step repeats', () => {
  let history: OffenderHistory | undefined
  let now = 1_000_000
  const timeouts: number[] = []
  for (let i = 0; i < 8; i++) {
    const d = escalate(POLICY, history, now)
    timeouts.push(d.timeoutSec)
    history = {bannedUntil: d.bannedUntil, bans: d.bans}
    now = d.bannedUntil + 60 // reported again a minute after the ban ended
  }
  assert.deepEqual(timeouts, [900, 1800, 3600, 21_600, 86_400, 604_800, 604_800, 604_800])
})

test('escalation - a report during a running ban keeps it and does not count', () => {
  const d = escalate(POLICY, {bannedUntil: 5000, bans: 2}, 4000)
  assert.deepEqual(d, {bannedUntil: 5000, bans: 2, escalated: false, timeoutSec: 1000})
})

test('escalation - after a quiet window the next ban starts at the first step again', () => {
  const ended = 100_000
  assert.equal(escalate(POLICY, {bannedUntil: ended, bans: 5}, ended + POLICY.windowSec).timeoutSec, 604_800)
  assert.deepEqual(escalate(POLICY, {bannedUntil: ended, bans: 5}, ended + POLICY.windowSec + 1),
    {bannedUntil: ended + POLICY.windowSec + 1 + 900, bans: 1, escalated: true, timeoutSec: 900})
})

test('escalation - steps are capped at the kernel maximum', () => {
  const policy = {steps: [60, 10 * IPSET_MAX_TIMEOUT_SEC], windowSec: 86_400}
  assert.equal(stepFor(policy, 2), IPSET_MAX_TIMEOUT_SEC)
  assert.equal(escalate(policy, {bannedUntil: 10, bans: 1}, 20).timeoutSec, IPSET_MAX_TIMEOUT_SEC)
  // a remaining time longer than the maximum (a ban stored before a config change) is capped too
  assert.equal(escalate(policy, {bannedUntil: 20 + 3 * IPSET_MAX_TIMEOUT_SEC, bans: 2}, 20).timeoutSec, IPSET_MAX_TIMEOUT_SEC)
})
