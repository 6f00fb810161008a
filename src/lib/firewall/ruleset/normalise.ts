/**
 * What both renderers share: the ruleset chains, the walk over the model in chain order, and the checks
 * and normalisation of a rule (ports, ICMP types, limits, log prefixes, family selection). Pure.
 */
import {createHash} from 'node:crypto'

import {checkLogPrefix} from '../../config/index.js'
import {InvalidValueError} from '../../errors.js'
import type {Family, Network} from '../../net/index.js'
import type {KernelNames} from '../sets/index.js'
import {RULESET_CHAINS} from '../sets/index.js'
import type {ConnState, ListFile, Origin, Protocol, Rule, RulesetModel, Verdict} from './model.js'
import {RulesetError} from './resolve.js'

export {RULESET_CHAINS} from '../sets/index.js'

/** The ruleset chains in the order they are declared and listed. */
export const RULESET_CHAIN_NAMES: readonly string[] = [
  RULESET_CHAINS.in, RULESET_CHAINS.out, RULESET_CHAINS.whitelist, RULESET_CHAINS.blacklist,
]

/** What both renderers need besides the model. */
export interface RenderOptions {
  /** Set names (allow and block sets per family) and the nft table. */
  names: KernelNames
  /** Prefix of LOG lines (the `log` verdict), from the config; checked by checkLogPrefix (config). */
  logPrefix: string
  /**
   * NFLOG group (1–65535) when the packets are read from NFLOG (`[detect] source = "nflog"`): the `log`
   * verdict then sends them there, one at a time, instead of to the kernel log. Undefined = kernel log.
   */
  nflogGroup?: number
}

/** One chain of a rendered ruleset and its rules in order, each as the kernel lists it. */
export interface RenderedChain {
  name: string
  /**
   * iptables: the rule specification after `-A <chain> ` (`-s 198.51.100.7/32 -p tcp -m tcp --dport 22 -j ACCEPT`);
   * nft: the rule as `nft list chain` prints it (`ip saddr 198.51.100.7 tcp dport 22 accept`).
   */
  rules: string[]
}

/**
 * A rule with more peers of one family than this matches them with a set lookup instead of one kernel
 * rule per peer: an ipset `hash:net` (iptables) or a named nft set with `flags interval` in diswall's
 * table. 16 keeps the short lists (a few admin addresses) readable in iptables-save and nft listings,
 * and a rule per address costs little there; beyond it every packet would walk the list linearly.
 */
export const PEER_SET_THRESHOLD = 16

/** Names of peer sets start with this (ipset names and nft sets of diswall's table). */
export const PEER_SET_PREFIX = 'diswall-f'

/**
 * The peers of a rule as a kernel set. The name is derived from the family and the content
 * (`diswall-f4-` + 16 hex digits of a SHA-256), so a set of a given name always holds the same
 * networks: an apply creates the sets it lacks before it loads the rules, a set in use never changes,
 * and a diff of the rules also shows a change of a list.
 */
export interface PeerSet {
  name: string
  family: Family
  /** The networks as text, sorted and without duplicates. */
  networks: string[]
}

/** The content-addressed set of `peers` (all of one family). Pure. */
export function peerSet(peers: readonly Network[], family: Family): PeerSet {
  const networks = [...new Set(peers.map((p) => p.text))].sort()
  const hash = createHash('sha256').update(`${family}\n${networks.join('\n')}`).digest('hex').slice(0, 16)
  return {family, name: `${PEER_SET_PREFIX}${family}-${hash}`, networks}
}

/** Largest NFLOG group; group 0 exists but the config starts at 1. */
export const NFLOG_GROUP_MAX = 65_535

/** xt_multiport: at most 15 ports per match, a range counting as two. */
export const MULTIPORT_MAX = 15

// ---- shared rule normalisation (used by render-nft.ts too) ----

/** A port list: inclusive ranges in the given order; a single port is [p, p]. */
export type PortRanges = ReadonlyArray<readonly [number, number]>

/** An ICMP or ICMPv6 type, with a code when the name selects one. */
export interface IcmpMatch {
  type: number
  code?: number
}

/** A rate limit: `count` packets per `unit`, with a burst (absent = {@link DEFAULT_LIMIT_BURST}). */
export interface RateLimit {
  count: number
  unit: 'day' | 'hour' | 'minute' | 'second'
  burst?: number
}

/** Burst of a rate limit when none is given: the default of iptables `limit`/`hashlimit` and nft `limit`. */
export const DEFAULT_LIMIT_BURST = 5

/** Largest burst iptables takes (libxt_limit, libxt_hashlimit); nft takes it too. */
export const LIMIT_BURST_MAX = 10_000

/**
 * The per-peer buckets of a source limit ({@link NormalRule.sourceLimit}): iptables hashlimit tables
 * (`--hashlimit-htable-size`, `-max`, `-expire`) and nft meters (`size`, `timeout`). A peer's entry
 * expires after `expireMs` without packets; when `maxEntries` peers are tracked at once, a new peer's
 * packets do not match the rule (no log line) until entries expire. IPv6 peers are counted per /64
 * (`ipv6Prefix`), so one host cannot fill the table with the addresses of its own network.
 */
export const SOURCE_LIMIT_TABLE = {buckets: 16_384, expireMs: 10_000, ipv6Prefix: 64, maxEntries: 65_536} as const

/** Which way a rule looks: incoming (peers are sources), outgoing (destinations), or a list chain (sources). */
export type RuleDirection = 'incoming' | 'list' | 'outgoing'

/** A rule checked and parsed for one family, ready for either renderer. */
export interface NormalRule {
  family?: Family
  proto?: Protocol
  sport?: PortRanges
  dport?: PortRanges
  icmp?: IcmpMatch
  /** Deduplicated, in the model's order. */
  state?: ConnState[]
  uidOwner?: string
  /** Host-wide rate limit. */
  limit?: RateLimit
  /** Rate limit per peer: source on incoming and list rules, destination on outgoing ones (see {@link SOURCE_LIMIT_TABLE}). */
  sourceLimit?: RateLimit
  verdict: Verdict
  tcpReset: boolean
  /** This family's peers; empty = everyone. */
  peers: Network[]
  origin: Origin
}

/**
 * The rule as it applies to `family`, or undefined when it does not apply: a rule with `family` set, an
 * icmp (IPv4) or icmpv6 (IPv6) rule, or a rule whose peers are all of the other family is left out.
 * @throws RulesetError at the rule's origin for a rule no firewall can express (see {@link normaliseRule}).
 */
export function ruleForFamily(rule: Rule, family: Family, direction: RuleDirection): NormalRule | undefined {
  const normal = normaliseRule(rule, direction)
  const only = ruleFamily(normal)
  if (only !== undefined && only !== family) return undefined
  if (normal.peers.length === 0) return normal
  const peers = normal.peers.filter((p) => p.family === family)
  return peers.length === 0 ? undefined : {...normal, peers}
}

/**
 * Checks a rule and parses its fields (ports, ICMP type, limit). Peers are kept for every family.
 * @throws RulesetError at the rule's origin: a port without tcp or udp, an ICMP type without icmp/icmpv6,
 * a TCP reset on a rule that is not a TCP reject, an owner match on incoming rules, or a bad port, ICMP
 * type, limit or user.
 */
export function normaliseRule(rule: Rule, direction: RuleDirection): NormalRule {
  const origin = rule.origin
  let proto = rule.proto
  const tcpReset = rule.tcpReset === true
  if (tcpReset) {
    if (rule.verdict !== 'reject') throw ruleError(origin, `a TCP reset needs verdict reject, not ${rule.verdict}`)
    if (proto !== undefined && proto !== 'tcp') throw ruleError(origin, `a TCP reset cannot answer ${proto}`)
    proto = 'tcp'
  }
  if ((rule.dport !== undefined || rule.sport !== undefined) && proto !== 'tcp' && proto !== 'udp') {
    throw ruleError(origin, `a port match needs protocol tcp or udp, not ${proto ?? 'any'}`,
      'Give the rule a protocol (one rule for tcp, one for udp).')
  }
  if (rule.icmpType !== undefined && proto !== 'icmp' && proto !== 'icmpv6') {
    throw ruleError(origin, `ICMP type ${JSON.stringify(rule.icmpType)} needs protocol icmp or icmpv6`)
  }
  if (rule.family !== undefined && rule.family !== 4 && rule.family !== 6) throw ruleError(origin, `bad family ${String(rule.family)}`)
  if (proto === 'icmp' && rule.family === 6) throw ruleError(origin, 'protocol icmp is IPv4 only; IPv6 uses icmpv6')
  if (proto === 'icmpv6' && rule.family === 4) throw ruleError(origin, 'protocol icmpv6 is IPv6 only; IPv4 uses icmp')
  if (rule.uidOwner !== undefined) {
    if (direction !== 'outgoing') {
      throw ruleError(origin, 'an owner (user) match works on outgoing rules only', 'Move the file to outgoing.d/.')
    }
    if (!/^(?:\d{1,10}|[a-z_][a-z0-9_.-]{0,31})$/i.test(rule.uidOwner)) throw ruleError(origin, `bad user name ${JSON.stringify(rule.uidOwner)}`)
  }
  const normal: NormalRule = {origin, peers: [...(rule.peers ?? [])], tcpReset, verdict: rule.verdict}
  if (!['accept', 'drop', 'log', 'reject'].includes(rule.verdict)) throw ruleError(origin, `bad verdict ${JSON.stringify(rule.verdict)}`)
  if (rule.family !== undefined) normal.family = rule.family
  if (proto !== undefined) normal.proto = proto
  if (rule.sport !== undefined) normal.sport = parsePorts(rule.sport, origin)
  if (rule.dport !== undefined) normal.dport = parsePorts(rule.dport, origin)
  if (rule.icmpType !== undefined) normal.icmp = parseIcmpType(rule.icmpType, proto === 'icmp' ? 4 : 6, origin)
  if (rule.state !== undefined && rule.state.length > 0) {
    for (const s of rule.state) if (!CONN_STATES.includes(s)) throw ruleError(origin, `bad connection state ${JSON.stringify(s)}`)
    normal.state = [...new Set(rule.state)]
  }
  if (rule.uidOwner !== undefined) normal.uidOwner = rule.uidOwner
  if (rule.limit !== undefined) normal.limit = withBurst(parseLimit(rule.limit, origin), rule.limitBurst, origin)
  else if (rule.limitBurst !== undefined) throw ruleError(origin, 'a burst needs a rate limit')
  if (rule.sourceLimit !== undefined) {
    const limit = parseLimit(rule.sourceLimit, origin)
    // iptables-save prints a hashlimit rate in the largest unit that divides it; per second compares as written.
    if (limit.unit !== 'second') throw ruleError(origin, `per-source rate limit ${JSON.stringify(rule.sourceLimit)} must be per second`)
    normal.sourceLimit = withBurst(limit, rule.sourceLimitBurst, origin)
  } else if (rule.sourceLimitBurst !== undefined) throw ruleError(origin, 'a per-source burst needs a per-source rate limit')
  return normal
}

/** The one family a rule is bound to (its `family`, or icmp/icmpv6), or undefined for both. */
export function ruleFamily(rule: Pick<NormalRule, 'family' | 'proto'>): Family | undefined {
  if (rule.family !== undefined) return rule.family
  if (rule.proto === 'icmp') return 4
  if (rule.proto === 'icmpv6') return 6
  return undefined
}

/** The entries of a whitelist.d/blacklist.d file as rules (one per port group, or one for all ports). */
export function listFileRules(entry: ListFile, verdict: 'accept' | 'drop'): Rule[] {
  const base = {origin: entry.origin, peers: [entry.network], verdict}
  if (entry.ports === undefined || entry.ports.length === 0) return [base]
  return entry.ports.map(({port, proto}) => ({...base, dport: port, proto}))
}

const CONN_STATES: readonly ConnState[] = ['established', 'invalid', 'new', 'related']

/**
 * Parses `22`, `1024:65535` (or `1024-65535`) and lists `21,49152:65535` into ranges.
 * @throws RulesetError at `origin` for anything else.
 */
export function parsePorts(text: string, origin: Origin): PortRanges {
  const out: Array<readonly [number, number]> = []
  for (const part of text.split(',')) {
    const m = part.trim().match(/^(\d{1,5})(?:[:-](\d{1,5}))?$/)
    const from = m ? Number(m[1]) : Number.NaN
    const to = m?.[2] === undefined ? from : Number(m[2])
    if (!m || from > 65_535 || to > 65_535 || to < from) {
      throw ruleError(origin, `bad port ${JSON.stringify(text)}`, 'Give a port (22), a range (5000:5010) or a list (21,5000:5010).')
    }
    out.push([from, to])
  }
  return out
}

/** iptables spelling of a port range (`22`, `1024:65535`). */
export function formatPortRange([from, to]: readonly [number, number], separator = ':'): string {
  return from === to ? String(from) : `${from}${separator}${to}`
}

const LIMIT_UNITS: Record<string, RateLimit['unit']> = {
  d: 'day', day: 'day', h: 'hour', hour: 'hour', m: 'minute', min: 'minute', minute: 'minute', s: 'second',
  sec: 'second', second: 'second',
}

/**
 * Parses a rate limit such as `10/second` (also `10/s`, `3/min`, `1/hour`, `5/day`).
 * @throws RulesetError at `origin` for anything else.
 */
export function parseLimit(text: string, origin: Origin): RateLimit {
  const m = text.trim().match(/^(\d{1,9})\/([a-z]+)$/)
  const unit = m ? LIMIT_UNITS[m[2]] : undefined
  if (!m || unit === undefined || Number(m[1]) === 0) {
    throw ruleError(origin, `bad rate limit ${JSON.stringify(text)}`, 'Write it as COUNT/UNIT, e.g. 10/second, 3/minute, 1/hour.')
  }
  return {count: Number(m[1]), unit}
}

/** The limit with its burst, when one other than the default is given. @throws RulesetError for a bad burst. */
function withBurst(limit: RateLimit, burst: number | undefined, origin: Origin): RateLimit {
  if (burst === undefined || burst === DEFAULT_LIMIT_BURST) return limit
  if (!Number.isInteger(burst) || burst < 1 || burst > LIMIT_BURST_MAX) {
    throw ruleError(origin, `bad burst ${JSON.stringify(burst)}: it must be an integer from 1 to ${LIMIT_BURST_MAX}`)
  }
  return {...limit, burst}
}

/** ICMP (IPv4) names iptables knows (`iptables -p icmp -h`), lower-cased. */
const ICMP_NAMES: Record<string, IcmpMatch> = {
  'echo-reply': {type: 0}, pong: {type: 0},
  'destination-unreachable': {type: 3},
  'network-unreachable': {code: 0, type: 3}, 'host-unreachable': {code: 1, type: 3},
  'protocol-unreachable': {code: 2, type: 3}, 'port-unreachable': {code: 3, type: 3},
  'fragmentation-needed': {code: 4, type: 3}, 'source-route-failed': {code: 5, type: 3},
  'network-unknown': {code: 6, type: 3}, 'host-unknown': {code: 7, type: 3},
  'network-prohibited': {code: 9, type: 3}, 'host-prohibited': {code: 10, type: 3},
  'tos-network-unreachable': {code: 11, type: 3}, 'tos-host-unreachable': {code: 12, type: 3},
  'communication-prohibited': {code: 13, type: 3}, 'host-precedence-violation': {code: 14, type: 3},
  'precedence-cutoff': {code: 15, type: 3},
  'source-quench': {type: 4},
  redirect: {type: 5}, 'network-redirect': {code: 0, type: 5}, 'host-redirect': {code: 1, type: 5},
  'tos-network-redirect': {code: 2, type: 5}, 'tos-host-redirect': {code: 3, type: 5},
  'echo-request': {type: 8}, ping: {type: 8},
  'router-advertisement': {type: 9}, 'router-solicitation': {type: 10},
  'time-exceeded': {type: 11}, 'ttl-exceeded': {type: 11},
  'ttl-zero-during-transit': {code: 0, type: 11}, 'ttl-zero-during-reassembly': {code: 1, type: 11},
  'parameter-problem': {type: 12}, 'ip-header-bad': {code: 0, type: 12}, 'required-option-missing': {code: 1, type: 12},
  'timestamp-request': {type: 13}, 'timestamp-reply': {type: 14},
  'info-request': {type: 15}, 'info-reply': {type: 16},
  'address-mask-request': {type: 17}, 'address-mask-reply': {type: 18},
}

/** ICMPv6 names ip6tables knows (`ip6tables -p icmpv6 -h`), plus nftables' spellings, lower-cased. */
const ICMPV6_NAMES: Record<string, IcmpMatch> = {
  'destination-unreachable': {type: 1}, 'no-route': {code: 0, type: 1},
  'communication-prohibited': {code: 1, type: 1}, 'beyond-scope': {code: 2, type: 1},
  'address-unreachable': {code: 3, type: 1}, 'port-unreachable': {code: 4, type: 1},
  'failed-policy': {code: 5, type: 1}, 'reject-route': {code: 6, type: 1},
  'packet-too-big': {type: 2},
  'time-exceeded': {type: 3}, 'ttl-exceeded': {type: 3},
  'ttl-zero-during-transit': {code: 0, type: 3}, 'ttl-zero-during-reassembly': {code: 1, type: 3},
  'parameter-problem': {type: 4}, 'bad-header': {code: 0, type: 4},
  'unknown-header-type': {code: 1, type: 4}, 'unknown-option': {code: 2, type: 4},
  'echo-request': {type: 128}, ping: {type: 128}, 'echo-reply': {type: 129}, pong: {type: 129},
  'mld-listener-query': {type: 130}, 'mld-listener-report': {type: 131},
  'mld-listener-done': {type: 132}, 'mld-listener-reduction': {type: 132},
  'router-solicitation': {type: 133}, 'nd-router-solicit': {type: 133},
  'router-advertisement': {type: 134}, 'nd-router-advert': {type: 134},
  'neighbor-solicitation': {type: 135}, 'neighbour-solicitation': {type: 135}, 'nd-neighbor-solicit': {type: 135},
  'neighbor-advertisement': {type: 136}, 'neighbour-advertisement': {type: 136}, 'nd-neighbor-advert': {type: 136},
  redirect: {type: 137}, 'nd-redirect': {type: 137},
  'router-renumbering': {type: 138}, 'ind-neighbor-solicit': {type: 141}, 'ind-neighbor-advert': {type: 142},
  'mld2-listener-report': {type: 143},
}

/**
 * Resolves an ICMP (family 4) or ICMPv6 (family 6) type: a name as iptables spells it (`echo-request`,
 * `port-unreachable` = type 3 code 3), a number (`8`) or `TYPE/CODE` (`3/3`).
 * @throws RulesetError at `origin` for an unknown name or a number out of range.
 */
export function parseIcmpType(text: string, family: Family, origin: Origin): IcmpMatch {
  const key = text.trim().toLowerCase()
  const names = family === 4 ? ICMP_NAMES : ICMPV6_NAMES
  if (Object.hasOwn(names, key)) return {...names[key]}
  const m = key.match(/^(\d{1,3})(?:\/(\d{1,3}))?$/)
  if (m && Number(m[1]) <= 255 && (m[2] === undefined || Number(m[2]) <= 255)) {
    return m[2] === undefined ? {type: Number(m[1])} : {code: Number(m[2]), type: Number(m[1])}
  }
  throw ruleError(origin, `unknown ${family === 4 ? 'ICMP' : 'ICMPv6'} type ${JSON.stringify(text)}`,
    `Use a name such as echo-request or ${family === 4 ? 'time-exceeded' : 'packet-too-big'}, or a type number.`)
}

/**
 * Refuses a log prefix that `program` cannot carry, by the one rule of checkLogPrefix (config).
 * @throws InvalidValueError naming the prefix.
 */
export function assertLogPrefix(prefix: string, program: 'iptables' | 'nft'): void {
  const problem = checkLogPrefix(prefix, program)
  if (problem) throw new InvalidValueError(`log prefix for ${program}: ${problem.reason}`, problem.hint)
}

/**
 * Checks the NFLOG group, if one is given: an integer from 1 to {@link NFLOG_GROUP_MAX}.
 * @throws InvalidValueError naming the group.
 */
export function checkNflogGroup(group: number | undefined): void {
  if (group === undefined) return
  if (!Number.isInteger(group) || group < 1 || group > NFLOG_GROUP_MAX) {
    throw new InvalidValueError(`NFLOG group ${JSON.stringify(group)} is not usable: it must be an integer from 1 to ${NFLOG_GROUP_MAX}`,
      'Set [detect] nflog_group in the config to a group no other program uses, e.g. 5.')
  }
}

/** A comment line for a script: control characters removed, so it stays one line. */
export function commentLine(text: string): string {
  return `# ${text.replace(/[\x00-\x1f\x7f]/g, '?')}`
}

/** A RulesetError (E_RULESET, exit 3, like the reader's) at a rule's origin. */
export function ruleError(origin: Origin, reason: string, hint?: string): RulesetError {
  return new RulesetError({file: origin.file, line: origin.line}, reason, hint ?? 'Fix the rule file or the template it uses.')
}

/** What {@link walkRuleset} calls, in chain order. */
export interface RulesetVisitor {
  /** A comment line of the script (the file a group of rules comes from). */
  comment(text: string): void
  /** The fixed start of `diswall-in`: loopback, allow set, whitelist.d, block set, blacklist.d. */
  incomingHead(): void
  /** The fixed start of `diswall-out`: loopback. */
  outgoingHead(): void
  rule(chain: string, rule: Rule, direction: RuleDirection): void
}

/**
 * Walks the model in the order both renderers write it: `diswall-in` (its head, then incoming.d file by
 * file), `diswall-out` (its head, then outgoing.d), then whitelist.d and blacklist.d into their chains
 * (a comment only, when disabled).
 */
export function walkRuleset(model: RulesetModel, visit: RulesetVisitor): void {
  const C = RULESET_CHAINS
  visit.incomingHead()
  for (const file of model.incoming) {
    visit.comment(file.origin.file)
    for (const rule of file.rules) visit.rule(C.in, rule, 'incoming')
  }
  visit.outgoingHead()
  for (const file of model.outgoing) {
    visit.comment(file.origin.file)
    for (const rule of file.rules) visit.rule(C.out, rule, 'outgoing')
  }
  for (const [chain, list, verdict] of [[C.whitelist, model.whitelist, 'accept'], [C.blacklist, model.blacklist, 'drop']] as const) {
    if (list.disabled) {
      visit.comment(`${chain}: disabled`)
      continue
    }
    for (const entry of list.entries) for (const rule of listFileRules(entry, verdict)) visit.rule(chain, rule, 'list')
  }
}

