import assert from 'node:assert/strict'
import {test} from 'node:test'

import {neighbourDiscoveryWarning} from '../../../../src/lib/firewall/ruleset/checks.js'
import type {Rule, RuleFile, RulesetModel} from '../../../../src/lib/firewall/ruleset/model.js'
import {expandBuiltinTemplate} from '../../../../src/lib/firewall/ruleset/templates.js'
import {parseNetwork} from '../../../../src/lib/net/index.js'

/** incoming.d/NAME built from a built-in template (everyone). */
function template(name: string): RuleFile {
  const origin = {file: `/fw/incoming.d/${name}`}
  const rules = expandBuiltinTemplate(name.replace(/^\d+-/, ''), {direction: 'incoming', origin})
  return {name, origin, rules: rules.map((r, i) => ({...r, origin: {...origin, line: i + 1}})), templateName: name}
}

function file(name: string, rules: Array<Omit<Rule, 'origin'>>): RuleFile {
  const origin = {file: `/fw/incoming.d/${name}`}
  return {name, origin, rules: rules.map((r) => ({...r, origin})), templateName: name}
}

function model(incoming: RuleFile[], disabled = false): RulesetModel {
  return {
    blacklist: {disabled: false, entries: []}, dir: '/fw', disabled, incoming, local: [], outgoing: [],
    whitelist: {disabled: false, entries: []},
  }
}

test('checks - a final drop or reject without essential-icmpv6 before it cuts IPv6 neighbour discovery', () => {
  for (const last of ['99-drop', '99-reject']) {
    const warning = neighbourDiscoveryWarning(model([template('00-established'), template('05-ping'), file('10-ssh', [{dport: '22', proto: 'tcp', verdict: 'accept'}]), template(last)]))
    assert.match(warning ?? '', new RegExp(`^/fw/incoming\\.d/${last}(:\\d+)?: IPv6 neighbour discovery \\(ICMPv6 types 135, 136\\) is (dropped|rejected) before any rule accepts it`))
    assert.match(warning ?? '', /NN-essential-icmpv6/)
  }
  // Dropping only ICMPv6 neighbour solicitations is caught too.
  assert.ok(neighbourDiscoveryWarning(model([file('50-x', [{icmpType: 'neighbor-solicitation', proto: 'icmpv6', verdict: 'drop'}])])))
})

test('checks - no warning when neighbour discovery is accepted first, or nothing drops it for everyone', () => {
  const quiet = [
    [template('05-essential-icmpv6'), template('99-drop')],
    [template('05-icmpv6'), template('99-reject')],
    [template('00-accept'), template('99-drop')],
    // Drops that do not reach neighbour discovery from everyone.
    [file('50-tcp', [{proto: 'tcp', verdict: 'drop'}]), file('60-peer', [{peers: [parseNetwork('2001:db8::/32')], verdict: 'drop'}]),
      file('70-v4', [{family: 4, verdict: 'drop'}]), file('80-ping', [{icmpType: 'echo-request', proto: 'icmpv6', verdict: 'drop'}])],
    [],
  ]
  for (const incoming of quiet) assert.equal(neighbourDiscoveryWarning(model(incoming)), undefined, incoming.map((f) => f.name).join(' '))
  assert.equal(neighbourDiscoveryWarning(model([template('99-drop')], true)), undefined, 'a disabled directory applies nothing')
  // Only one of the two types accepted first: still cut.
  assert.ok(neighbourDiscoveryWarning(model([file('05-ns', [{icmpType: 'neighbor-solicitation', proto: 'icmpv6', verdict: 'accept'}]), template('99-drop')])))
})
