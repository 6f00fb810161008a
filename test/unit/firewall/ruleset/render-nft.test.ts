import assert from 'node:assert/strict'
import {test} from 'node:test'

import {InvalidValueError} from '../../../../src/lib/errors.js'
import type {ListFile, Rule, RuleFile, RulesetModel} from '../../../../src/lib/firewall/ruleset/model.js'
import type {RenderOptions} from '../../../../src/lib/firewall/ruleset/normalise.js'
import {peerSet} from '../../../../src/lib/firewall/ruleset/normalise.js'
import {renderNft, renderNftChains} from '../../../../src/lib/firewall/ruleset/render-nft.js'
import {RulesetError} from '../../../../src/lib/firewall/ruleset/resolve.js'
import {DEFAULT_NAMES, kernelNames} from '../../../../src/lib/firewall/sets/names.js'
import {NFT_GUARD_CHAIN_SPEC} from '../../../../src/lib/firewall/sets/nftables.js'
import {parseNetwork} from '../../../../src/lib/net/index.js'

const OPTS = {logPrefix: 'diswall-log: ', names: DEFAULT_NAMES}
/** Rules at the head of diswall-in: lo, two allow sets, jump whitelist, IPv4 block set, three IPv6 block sets, jump blacklist. */
const HEAD = 9
const net = parseNetwork

function model(parts: Partial<RulesetModel> = {}): RulesetModel {
  return {
    blacklist: {disabled: false, entries: []},
    dir: '/fw',
    disabled: false,
    incoming: [],
    local: [],
    outgoing: [],
    whitelist: {disabled: false, entries: []},
    ...parts,
  }
}

function file(name: string, rules: Array<Omit<Rule, 'origin'>>, dir = 'incoming.d'): RuleFile {
  const path = `/fw/${dir}/${name}`
  return {name, origin: {file: path}, rules: rules.map((r, i) => ({...r, origin: {file: path, line: i + 1}})), templateName: name.replace(/^\d*-/, '')}
}

function listFile(name: string, ports?: ListFile['ports']): ListFile {
  const entry: ListFile = {auto: false, name, network: parseNetwork(name.replace('|', '/')), origin: {file: `/fw/x.d/${name}`}}
  return ports === undefined ? entry : {...entry, ports}
}

function chain(m: RulesetModel, name: string, opts: RenderOptions = OPTS): string[] {
  return renderNftChains(m, opts).find((c) => c.name === name)!.rules
}

/** diswall-in after its fixed head (loopback, allow sets, whitelist jump, block sets, blacklist jump). */
function incomingRules(m: RulesetModel): string[] {
  return chain(m, 'diswall-in').slice(HEAD)
}

test('render-nft - one transaction that declares and flushes the ruleset chains and empties the guard chain, never the sets', () => {
  const m = model({
    blacklist: {disabled: false, entries: [listFile('203.0.113.66')]},
    incoming: [
      file('10-ssh', [{dport: '22', peers: [net('198.51.100.7'), net('2001:db8::/48')], proto: 'tcp', verdict: 'accept'}]),
      file('99-reject', [{proto: 'tcp', tcpReset: true, verdict: 'reject'}, {verdict: 'reject'}]),
    ],
    outgoing: [file('00-established', [{state: ['established', 'related'], verdict: 'accept'}], 'outgoing.d')],
    whitelist: {disabled: false, entries: [listFile('2001:db8:7::|64', [{port: '22', proto: 'tcp'}])]},
  })
  assert.equal(renderNft(m, OPTS), `# diswall ruleset from /fw; load with nft -f (one transaction)
add table inet diswall
add chain inet diswall diswall-in { type filter hook input priority filter; policy accept; }
add chain inet diswall diswall-out { type filter hook output priority filter; policy accept; }
add chain inet diswall diswall-whitelist
add chain inet diswall diswall-blacklist
flush chain inet diswall diswall-in
flush chain inet diswall diswall-out
flush chain inet diswall diswall-whitelist
flush chain inet diswall diswall-blacklist
add chain inet diswall diswall-sets { type filter hook input priority filter - 10; policy accept; }
flush chain inet diswall diswall-sets
add rule inet diswall diswall-in iifname "lo" accept
add rule inet diswall diswall-in ip saddr @diswall-wl counter accept
add rule inet diswall diswall-in ip6 saddr @diswall-wl6 counter accept
add rule inet diswall diswall-in jump diswall-whitelist
add rule inet diswall diswall-in ip saddr @diswall-bl counter drop
add rule inet diswall diswall-in ip6 saddr @diswall-bl6 counter drop
add rule inet diswall diswall-in ip6 saddr & ffff:ffff:ffff:ffff:: == @diswall-bl6-net64 counter drop
add rule inet diswall diswall-in ip6 saddr @diswall-bl6-addr counter drop
add rule inet diswall diswall-in jump diswall-blacklist
# /fw/incoming.d/10-ssh
add rule inet diswall diswall-in ip saddr 198.51.100.7 tcp dport 22 accept
add rule inet diswall diswall-in ip6 saddr 2001:db8::/48 tcp dport 22 accept
# /fw/incoming.d/99-reject
add rule inet diswall diswall-in meta l4proto tcp reject with tcp reset
add rule inet diswall diswall-in reject
add rule inet diswall diswall-out oifname "lo" accept
# /fw/outgoing.d/00-established
add rule inet diswall diswall-out ct state established,related accept
add rule inet diswall diswall-whitelist ip6 saddr 2001:db8:7::/64 tcp dport 22 accept
add rule inet diswall diswall-blacklist ip saddr 203.0.113.66 drop
`)
  assert.doesNotMatch(renderNft(m, OPTS), /\b(set|element)\b/)
  // The guard chain gets no rule: diswall-in does its work, in the order of DESIGN.md.
  assert.doesNotMatch(renderNft(m, OPTS), /^add rule inet diswall diswall-sets /m)
  assert.deepEqual(renderNftChains(m, OPTS).map((c) => c.name), ['diswall-in', 'diswall-out', 'diswall-whitelist', 'diswall-blacklist'])
})

test('render-nft - the guard chain is declared with NFT_GUARD_CHAIN_SPEC under the configured names', () => {
  const names = {...kernelNames({firewall: {nft_table: 'fw'}, ipset_black_list: 'bans', ipset_white_list: 'friends'}), guardChain: 'guard'}
  const lines = renderNft(model(), {logPrefix: 'x', names}).split('\n')
  const at = lines.indexOf('flush chain inet fw diswall-blacklist')
  assert.deepEqual(lines.slice(at + 1, at + 3), [
    `add chain inet fw guard { ${NFT_GUARD_CHAIN_SPEC} }`,
    'flush chain inet fw guard',
  ])
  assert.equal(lines.filter((l) => / guard\b/.test(l)).length, 2)
})

test('render-nft - table and set names come from the kernel names of the config', () => {
  const names = kernelNames({firewall: {nft_table: 'fw'}, ipset_black_list: 'bans', ipset_white_list: 'friends'})
  const script = renderNft(model(), {logPrefix: 'x', names})
  assert.match(script, /^add table inet fw$/m)
  assert.match(script, /^add rule inet fw diswall-in ip6 saddr @friends6 counter accept$/m)
  assert.match(script, /^add rule inet fw diswall-in ip saddr @bans counter drop$/m)
  assert.match(script, /^add rule inet fw diswall-in ip6 saddr @bans6-addr counter drop$/m)
})

test('render-nft - IPv6 bans of the group prefix are found by the masked source in a plain set', () => {
  for (const [prefix, mask] of [[64, 'ffff:ffff:ffff:ffff::'], [56, 'ffff:ffff:ffff:ff00::'], [33, 'ffff:ffff:8000::'], [112, 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:0']] as const) {
    const names = kernelNames({detect: {ipv6_group_prefix: prefix}, firewall: {nft_table: 'fw'}, ipset_black_list: 'bans', ipset_white_list: 'friends'})
    assert.deepEqual(chain(model(), 'diswall-in', {logPrefix: 'x', names}).slice(5, 8), [
      'ip6 saddr @bans6 counter drop',
      `ip6 saddr & ${mask} == @bans6-net${prefix} counter drop`,
      'ip6 saddr @bans6-addr counter drop',
    ])
  }

  // 128: every IPv6 ban is an address; no prefix set.
  const names = kernelNames({detect: {ipv6_group_prefix: 128}, firewall: {nft_table: 'fw'}, ipset_black_list: 'bans', ipset_white_list: 'friends'})
  assert.doesNotMatch(renderNft(model(), {logPrefix: 'x', names}), /-net|&/)
})

test('render-nft - every verdict and match kind as nft list chain prints it', () => {
  const m = model({
    incoming: [file('10-all', [
      {verdict: 'accept'},
      {verdict: 'drop'},
      {dport: '22', proto: 'tcp', verdict: 'accept'},
      {dport: '53', proto: 'udp', verdict: 'accept'},
      {dport: '49152:65535', proto: 'tcp', verdict: 'accept'},
      {dport: '49152:65535,21', proto: 'tcp', verdict: 'accept'},
      {dport: '1024:65535', proto: 'udp', sport: '53', state: ['established'], verdict: 'accept'},
      {proto: 'udp', verdict: 'drop'},
      {state: ['new', 'established', 'related', 'invalid'], verdict: 'accept'},
      {state: ['invalid'], verdict: 'drop'},
      {icmpType: 'echo-request', proto: 'icmp', verdict: 'accept'},
      {icmpType: 'port-unreachable', proto: 'icmp', verdict: 'accept'},
      {icmpType: '3/5', proto: 'icmp', verdict: 'accept'},
      {proto: 'icmp', verdict: 'accept'},
      {icmpType: 'neighbor-solicitation', proto: 'icmpv6', verdict: 'accept'},
      {icmpType: 'router-advertisement', proto: 'icmpv6', verdict: 'accept'},
      {icmpType: 'port-unreachable', proto: 'icmpv6', verdict: 'accept'},
      {icmpType: '200', proto: 'icmpv6', verdict: 'accept'},
      {proto: 'icmpv6', verdict: 'accept'},
      {limit: '10/second', verdict: 'log'},
      {limit: '3/min', verdict: 'log'},
      {verdict: 'log'},
      {dport: '25', proto: 'tcp', tcpReset: true, verdict: 'reject'},
      {tcpReset: true, verdict: 'reject'},
      {proto: 'udp', verdict: 'reject'},
      {verdict: 'reject'},
    ])],
  })
  assert.deepEqual(incomingRules(m), [
    'accept',
    'drop',
    'tcp dport 22 accept',
    'udp dport 53 accept',
    'tcp dport 49152-65535 accept',
    'tcp dport { 21, 49152-65535 } accept',
    'udp sport 53 udp dport 1024-65535 ct state established accept',
    'meta l4proto udp drop',
    'ct state invalid,established,related,new accept',
    'ct state invalid drop',
    'icmp type echo-request accept',
    'icmp type destination-unreachable icmp code port-unreachable accept',
    'icmp type destination-unreachable icmp code 5 accept',
    'meta l4proto icmp accept',
    'icmpv6 type nd-neighbor-solicit accept',
    'icmpv6 type nd-router-advert accept',
    'icmpv6 type destination-unreachable icmpv6 code port-unreachable accept',
    'icmpv6 type 200 accept',
    'meta l4proto ipv6-icmp accept',
    'limit rate 10/second log prefix "diswall-log: "',
    'limit rate 3/minute log prefix "diswall-log: "',
    'log prefix "diswall-log: "',
    'tcp dport 25 reject with tcp reset',
    'meta l4proto tcp reject with tcp reset',
    'meta l4proto udp reject',
    'reject',
  ])
})

test('render-nft - rules for one family: peers per family, meta nfproto, family-specific reject', () => {
  const m = model({
    incoming: [file('10-mixed', [
      {peers: [net('198.51.100.7'), net('2001:db8::7'), net('198.51.100.0/24')], verdict: 'accept'},
      {family: 4, verdict: 'log'},
      {family: 6, dport: '80', proto: 'tcp', verdict: 'accept'},
      {family: 4, verdict: 'reject'},
      {family: 6, verdict: 'reject'},
      {peers: [net('198.51.100.9')], verdict: 'reject'},
      {family: 6, peers: [net('198.51.100.10'), net('2001:db8::10')], verdict: 'drop'},
      {family: 4, icmpType: 'echo-request', proto: 'icmp', verdict: 'accept'},
    ])],
  })
  assert.deepEqual(incomingRules(m), [
    'ip saddr 198.51.100.7 accept',
    'ip6 saddr 2001:db8::7 accept',
    'ip saddr 198.51.100.0/24 accept',
    'meta nfproto ipv4 log prefix "diswall-log: "',
    'meta nfproto ipv6 tcp dport 80 accept',
    'reject with icmp port-unreachable',
    'reject with icmpv6 port-unreachable',
    'ip saddr 198.51.100.9 reject with icmp port-unreachable',
    'ip6 saddr 2001:db8::10 drop',
    'icmp type echo-request accept',
  ])
})

test('render-nft - outgoing rules match destinations and the socket owner', () => {
  const m = model({
    outgoing: [file('50-reject-www-data', [
      {peers: [net('198.51.100.80'), net('2001:db8::/64')], uidOwner: 'www-data', verdict: 'accept'},
      {dport: '53', proto: 'udp', uidOwner: '33', verdict: 'accept'},
      {tcpReset: true, uidOwner: '33', verdict: 'reject'},
    ], 'outgoing.d')],
  })
  assert.deepEqual(chain(m, 'diswall-out'), [
    'oifname "lo" accept',
    'ip daddr 198.51.100.80 meta skuid "www-data" accept',
    'ip6 daddr 2001:db8::/64 meta skuid "www-data" accept',
    'udp dport 53 meta skuid 33 accept',
    'meta l4proto tcp meta skuid 33 reject with tcp reset',
  ])
})

test('render-nft - list chains: entries with port groups, and disabled lists left empty', () => {
  const entries = [
    listFile('198.51.100.7'),
    listFile('198.51.100.0|24', [{port: '22', proto: 'tcp'}, {port: '53', proto: 'udp'}]),
    listFile('2001:db8::7'),
  ]
  const m = model({blacklist: {disabled: false, entries}, whitelist: {disabled: true, entries}})
  assert.deepEqual(chain(m, 'diswall-blacklist'), [
    'ip saddr 198.51.100.7 drop',
    'ip saddr 198.51.100.0/24 tcp dport 22 drop',
    'ip saddr 198.51.100.0/24 udp dport 53 drop',
    'ip6 saddr 2001:db8::7 drop',
  ])
  assert.deepEqual(chain(m, 'diswall-whitelist'), [])
  const script = renderNft(m, OPTS)
  assert.match(script, /^add chain inet diswall diswall-whitelist$/m)
  assert.match(script, /^flush chain inet diswall diswall-whitelist$/m)
  assert.match(script, /^add rule inet diswall diswall-in jump diswall-whitelist$/m)
})

test('render-nft - refuses log prefixes nft 1.0.6 cannot carry', () => {
  for (const logPrefix of ['say "hi"', 'a\\b', 'cost $5', '', 'x'.repeat(30)]) {
    assert.throws(() => renderNft(model(), {...OPTS, logPrefix}), InvalidValueError, logPrefix)
  }
  assert.deepEqual(incomingRulesWithPrefix("it's: "), ['log prefix "it\'s: "'])
})

function incomingRulesWithPrefix(logPrefix: string): string[] {
  return chain(model({incoming: [file('90-log', [{verdict: 'log'}])]}), 'diswall-in', {...OPTS, logPrefix}).slice(HEAD)
}

test('render-nft - with an NFLOG group the log verdict sends packets there, as nft list chain prints it', () => {
  const m = model({incoming: [file('90-log', [{limit: '10/second', verdict: 'log'}, {family: 6, verdict: 'log'}])]})
  // Checked against nft 1.0.6 in a namespace: `group` and `queue-threshold` follow the prefix.
  assert.deepEqual(chain(m, 'diswall-in', {...OPTS, nflogGroup: 5}).slice(HEAD), [
    'limit rate 10/second log prefix "diswall-log: " group 5 queue-threshold 1',
    'meta nfproto ipv6 log prefix "diswall-log: " group 5 queue-threshold 1',
  ])
  assert.match(renderNft(m, {...OPTS, nflogGroup: 65_535}),
    /^add rule inet diswall diswall-in limit rate 10\/second log prefix "diswall-log: " group 65535 queue-threshold 1$/m)
  assert.deepEqual(chain(m, 'diswall-in').slice(HEAD), ['limit rate 10/second log prefix "diswall-log: "', 'meta nfproto ipv6 log prefix "diswall-log: "'])
  for (const nflogGroup of [0, 65_536, 2.5]) {
    assert.throws(() => renderNft(m, {...OPTS, nflogGroup}), InvalidValueError, String(nflogGroup))
  }
})

test('render-nft - a per-source limit is a meter per rule, one per family, IPv6 per /64, as nft list chain prints it', () => {
  const limits = {limit: '10000/second', limitBurst: 10_000, sourceLimit: '2/second', sourceLimitBurst: 5} as const
  const m = model({
    incoming: [
      file('80-23', [{...limits, dport: '23', peers: [net('192.0.2.7'), net('2001:db8::/32')], proto: 'tcp', verdict: 'log'}]),
      file('90-log', [{...limits, verdict: 'log'}]),
    ],
    outgoing: [file('90-log', [{...limits, family: 6, sourceLimitBurst: 20, verdict: 'log'}], 'outgoing.d')],
  })
  const cap = 'limit rate 10000/second burst 10000 packets log prefix "diswall-log: "'
  // Checked against nft 1.0.6 in a namespace: a burst of 5 (the default) is not listed.
  assert.deepEqual(chain(m, 'diswall-in').slice(HEAD), [
    `ip saddr 192.0.2.7 tcp dport 23 meter diswall-log-1 size 65536 { ip saddr timeout 10s limit rate 2/second } ${cap}`,
    `ip6 saddr 2001:db8::/32 tcp dport 23 meter diswall-log-2 size 65536 { ip6 saddr & ffff:ffff:ffff:ffff:: timeout 10s limit rate 2/second } ${cap}`,
    `meter diswall-log-3 size 65536 { ip saddr timeout 10s limit rate 2/second } ${cap}`,
    `meter diswall-log-4 size 65536 { ip6 saddr & ffff:ffff:ffff:ffff:: timeout 10s limit rate 2/second } ${cap}`,
  ])
  assert.deepEqual(chain(m, 'diswall-out').slice(1), [
    `meter diswall-log-5 size 65536 { ip6 daddr & ffff:ffff:ffff:ffff:: timeout 10s limit rate 2/second burst 20 packets } ${cap}`,
  ])
})

test('render-nft - refuses rules no firewall can express, naming file and line', () => {
  const m = model({incoming: [file('10-bad', [{verdict: 'accept'}, {dport: '22', verdict: 'accept'}])]})
  assert.throws(() => renderNft(m, OPTS), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.match(error.message, /^\/fw\/incoming\.d\/10-bad:2: a port match needs protocol tcp or udp/)
    return true
  })
  // nftables has no multiport limit.
  const many = Array.from({length: 20}, (_, i) => String(i + 1)).join(',')
  assert.equal(incomingRules(model({incoming: [file('10-many', [{dport: many, proto: 'tcp', verdict: 'accept'}])]})).length, 1)
})

test('render-nft - more than 16 peers of a family are one rule with a named interval set the file declares; 16 stay rules', () => {
  const v4 = Array.from({length: 17}, (_, i) => net(`198.51.100.${i + 1}`))
  const v6 = Array.from({length: 16}, (_, i) => net(`2001:db8::${i + 1}`))
  const m = model({incoming: [file('10-ssh', [{dport: '22', peers: [...v4, ...v6], proto: 'tcp', verdict: 'accept'}])]})
  const set = peerSet(v4, 4)
  const rules = chain(m, 'diswall-in').slice(HEAD)
  assert.deepEqual(rules, [`ip saddr @${set.name} tcp dport 22 accept`, ...v6.map((p) => `ip6 saddr ${p.address.text} tcp dport 22 accept`)])
  const script = renderNft(m, OPTS)
  assert.match(script, new RegExp(`^add set inet diswall ${set.name} \\{ type ipv4_addr; flags interval; auto-merge; \\}\\nflush set inet diswall ${set.name}\\nadd element inet diswall ${set.name} \\{ 198\\.51\\.100\\.1/32, 198\\.51\\.100\\.10/32, `, 'm'))
  // The set comes before the rule that uses it.
  assert.ok(script.indexOf(`add set inet diswall ${set.name}`) < script.indexOf(`@${set.name}`))
  // Outgoing files match the destination.
  const out = model({outgoing: [file('10-x', [{peers: v4, verdict: 'accept'}], 'outgoing.d')]})
  assert.deepEqual(chain(out, 'diswall-out').slice(1), [`ip daddr @${set.name} accept`])
})

test('peerSet - named by family and content: the same networks give the same name in any order, others another', () => {
  const a = peerSet([net('192.0.2.0/24'), net('198.51.100.7'), net('192.0.2.0/24')], 4)
  assert.match(a.name, /^diswall-f4-[0-9a-f]{16}$/)
  assert.ok(a.name.length <= 31, 'fits an ipset name with the staging suffix')
  assert.deepEqual(a.networks, ['192.0.2.0/24', '198.51.100.7/32'])
  assert.equal(peerSet([net('198.51.100.7'), net('192.0.2.0/24')], 4).name, a.name)
  assert.notEqual(peerSet([net('198.51.100.8'), net('192.0.2.0/24')], 4).name, a.name)
  assert.match(peerSet([net('2001:db8::/32')], 6).name, /^diswall-f6-/)
})
