import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CommandFailedError} from '../../../../src/lib/errors.js'
import {
  createBackend,
  DEFAULT_LIMITS,
  DEFAULT_NAMES,
  forEachNftElement,
  IpsetBackend,
  NFT_GUARD_CHAIN_SPEC,
  NFT_SESSION_MAX_OPS,
  NftBackend,
  parseNftElements,
  parseNftSets,
  SetTypeMismatchError,
} from '../../../../src/lib/firewall/sets/index.js'
import type {NftSessionFactory, SetEntry} from '../../../../src/lib/firewall/sets/index.js'
import {parseAddress, parseTarget} from '../../../../src/lib/net/index.js'
import type {Exec} from '../../../../src/lib/system/index.js'
import {failure, line, recordingExec} from './fake-exec.js'

const T = 'inet diswall'
/** `nft -t -j list sets inet` on a host without our table. */
const NO_SETS = JSON.stringify({nftables: [{metainfo: {json_schema_version: 1, release_name: 'Lester Gooch #5', version: '1.0.6'}}]})
const METAINFO = {metainfo: {json_schema_version: 1, release_name: 'Lester Gooch #5', version: '1.0.6'}}

/** The init script's lines up to the guard chain's rules (declares the table, sets and the empty guard chain). */
const INIT_HEAD = [
  'add table inet diswall',
  'add set inet diswall diswall-bl { type ipv4_addr; flags timeout; }',
  'add set inet diswall diswall-bl6 { type ipv6_addr; flags interval, timeout; }',
  'add set inet diswall diswall-bl6-addr { type ipv6_addr; flags timeout; }',
  'add set inet diswall diswall-bl6-net64 { type ipv6_addr; flags timeout; }',
  'add set inet diswall diswall-wl { type ipv4_addr; flags interval, timeout; }',
  'add set inet diswall diswall-wl6 { type ipv6_addr; flags interval, timeout; }',
  'add chain inet diswall diswall-sets { type filter hook input priority filter - 10; policy accept; }',
  'flush chain inet diswall diswall-sets',
]

const INIT_SCRIPT = [
  ...INIT_HEAD,
  'add rule inet diswall diswall-sets ip saddr @diswall-wl counter accept',
  'add rule inet diswall diswall-sets ip6 saddr @diswall-wl6 counter accept',
  'add rule inet diswall diswall-sets ip saddr @diswall-bl counter drop',
  'add rule inet diswall diswall-sets ip6 saddr @diswall-bl6 counter drop',
  'add rule inet diswall diswall-sets ip6 saddr & ffff:ffff:ffff:ffff:: == @diswall-bl6-net64 counter drop',
  'add rule inet diswall diswall-sets ip6 saddr @diswall-bl6-addr counter drop',
  '',
].join('\n')

/** `nft -t -j list sets inet`: our table's `sets` and a set of another table that must be ignored. */
function tableJson(sets: Array<{flags?: string | string[]; name: string; timeout?: number; type: string}>): string {
  return JSON.stringify({nftables: [
    METAINFO,
    {table: {family: 'inet', handle: 12, name: 'diswall'}},
    ...sets.map((s, i) => ({set: {family: 'inet', handle: i + 1, table: 'diswall', ...s}})),
    // Same name, another table, wrong type: init must not look at it.
    {set: {family: 'inet', handle: 1, name: 'diswall-bl', table: 'other', type: 'ether_addr'}},
    {chain: {family: 'inet', handle: 5, hook: 'input', name: 'diswall-sets', policy: 'accept', prio: -10, table: 'diswall', type: 'filter'}},
    {rule: {chain: 'diswall-sets', expr: [{match: {left: {payload: {field: 'saddr', protocol: 'ip'}}, op: '==', right: '@diswall-wl'}}, {accept: null}],
      family: 'inet', handle: 6, table: 'diswall'}},
  ]})
}

const GOOD_SETS = [
  {flags: ['timeout'], name: 'diswall-bl', timeout: 86_400, type: 'ipv4_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-bl6', timeout: 86_400, type: 'ipv6_addr'},
  {flags: ['timeout'], name: 'diswall-bl6-addr', type: 'ipv6_addr'},
  {flags: 'timeout', name: 'diswall-bl6-net64', type: 'ipv6_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-wl', type: 'ipv4_addr'},
  {flags: ['timeout', 'interval'], name: 'diswall-wl6', type: 'ipv6_addr'},
]

/** `nft -t -j list chains inet`: the chains of our table (`names`) and of `other` tables. */
function chainsJson(names: string[], other: Array<{name: string; table: string}> = []): string {
  return JSON.stringify({nftables: [
    METAINFO,
    ...names.map((name, i) => ({chain: {family: 'inet', handle: i + 1, name, table: 'diswall'}})),
    ...other.map((c, i) => ({chain: {family: 'inet', handle: 100 + i, ...c}})),
  ]})
}

/** `nft -t -j list ruleset inet`: the items of a sets listing and of a chains listing (chains once). */
function rulesetJson(sets: string, chains: string): string {
  const items = [...(JSON.parse(sets) as {nftables: object[]}).nftables, ...(JSON.parse(chains) as {nftables: object[]}).nftables]
  const seen = new Set<string>()
  return JSON.stringify({nftables: items.filter((item) => {
    const chain = (item as {chain?: {name: string; table: string}}).chain
    const key = chain ? `chain ${chain.table} ${chain.name}` : JSON.stringify(item)
    return !seen.has(key) && seen.add(key)
  })})
}

/** Only the guard chain: no ruleset loaded. */
const GUARD_ONLY = chainsJson(['diswall-sets'])

/** A host whose `list sets` prints `json` and whose `list chains` prints `chains`. */
function listingExec(json: string, chains = GUARD_ONLY) {
  return recordingExec((call) => {
    if (line(call) === 'nft -t -j list ruleset inet') return {stdout: rulesetJson(json, chains)}
    return undefined
  })
}

test('nftables - init on an empty host creates the table, six sets and the guard chain in one nft -f', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.args[0] === '-t') return {stdout: NO_SETS}
    return undefined
  })
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: ['diswall-bl', 'diswall-bl6', 'diswall-bl6-addr', 'diswall-bl6-net64', 'diswall-wl', 'diswall-wl6'], leftovers: [], migrated: []})
  assert.deepEqual(calls.slice(0, 2), [
    {args: ['-t', '-j', 'list', 'ruleset', 'inet'], program: 'nft'},
    {args: ['-f', '-'], input: INIT_SCRIPT, program: 'nft'},
  ])
  // No timeout-refresh probe (four nft processes) without a session: a commit of several bans makes it.
  assert.equal(calls.length, 2)
  assert.equal(NFT_GUARD_CHAIN_SPEC, 'type filter hook input priority filter - 10; policy accept;')
})

test('nftables - init with the ruleset chain diswall-in loaded declares and flushes the guard chain but adds no rule', async () => {
  const {calls, exec} = listingExec(tableJson(GOOD_SETS), chainsJson(['diswall-sets', 'diswall-in', 'diswall-out']))
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: []})
  assert.deepEqual(calls.slice(0, 2).map(line), ['nft -t -j list ruleset inet', 'nft -f -'])
  assert.equal(calls[1].input, [...INIT_HEAD, ''].join('\n'))
  assert.equal(calls.length, 2)
})

test('nftables - a diswall-in chain of another table does not empty the guard chain', async () => {
  const {calls, exec} = listingExec(tableJson(GOOD_SETS), chainsJson(['diswall-sets'], [{name: 'diswall-in', table: 'other'}]))
  await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init()
  assert.equal(calls[1].input, INIT_SCRIPT)
})

/** The timeout-refresh probe that follows the init script. */
const PROBE_CALLS = [
  'add set inet diswall diswall-sets-probe { type ipv4_addr; flags timeout; }\nflush set inet diswall diswall-sets-probe\n' +
    'add element inet diswall diswall-sets-probe { 192.0.2.1 timeout 100s }\n',
  'add element inet diswall diswall-sets-probe { 192.0.2.1 timeout 200s }\n',
  'nft -j list set inet diswall diswall-sets-probe',
  'delete set inet diswall diswall-sets-probe\n',
]

/** `nft -j list set` of the probe set after the second add: timeout 200 where the kernel refreshes. */
function probeListing(timeout: number): string {
  return JSON.stringify({nftables: [METAINFO, {set: {elem: [{elem: {expires: timeout - 1, timeout, val: '192.0.2.1'}}],
    family: 'inet', flags: ['timeout'], name: 'diswall-sets-probe', table: 'diswall', type: 'ipv4_addr'}}]})
}

test('nftables - timed bans are one add statement where the kernel refreshes timeouts, add/delete/add elsewhere', async () => {
  for (const [timeout, expected] of [[200, 1], [100, 3]] as const) {
    const {calls, exec} = recordingExec((call) => {
      if (call.args[0] === '-t') return {stdout: NO_SETS}
      if (line(call) === 'nft -j list set inet diswall diswall-sets-probe') return {stdout: probeListing(timeout)}
      return undefined
    })
    const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
    await fw.init()
    // One ban: add + delete + add in one transaction, without probing (a one-shot `block add`).
    fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
    await fw.commit()
    assert.equal(calls.length, 3)
    assert.equal(calls[2].input?.trim().split('\n').length, 3)
    // Several bans: the first such commit probes, then sends the statements.
    fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
    fw.add('block', {target: parseAddress('203.0.113.8'), ttlSec: 600})
    await fw.commit()
    assert.deepEqual(calls.slice(3, -1).map((c) => c.input ?? line(c)), PROBE_CALLS)
    const script = calls.at(-1)?.input?.trim().split('\n') ?? []
    assert.equal(script.length, expected, `probe timeout ${timeout}`)
    assert.equal(script.at(-1), `add element ${T} diswall-bl { 203.0.113.7 timeout 600s, 203.0.113.8 timeout 600s }`)
    // Probed once.
    fw.add('block', {target: parseAddress('203.0.113.9'), ttlSec: 600})
    fw.add('block', {target: parseAddress('203.0.113.10'), ttlSec: 600})
    const before = calls.length
    await fw.commit()
    assert.equal(calls.length, before + 1)
  }
})

test('nftables - with a session (the daemon), init probes timeout refresh at once', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.args[0] === '-t') return {stdout: NO_SETS}
    if (line(call) === 'nft -j list set inet diswall diswall-sets-probe') return {stdout: probeListing(200)}
    return undefined
  })
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: () => ({close: async () => {}, run: async () => {}})})
  await fw.init()
  assert.deepEqual(calls.slice(2).map((c) => c.input ?? line(c)), PROBE_CALLS)
})

test('nftables - init uses the configured table, names and block timeout', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.args[0] === '-t') return {stdout: NO_SETS}
    return undefined
  })
  const names = {allow: {v4: 'wl', v6: 'wl6'}, block: {v4: 'bl', v6: 'bl6'}, guardChain: 'guard', table: 'fw', v6GroupPrefix: 56}
  await new NftBackend(names, {...DEFAULT_LIMITS, blockTimeoutSec: 600}, exec).init()
  assert.deepEqual(calls[0].args, ['-t', '-j', 'list', 'ruleset', 'inet'])
  assert.deepEqual(calls[1].input?.split('\n'), [
    'add table inet fw',
    'add set inet fw bl { type ipv4_addr; flags timeout; }',
    'add set inet fw bl6 { type ipv6_addr; flags interval, timeout; }',
    'add set inet fw bl6-addr { type ipv6_addr; flags timeout; }',
    'add set inet fw bl6-net56 { type ipv6_addr; flags timeout; }',
    'add set inet fw wl { type ipv4_addr; flags interval, timeout; }',
    'add set inet fw wl6 { type ipv6_addr; flags interval, timeout; }',
    'add chain inet fw guard { type filter hook input priority filter - 10; policy accept; }',
    'flush chain inet fw guard',
    'add rule inet fw guard ip saddr @wl counter accept',
    'add rule inet fw guard ip6 saddr @wl6 counter accept',
    'add rule inet fw guard ip saddr @bl counter drop',
    'add rule inet fw guard ip6 saddr @bl6 counter drop',
    'add rule inet fw guard ip6 saddr & ffff:ffff:ffff:ff00:: == @bl6-net56 counter drop',
    'add rule inet fw guard ip6 saddr @bl6-addr counter drop',
    '',
  ])
})

test('nftables - init on a host with the right sets creates nothing and re-applies the idempotent script', async () => {
  const {calls, exec} = listingExec(tableJson(GOOD_SETS))
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: []})
  assert.deepEqual(calls.slice(0, 2).map((c) => c.input), [undefined, INIT_SCRIPT])
})

test('nftables - init accepts a single flag printed as a plain string (newer nft JSON)', async () => {
  const sets = GOOD_SETS.map((s) => (s.flags.length === 1 ? {...s, flags: s.flags[0]} : s))
  const {calls, exec} = listingExec(tableJson(sets))
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: []})
  assert.equal(calls.length, 2)
})

test('nftables - init refuses a set with the wrong flags and sends no script', async () => {
  const sets = GOOD_SETS.map((s) => (s.name === 'diswall-wl' ? {...s, flags: ['interval']} : s))
  const {calls, exec} = listingExec(tableJson(sets))
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  await assert.rejects(fw.init(), (error: unknown) => {
    assert.ok(error instanceof SetTypeMismatchError)
    assert.equal(error.code, 'E_SET_TYPE')
    assert.equal(error.message, 'kernel set "inet diswall diswall-wl" exists with type "ipv4_addr flags interval", ' +
      'but diswall needs "ipv4_addr flags interval,timeout"')
    return true
  })
  assert.deepEqual(calls.map(line), ['nft -t -j list ruleset inet'])
})

test('nftables - init refuses a set of the wrong type or without flags', async () => {
  for (const [name, change, found] of [
    ['diswall-bl6', {type: 'ipv4_addr'}, 'ipv4_addr flags interval,timeout'],
    ['diswall-bl', {flags: undefined}, 'ipv4_addr flags none'],
  ] as const) {
    const sets = GOOD_SETS.map((s) => (s.name === name ? {...s, ...change} : s))
    const {calls, exec} = listingExec(tableJson(sets))
    await assert.rejects(new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init(), {
      code: 'E_SET_TYPE',
      message: new RegExp(`^kernel set "inet diswall ${name}" exists with type "${found}"`),
    })
    assert.equal(calls.length, 1) // the listing, no script
  }
})

test('nftables - init throws a listing failure other than a missing table', async () => {
  const {calls, exec} = recordingExec((call) => {
    throw failure(call, 'Error: Could not process rule: Operation not permitted\n')
  })
  await assert.rejects(new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init(), CommandFailedError)
  // Both listings start together; nothing is written.
  assert.deepEqual(calls.map(line), ['nft -t -j list ruleset inet'])
})

test('nftables - commit renders add / delete / add runs per set in one transaction', async () => {
  const {calls, exec} = recordingExec()
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  fw.add('block', {target: parseAddress('198.51.100.1')})
  fw.add('block', {target: parseAddress('2001:db8::1'), ttlSec: 60.7})
  fw.add('block', {target: parseTarget('2001:db8:5:6::/64'), ttlSec: 60})
  fw.add('block', {target: parseTarget('2001:db8:7::/48'), ttlSec: 60})
  fw.del('block', parseAddress('198.51.100.9'))
  fw.del('block', parseAddress('198.51.100.10'))
  fw.add('allow', {comment: 'office LAN', target: parseTarget('10.0.0.0/8')})
  fw.add('allow', {target: parseTarget('192.0.2.7')})
  fw.add('allow', {comment: 'auto', target: parseTarget('2001:db8:1::/48'), ttlSec: 3600})
  fw.add('block', {comment: 'dropped', target: parseAddress('198.51.100.2'), ttlSec: 5})
  assert.equal(fw.pending, 11)

  assert.deepEqual(await fw.commit(), {added: 9, removed: 2})
  assert.equal(fw.pending, 0)
  assert.deepEqual(calls, [{args: ['-f', '-'], input: [
    `add element ${T} diswall-bl { 203.0.113.7, 198.51.100.1 }`,
    `delete element ${T} diswall-bl { 203.0.113.7, 198.51.100.1 }`,
    `add element ${T} diswall-bl { 203.0.113.7 timeout 600s, 198.51.100.1 timeout 86400s }`,
    // IPv6: an address in the address set, a /64 (the group prefix) as its network address in the
    // prefix set, a network of another length in the interval set.
    `add element ${T} diswall-bl6-addr { 2001:db8::1 }`,
    `delete element ${T} diswall-bl6-addr { 2001:db8::1 }`,
    `add element ${T} diswall-bl6-addr { 2001:db8::1 timeout 60s }`,
    `add element ${T} diswall-bl6-net64 { 2001:db8:5:6:: }`,
    `delete element ${T} diswall-bl6-net64 { 2001:db8:5:6:: }`,
    `add element ${T} diswall-bl6-net64 { 2001:db8:5:6:: timeout 60s }`,
    `add element ${T} diswall-bl6 { 2001:db8:7::/48 }`,
    `delete element ${T} diswall-bl6 { 2001:db8:7::/48 }`,
    `add element ${T} diswall-bl6 { 2001:db8:7::/48 timeout 60s }`,
    // A deletion is add + delete: deleting an absent element would fail the transaction.
    `add element ${T} diswall-bl { 198.51.100.9, 198.51.100.10 }`,
    `delete element ${T} diswall-bl { 198.51.100.9, 198.51.100.10 }`,
    `add element ${T} diswall-wl { 10.0.0.0/8, 192.0.2.7 }`,
    `delete element ${T} diswall-wl { 10.0.0.0/8, 192.0.2.7 }`,
    `add element ${T} diswall-wl { 10.0.0.0/8 comment "office LAN", 192.0.2.7 }`,
    `add element ${T} diswall-wl6 { 2001:db8:1::/48 }`,
    `delete element ${T} diswall-wl6 { 2001:db8:1::/48 }`,
    `add element ${T} diswall-wl6 { 2001:db8:1::/48 timeout 3600s comment "auto" }`,
    `add element ${T} diswall-bl { 198.51.100.2 }`,
    `delete element ${T} diswall-bl { 198.51.100.2 }`,
    `add element ${T} diswall-bl { 198.51.100.2 timeout 5s }`,
    '',
  ].join('\n'), program: 'nft'}])
})

test('nftables - an empty commit runs nothing', async () => {
  const {calls, exec} = recordingExec()
  assert.deepEqual(await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).commit(), {added: 0, removed: 0})
  assert.deepEqual(calls, [])
})

test('nftables - add refuses a comment that cannot be quoted', () => {
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, recordingExec().exec)
  assert.throws(() => fw.add('allow', {comment: 'a"b', target: parseTarget('10.0.0.0/8')}), TypeError)
  assert.equal(fw.pending, 0)
})

test('nftables - a failing batch is retried in halves and the good parts still land', async () => {
  const bad = '198.51.100.66'
  const {calls, exec} = recordingExec((call) => {
    if (call.input?.includes(bad)) {
      throw failure(call, `Error: Could not process rule: Numerical result out of range\nadd element inet diswall diswall-bl { ${bad} }\n`)
    }

    return undefined
  })
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  for (const n of [1, 2, 66, 4]) fw.add('block', {target: parseAddress(`198.51.100.${n}`), ttlSec: 10})
  await assert.rejects(fw.commit(), (error: unknown) => error instanceof CommandFailedError && error.stderr.includes(bad))

  const bareRun = (list: string) => [
    `add element ${T} diswall-bl { ${list} }`,
    `delete element ${T} diswall-bl { ${list} }`,
    `add element ${T} diswall-bl { ${list.split(', ').map((a) => `${a} timeout 10s`).join(', ')} }`,
    '',
  ].join('\n')
  assert.deepEqual(calls.map((c) => c.input), [
    bareRun('198.51.100.1, 198.51.100.2, 198.51.100.66, 198.51.100.4'), // whole batch: fails
    bareRun('198.51.100.1, 198.51.100.2'), // first half: lands
    bareRun('198.51.100.66, 198.51.100.4'), // second half: fails
    bareRun('198.51.100.66'), // fails alone
    bareRun('198.51.100.4'), // lands
  ])
  assert.ok(calls.every((c) => line(c) === 'nft -f -'))
})

test('nftables - a failure that is not a CommandFailedError is not retried', async () => {
  let count = 0
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, async () => {
    count++
    throw new Error('spawn failed')
  })
  fw.add('block', {target: parseAddress('198.51.100.1')})
  fw.add('block', {target: parseAddress('198.51.100.2')})
  await assert.rejects(fw.commit(), {message: 'spawn failed'})
  assert.equal(count, 1)
})

test('nftables - replace streams one nft -f: both sets flushed, then chunks of 10000 per family as they fill', async () => {
  const {calls, exec} = recordingExec()
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  const v4 = Array.from({length: 10_001}, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
  async function* copy(): AsyncGenerator<SetEntry> {
    yield {target: parseAddress('2001:db8::1')}
    for (const a of v4) yield {target: parseAddress(a), ttlSec: 300}
    yield {target: parseTarget('2001:db8:1:2::/64'), ttlSec: 9}
  }
  await fw.replace('block', copy())
  assert.equal(calls.length, 1)
  assert.deepEqual(calls[0].args, ['-f', '-'])
  const lines = calls[0].input!.split('\n')
  assert.equal(lines.length, 9)
  assert.equal(lines[0], `flush set ${T} diswall-bl`)
  assert.deepEqual(lines.slice(1, 4), [`flush set ${T} diswall-bl6`, `flush set ${T} diswall-bl6-addr`, `flush set ${T} diswall-bl6-net64`])
  assert.equal(lines[4], `add element ${T} diswall-bl { ${v4.slice(0, 10_000).map((a) => `${a} timeout 300s`).join(', ')} }`)
  assert.deepEqual(lines.slice(5), [
    `add element ${T} diswall-bl { 10.0.39.16 timeout 300s }`,
    `add element ${T} diswall-bl6-addr { 2001:db8::1 timeout 86400s }`,
    `add element ${T} diswall-bl6-net64 { 2001:db8:1:2:: timeout 9s }`,
    '',
  ])
})

test('nftables - a copy that breaks off mid-stream rejects with its error and sends nothing more', async () => {
  const {calls, exec} = recordingExec()
  async function* cut(): AsyncGenerator<SetEntry> {
    yield {target: parseAddress('203.0.113.7')}
    throw new Error('the init answer stopped after 1 entries')
  }
  await assert.rejects(new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).replace('block', cut()), {message: 'the init answer stopped after 1 entries'})
  assert.deepEqual(calls, [])
})

test('nftables - replace with no entries empties both sets of the list', async () => {
  const {calls, exec} = recordingExec()
  await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).replace('allow', [])
  assert.deepEqual(calls, [{args: ['-f', '-'], input: `flush set ${T} diswall-wl\nflush set ${T} diswall-wl6\n`, program: 'nft'}])
})

test('nftables - has() tests a ban with create + delete in one transaction, an allow entry by listing the allow set only', async () => {
  const allowV4 = JSON.stringify({nftables: [METAINFO, {set: {elem: [{prefix: {addr: '203.0.113.0', len: 24}}, '192.0.2.7'],
    family: 'inet', flags: ['interval', 'timeout'], name: 'diswall-wl', table: 'diswall', type: 'ipv4_addr'}}]})
  const {calls, exec} = recordingExec((call) => {
    if (call.input?.includes('198.51.100.1 }')) throw failure(call, 'Error: Could not process rule: File exists\n')
    if (line(call) === 'nft -j list set inet diswall diswall-wl') return {stdout: allowV4}
    if (line(call) === 'nft -j list set inet diswall diswall-wl6') throw failure(call, 'Error: No such file or directory\n')
    return undefined
  })
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.equal(await fw.has('block', parseAddress('198.51.100.1')), true)
  assert.equal(await fw.has('block', parseAddress('198.51.100.9')), false)
  assert.equal(calls[1].input, `create element ${T} diswall-bl { 198.51.100.9 }\ndelete element ${T} diswall-bl { 198.51.100.9 }\n`)
  assert.equal(await fw.has('allow', parseTarget('198.51.100.0/24')), false)
  assert.equal(await fw.has('allow', parseTarget('203.0.113.0/24')), true)
  // As `ipset test` on hash:net: an address inside a listed network is in, a network only as an element.
  assert.equal(await fw.has('allow', parseAddress('203.0.113.200')), true)
  assert.equal(await fw.has('allow', parseTarget('203.0.113.128/25')), false)
  assert.equal(await fw.has('allow', parseAddress('192.0.2.7')), true)
  assert.equal(await fw.has('allow', parseAddress('192.0.2.8')), false)
  assert.equal(await fw.has('allow', parseAddress('2001:db8::7')), false) // no IPv6 allow set yet
  // nft 1.0.6 `get element` fetches every set of the table with its elements (minutes at 1M bans),
  // and listing a block set is as slow: neither may happen here.
  assert.ok(calls.every((c) => c.args[0] !== 'get' && !c.args.includes('diswall-bl') && !c.args.includes('diswall-bl6')))
})

test('nftables - list() drops repeated elements of a listing taken while the set resizes', async () => {
  const json = JSON.stringify({nftables: [METAINFO, {set: {elem: ['203.0.113.7', '203.0.113.7', '203.0.113.8'],
    family: 'inet', name: 'diswall-bl', table: 'diswall', type: 'ipv4_addr'}}]})
  const {exec} = recordingExec((call) => (call.args.at(-1) === 'diswall-bl' ? {stdout: json} : {stdout: NO_SETS}))
  const entries = await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).list('block')
  assert.deepEqual(entries.map((e) => e.target.text), ['203.0.113.7', '203.0.113.8'])
})

test('nftables - list() reads both sets of the list', async () => {
  const {calls, exec} = recordingExec((call) => {
    const name = call.args.at(-1)!
    const elem = name === 'diswall-bl' ? ['203.0.113.7'] : name === 'diswall-bl6-addr'
      ? [{elem: {expires: 50, timeout: 60, val: '2001:db8::1'}}]
      : name === 'diswall-bl6-net64' ? [{elem: {expires: 7, timeout: 60, val: '2001:db8:1:2::'}}] : [{prefix: {addr: '2001:db8:9::', len: 48}}]
    return {stdout: JSON.stringify({nftables: [METAINFO, {set: {elem, family: 'inet', flags: ['timeout'], name, table: 'diswall', type: 'x'}}]})}
  })
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.list('block'), [
    {comment: undefined, target: parseAddress('203.0.113.7'), ttlSec: undefined},
    {comment: undefined, target: parseTarget('2001:db8:9::/48'), ttlSec: undefined},
    {comment: undefined, target: parseAddress('2001:db8::1'), ttlSec: 50},
    // An element of the prefix set is its network.
    {comment: undefined, target: parseTarget('2001:db8:1:2::/64'), ttlSec: 7},
  ])
  assert.deepEqual(calls.map(line), ['nft -j list set inet diswall diswall-bl', 'nft -j list set inet diswall diswall-bl6',
    'nft -j list set inet diswall diswall-bl6-addr', 'nft -j list set inet diswall diswall-bl6-net64'])
  assert.equal(await fw.count('block'), 4)
})

test('nftables - destroy deletes our table and ignores a missing one', async () => {
  const {calls, exec} = recordingExec((call) => {
    throw failure(call, 'Error: No such file or directory\ndelete table inet diswall\n')
  })
  await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).destroy()
  assert.deepEqual(calls.map(line), ['nft delete table inet diswall'])
})

test('parseNftElements - reads plain strings, elem objects with timeout/expires/comment, and prefixes', () => {
  const json = JSON.stringify({nftables: [
    METAINFO,
    {set: {
      elem: [
        '192.0.2.7',
        {prefix: {addr: '10.0.0.0', len: 8}},
        {elem: {comment: 'vpn users', expires: 3542, timeout: 3600, val: {prefix: {addr: '172.16.0.0', len: 12}}}},
        {elem: {comment: 'office', val: '198.51.100.7'}},
        {range: ['192.0.2.10', '192.0.2.20']}, // not something diswall writes: skipped
        'not-an-address',
      ],
      family: 'inet', flags: ['interval', 'timeout'], handle: 3, name: 'diswall-wl', table: 'diswall', type: 'ipv4_addr',
    }},
  ]})
  assert.deepEqual(parseNftElements(json), [
    {comment: undefined, target: parseAddress('192.0.2.7'), ttlSec: undefined},
    {comment: undefined, target: parseTarget('10.0.0.0/8'), ttlSec: undefined},
    {comment: 'vpn users', target: parseTarget('172.16.0.0/12'), ttlSec: 3542},
    {comment: 'office', target: parseAddress('198.51.100.7'), ttlSec: undefined},
  ])
})

test('parseNftElements - reads IPv6 elements and an empty or element-less set', () => {
  const json = JSON.stringify({nftables: [
    METAINFO,
    {set: {
      elem: [
        {elem: {expires: 86311, timeout: 86400, val: '2001:db8::1'}},
        {elem: {val: {prefix: {addr: '2001:db8:1::', len: 48}}, comment: 'lab'}},
        '2001:DB8::2',
      ],
      family: 'inet', flags: ['timeout'], handle: 2, name: 'diswall-bl6', table: 'diswall', timeout: 86_400, type: 'ipv6_addr',
    }},
  ]})
  const entries = parseNftElements(json)
  assert.deepEqual(entries, [
    {comment: undefined, target: parseAddress('2001:db8::1'), ttlSec: 86_311},
    {comment: 'lab', target: parseTarget('2001:db8:1::/48'), ttlSec: undefined},
    {comment: undefined, target: parseAddress('2001:db8::2'), ttlSec: undefined},
  ])
  assert.equal(entries[2].target.text, '2001:db8::2')
  const empty = JSON.stringify({nftables: [METAINFO, {set: {family: 'inet', flags: 'timeout', handle: 2, name: 'diswall-bl', table: 'diswall', type: 'ipv4_addr'}}]})
  assert.deepEqual(parseNftElements(empty), [])
  assert.deepEqual(parseNftElements('{"nftables": []}'), [])
})

test('parseNftSets - returns only the set objects of a listing', () => {
  const sets = parseNftSets(tableJson(GOOD_SETS))
  assert.deepEqual(sets.map((s) => `${s.table} ${s.name}`), ['diswall diswall-bl', 'diswall diswall-bl6', 'diswall diswall-bl6-addr',
    'diswall diswall-bl6-net64', 'diswall diswall-wl', 'diswall diswall-wl6', 'other diswall-bl'])
  assert.deepEqual(sets[4].flags, ['interval', 'timeout'])
})

/** A session that records its batches and fails those `fail` picks (by index, 0-based). */
function fakeSession(fail: (statements: readonly string[], index: number) => Error | undefined = () => undefined) {
  const batches: string[][] = []
  let made = 0
  let closed = 0
  const factory: NftSessionFactory = () => {
    made++
    return {
      async close() {
        closed++
      },
      async run(statements) {
        batches.push([...statements])
        const error = fail(statements, batches.length - 1)
        if (error) throw error
      },
    }
  }

  return {batches, closedCount: () => closed, factory, madeCount: () => made}
}

const SESSION_FAILURE = new CommandFailedError('nft', ['-i'], undefined, 'Error: Could not process rule: No such file or directory\n')

test('nftables - with a session, a small commit goes through it as the same statements and starts no process', async () => {
  const {calls, exec} = recordingExec()
  const session = fakeSession()
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  assert.equal(session.madeCount(), 0, 'made by the first commit, not before')
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  fw.del('allow', parseTarget('2001:db8:1::/48'))
  assert.deepEqual(await fw.commit(), {added: 1, removed: 1})
  fw.add('allow', {comment: 'office # 2; east', target: parseTarget('10.0.0.0/8')})
  await fw.commit()

  assert.deepEqual(calls, [])
  assert.equal(session.madeCount(), 1)
  assert.deepEqual(session.batches, [
    [
      `add element ${T} diswall-bl { 203.0.113.7 }`,
      `delete element ${T} diswall-bl { 203.0.113.7 }`,
      `add element ${T} diswall-bl { 203.0.113.7 timeout 600s }`,
      `add element ${T} diswall-wl6 { 2001:db8:1::/48 }`,
      `delete element ${T} diswall-wl6 { 2001:db8:1::/48 }`,
    ],
    [
      `add element ${T} diswall-wl { 10.0.0.0/8 }`,
      `delete element ${T} diswall-wl { 10.0.0.0/8 }`,
      `add element ${T} diswall-wl { 10.0.0.0/8 comment "office # 2; east" }`,
    ],
  ])
  assert.deepEqual(fw.sessionStats, {batches: 2, fallbacks: 0})
})

test('nftables - when the session fails, the same statements go through nft -f, halved as usual; the session is kept', async () => {
  const bad = '198.51.100.66'
  const {calls, exec} = recordingExec((call) => {
    if (call.input?.includes(bad)) throw failure(call, `Error: Could not process rule: Numerical result out of range\n`)
    return undefined
  })
  const session = fakeSession((statements) => (statements.some((s) => s.includes(bad)) ? SESSION_FAILURE : undefined))
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  fw.add('block', {target: parseAddress('198.51.100.1'), ttlSec: 10})
  fw.add('block', {target: parseAddress(bad), ttlSec: 10})
  await assert.rejects(fw.commit(), (error: unknown) => error instanceof CommandFailedError && error.args[0] === '-f' &&
    /Numerical result out of range/.test(error.stderr))
  const bareRun = (list: string) => [
    `add element ${T} diswall-bl { ${list} }`,
    `delete element ${T} diswall-bl { ${list} }`,
    `add element ${T} diswall-bl { ${list.split(', ').map((a) => `${a} timeout 10s`).join(', ')} }`,
    '',
  ].join('\n')
  assert.deepEqual(session.batches.map((b) => [...b, ''].join('\n')), [bareRun(`198.51.100.1, ${bad}`)])
  assert.deepEqual(calls.map((c) => c.input), [bareRun(`198.51.100.1, ${bad}`), bareRun('198.51.100.1'), bareRun(bad)])
  assert.ok(calls.every((c) => line(c) === 'nft -f -'))

  fw.add('block', {target: parseAddress('198.51.100.2'), ttlSec: 10})
  await fw.commit()
  assert.equal(calls.length, 3)
  assert.equal(session.batches.length, 2)
  assert.equal(session.madeCount(), 1)
  assert.deepEqual(fw.sessionStats, {batches: 1, fallbacks: 1})
})

test('nftables - a session failure of any kind falls back to nft -f, which lands the batch', async () => {
  const {calls, exec} = recordingExec()
  const session = fakeSession(() => new Error('session died'))
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  fw.del('block', parseAddress('198.51.100.9'))
  assert.deepEqual(await fw.commit(), {added: 0, removed: 1})
  assert.deepEqual(calls, [{args: ['-f', '-'], program: 'nft',
    input: `add element ${T} diswall-bl { 198.51.100.9 }\ndelete element ${T} diswall-bl { 198.51.100.9 }\n`}])
  assert.deepEqual(fw.sessionStats, {batches: 0, fallbacks: 1})
})

test('nftables - commits larger than NFT_SESSION_MAX_OPS, or with a non-ASCII comment, go straight to nft -f', async () => {
  const {calls, exec} = recordingExec()
  const session = fakeSession()
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  for (let n = 0; n <= NFT_SESSION_MAX_OPS; n++) fw.add('block', {target: parseAddress(`10.0.${n >> 8}.${n & 255}`)})
  await fw.commit()
  // nft 1.0.6 -i would drop the bytes of "é" in the C locale.
  fw.add('allow', {comment: 'café', target: parseTarget('10.0.0.0/8')})
  await fw.commit()
  assert.equal(session.batches.length, 0)
  assert.equal(calls.length, 2)
  assert.match(calls[1]!.input!, /comment "café"/)
  assert.equal(NFT_SESSION_MAX_OPS, 64)
  assert.deepEqual(fw.sessionStats, {batches: 0, fallbacks: 0})
})

test('nftables - close() ends the session; later commits use nft -f; without a session close() does nothing', async () => {
  const {calls, exec} = recordingExec()
  const session = fakeSession()
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  await fw.commit()
  await fw.close()
  await fw.close()
  assert.equal(session.closedCount(), 2)
  fw.add('block', {target: parseAddress('203.0.113.8'), ttlSec: 600})
  await fw.commit()
  assert.equal(session.batches.length, 1)
  assert.deepEqual(calls.map(line), ['nft -f -'])
  assert.equal(session.madeCount(), 1, 'no new session after close()')

  const unused = fakeSession()
  await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: unused.factory}).close()
  assert.equal(unused.madeCount(), 0)
  await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).close()
})

test('nftables - session: true refuses a custom exec, which would run the session somewhere else', () => {
  const {exec} = recordingExec()
  assert.throws(() => new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: true}), TypeError)
  assert.throws(() => createBackend('nftables', DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: true}), TypeError)
  // The default exec is fine; nothing starts before the first commit.
  new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, undefined, {session: true})
})

test('createBackend - hands each backend its own session factory', async () => {
  const {calls, exec} = recordingExec()
  const nftSession = fakeSession()
  let ipsetMade = 0
  const session = {
    ipset: () => {
      ipsetMade++
      return {close: async () => {}, run: async () => {}}
    },
    nftables: nftSession.factory,
  }
  const nft = createBackend('nftables', DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session})
  assert.ok(nft instanceof NftBackend)
  nft.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  await nft.commit()
  assert.equal(nftSession.batches.length, 1)

  const ipset = createBackend('ipset', DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session})
  assert.ok(ipset instanceof IpsetBackend)
  ipset.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  await ipset.commit()
  assert.equal(ipsetMade, 1)
  assert.deepEqual(calls, [])

  // Only the other backend's factory: no session.
  const plain = createBackend('nftables', DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: {ipset: session.ipset}})
  plain.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  await plain.commit()
  assert.deepEqual(calls.map(line), ['nft -f -'])
})

test('nftables - list() of a table or set that does not exist yet is empty; other failures are thrown', async () => {
  const missing = recordingExec((call) => {
    throw failure(call, 'Error: No such file or directory\nlist set inet diswall diswall-bl\n')
  })
  assert.deepEqual(await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, missing.exec).list('block'), [])
  assert.deepEqual(missing.calls.map(line), ['nft -j list set inet diswall diswall-bl', 'nft -j list set inet diswall diswall-bl6',
    'nft -j list set inet diswall diswall-bl6-addr', 'nft -j list set inet diswall diswall-bl6-net64'])
  const denied = recordingExec((call) => {
    throw failure(call, 'Error: Operation not permitted\n')
  })
  await assert.rejects(new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, denied.exec).list('allow'), /Operation not permitted/)
})

test('forEachNftElement - gives the same entries as parseNftElements, one element at a time, as nft prints the JSON', () => {
  const set = {
    elem: [
      '192.0.2.7',
      {prefix: {addr: '10.0.0.0', len: 8}},
      // Brackets, braces and an escaped quote inside strings must not end the element early.
      {elem: {comment: 'vpn [users] {all}', expires: 3542, timeout: 3600, val: {prefix: {addr: '172.16.0.0', len: 12}}}},
      {elem: {comment: 'say \\"hi\\"', val: '198.51.100.7'}},
      {range: ['192.0.2.10', '192.0.2.20']},
      {elem: {expires: 85_878, timeout: 86_400, val: '2001:db8::7'}},
    ],
    family: 'inet', flags: ['interval', 'timeout'], handle: 3, name: 'diswall-wl', table: 'diswall', type: 'ipv4_addr',
  }
  // nft 1.0.6 separates with ", " and ": " on one line; JSON.stringify with indentation puts newlines in.
  for (const json of [JSON.stringify({nftables: [METAINFO, {set}]}).replaceAll(',', ', ').replaceAll('":', '": '),
    JSON.stringify({nftables: [METAINFO, {set}]}, null, 1).replaceAll('"elem":[', '"elem": [')]) {
    const seen: unknown[] = []
    forEachNftElement(json, (e) => seen.push(e))
    assert.deepEqual(seen, parseNftElements(json))
    assert.equal(seen.length, 5)
  }

  // A set without elements, and a listing of several sets (parsed whole).
  const none: unknown[] = []
  forEachNftElement(JSON.stringify({nftables: [METAINFO, {set: {...set, elem: undefined}}]}), (e) => none.push(e))
  assert.deepEqual(none, [])
  const two = JSON.stringify({nftables: [METAINFO, {set}, {set: {...set, name: 'other'}}]}).replaceAll('":', '": ')
  const both: unknown[] = []
  forEachNftElement(two, (e) => both.push(e))
  assert.equal(both.length, 10)
  assert.throws(() => forEachNftElement('{"nftables": [{"set": {"elem": [{"elem": {"val": "192.0.2.1"', () => {}), SyntaxError)
})

test('nftables - has() of an IPv6 address probes the address set, its /64 in the prefix set and the interval set in one transaction', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.input?.includes('diswall-bl6-net64 { 2001:db8:1:2:: }')) throw failure(call, 'Error: Could not process rule: File exists\n')
    return undefined
  })
  const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.equal(await fw.has('block', parseAddress('2001:db8:1:2::99')), true)
  assert.equal(await fw.has('block', parseAddress('2001:db8:1:3::99')), false)
  assert.equal(calls.length, 2)
  assert.equal(calls[1].input, [
    `create element ${T} diswall-bl6-addr { 2001:db8:1:3::99 }`, `delete element ${T} diswall-bl6-addr { 2001:db8:1:3::99 }`,
    `create element ${T} diswall-bl6-net64 { 2001:db8:1:3:: }`, `delete element ${T} diswall-bl6-net64 { 2001:db8:1:3:: }`,
    `create element ${T} diswall-bl6 { 2001:db8:1:3::99 }`, `delete element ${T} diswall-bl6 { 2001:db8:1:3::99 }`, ''].join('\n'))
  // A network of the group prefix is an element of the prefix set.
  assert.equal(await fw.has('block', parseTarget('2001:db8:1:2::/64')), true)
  assert.equal(calls[2].input, `create element ${T} diswall-bl6-net64 { 2001:db8:1:2:: }\ndelete element ${T} diswall-bl6-net64 { 2001:db8:1:2:: }\n`)
})

test('nftables - init moves the IPv6 bans of an old interval set, with their remaining timeouts, in the transaction that creates the new sets', async () => {
  const OLD_SETS = GOOD_SETS.filter((s) => !s.name.startsWith('diswall-bl6-'))
  const oldBl6 = JSON.stringify({nftables: [METAINFO, {set: {elem: [
    {elem: {expires: 500, timeout: 600, val: {prefix: {addr: '2001:db8:1:2::', len: 64}}}},
    {elem: {expires: 40, timeout: 60, val: '2001:db8::7'}},
    {elem: {val: {prefix: {addr: '2001:db8:9::', len: 48}}}},
    {prefix: {addr: '2001:db8:3:4::', len: 64}},
  ], family: 'inet', flags: ['interval', 'timeout'], name: 'diswall-bl6', table: 'diswall', type: 'ipv6_addr'}}]})
  const chainIn = 'table inet diswall {\n\tchain diswall-in { # handle 7\n\t\tip saddr @diswall-bl drop # handle 12\n' +
    '\t\tip6 saddr @diswall-bl6 drop # handle 13\n\t\tjump diswall-blacklist # handle 14\n\t}\n}\n'
  const {calls, exec} = recordingExec((call) => {
    if (line(call) === 'nft -t -j list ruleset inet') return {stdout: rulesetJson(tableJson(OLD_SETS), chainsJson(['diswall-sets', 'diswall-in']))}
    if (line(call) === 'nft -j list set inet diswall diswall-bl6') return {stdout: oldBl6}
    if (line(call) === 'nft -a list chain inet diswall diswall-in') return {stdout: chainIn}
    return undefined
  })
  const report = await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init()
  assert.deepEqual(report, {created: ['diswall-bl6-addr', 'diswall-bl6-net64'], leftovers: [], migrated: ['diswall-bl6']})
  const script = calls.find((c) => c.input !== undefined)!.input!.split('\n')
  assert.equal(calls.filter((c) => c.input !== undefined).length, 1)
  const moved = [
    `add element ${T} diswall-bl6-net64 { 2001:db8:1:2:: timeout 500s, 2001:db8:3:4:: }`,
    `add element ${T} diswall-bl6-addr { 2001:db8::7 timeout 40s }`,
    `add element ${T} diswall-bl6 { 2001:db8:1:2::/64, 2001:db8::7, 2001:db8:3:4::/64 }`,
    `delete element ${T} diswall-bl6 { 2001:db8:1:2::/64, 2001:db8::7, 2001:db8:3:4::/64 }`,
  ]
  // After the sets are declared, before the guard chain; the /48 stays in the interval set.
  const at = script.indexOf(moved[0])
  assert.ok(at > script.indexOf(`add set ${T} diswall-bl6-net64 { type ipv6_addr; flags timeout; }`))
  assert.deepEqual(script.slice(at, at + 4), moved)
  assert.ok(at < script.indexOf(`flush chain ${T} diswall-sets`))
  // The ruleset of the older release finds the moved bans right after its interval-set rule.
  assert.deepEqual(script.slice(-3), [
    `add rule ${T} diswall-in position 13 ip6 saddr @diswall-bl6-addr counter drop`,
    `add rule ${T} diswall-in position 13 ip6 saddr & ffff:ffff:ffff:ffff:: == @diswall-bl6-net64 counter drop`,
    '',
  ])
})

test('nftables - init on the new layout lists no set and touches no ruleset chain', async () => {
  const {calls, exec} = listingExec(tableJson(GOOD_SETS), chainsJson(['diswall-sets', 'diswall-in']))
  await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init()
  assert.deepEqual(calls.map(line), ['nft -t -j list ruleset inet', 'nft -f -'])
})

/** A rule of the guard chain as `nft -j` prints it: `FAMILY saddr [& MASK] == @SET counter VERDICT`. */
function guardRuleJson(family: 'ip' | 'ip6', set: string, verdict: 'accept' | 'drop', mask?: string, handle = 1) {
  const payload = {payload: {field: 'saddr', protocol: family}}
  return {rule: {chain: 'diswall-sets', expr: [{match: {left: mask === undefined ? payload : {'&': [payload, mask]}, op: '==', right: `@${set}`}},
    {counter: {bytes: 180, packets: 3}}, {[verdict]: null}], family: 'inet', handle, table: 'diswall'}}
}

/** The guard chain as init() leaves it without a ruleset. */
const GUARD_RULES = [
  guardRuleJson('ip', 'diswall-wl', 'accept'),
  guardRuleJson('ip6', 'diswall-wl6', 'accept'),
  guardRuleJson('ip', 'diswall-bl', 'drop'),
  guardRuleJson('ip6', 'diswall-bl6', 'drop'),
  guardRuleJson('ip6', 'diswall-bl6-net64', 'drop', 'ffff:ffff:ffff:ffff::'),
  guardRuleJson('ip6', 'diswall-bl6-addr', 'drop'),
]

/** `nft -t -j list ruleset inet` of our table with GOOD_SETS, `chains` and `rules`. */
function inPlaceRuleset(chains: string[], rules: object[]): string {
  return JSON.stringify({nftables: [METAINFO, {table: {family: 'inet', handle: 12, name: 'diswall'}},
    ...GOOD_SETS.map((s, i) => ({set: {family: 'inet', handle: i + 1, table: 'diswall', ...s}})),
    ...chains.map((name, i) => ({chain: {family: 'inet', handle: 50 + i, name, table: 'diswall'}})), ...rules]})
}

test('nftables - init where sets and guard chain are in place sends no script: one process', async () => {
  for (const [chains, rules] of [[['diswall-sets'], GUARD_RULES], [['diswall-sets', 'diswall-in'], []]] as const) {
    const {calls, exec} = recordingExec((call) => (line(call) === 'nft -t -j list ruleset inet' ? {stdout: inPlaceRuleset([...chains], [...rules])} : undefined))
    assert.deepEqual(await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init(), {created: [], leftovers: [], migrated: []})
    assert.deepEqual(calls.map(line), ['nft -t -j list ruleset inet'], chains.join(','))
  }
})

test('nftables - init rewrites a guard chain that differs in any way', async () => {
  const variants: Array<[string, string[], object[]]> = [
    ['a rule missing', ['diswall-sets'], GUARD_RULES.slice(0, 5)],
    ['another mask', ['diswall-sets'], [...GUARD_RULES.slice(0, 4), guardRuleJson('ip6', 'diswall-bl6-net64', 'drop', 'ffff:ffff:ffff:ff00::'), GUARD_RULES[5]!]],
    ['accept instead of drop', ['diswall-sets'], [...GUARD_RULES.slice(0, 5), guardRuleJson('ip6', 'diswall-bl6-addr', 'accept')]],
    ['rules while diswall-in is loaded', ['diswall-sets', 'diswall-in'], GUARD_RULES],
    ['no guard chain', [], []],
  ]
  for (const [what, chains, rules] of variants) {
    const {calls, exec} = recordingExec((call) => (line(call) === 'nft -t -j list ruleset inet' ? {stdout: inPlaceRuleset(chains, rules)} : undefined))
    await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init()
    assert.deepEqual(calls.map(line), ['nft -t -j list ruleset inet', 'nft -f -'], what)
  }
})

test('nftables - after ipv6_group_prefix changed, init moves the old prefix set into the interval set and deletes it when unused', async () => {
  const net56 = JSON.stringify({nftables: [METAINFO, {set: {elem: [{elem: {expires: 70, timeout: 90, val: '2001:db8:1:200::'}}],
    family: 'inet', flags: ['timeout'], name: 'diswall-bl6-net56', table: 'diswall', type: 'ipv6_addr'}}]})
  for (const [chains, referenced] of [[['diswall-sets'], false], [['diswall-sets', 'diswall-in'], true]] as const) {
    const rules = referenced ? [{rule: {chain: 'diswall-in', expr: [{match: {left: {'&': [{payload: {field: 'saddr', protocol: 'ip6'}}, 'ffff:ffff:ffff:ff00::']},
      op: '==', right: '@diswall-bl6-net56'}}, {drop: null}], family: 'inet', table: 'diswall'}}] : []
    const listing = JSON.stringify({nftables: [...(JSON.parse(inPlaceRuleset([...chains], GUARD_RULES)) as {nftables: object[]}).nftables,
      {set: {family: 'inet', flags: ['timeout'], name: 'diswall-bl6-net56', table: 'diswall', type: 'ipv6_addr'}}, ...rules]})
    const {calls, exec} = recordingExec((call) => {
      if (line(call) === 'nft -t -j list ruleset inet') return {stdout: listing}
      if (line(call) === 'nft -j list set inet diswall diswall-bl6-net56') return {stdout: net56}
      if (line(call) === 'nft -a list chain inet diswall diswall-in') return {stdout: ''}
      return undefined
    })
    const report = await new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init()
    assert.deepEqual(report.migrated, ['diswall-bl6-net56'])
    const script = calls.find((c) => c.input !== undefined)!.input!.split('\n')
    assert.ok(script.includes(`add element ${T} diswall-bl6 { 2001:db8:1:200::/56 timeout 70s }`), script.join('\n'))
    assert.ok(script.includes(`delete element ${T} diswall-bl6-net56 { 2001:db8:1:200:: }`))
    assert.equal(script.includes(`delete set ${T} diswall-bl6-net56`), !referenced, `referenced by diswall-in: ${referenced}`)
  }
})

test('nftables, ipset - list() and forEachEntry() hand their signal to every listing program (a snapshot aborted at stop)', async () => {
  const signals: Array<[string, AbortSignal | undefined]> = []
  const exec: Exec = async (program, args, {signal} = {}) => {
    signals.push([[program, ...args].join(' '), signal])
    return {stderr: '', stdout: program === 'nft' ? '{"nftables": []}' : ''}
  }
  const {signal} = new AbortController()
  for (const fw of [new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec), new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)]) {
    await fw.forEachEntry('block', () => {}, {signal})
    await fw.list('allow', {signal})
  }
  assert.ok(signals.length >= 8, JSON.stringify(signals.map(([l]) => l)))
  assert.deepEqual(signals.filter(([, s]) => s !== signal).map(([l]) => l), [])
})
