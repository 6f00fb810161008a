import assert from 'node:assert/strict'
import {test} from 'node:test'

import {NetworkList, parseAddress, parseNetwork, parseTarget} from '../../../src/lib/net/index.js'
import {GLOBAL_ACCOUNT, openSqliteStore, parseStatsPayload, ServerCore} from '../../../src/lib/server/index.js'
import type {CorePolicy} from '../../../src/lib/server/index.js'
import type {WireEntry} from '../../../src/lib/transport/index.js'

const POLICY: CorePolicy = {
  accountRateLimit: 1000,
  escalation: {steps: [900, 1800, 3600], windowSec: 86_400},
  globalMinAccounts: 2,
  honeypots: new Set(['trap']),
}

function setup(policy: Partial<CorePolicy> = {}) {
  const clock = {ms: 1_700_000_000_000}
  const store = openSqliteStore(':memory:')
  const core = new ServerCore(store, {...POLICY, ...policy},
    {lists: [{label: 'the NATS server', list: new NetworkList([parseAddress('192.0.2.1')])}], skipPrivate: true}, () => clock.ms)
  return {clock, core, store}
}

const ban = (text: string, tag?: string): WireEntry => ({tag, target: parseTarget(text)})

test('core - a block report is stored with the first step; a report after the ban ended gets the next one', (t) => {
  const {clock, core, store} = setup()
  t.after(() => store.close())
  const first = core.add('acme', 'web1', 'block', ban('203.0.113.7', 'ssh'))
  assert.deepEqual(first, {created: true, escalated: false, kind: 'stored', timeoutSec: 900})
  // another host of the account sees the same scan: the running ban stays
  clock.ms += 60_000
  assert.deepEqual(core.add('acme', 'web2', 'block', ban('203.0.113.7')), {created: false, escalated: false, kind: 'stored', timeoutSec: 840})
  // after it ended: the next step, and the hosts must hear about it
  clock.ms += 900_000
  assert.deepEqual(core.add('acme', 'web1', 'block', ban('203.0.113.7')), {created: false, escalated: true, kind: 'stored', timeoutSec: 1800})
  const row = store.get('acme', 'block', '203.0.113.7')!
  assert.equal(row.bans, 2)
  assert.equal(row.reporter, 'web1')
  assert.equal(row.note, 'ssh')
})

test('core - escalation survives the sweep of the expired entry', (t) => {
  const {clock, core, store} = setup()
  t.after(() => store.close())
  core.add('acme', 'h', 'block', ban('203.0.113.8'))
  clock.ms += 1000 * 1000
  assert.equal(core.sweep(), 1)
  assert.equal(store.get('acme', 'block', '203.0.113.8'), undefined)
  const again = core.add('acme', 'h', 'block', ban('203.0.113.8'))
  assert.equal(again.kind === 'stored' && again.timeoutSec, 1800)
})

test('core - never-ban addresses are refused and counted, nothing is stored', (t) => {
  const {core, store} = setup()
  t.after(() => store.close())
  for (const text of ['127.0.0.1', '10.1.2.3', '192.0.2.1', 'fe80::1', '::1']) {
    const outcome = core.add('acme', 'h', 'block', ban(text))
    assert.equal(outcome.kind, 'refused', text)
  }
  assert.equal(core.counters.refused['never-ban'], 5)
  assert.deepEqual(core.entryCounts(), [])
  // too broad networks are refused on both lists
  assert.equal(core.add('acme', 'h', 'allow', {target: parseNetwork('0.0.0.0/0')}).kind, 'refused')
  assert.equal(core.counters.refused.broad, 1)
})

test('core - a honeypot report is global at once; an ordinary one only after global_min_accounts accounts', (t) => {
  const {core, store} = setup()
  t.after(() => store.close())
  const hp = core.add('trap', 'pot', 'block', ban('198.51.100.1'))
  assert.equal(hp.kind === 'stored' && hp.broadcast?.why, 'honeypot trap')

  const a = core.add('acme', 'h', 'block', ban('198.51.100.2'))
  assert.equal(a.kind === 'stored' && a.broadcast, undefined)
  // the same account again is still one account
  assert.equal((core.add('acme', 'h2', 'block', ban('198.51.100.2')) as {broadcast?: unknown}).broadcast, undefined)
  const b = core.add('globex', 'h', 'block', ban('198.51.100.2'))
  assert.equal(b.kind === 'stored' && b.broadcast?.why, '2 accounts')
  assert.equal(b.kind === 'stored' && b.broadcast?.timeoutSec, 900)
  // a third account during the running global ban: no second broadcast
  assert.equal((core.add('initech', 'h', 'block', ban('198.51.100.2')) as {broadcast?: unknown}).broadcast, undefined)
  assert.equal(core.counters.broadcasts, 2)
  assert.ok(store.get(GLOBAL_ACCOUNT, 'block', '198.51.100.2'))
})

test('core - init: own bans, then the global list without duplicates; other accounts never', (t) => {
  const {clock, core, store} = setup()
  t.after(() => store.close())
  core.add('trap', 'pot', 'block', ban('198.51.100.1'))
  core.add('acme', 'h', 'block', ban('198.51.100.1'))
  core.add('acme', 'h', 'block', ban('203.0.113.9'))
  core.add('globex', 'h', 'block', ban('203.0.113.10'))
  clock.ms += 100_000
  const lines = [...core.initEntries('acme', 'block')].map((e) => `${e.target.text} ${e.ttlSec}`)
  assert.deepEqual(lines, ['198.51.100.1 800', '203.0.113.9 800'])
  assert.deepEqual([...core.initEntries('globex', 'block')].map((e) => e.target.text), ['203.0.113.10', '198.51.100.1'])
})

test('core - allow entries never expire unless asked and keep their comments; a delete deletes', (t) => {
  const {clock, core, store} = setup()
  t.after(() => store.close())
  core.add('acme', 'h', 'allow', {comment: 'office VPN', target: parseNetwork('198.51.100.0/24')})
  core.add('acme', 'h', 'allow', {target: parseAddress('203.0.113.50'), ttlSec: 60})
  clock.ms += 365 * 86_400_000
  core.sweep()
  assert.deepEqual([...core.initEntries('acme', 'allow')], [{comment: 'office VPN', target: parseNetwork('198.51.100.0/24')}])
  assert.equal(core.del('acme', 'allow', parseNetwork('198.51.100.0/24')), true)
  assert.equal(core.del('acme', 'allow', parseNetwork('198.51.100.0/24')), false)
  assert.deepEqual([...core.initEntries('acme', 'allow')], [])
  // a block delete removes the ban and forgets its escalation
  core.add('acme', 'h', 'block', ban('203.0.113.60'))
  assert.equal(core.del('acme', 'block', parseAddress('203.0.113.60')), true)
  const again = core.add('acme', 'h', 'block', ban('203.0.113.60'))
  assert.equal(again.kind === 'stored' && again.timeoutSec, 900)
})

test('core - list limits: past them a clear refusal, counted; existing entries can still be refreshed', (t) => {
  const {core, store} = setup({limits: {allow: 2, block: 3}})
  t.after(() => store.close())
  for (const n of [1, 2, 3]) assert.equal(core.add('acme', 'h', 'block', ban(`203.0.113.${n}`)).kind, 'stored')
  const refused = core.add('acme', 'h', 'block', ban('203.0.113.4'))
  assert.equal(refused.kind, 'refused')
  assert.match((refused as {message: string}).message, /block list of account acme is full \(3 entries\)/)
  assert.equal(core.add('acme', 'h', 'block', ban('203.0.113.1')).kind, 'stored')
  assert.equal(core.add('globex', 'h', 'block', ban('203.0.113.4')).kind, 'stored') // other accounts have their own room
  assert.equal(core.counters.refused.limit, 1)
})

test('core - the rate limit drops one account\'s flood and leaves the others alone', (t) => {
  const {core, store} = setup({accountRateLimit: 50})
  t.after(() => store.close())
  let stored = 0
  for (let i = 0; i < 1000; i++) if (core.add('flood', 'h', 'block', ban(`203.0.${Math.floor(i / 250)}.${i % 250}`)).kind === 'stored') stored++
  assert.equal(stored, 50)
  assert.equal(core.counters.rateLimited, 950)
  assert.equal(core.add('quiet', 'h', 'block', ban('198.51.100.77')).kind, 'stored')
})

test('core - statistics payloads: the original JSON, counters as non-negative integers', () => {
  assert.deepEqual(parseStatsPayload({banned: 3, bytes_dropped: 10, packets_dropped: 2, time: 1}),
    {banned: 3, bytesAccepted: 0, bytesDropped: 10, packetsAccepted: 0, packetsDropped: 2})
  for (const bad of [null, [], 'x', {}, {banned: -1}, {banned: 1.5}, {banned: 1, packets_dropped: '2'}]) {
    assert.equal(parseStatsPayload(bad), undefined, JSON.stringify(bad))
  }
})

test('core - only running bans count toward global_min_accounts: an ended ban of another account does not', (t) => {
  const {clock, core, store} = setup({globalMinAccounts: 3})
  t.after(() => store.close())
  core.add('acme', 'h', 'block', ban('198.51.100.9'))
  clock.ms += 1000 * 1000 // acme's 900 s ban has ended (not swept yet)
  core.add('globex', 'h', 'block', ban('198.51.100.9'))
  const c = core.add('initech', 'h', 'block', ban('198.51.100.9'))
  assert.equal(c.kind === 'stored' && c.broadcast, undefined, 'acme\'s ended ban is no evidence')
  // acme bans it again (its second ban): now three accounts hold a running ban
  const a = core.add('acme', 'h', 'block', ban('198.51.100.9'))
  assert.equal(a.kind === 'stored' && a.timeoutSec, 1800)
  assert.equal(a.kind === 'stored' && a.broadcast?.why, '3 accounts')
  assert.equal(store.get(GLOBAL_ACCOUNT, 'block', '198.51.100.9')?.expiresAt, Math.floor(clock.ms / 1000) + 900)
})
