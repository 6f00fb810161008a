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

/** `nft -t -j list sets inet` of a host set up by diswall. */
const NFT_SETS = JSON.stringify({nftables: [METAINFO, ...[
  {flags: ['timeout'], name: 'diswall-bl', type: 'ipv4_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-bl6', type: 'ipv6_addr'},
  {flags: ['timeout'], name: 'diswall-bl6-addr', type: 'ipv6_addr'},
  {flags: ['timeout'], name: 'diswall-bl6-net64', type: 'ipv6_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-wl', type: 'ipv4_addr'},
  {flags: ['interval', 'timeout'], name: 'diswall-wl6', type: 'ipv6_addr'},
].map((s) => ({set: {family: 'inet', table: 'diswall', ...s}}))]})
const NFT_CHAINS = JSON.stringify({nftables: [METAINFO, {chain: {family: 'inet', name: 'diswall-sets', table: 'diswall'}}]})
const NFT_EMPTY_ALLOW = (name: string) => JSON.stringify({nftables: [METAINFO, {set: {family: 'inet', name, table: 'diswall', type: 'ipv4_addr'}}]})

/** A host with diswall's sets in place, 1M bans in mind: every answer is that of an empty set. */
function kernelHost() {
  return recordingExec((call) => {
    const l = line(call)
    if (l === 'ip -j addr show') return {stdout: '[]'}
    if (call.program === 'ss') return {stdout: ''}
    if (l === 'ipset list -n') return {stdout: 'diswall-bl\ndiswall-bl6\ndiswall-wl\ndiswall-wl6\n'}
    if (l === 'iptables -S' || l === 'ip6tables -S') return {stdout: '-P INPUT ACCEPT\n-A INPUT -j diswall-sets\n'}
    if (call.program === 'ipset' && call.args[0] === 'test') throw failure(call, `ipset v7.17: Warning: ${call.args[2]} is NOT in set ${call.args[1]}.\n`)
    if (l === 'nft -t -j list sets inet') return {stdout: NFT_SETS}
    if (l === 'nft -t -j list chains inet') return {stdout: NFT_CHAINS}
    if (l.startsWith('nft -j list set inet diswall diswall-wl')) return {stdout: NFT_EMPTY_ALLOW(call.args.at(-1)!)}
    return undefined
  })
}

for (const kind of ['ipset', 'nftables'] as const) {
  test(`single-op paths (${kind}) - block add/del and allow add/del never read a whole block set`, async () => {
    const {calls, exec} = kernelHost()
    const fw: Firewall = {backend: createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, exec), choice: {backend: kind, reason: 'test'}}
    const config = defaultConfig()
    const ops: Array<[string, () => Promise<unknown>]> = [
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
      // One process per step at most: no process per entry, nothing that grows with the set.
      assert.ok(mine.length <= 12, `${name}: ${mine.length} processes: ${mine.map(line).join('; ')}`)
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
