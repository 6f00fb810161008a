import assert from 'node:assert/strict'
import {test} from 'node:test'

import {peerSet} from '../../../../src/lib/firewall/ruleset/normalise.js'
import {nftSetNames, peerSetsInState, planIpsetPeerSets} from '../../../../src/lib/firewall/ruleset/peer-sets.js'
import {parseNetwork} from '../../../../src/lib/net/index.js'

const v4 = peerSet(['192.0.2.0/24', '198.51.100.7'].map((t) => parseNetwork(t)), 4)
const v6 = peerSet([parseNetwork('2001:db8::/32')], 6)

test('planIpsetPeerSets - creates a missing set under a staging name, fills it and renames it; skips sets that exist', () => {
  assert.equal(planIpsetPeerSets([v4, v6], new Set([v6.name, `${v4.name}-t`])), [
    `destroy ${v4.name}-t`,
    `create ${v4.name}-t hash:net family inet maxelem 65536`,
    `add ${v4.name}-t 192.0.2.0/24`,
    `add ${v4.name}-t 198.51.100.7/32`,
    `rename ${v4.name}-t ${v4.name}`,
    '',
  ].join('\n'))
  assert.equal(planIpsetPeerSets([v4, v6], new Set([v4.name, v6.name])), '')
  assert.match(planIpsetPeerSets([v6], new Set()), /^create \S+ hash:net family inet6 maxelem 65536$/m)
})

test('planIpsetPeerSets - maxelem grows with the list', () => {
  const big = peerSet(Array.from({length: 70_000}, (_, i) => parseNetwork(`11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)), 4)
  assert.match(planIpsetPeerSets([big], new Set()), /^create \S+ hash:net family inet maxelem 70000$/m)
})

test('peerSetsInState - the peer sets the saved rules use, for both backends', () => {
  assert.deepEqual(peerSetsInState({backend: 'ipset', v4: `*filter\n-A diswall-in -p tcp -m set --match-set ${v4.name} src -j ACCEPT\n-A diswall-in -m set --match-set diswall-bl src -j DROP\nCOMMIT\n`, v6: ''}),
    new Set([v4.name]))
  assert.deepEqual(peerSetsInState({backend: 'nftables', chains: [{name: 'diswall-in', rules: [`ip6 saddr @${v6.name} accept`, 'ip saddr @diswall-bl drop']}], table: 'diswall'}),
    new Set([v6.name]))
})

test('nftSetNames - the sets of one table in `nft -t list sets inet`', () => {
  const listing = 'table inet diswall {\n\tset diswall-bl {\n\t\ttype ipv4_addr\n\t}\n\tset diswall-f4-aa {\n\t\ttype ipv4_addr\n\t}\n}\n'
    + 'table inet other {\n\tset diswall-f4-bb {\n\t\ttype ipv4_addr\n\t}\n}\n'
  assert.deepEqual(nftSetNames(listing, 'diswall'), ['diswall-bl', 'diswall-f4-aa'])
  assert.deepEqual(nftSetNames(listing, 'other'), ['diswall-f4-bb'])
  assert.deepEqual(nftSetNames('', 'diswall'), [])
})
