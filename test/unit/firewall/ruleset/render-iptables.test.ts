import assert from 'node:assert/strict'
import {test} from 'node:test'

import {InvalidValueError} from '../../../../src/lib/errors.js'
import type {ListFile, Rule, RuleFile, RulesetModel} from '../../../../src/lib/firewall/ruleset/model.js'
import {parseIcmpType, peerSet, RULESET_CHAIN_NAMES, RULESET_CHAINS} from '../../../../src/lib/firewall/ruleset/normalise.js'
import {quoteIptables, renderIptables, renderIptablesChains, renderIptablesRuleset} from '../../../../src/lib/firewall/ruleset/render-iptables.js'
import {renderNft} from '../../../../src/lib/firewall/ruleset/render-nft.js'
import {RulesetError} from '../../../../src/lib/firewall/ruleset/resolve.js'
import {DEFAULT_NAMES, kernelNames, RULESET_CHAINS as NAMES_RULESET_CHAINS} from '../../../../src/lib/firewall/sets/names.js'
import {parseNetwork} from '../../../../src/lib/net/index.js'

const OPTS = {logPrefix: 'diswall-log: ', names: DEFAULT_NAMES}

/** A model with the given parts and nothing else. */
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

/** One incoming.d (or outgoing.d) file holding these rules (origin filled in). */
function file(name: string, rules: Array<Omit<Rule, 'origin'>>, dir = 'incoming.d'): RuleFile {
  const path = `/fw/${dir}/${name}`
  return {name, origin: {file: path}, rules: rules.map((r, i) => ({...r, origin: {file: path, line: i + 1}})), templateName: name.replace(/^\d*-/, '')}
}

function listFile(name: string, ports?: ListFile['ports']): ListFile {
  const entry: ListFile = {auto: false, name, network: parseNetwork(name.replace('|', '/')), origin: {file: `/fw/x.d/${name}`}}
  return ports === undefined ? entry : {...entry, ports}
}

const net = parseNetwork

/** The rules of diswall-in after the fixed head (loopback, sets, list jumps). */
function incomingRules(m: RulesetModel, family: 4 | 6): string[] {
  return renderIptablesChains(m, family, OPTS).find((c) => c.name === 'diswall-in')!.rules.slice(5)
}

test('render-iptables - an empty model declares the four chains and wires loopback, sets and list chains', () => {
  assert.equal(renderIptables(model(), 4, OPTS), `# diswall ruleset for IPv4 from /fw; load with iptables-restore --noflush
*filter
:diswall-in - [0:0]
:diswall-out - [0:0]
:diswall-whitelist - [0:0]
:diswall-blacklist - [0:0]
-A diswall-in -i lo -j ACCEPT
-A diswall-in -m set --match-set diswall-wl src -j ACCEPT
-A diswall-in -j diswall-whitelist
-A diswall-in -m set --match-set diswall-bl src -j DROP
-A diswall-in -j diswall-blacklist
-A diswall-out -o lo -j ACCEPT
COMMIT
`)
  assert.equal(renderIptables(model(), 6, OPTS), `# diswall ruleset for IPv6 from /fw; load with ip6tables-restore --noflush
*filter
:diswall-in - [0:0]
:diswall-out - [0:0]
:diswall-whitelist - [0:0]
:diswall-blacklist - [0:0]
-A diswall-in -i lo -j ACCEPT
-A diswall-in -m set --match-set diswall-wl6 src -j ACCEPT
-A diswall-in -j diswall-whitelist
-A diswall-in -m set --match-set diswall-bl6 src -j DROP
-A diswall-in -j diswall-blacklist
-A diswall-out -o lo -j ACCEPT
COMMIT
`)
})

test('render-iptables - set names come from the kernel names of the config', () => {
  const names = kernelNames({firewall: {nft_table: 'fw'}, ipset_black_list: 'bans', ipset_white_list: 'friends'})
  const chains = renderIptablesChains(model(), 6, {logPrefix: 'x', names})
  assert.deepEqual(chains.find((c) => c.name === 'diswall-in')!.rules, [
    '-i lo -j ACCEPT',
    '-m set --match-set friends6 src -j ACCEPT',
    '-j diswall-whitelist',
    '-m set --match-set bans6 src -j DROP',
    '-j diswall-blacklist',
  ])
})

test('render-iptables - a full script with incoming, outgoing and list files, in order, with comments', () => {
  const m = model({
    blacklist: {disabled: false, entries: [listFile('203.0.113.66')]},
    incoming: [
      file('00-established', [{state: ['established'], verdict: 'accept'}]),
      file('10-ssh', [{comment: 'office only', dport: '22', peers: [net('198.51.100.7'), net('2001:db8::/48')], proto: 'tcp', verdict: 'accept'}]),
      file('99-reject', [{proto: 'tcp', tcpReset: true, verdict: 'reject'}, {verdict: 'reject'}]),
    ],
    outgoing: [file('50-accept', [{peers: [net('203.0.113.0/24')], verdict: 'accept'}], 'outgoing.d')],
    whitelist: {disabled: false, entries: [listFile('198.51.100.0|24', [{port: '22', proto: 'tcp'}])]},
  })
  assert.equal(renderIptables(m, 4, OPTS), `# diswall ruleset for IPv4 from /fw; load with iptables-restore --noflush
*filter
:diswall-in - [0:0]
:diswall-out - [0:0]
:diswall-whitelist - [0:0]
:diswall-blacklist - [0:0]
-A diswall-in -i lo -j ACCEPT
-A diswall-in -m set --match-set diswall-wl src -j ACCEPT
-A diswall-in -j diswall-whitelist
-A diswall-in -m set --match-set diswall-bl src -j DROP
-A diswall-in -j diswall-blacklist
# /fw/incoming.d/00-established
-A diswall-in -m conntrack --ctstate ESTABLISHED -j ACCEPT
# /fw/incoming.d/10-ssh
# office only
-A diswall-in -s 198.51.100.7/32 -p tcp -m tcp --dport 22 -j ACCEPT
# /fw/incoming.d/99-reject
-A diswall-in -p tcp -j REJECT --reject-with tcp-reset
-A diswall-in -j REJECT --reject-with icmp-port-unreachable
-A diswall-out -o lo -j ACCEPT
# /fw/outgoing.d/50-accept
-A diswall-out -d 203.0.113.0/24 -j ACCEPT
-A diswall-whitelist -s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A diswall-blacklist -s 203.0.113.66/32 -j DROP
COMMIT
`)
  // The IPv6 script leaves out every IPv4 peer: the ssh rule keeps its IPv6 network, the lists are empty.
  assert.equal(renderIptables(m, 6, OPTS), `# diswall ruleset for IPv6 from /fw; load with ip6tables-restore --noflush
*filter
:diswall-in - [0:0]
:diswall-out - [0:0]
:diswall-whitelist - [0:0]
:diswall-blacklist - [0:0]
-A diswall-in -i lo -j ACCEPT
-A diswall-in -m set --match-set diswall-wl6 src -j ACCEPT
-A diswall-in -j diswall-whitelist
-A diswall-in -m set --match-set diswall-bl6 src -j DROP
-A diswall-in -j diswall-blacklist
# /fw/incoming.d/00-established
-A diswall-in -m conntrack --ctstate ESTABLISHED -j ACCEPT
# /fw/incoming.d/10-ssh
# office only
-A diswall-in -s 2001:db8::/48 -p tcp -m tcp --dport 22 -j ACCEPT
# /fw/incoming.d/99-reject
-A diswall-in -p tcp -j REJECT --reject-with tcp-reset
-A diswall-in -j REJECT --reject-with icmp6-port-unreachable
-A diswall-out -o lo -j ACCEPT
# /fw/outgoing.d/50-accept
COMMIT
`)
})

test('render-iptables - every verdict and match kind in iptables-save form', () => {
  const m = model({
    incoming: [file('10-all', [
      {verdict: 'accept'},
      {verdict: 'drop'},
      {dport: '22', proto: 'tcp', verdict: 'accept'},
      {dport: '53', proto: 'udp', verdict: 'accept'},
      {dport: '49152:65535', proto: 'tcp', verdict: 'accept'},
      {dport: '21,49152:65535', proto: 'tcp', verdict: 'accept'},
      {dport: '1024:65535', proto: 'udp', sport: '53', state: ['established'], verdict: 'accept'},
      {dport: '1,2', proto: 'tcp', sport: '53', verdict: 'accept'},
      {proto: 'udp', verdict: 'drop'},
      {state: ['established', 'related', 'new', 'invalid', 'established'], verdict: 'accept'},
      {state: ['invalid'], verdict: 'drop'},
      {icmpType: 'echo-request', proto: 'icmp', verdict: 'accept'},
      {icmpType: 'port-unreachable', proto: 'icmp', verdict: 'accept'},
      {proto: 'icmp', verdict: 'accept'},
      {limit: '10/second', verdict: 'log'},
      {limit: '3/min', verdict: 'log'},
      {limit: '1/h', verdict: 'log'},
      {limit: '2/day', verdict: 'log'},
      {verdict: 'log'},
      {dport: '25', proto: 'tcp', tcpReset: true, verdict: 'reject'},
      {tcpReset: true, verdict: 'reject'},
      {proto: 'udp', verdict: 'reject'},
      {verdict: 'reject'},
    ])],
  })
  assert.deepEqual(incomingRules(m, 4), [
    '-j ACCEPT',
    '-j DROP',
    '-p tcp -m tcp --dport 22 -j ACCEPT',
    '-p udp -m udp --dport 53 -j ACCEPT',
    '-p tcp -m tcp --dport 49152:65535 -j ACCEPT',
    '-p tcp -m multiport --dports 21,49152:65535 -j ACCEPT',
    '-p udp -m udp --sport 53 --dport 1024:65535 -m conntrack --ctstate ESTABLISHED -j ACCEPT',
    '-p tcp -m tcp --sport 53 -m multiport --dports 1,2 -j ACCEPT',
    '-p udp -j DROP',
    '-m conntrack --ctstate INVALID,NEW,RELATED,ESTABLISHED -j ACCEPT',
    '-m conntrack --ctstate INVALID -j DROP',
    '-p icmp -m icmp --icmp-type 8 -j ACCEPT',
    '-p icmp -m icmp --icmp-type 3/3 -j ACCEPT',
    '-p icmp -j ACCEPT',
    '-m limit --limit 10/sec -j LOG --log-prefix "diswall-log: "',
    '-m limit --limit 3/min -j LOG --log-prefix "diswall-log: "',
    '-m limit --limit 1/hour -j LOG --log-prefix "diswall-log: "',
    '-m limit --limit 2/day -j LOG --log-prefix "diswall-log: "',
    '-j LOG --log-prefix "diswall-log: "',
    '-p tcp -m tcp --dport 25 -j REJECT --reject-with tcp-reset',
    '-p tcp -j REJECT --reject-with tcp-reset',
    '-p udp -j REJECT --reject-with icmp-port-unreachable',
    '-j REJECT --reject-with icmp-port-unreachable',
  ])
})

test('render-iptables - family filtering: peers, family, icmp (IPv4) and icmpv6 (IPv6)', () => {
  const m = model({
    incoming: [file('10-mixed', [
      {peers: [net('198.51.100.7'), net('2001:db8::7'), net('198.51.100.0/24')], verdict: 'accept'},
      {peers: [net('198.51.100.8')], verdict: 'drop'},
      {peers: [net('2001:db8::8')], verdict: 'drop'},
      {family: 4, verdict: 'log'},
      {family: 6, verdict: 'reject'},
      {family: 6, peers: [net('2001:db8::9')], verdict: 'accept'},
      {icmpType: 'echo-request', proto: 'icmp', verdict: 'accept'},
      {icmpType: 'echo-request', proto: 'icmpv6', verdict: 'accept'},
      {icmpType: 'neighbor-solicitation', proto: 'icmpv6', verdict: 'accept'},
      {icmpType: 'port-unreachable', proto: 'icmpv6', verdict: 'accept'},
      {proto: 'icmpv6', verdict: 'accept'},
      {peers: [], verdict: 'accept'},
    ])],
  })
  assert.deepEqual(incomingRules(m, 4), [
    '-s 198.51.100.7/32 -j ACCEPT',
    '-s 198.51.100.0/24 -j ACCEPT',
    '-s 198.51.100.8/32 -j DROP',
    '-j LOG --log-prefix "diswall-log: "',
    '-p icmp -m icmp --icmp-type 8 -j ACCEPT',
    '-j ACCEPT',
  ])
  assert.deepEqual(incomingRules(m, 6), [
    '-s 2001:db8::7/128 -j ACCEPT',
    '-s 2001:db8::8/128 -j DROP',
    '-j REJECT --reject-with icmp6-port-unreachable',
    '-s 2001:db8::9/128 -j ACCEPT',
    '-p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT',
    '-p ipv6-icmp -m icmp6 --icmpv6-type 135 -j ACCEPT',
    '-p ipv6-icmp -m icmp6 --icmpv6-type 1/4 -j ACCEPT',
    '-p ipv6-icmp -j ACCEPT',
    '-j ACCEPT',
  ])
})

test('render-iptables - outgoing rules match destinations and may match the socket owner', () => {
  const m = model({
    outgoing: [file('50-reject-www-data', [
      {peers: [net('198.51.100.80'), net('2001:db8::80')], uidOwner: 'www-data', verdict: 'accept'},
      {dport: '53', proto: 'udp', uidOwner: 'www-data', verdict: 'accept'},
      {tcpReset: true, uidOwner: 'www-data', verdict: 'reject'},
      {uidOwner: '33', verdict: 'reject'},
    ], 'outgoing.d')],
  })
  const out = (family: 4 | 6): string[] => renderIptablesChains(m, family, OPTS).find((c) => c.name === 'diswall-out')!.rules
  assert.deepEqual(out(4), [
    '-o lo -j ACCEPT',
    '-d 198.51.100.80/32 -m owner --uid-owner www-data -j ACCEPT',
    '-p udp -m udp --dport 53 -m owner --uid-owner www-data -j ACCEPT',
    '-p tcp -m owner --uid-owner www-data -j REJECT --reject-with tcp-reset',
    '-m owner --uid-owner 33 -j REJECT --reject-with icmp-port-unreachable',
  ])
  assert.equal(out(6)[1], '-d 2001:db8::80/128 -m owner --uid-owner www-data -j ACCEPT')
})

test('render-iptables - whitelist.d and blacklist.d entries: all ports, or one rule per port group', () => {
  const m = model({
    blacklist: {disabled: false, entries: [listFile('203.0.113.66'), listFile('2001:db8:66::|64', [{port: '25', proto: 'tcp'}])]},
    whitelist: {disabled: false, entries: [
      listFile('198.51.100.7'),
      listFile('198.51.100.0|24', [{port: '22', proto: 'tcp'}, {port: '53', proto: 'udp'}, {port: '6000:6010', proto: 'tcp'}]),
      listFile('2001:db8::7', []),
    ]},
  })
  const chain = (family: 4 | 6, name: string): string[] => renderIptablesChains(m, family, OPTS).find((c) => c.name === name)!.rules
  assert.deepEqual(chain(4, 'diswall-whitelist'), [
    '-s 198.51.100.7/32 -j ACCEPT',
    '-s 198.51.100.0/24 -p tcp -m tcp --dport 22 -j ACCEPT',
    '-s 198.51.100.0/24 -p udp -m udp --dport 53 -j ACCEPT',
    '-s 198.51.100.0/24 -p tcp -m tcp --dport 6000:6010 -j ACCEPT',
  ])
  assert.deepEqual(chain(6, 'diswall-whitelist'), ['-s 2001:db8::7/128 -j ACCEPT'])
  assert.deepEqual(chain(4, 'diswall-blacklist'), ['-s 203.0.113.66/32 -j DROP'])
  assert.deepEqual(chain(6, 'diswall-blacklist'), ['-s 2001:db8:66::/64 -p tcp -m tcp --dport 25 -j DROP'])
})

test('render-iptables - disabled lists keep their chains (declared, flushed, jumped to) but empty', () => {
  const m = model({
    blacklist: {disabled: true, entries: [listFile('203.0.113.66')]},
    whitelist: {disabled: true, entries: [listFile('198.51.100.7')]},
  })
  const script = renderIptables(m, 4, OPTS)
  assert.match(script, /^:diswall-whitelist - \[0:0\]$/m)
  assert.match(script, /^:diswall-blacklist - \[0:0\]$/m)
  assert.match(script, /^-A diswall-in -j diswall-whitelist$/m)
  assert.match(script, /^# diswall-whitelist: disabled$/m)
  assert.match(script, /^# diswall-blacklist: disabled$/m)
  assert.doesNotMatch(script, /-A diswall-(white|black)list/)
})

test('render-iptables - the log prefix is quoted as iptables-save prints it', () => {
  assert.equal(quoteIptables('diswall'), 'diswall')
  assert.equal(quoteIptables('dw-log_1'), 'dw-log_1')
  assert.equal(quoteIptables('diswall-log: '), '"diswall-log: "')
  assert.equal(quoteIptables(`a"b\\c'd`), `"a\\"b\\\\c\\'d"`)
  const rules = (logPrefix: string): string[] =>
    renderIptablesChains(model({incoming: [file('90-log', [{limit: '10/second', verdict: 'log'}])]}), 4, {...OPTS, logPrefix})
      .find((c) => c.name === 'diswall-in')!.rules.slice(5)
  assert.deepEqual(rules('plain'), ['-m limit --limit 10/sec -j LOG --log-prefix plain'])
  assert.deepEqual(rules('say "hi" # \\o/ '), ['-m limit --limit 10/sec -j LOG --log-prefix "say \\"hi\\" # \\\\o/ "'])
  assert.deepEqual(rules('x'.repeat(29)), [`-m limit --limit 10/sec -j LOG --log-prefix ${'x'.repeat(29)}`])
})

test('render-iptables - a per-source limit is a hashlimit table per direction, IPv6 per /64, as iptables-save prints it', () => {
  const limits = {limit: '10000/second', limitBurst: 10_000, sourceLimit: '2/second', sourceLimitBurst: 5} as const
  const m = model({
    incoming: [file('90-log', [{...limits, dport: '23', peers: [net('192.0.2.0/24'), net('2001:db8::/32')], proto: 'tcp', verdict: 'log'}])],
    outgoing: [file('90-log', [{...limits, sourceLimitBurst: 20, verdict: 'log'}], 'outgoing.d')],
  })
  const rules = (family: 4 | 6, chainName: string): string[] => renderIptablesChains(m, family, OPTS).find((c) => c.name === chainName)!.rules
  const table = '--hashlimit-htable-size 16384 --hashlimit-htable-max 65536 --hashlimit-htable-expire 10000'
  // Checked against iptables-save 1.8.9 (nf_tables) in a namespace.
  assert.deepEqual(rules(4, 'diswall-in').slice(5), [
    `-s 192.0.2.0/24 -p tcp -m tcp --dport 23 -m hashlimit --hashlimit-upto 2/sec --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-name diswall-log-src ${table} -m limit --limit 10000/sec --limit-burst 10000 -j LOG --log-prefix "diswall-log: "`,
  ])
  assert.deepEqual(rules(6, 'diswall-in').slice(5), [
    `-s 2001:db8::/32 -p tcp -m tcp --dport 23 -m hashlimit --hashlimit-upto 2/sec --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-name diswall-log-src ${table} --hashlimit-srcmask 64 -m limit --limit 10000/sec --limit-burst 10000 -j LOG --log-prefix "diswall-log: "`,
  ])
  // Outgoing: the peer is the destination, in a table of its own.
  assert.deepEqual(rules(6, 'diswall-out').slice(1), [
    `-m hashlimit --hashlimit-upto 2/sec --hashlimit-burst 20 --hashlimit-mode dstip --hashlimit-name diswall-log-dst ${table} --hashlimit-dstmask 64 -m limit --limit 10000/sec --limit-burst 10000 -j LOG --log-prefix "diswall-log: "`,
  ])
})

test('render-iptables - refuses a burst out of range, a burst without a limit, and a per-source limit not per second', () => {
  const render = (rule: Omit<Rule, 'origin'>): string[] => renderIptablesChains(model({incoming: [file('90-log', [rule])]}), 4, OPTS)[0].rules
  for (const limitBurst of [0, 10_001, 2.5]) {
    assert.throws(() => render({limit: '1/second', limitBurst, verdict: 'log'}), (e: unknown) => e instanceof RulesetError && /90-log:1: bad burst/.test(e.message))
  }
  assert.throws(() => render({limitBurst: 7, verdict: 'log'}), /a burst needs a rate limit/)
  assert.throws(() => render({sourceLimitBurst: 7, verdict: 'log'}), /a per-source burst needs a per-source rate limit/)
  assert.throws(() => render({sourceLimit: '60/minute', verdict: 'log'}), /must be per second/)
  assert.throws(() => render({sourceLimit: '20000/second', verdict: 'log'}), /faster than iptables can limit/)
  // The default burst (5) is not written, as iptables-save leaves it out.
  assert.deepEqual(render({limit: '3/second', limitBurst: 5, verdict: 'log'}).slice(5), ['-m limit --limit 3/sec -j LOG --log-prefix "diswall-log: "'])
})

test('render-iptables - refuses a log prefix that is empty, longer than 29 characters or not printable ASCII', () => {
  for (const logPrefix of ['', 'x'.repeat(30), 'line\nbreak', 'tab\t', 'é']) {
    assert.throws(() => renderIptables(model(), 4, {...OPTS, logPrefix}), InvalidValueError, JSON.stringify(logPrefix))
  }
})

test('render-iptables - with an NFLOG group the log verdict sends packets there, as iptables-save prints it', () => {
  const m = model({incoming: [file('90-log', [{limit: '10/second', verdict: 'log'}, {family: 6, proto: 'tcp', verdict: 'log'}])]})
  const rules = (family: 4 | 6, opts: {logPrefix: string; nflogGroup?: number}): string[] =>
    renderIptablesChains(m, family, {...OPTS, ...opts}).find((c) => c.name === 'diswall-in')!.rules.slice(5)
  // Checked against iptables-save 1.8.9 (nf_tables) in a namespace: prefix, group, threshold, in this order.
  assert.deepEqual(rules(4, {logPrefix: 'diswall-log: ', nflogGroup: 5}),
    ['-m limit --limit 10/sec -j NFLOG --nflog-prefix "diswall-log: " --nflog-group 5 --nflog-threshold 1'])
  assert.deepEqual(rules(6, {logPrefix: 'plain', nflogGroup: 65_535}), [
    '-m limit --limit 10/sec -j NFLOG --nflog-prefix plain --nflog-group 65535 --nflog-threshold 1',
    '-p tcp -j NFLOG --nflog-prefix plain --nflog-group 65535 --nflog-threshold 1',
  ])
  assert.deepEqual(rules(4, {logPrefix: `it's: `, nflogGroup: 1}),
    [`-m limit --limit 10/sec -j NFLOG --nflog-prefix "it\\'s: " --nflog-group 1 --nflog-threshold 1`])
  // Without a group: the kernel log, as before.
  assert.deepEqual(rules(4, {logPrefix: 'diswall-log: '}), ['-m limit --limit 10/sec -j LOG --log-prefix "diswall-log: "'])
  assert.match(renderIptables(m, 4, {...OPTS, nflogGroup: 7}),
    /^-A diswall-in -m limit --limit 10\/sec -j NFLOG --nflog-prefix "diswall-log: " --nflog-group 7 --nflog-threshold 1$/m)
})

test('render-iptables - refuses an NFLOG group outside 1..65535', () => {
  for (const nflogGroup of [0, -1, 65_536, 1.5, Number.NaN]) {
    assert.throws(() => renderIptables(model(), 4, {...OPTS, nflogGroup}), InvalidValueError, String(nflogGroup))
  }
})

test('render-iptables - ICMP types by name, alias, number and type/code', () => {
  const origin = {file: 'f'}
  assert.deepEqual(parseIcmpType('echo-request', 4, origin), {type: 8})
  assert.deepEqual(parseIcmpType('Ping', 4, origin), {type: 8})
  assert.deepEqual(parseIcmpType('ttl-exceeded', 4, origin), {type: 11})
  assert.deepEqual(parseIcmpType('TOS-host-unreachable', 4, origin), {code: 12, type: 3})
  assert.deepEqual(parseIcmpType('13', 4, origin), {type: 13})
  assert.deepEqual(parseIcmpType('3/4', 4, origin), {code: 4, type: 3})
  assert.deepEqual(parseIcmpType('echo-request', 6, origin), {type: 128})
  assert.deepEqual(parseIcmpType('ttl-exceeded', 6, origin), {type: 3})
  assert.deepEqual(parseIcmpType('router-advertisement', 6, origin), {type: 134})
  assert.deepEqual(parseIcmpType('nd-neighbor-advert', 6, origin), {type: 136})
  for (const bad of ['no-such-type', '256', '3/256', 'constructor', '']) {
    assert.throws(() => parseIcmpType(bad, 4, origin), RulesetError, bad)
  }
  assert.throws(() => parseIcmpType('packet-too-big', 4, origin), RulesetError)
})

test('render-iptables - refuses rules no firewall can express, naming file and line', () => {
  const cases: Array<[Omit<Rule, 'origin'>, RegExp]> = [
    [{dport: '22', verdict: 'accept'}, /port match needs protocol tcp or udp/],
    [{dport: '22', proto: 'icmp', verdict: 'accept'}, /port match needs protocol tcp or udp/],
    [{icmpType: 'echo-request', verdict: 'accept'}, /needs protocol icmp or icmpv6/],
    [{proto: 'udp', tcpReset: true, verdict: 'reject'}, /TCP reset cannot answer udp/],
    [{tcpReset: true, verdict: 'drop'}, /TCP reset needs verdict reject/],
    [{uidOwner: 'www-data', verdict: 'accept'}, /owner \(user\) match works on outgoing rules only/],
    [{dport: '70000', proto: 'tcp', verdict: 'accept'}, /bad port "70000"/],
    [{dport: '30:20', proto: 'tcp', verdict: 'accept'}, /bad port "30:20"/],
    [{dport: 'ssh', proto: 'tcp', verdict: 'accept'}, /bad port "ssh"/],
    [{dport: Array.from({length: 16}, (_, i) => String(i + 1)).join(','), proto: 'tcp', verdict: 'accept'}, /more than 15 ports/],
    [{dport: '1:2,3:4,5:6,7:8,9:10,11:12,13:14,15:16', proto: 'tcp', verdict: 'accept'}, /more than 15 ports/],
    [{limit: 'fast', verdict: 'log'}, /bad rate limit "fast"/],
    [{limit: '0/second', verdict: 'log'}, /bad rate limit/],
    [{icmpType: 'bogus', proto: 'icmp', verdict: 'accept'}, /unknown ICMP type "bogus"/],
    [{family: 6, proto: 'icmp', verdict: 'accept'}, /icmp is IPv4 only/],
  ]
  for (const [rule, message] of cases) {
    const m = model({incoming: [file('10-bad', [rule])]})
    assert.throws(() => renderIptables(m, 4, OPTS), (error: unknown) => {
      assert.ok(error instanceof RulesetError, `${JSON.stringify(rule)}: ${String(error)}`)
      assert.match(error.message, /^\/fw\/incoming\.d\/10-bad:1: /)
      assert.match(error.message, message)
      assert.equal(error.exitCode, 3)
      return true
    })
  }
  const outgoing = model({outgoing: [file('10-bad', [{uidOwner: 'no body', verdict: 'accept'}], 'outgoing.d')]})
  assert.throws(() => renderIptables(outgoing, 4, OPTS), /bad user name "no body"/)
})

test('render-iptables - comments cannot break out of their line', () => {
  const m = model({incoming: [file('10-x', [{comment: 'one\ntwo\r-A INPUT -j DROP', verdict: 'accept'}])]})
  const script = renderIptables(m, 4, OPTS)
  assert.match(script, /^# one\?two\?-A INPUT -j DROP$/m)
  assert.doesNotMatch(script, /^-A INPUT/m)
})

test('render-iptables - RULESET_CHAINS is the one from names.ts, and RULESET_CHAIN_NAMES lists them in order', () => {
  assert.equal(RULESET_CHAINS, NAMES_RULESET_CHAINS)
  assert.deepEqual(RULESET_CHAINS, {blacklist: 'diswall-blacklist', in: 'diswall-in', out: 'diswall-out', whitelist: 'diswall-whitelist'})
  assert.deepEqual(RULESET_CHAIN_NAMES, ['diswall-in', 'diswall-out', 'diswall-whitelist', 'diswall-blacklist'])
})

test('render-iptables - a rate limit faster than iptables takes is a RulesetError at its file (nft renders it)', () => {
  const limited = (limit: string): RulesetModel => model({incoming: [file('90-log', [{limit, verdict: 'log'}])]})
  for (const [limit, max] of [['10001/second', '10000/second'], ['100000/s', '10000/second'], ['600001/minute', '600000/minute']]) {
    assert.throws(() => renderIptablesChains(limited(limit), 4, OPTS), (error: unknown) => {
      assert.ok(error instanceof RulesetError)
      assert.match(error.message, new RegExp(`^/fw/incoming\\.d/90-log:1: rate limit \\d+/\\w+ is faster than iptables can limit \\(at most ${max}\\)$`))
      assert.match(error.hint ?? '', /nftables backend/)
      return true
    }, limit)
  }
  for (const limit of ['10000/second', '600000/minute', '864000000/day']) {
    assert.equal(renderIptablesChains(limited(limit), 4, OPTS).find((c) => c.name === 'diswall-in')!.rules.length, 6, limit)
  }
  assert.match(renderNft(limited('100000/second'), OPTS), /limit rate 100000\/second/)
})

test('render-iptables - more than 16 peers of a family are one rule with an ipset match; the sets are returned with the script', () => {
  const v4 = Array.from({length: 17}, (_, i) => net(`198.51.100.${i + 1}`))
  const m = model({incoming: [file('10-ssh', [{dport: '22', peers: v4, proto: 'tcp', verdict: 'accept'}])]})
  const {chains, script, sets} = renderIptablesRuleset(m, 4, OPTS)
  const set = peerSet(v4, 4)
  // Checked against iptables-save 1.8.9 (nf_tables): -p first, then the matches in the order given.
  assert.deepEqual(chains[0].rules.slice(5), [`-p tcp -m set --match-set ${set.name} src -m tcp --dport 22 -j ACCEPT`])
  assert.deepEqual(sets, [set])
  assert.match(script, new RegExp(`^-A diswall-in -p tcp -m set --match-set ${set.name} src -m tcp --dport 22 -j ACCEPT$`, 'm'))
  // 16 peers stay 16 rules; IPv6 gets no set from IPv4 peers.
  const small = model({incoming: [file('10-ssh', [{dport: '22', peers: v4.slice(0, 16), proto: 'tcp', verdict: 'accept'}])]})
  assert.equal(renderIptablesRuleset(small, 4, OPTS).chains[0].rules.length, 5 + 16)
  assert.deepEqual(renderIptablesRuleset(m, 6, OPTS).sets, [])
  // Outgoing: the destination.
  const out = model({outgoing: [file('10-x', [{peers: v4, verdict: 'accept'}], 'outgoing.d')]})
  assert.deepEqual(renderIptablesRuleset(out, 4, OPTS).chains[1].rules.slice(1), [`-m set --match-set ${set.name} dst -j ACCEPT`])
})
