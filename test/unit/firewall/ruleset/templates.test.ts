import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {Rule} from '../../../../src/lib/firewall/ruleset/model.js'
import {RulesetError} from '../../../../src/lib/firewall/ruleset/read.js'
import {
  BUILTIN_TEMPLATE_NAMES,
  builtinTemplateDirections,
  builtinTemplateTakesPort,
  describeBuiltinTemplate,
  expandBuiltinTemplate,
  isBuiltinTemplate,
  withPeers,
} from '../../../../src/lib/firewall/ruleset/templates.js'
import type {PortSpec, TemplateInput} from '../../../../src/lib/firewall/ruleset/templates.js'
import {parseNetwork} from '../../../../src/lib/net/index.js'

const origin = {file: '/fw/incoming.d/10-x'}
const V4 = parseNetwork('192.0.2.7')
const V4NET = parseNetwork('198.51.100.0/24')
const V6 = parseNetwork('2001:db8::/64')
const SSH: PortSpec = {port: '22', protos: ['tcp']}
const BOTH_5000: PortSpec = {port: '5000:5010', protos: ['tcp', 'udp']}

function expand(name: string, input: Partial<TemplateInput> = {}): Rule[] {
  return expandBuiltinTemplate(name, {direction: 'incoming', origin, ...input})
}

test('templates - the built-in names', () => {
  assert.deepEqual(BUILTIN_TEMPLATE_NAMES, [
    'accept', 'allow', 'blacklist', 'collector', 'dns', 'drop', 'essential-icmpv6', 'established', 'ftp', 'icmp', 'icmpv6', 'imager', 'invalid',
    'log', 'new', 'ping', 'reject', 'reject-www-data', 'related', 'syn-ack-flood-protection', 'whitelist',
  ])
  assert.equal(isBuiltinTemplate('accept'), true)
  assert.equal(isBuiltinTemplate('ssh'), false)
  assert.equal(isBuiltinTemplate('constructor'), false)
  assert.deepEqual(builtinTemplateDirections('syn-ack-flood-protection'), ['incoming'])
  assert.deepEqual(builtinTemplateDirections('reject-www-data'), ['outgoing'])
  assert.deepEqual(builtinTemplateDirections('dns'), ['incoming', 'outgoing'])
  assert.equal(builtinTemplateDirections('nope'), undefined)
  assert.equal(builtinTemplateTakesPort('drop'), true)
  assert.equal(builtinTemplateTakesPort('ping'), false)
  for (const name of BUILTIN_TEMPLATE_NAMES) assert.ok((describeBuiltinTemplate(name) ?? '').length > 10, name)
})

test('templates - accept, allow and whitelist without a port accept everything', () => {
  for (const name of ['accept', 'allow', 'whitelist']) {
    assert.deepEqual(expand(name), [{origin, verdict: 'accept'}], name)
    assert.deepEqual(expand(name, {direction: 'outgoing'}), [{origin, verdict: 'accept'}], name)
  }
})

test('templates - accept with a port gives one rule per protocol', () => {
  assert.deepEqual(expand('accept', {port: SSH}), [{dport: '22', origin, proto: 'tcp', verdict: 'accept'}])
  assert.deepEqual(expand('accept', {port: BOTH_5000}), [
    {dport: '5000:5010', origin, proto: 'tcp', verdict: 'accept'},
    {dport: '5000:5010', origin, proto: 'udp', verdict: 'accept'},
  ])
})

test('templates - drop and blacklist', () => {
  for (const name of ['drop', 'blacklist']) {
    assert.deepEqual(expand(name), [{origin, verdict: 'drop'}])
    assert.deepEqual(expand(name, {port: BOTH_5000}), [
      {dport: '5000:5010', origin, proto: 'tcp', verdict: 'drop'},
      {dport: '5000:5010', origin, proto: 'udp', verdict: 'drop'},
    ])
  }
})

test('templates - reject answers TCP with a reset and the rest plainly', () => {
  assert.deepEqual(expand('reject'), [
    {origin, proto: 'tcp', tcpReset: true, verdict: 'reject'},
    {origin, verdict: 'reject'},
  ])
  assert.deepEqual(expand('reject', {port: BOTH_5000}), [
    {dport: '5000:5010', origin, proto: 'tcp', tcpReset: true, verdict: 'reject'},
    {dport: '5000:5010', origin, proto: 'udp', verdict: 'reject'},
  ])
  assert.deepEqual(expand('reject', {port: {port: '123', protos: ['udp']}}), [
    {dport: '123', origin, proto: 'udp', verdict: 'reject'},
  ])
})

test('templates - established, related and new accept their state', () => {
  for (const state of ['established', 'related', 'new'] as const) {
    assert.deepEqual(expand(state), [{origin, state: [state], verdict: 'accept'}])
    assert.deepEqual(expand(state, {direction: 'outgoing', port: SSH}),
      [{dport: '22', origin, proto: 'tcp', state: [state], verdict: 'accept'}])
  }
})

test('templates - invalid and syn-ack-flood-protection drop state invalid', () => {
  assert.deepEqual(expand('invalid'), [{origin, state: ['invalid'], verdict: 'drop'}])
  assert.deepEqual(expand('invalid', {direction: 'outgoing'}), [{origin, state: ['invalid'], verdict: 'drop'}])
  assert.deepEqual(expand('syn-ack-flood-protection'), [{origin, state: ['invalid'], verdict: 'drop'}])
  assert.deepEqual(expand('syn-ack-flood-protection', {port: BOTH_5000}), [
    {dport: '5000:5010', origin, proto: 'tcp', state: ['invalid'], verdict: 'drop'},
    {dport: '5000:5010', origin, proto: 'udp', state: ['invalid'], verdict: 'drop'},
  ])
})

test('templates - log is rate limited per source address, under a host-wide cap', () => {
  const limits = {limit: '10000/second', limitBurst: 10_000, sourceLimit: '2/second', sourceLimitBurst: 5} as const
  assert.deepEqual(expand('log'), [{...limits, origin, verdict: 'log'}])
  assert.deepEqual(expand('log', {port: SSH}), [{...limits, dport: '22', origin, proto: 'tcp', verdict: 'log'}])
})

test('templates - ping accepts echo and time-exceeded over ICMP and ICMPv6', () => {
  const rules = (family: 4 | 6, proto: 'icmp' | 'icmpv6'): Rule[] => ['echo-request', 'echo-reply', 'time-exceeded']
    .map((icmpType) => ({family, icmpType, origin, proto, verdict: 'accept' as const}))
  assert.deepEqual(expand('ping'), [...rules(4, 'icmp'), ...rules(6, 'icmpv6')])
})

test('templates - ping with IPv4 peers only gives the IPv4 rules', () => {
  assert.deepEqual(expand('ping', {peers: [V4]}), ['echo-request', 'echo-reply', 'time-exceeded']
    .map((icmpType) => ({family: 4, icmpType, origin, peers: [V4], proto: 'icmp', verdict: 'accept'})))
})

test('templates - icmp is IPv4 only, icmpv6 IPv6 only, with an optional type', () => {
  assert.deepEqual(expand('icmp'), [{family: 4, origin, proto: 'icmp', verdict: 'accept'}])
  assert.deepEqual(expand('icmp', {icmpType: 'echo-request'}),
    [{family: 4, icmpType: 'echo-request', origin, proto: 'icmp', verdict: 'accept'}])
  assert.deepEqual(expand('icmpv6'), [{family: 6, origin, proto: 'icmpv6', verdict: 'accept'}])
  assert.deepEqual(expand('icmpv6', {icmpType: 'packet-too-big'}),
    [{family: 6, icmpType: 'packet-too-big', origin, proto: 'icmpv6', verdict: 'accept'}])
  assert.deepEqual(expand('icmp', {peers: [V6]}), [])
})

test('templates - essential-icmpv6 accepts the seven types IPv6 needs', () => {
  assert.deepEqual(expand('essential-icmpv6'), [
    'destination-unreachable', 'packet-too-big', 'parameter-problem', 'router-solicitation', 'router-advertisement',
    'neighbor-solicitation', 'neighbor-advertisement',
  ].map((icmpType) => ({family: 6, icmpType, origin, proto: 'icmpv6', verdict: 'accept'})))
})

test('templates - dns incoming accepts established replies from port 53 to unprivileged ports only', () => {
  const reply = {dport: '1024:65535', sport: '53', state: ['established'], verdict: 'accept'}
  assert.deepEqual(expand('dns'), [{origin, proto: 'tcp', ...reply}, {origin, proto: 'udp', ...reply}])
  assert.deepEqual(expand('dns', {peers: [V4]}), [
    {family: 4, origin, peers: [V4], proto: 'tcp', ...reply},
    {family: 4, origin, peers: [V4], proto: 'udp', ...reply},
  ])
})

test('templates - collector and imager accept their tcp port in both directions and both families of the peers', () => {
  for (const [name, port] of [['collector', '1919'], ['imager', '5000']] as const) {
    assert.deepEqual(expand(name), [{dport: port, origin, proto: 'tcp', verdict: 'accept'}])
    assert.deepEqual(expand(name, {direction: 'outgoing', peers: [V4, V6]}), [
      {dport: port, family: 4, origin, peers: [V4], proto: 'tcp', verdict: 'accept'},
      {dport: port, family: 6, origin, peers: [V6], proto: 'tcp', verdict: 'accept'},
    ])
  }
})

test('templates - dns outgoing accepts queries to port 53', () => {
  assert.deepEqual(expand('dns', {direction: 'outgoing'}), [
    {dport: '53', origin, proto: 'tcp', verdict: 'accept'},
    {dport: '53', origin, proto: 'udp', verdict: 'accept'},
  ])
})

test('templates - ftp accepts port 21 and the passive range over TCP', () => {
  const rule: Rule = {dport: '21,49152:65535', origin, proto: 'tcp', verdict: 'accept'}
  assert.deepEqual(expand('ftp'), [rule])
  assert.deepEqual(expand('ftp', {direction: 'outgoing'}), [rule])
})

test('templates - reject-www-data without addresses allows DNS and rejects the rest', () => {
  const uidOwner = 'www-data'
  assert.deepEqual(expand('reject-www-data', {direction: 'outgoing'}), [
    {dport: '53', origin, proto: 'tcp', uidOwner, verdict: 'accept'},
    {dport: '53', origin, proto: 'udp', uidOwner, verdict: 'accept'},
    {origin, proto: 'tcp', tcpReset: true, uidOwner, verdict: 'reject'},
    {origin, uidOwner, verdict: 'reject'},
  ])
})

test('templates - reject-www-data with IPv4 addresses still restricts IPv6', () => {
  const uidOwner = 'www-data'
  assert.deepEqual(expand('reject-www-data', {direction: 'outgoing', peers: [V4, V4NET]}), [
    {family: 4, origin, peers: [V4, V4NET], uidOwner, verdict: 'accept'},
    {dport: '53', origin, proto: 'tcp', uidOwner, verdict: 'accept'},
    {dport: '53', origin, proto: 'udp', uidOwner, verdict: 'accept'},
    {origin, proto: 'tcp', tcpReset: true, uidOwner, verdict: 'reject'},
    {origin, uidOwner, verdict: 'reject'},
  ])
})

test('templates - peers of both families give one rule per family, each with its own peers', () => {
  assert.deepEqual(expand('accept', {peers: [V4, V6, V4NET], port: BOTH_5000}), [
    {dport: '5000:5010', family: 4, origin, peers: [V4, V4NET], proto: 'tcp', verdict: 'accept'},
    {dport: '5000:5010', family: 6, origin, peers: [V6], proto: 'tcp', verdict: 'accept'},
    {dport: '5000:5010', family: 4, origin, peers: [V4, V4NET], proto: 'udp', verdict: 'accept'},
    {dport: '5000:5010', family: 6, origin, peers: [V6], proto: 'udp', verdict: 'accept'},
  ])
  assert.deepEqual(expand('drop', {direction: 'outgoing', peers: [V6]}), [{family: 6, origin, peers: [V6], verdict: 'drop'}])
})

test('templates - withPeers with no peers keeps the rules for everyone', () => {
  assert.deepEqual(withPeers([{verdict: 'accept'}], [], origin), [{origin, verdict: 'accept'}])
  assert.deepEqual(withPeers([{verdict: 'accept'}], undefined, origin), [{origin, verdict: 'accept'}])
})

function assertRulesetError(fn: () => unknown, message: string, hint: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof RulesetError, String(error))
    assert.equal(error.message, message)
    assert.ok(error.hint?.includes(hint), `hint ${String(error.hint)} lacks ${hint}`)
    assert.equal(error.code, 'E_RULESET')
    return true
  })
}

test('templates - a template used in the wrong direction is an error', () => {
  assertRulesetError(() => expand('reject-www-data'),
    '/fw/incoming.d/10-x: template "reject-www-data" works in outgoing.d only, not in incoming.d', 'Move the file to outgoing.d/')
  assertRulesetError(() => expand('syn-ack-flood-protection', {direction: 'outgoing'}),
    '/fw/incoming.d/10-x: template "syn-ack-flood-protection" works in incoming.d only, not in outgoing.d',
    'Move the file to incoming.d/')
})

test('templates - a port for a template without a port variant is an error', () => {
  assertRulesetError(() => expand('ping', {port: SSH}), '/fw/incoming.d/10-x: template "ping" takes no port',
    'Only accept, allow, blacklist, drop, established, invalid, log, new, reject, related, syn-ack-flood-protection, whitelist take a port.')
})

test('templates - a bad port, no protocol, an ICMP type elsewhere, an unknown name are errors', () => {
  assertRulesetError(() => expand('accept', {port: {port: '0', protos: ['tcp']}}),
    '/fw/incoming.d/10-x: bad port "0": "0" is not a valid port: it is out of range (1–65535)', 'Give a port')
  assertRulesetError(() => expand('accept', {port: {port: '22', protos: []}}),
    '/fw/incoming.d/10-x: no protocol for port 22', 'Give tcp, udp or both.')
  assertRulesetError(() => expand('accept', {icmpType: 'echo-request'}),
    '/fw/incoming.d/10-x: template "accept" takes no ICMP type', 'Only icmp and icmpv6')
  assertRulesetError(() => expand('nope'), '/fw/incoming.d/10-x: "nope" is not a built-in template', 'Use one of: accept,')
})
