import assert from 'node:assert/strict'
import {test} from 'node:test'

import {defaultConfig} from '../../../src/lib/config/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../../src/lib/firewall/sets/index.js'
import type {Firewall} from '../../../src/lib/firewall/sets/index.js'
import {allowAdd, blockAdd, listDel} from '../../../src/lib/ops/index.js'
import {wholeSetRead} from '../../helpers/set-reads.js'
import {failure, line, recordingExec} from '../firewall/sets/fake-exec.js'
import type {Call} from '../firewall/sets/fake-exec.js'

const METAINFO = {metainfo: {json_schema_version: 1, release_name: 'Lester Gooch #5', version: '1.0.6'}}

/** The guard chain's rules as `nft -j` prints them, as init() leaves them. */
const GUARD = ([['ip', 'diswall-wl', 'accept'], ['ip6', 'diswall-wl6', 'accept'], ['ip', 'diswall-bl', 'drop'], ['ip6', 'diswall-bl6', 'drop'],
  ['ip6', 'diswall-bl6-net64', 'drop', 'ffff:ffff:ffff:ffff::'], ['ip6', 'diswall-bl6-addr', 'drop']] as const).map(([protocol, set, verdict, mask]) => {
  const payload = {payload: {field: 'saddr', protocol}}
  return {rule: {chain: 'diswall-sets', expr: [{match: {left: mask ? {'&': [payload, mask]} : payload, op: '==', right: `@${set}`}}, {counter: {bytes: 0, packets: 0}}, {[verdict]: null}],
    family: 'inet', table: 'diswall'}}
})

/** `nft -t -j list ruleset inet` of a host set up by diswall. */
const NFT_RULESET = JSON.stringify({nftables: [METAINFO, ...[
  {flags: ['timeout'], name: 'diswall-bl', type: 'ipv4_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-bl6', type: 'ipv6_addr'},
  {flags: ['timeout'], name: 'diswall-bl6-addr', type: 'ipv6_addr'},
  {flags: ['timeout'], name: 'diswall-bl6-net64', type: 'ipv6_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-wl', type: 'ipv4_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-wl6', type: 'ipv6_addr'},
].map((s) => ({set: {family: 'inet', table: 'diswall', ...s}})), {chain: {family: 'inet', name: 'diswall-sets', table: 'diswall'}}, ...GUARD]})
const NFT_EMPTY_ALLOW = (name: string) => JSON.stringify({nftables: [METAINFO, {set: {family: 'inet', name, table: 'diswall', type: 'ipv4_addr'}}]})

/** A host with diswall's sets in place, 1M bans in mind: every answer is that of an empty set. */
function kernelHost() {
  return recordingExec((call) => {
    const l = line(call)
    if (l === 'ip -j addr show') return {stdout: '[]'}
    if (call.program === 'ss') return {stdout: ''}
    if (l === 'ipset list -n') return {stdout: 'diswall-bl\ndiswall-bl6\ndiswall-wl\ndiswall-wl6\n'}
    if (l === 'iptables -S' || l === 'ip6tables -S') {
      const six = call.program === 'ip6tables' ? '6' : ''
      return {stdout: '-P INPUT ACCEPT\n-N diswall-sets\n-A INPUT -j diswall-sets\n' +
        `-A diswall-sets -m set --match-set diswall-wl${six} src -j ACCEPT\n-A diswall-sets -m set --match-set diswall-bl${six} src -j DROP\n`}
    }
    if (call.program === 'ipset' && call.args[0] === 'test') throw failure(call, `ipset v7.17: Warning: ${call.args[2]} is NOT in set ${call.args[1]}.\n`)
    if (l === 'nft -t -j list ruleset inet') return {stdout: NFT_RULESET}
    if (l.startsWith('nft -j list set inet diswall diswall-wl')) return {stdout: NFT_EMPTY_ALLOW(call.args.at(-1)!)}
    return undefined
  })
}

/**
 * Most programs one operation may start on a host whose sets are in place (every command after the
 * first): each start costs a few ms on a host and ~15-30 ms through `ip netns exec` on a loaded one.
 * ipset: never-ban check (ip addr, the allow set of the address's family), init (ipset list -n, create -exist, iptables -S
 * per family), then one `ipset add` (IPv4) or test and restore (IPv6). nftables: never-ban check,
 * init (one `-t list ruleset`), then one `create element` (IPv4) or the create+delete test and the
 * commit (IPv6). A new IPv4 ban, or a lifted one, needs no test before the change.
 */
const MAX_PROGRAMS = {
  ipset: {'allow add': 7, 'allow del': 7, 'block add': 7, 'block add (IPv6)': 8, 'block del': 5},
  nftables: {'allow add': 4, 'allow del': 4, 'block add': 4, 'block add (IPv6)': 5, 'block del': 2},
} as const

for (const kind of ['ipset', 'nftables'] as const) {
  test(`single-op paths (${kind}) - block add/del and allow add/del never read a whole block set`, async () => {
    const {calls, exec} = kernelHost()
    const fw: Firewall = {backend: createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, exec), choice: {backend: kind, reason: 'test'}}
    const config = defaultConfig()
    const ops: Array<[keyof typeof MAX_PROGRAMS[typeof kind], () => Promise<unknown>]> = [
      ['block add', () => blockAdd(config, fw, ['203.0.113.7'], {}, exec)],
      ['block add (IPv6)', () => blockAdd(config, fw, ['2001:db8::7'], {}, exec)],
      ['block del', () => listDel(fw, 'block', ['203.0.113.7'])],
      ['allow add', () => allowAdd(fw, ['198.51.100.0/24'])],
      ['allow del', () => listDel(fw, 'allow', ['198.51.100.0/24'])],
    ]
    for (const [name, run] of ops) {
      const from = calls.length
      await run()
      const mine = calls.slice(from)
      assert.ok(mine.some((c) => c.input !== undefined), `${name}: something reached the kernel`)
      for (const call of mine) assert.equal(wholeSetRead(call), undefined, `${name}: ${line(call)}`)
      // No process per entry, nothing that grows with the set, no rewrite of what is in place.
      assert.ok(mine.length <= MAX_PROGRAMS[kind][name], `${name}: ${mine.length} processes: ${mine.map(line).join('; ')}`)
    }
  })
}

test('single-op paths - the listing detector itself flags the slow reads', () => {
  const call = (program: string, ...args: string[]): Call => ({args, program})
  assert.ok(wholeSetRead(call('ipset', 'list', '-t', 'diswall-bl')))
  assert.ok(wholeSetRead(call('ipset', 'save', 'diswall-bl6')))
  assert.ok(wholeSetRead(call('ipset', '-L')))
  assert.ok(wholeSetRead(call('ipset', '-L', 'diswall-bl')))
  assert.ok(wholeSetRead(call('ipset', 'list')))
  assert.equal(wholeSetRead(call('ipset', 'list', '-n')), undefined)
  assert.ok(wholeSetRead(call('nft', 'get', 'element', 'inet', 'diswall', 'diswall-wl', '{ 192.0.2.1 }')))
  assert.ok(wholeSetRead(call('nft', '-j', 'list', 'set', 'inet', 'diswall', 'diswall-bl')))
  assert.ok(wholeSetRead(call('nft', '-j', 'list', 'table', 'inet', 'diswall')))
  assert.equal(wholeSetRead(call('nft', '-t', '-j', 'list', 'sets', 'inet')), undefined)
  assert.equal(wholeSetRead(call('nft', '-j', 'list', 'set', 'inet', 'diswall', 'diswall-wl')), undefined)
  assert.equal(wholeSetRead(call('ipset', 'save', 'diswall-wl')), undefined)
  assert.equal(wholeSetRead(call('ipset', 'test', 'diswall-bl', '192.0.2.1')), undefined)
})

for (const kind of ['ipset', 'nftables'] as const) {
  test(`single-op paths (${kind}) - an address already banned is reported unchanged and gets its new timeout; an absent one deleted changes nothing`, async () => {
    // The kernel answers as for an element that is there (the add), then not there (the del).
    let there = true
    const {calls, exec} = recordingExec((call) => {
      const l = line(call)
      if (l === 'ip -j addr show') return {stdout: '[]'}
      if (l === 'ipset list -n') return {stdout: 'diswall-bl\ndiswall-bl6\ndiswall-wl\ndiswall-wl6\n'}
      if (l === 'nft -t -j list ruleset inet') return {stdout: NFT_RULESET}
      if (l.startsWith('nft -j list set inet diswall diswall-wl')) return {stdout: NFT_EMPTY_ALLOW(call.args.at(-1)!)}
      if (there && l.startsWith('ipset add ')) throw failure(call, "ipset v7.17: Element cannot be added to the set: it's already added\n")
      if (!there && l.startsWith('ipset del ')) throw failure(call, "ipset v7.17: Element cannot be deleted from the set: it's not added\n")
      if (!there && l.startsWith('ipset test ')) throw failure(call, `ipset v7.17: Warning: ${call.args[2]} is NOT in set ${call.args[1]}.\n`)
      if (there && String(call.input).startsWith('create element')) throw failure(call, 'Error: Could not process rule: File exists\n')
      if (!there && String(call.input).startsWith('delete element')) throw failure(call, 'Error: Could not process rule: No such file or directory\n')
      return undefined
    })
    const fw: Firewall = {backend: createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, exec), choice: {backend: kind, reason: 'test'}}
    const added = await blockAdd(defaultConfig(), fw, ['203.0.113.7'], {timeoutSec: 600}, exec)
    assert.deepEqual([added.added, added.entries[0]!.changed], [0, false])
    // The timeout is refreshed all the same, in the usual commit.
    const refresh = calls.filter((c) => /^(?!create).*203\.0\.113\.7 timeout 600/m.test(String(c.input ?? '')))
    assert.equal(refresh.length, 1, calls.map(line).join('; '))

    there = false
    const from = calls.length
    const removed = await listDel(fw, 'block', ['203.0.113.7'])
    assert.deepEqual([removed.removed, removed.entries[0]!.changed], [0, false])
    // `ipset del` said "not added", `nft delete element` "No such file": nothing more to run.
    const mine = calls.slice(from)
    const attempt = mine.findIndex((c) => line(c).startsWith('ipset del ') || String(c.input ?? '').startsWith('delete element'))
    assert.ok(attempt >= 0 && attempt === mine.length - 1, mine.map(line).join('; '))
  })
}

for (const [kind, reads] of [['nftables', ['nft -t -j list ruleset inet']], ['ipset', ['ipset list -n', 'iptables -S', 'ip6tables -S']]] as const) {
  test(`single-op paths (${kind}) - init() uses the readings prepareInit() started, once`, async () => {
    const {calls, exec} = kernelHost()
    const backend = createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, exec)
    const readings = (): number[] => reads.map((read) => calls.filter((c) => line(c) === read).length)
    backend.prepareInit!()
    assert.deepEqual(readings(), reads.map(() => 1), 'the readings start at once')
    assert.deepEqual(await backend.init(), {created: [], leftovers: [], migrated: []})
    assert.deepEqual(readings(), reads.map(() => 1), 'init() took them')
    await backend.init()
    assert.deepEqual(readings(), reads.map(() => 2), 'the next init() reads again')
  })
}
