/**
 * Findings about a ruleset that is valid but probably not what the operator wants: warnings for
 * `firewall check` and `firewall apply`, never errors (the directory may mean it).
 */
import type {RulesetModel} from './model.js'
import {ruleForFamily} from './normalise.js'

/**
 * ICMPv6 neighbour solicitation and advertisement (RFC 4861): conntrack does not track them, so an
 * `established` rule does not let them in, and without them a host loses its IPv6 neighbours (its
 * router among them) within minutes.
 */
const NEIGHBOUR_DISCOVERY_TYPES: readonly number[] = [135, 136]

/**
 * Where the incoming rules drop or reject IPv6 neighbour discovery for everyone before any rule accepts
 * it (the `essential-icmpv6` template, `icmpv6`, or an accept-all), as a warning with the rule's
 * `file:line`; undefined when they do not. Call after rendering: a rule no firewall can express throws.
 */
export function neighbourDiscoveryWarning(model: RulesetModel): string | undefined {
  if (model.disabled) return undefined
  const accepted = new Set<number>()
  for (const file of model.incoming) {
    for (const rule of file.rules) {
      const normal = ruleForFamily(rule, 6, 'incoming')
      if (normal === undefined || (normal.proto !== undefined && normal.proto !== 'icmpv6')) continue
      // A rule for some peers, ports, states or rates does not decide for neighbour discovery from everyone.
      if (normal.peers.length > 0 || normal.sport || normal.dport || normal.state || normal.limit) continue
      const types = normal.icmp === undefined ? NEIGHBOUR_DISCOVERY_TYPES : [normal.icmp.type]
      if (normal.verdict === 'accept') {
        for (const type of types) accepted.add(type)
        if (NEIGHBOUR_DISCOVERY_TYPES.every((t) => accepted.has(t))) return undefined
      } else if ((normal.verdict === 'drop' || normal.verdict === 'reject') &&
        types.some((t) => NEIGHBOUR_DISCOVERY_TYPES.includes(t) && !accepted.has(t))) {
        const at = `${rule.origin.file}${rule.origin.line ? `:${rule.origin.line}` : ''}`
        return `${at}: IPv6 neighbour discovery (ICMPv6 types 135, 136) is ${normal.verdict === 'drop' ? 'dropped' : 'rejected'} ` +
          'before any rule accepts it: the host loses IPv6 within minutes; add incoming.d/NN-essential-icmpv6 before this file'
      }
    }
  }
  return undefined
}
