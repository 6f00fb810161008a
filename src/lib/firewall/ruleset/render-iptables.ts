/**
 * The model as an `iptables-restore --noflush` / `ip6tables-restore --noflush` script (table filter only).
 * Everything here is pure; the checks and normalisation both renderers share are in normalise.ts.
 *
 * Rules are written in the exact form `iptables-save` (1.8.9, nf_tables) prints them, so a rendered chain
 * compares line by line with the kernel's (see diffRuleset in apply.ts).
 */
import type {Family} from '../../net/index.js'
import {RULESET_CHAINS} from '../sets/index.js'
import type {ConnState, Rule, RulesetModel} from './model.js'
import {
  assertLogPrefix,
  checkNflogGroup,
  commentLine,
  DEFAULT_LIMIT_BURST,
  formatPortRange,
  MULTIPORT_MAX,
  PEER_SET_THRESHOLD,
  peerSet,
  ruleError,
  ruleForFamily,
  RULESET_CHAIN_NAMES,
  SOURCE_LIMIT_TABLE,
  walkRuleset,
} from './normalise.js'
import type {NormalRule, PeerSet, RateLimit, RenderedChain, RenderOptions, RuleDirection} from './normalise.js'

/**
 * Quotes a word the way iptables-save prints it (xtables_save_string): bare when it is only letters,
 * digits, `_` and `-`; otherwise in double quotes with `"`, `\` and `'` escaped by a backslash, which
 * iptables-restore reads back.
 */
export function quoteIptables(value: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(value)) return value
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`
}

/** iptables-save spelling of a limit unit. */
const IPTABLES_LIMIT_UNITS: Record<RateLimit['unit'], string> = {day: 'day', hour: 'hour', minute: 'min', second: 'sec'}

/**
 * Fastest rate the iptables `limit` match takes, per second: iptables 1.8.9 (libxt_limit) stores the
 * interval between packets in 1/10,000 s and refuses a rate whose interval rounds to 0 ("Rate too fast").
 */
export const IPTABLES_LIMIT_MAX_PER_SEC = 10_000

/** Seconds in each limit unit. */
const LIMIT_UNIT_SEC: Record<RateLimit['unit'], number> = {day: 86_400, hour: 3600, minute: 60, second: 1}

/** @throws RulesetError at the rule's origin when iptables would refuse the rate (nft takes it). */
function checkIptablesLimit(rule: NormalRule, limit: RateLimit): void {
  const max = IPTABLES_LIMIT_MAX_PER_SEC * LIMIT_UNIT_SEC[limit.unit]
  if (limit.count <= max) return
  throw ruleError(rule.origin, `rate limit ${limit.count}/${limit.unit} is faster than iptables can limit (at most ${max}/${limit.unit})`,
    `Use at most ${IPTABLES_LIMIT_MAX_PER_SEC}/second with the ipset backend, or the nftables backend ([firewall] backend = "nftables").`)
}

/** iptables-save order of connection states. */
const IPTABLES_STATE_ORDER: readonly ConnState[] = ['invalid', 'new', 'related', 'established']

/**
 * The ruleset chains for one family, each with its rule specifications in iptables-save form.
 * @throws RulesetError for a rule no firewall can express; InvalidValueError for a bad log prefix.
 */
export function renderIptablesChains(model: RulesetModel, family: Family, opts: RenderOptions): RenderedChain[] {
  return buildIptables(model, family, opts).chains
}

/**
 * The `iptables-restore --noflush` (family 4) or `ip6tables-restore --noflush` (family 6) script of the
 * model: table filter only; it declares the four ruleset chains (which, in --noflush mode, flushes them, so
 * applying twice is idempotent) and fills them:
 * - `diswall-in`: loopback → allow set → `diswall-whitelist` → block set → `diswall-blacklist` → incoming.d;
 * - `diswall-out`: loopback → outgoing.d;
 * - `diswall-whitelist` / `diswall-blacklist`: whitelist.d ACCEPT / blacklist.d DROP (empty when disabled).
 * Rules of the other family are left out. The jumps from INPUT and OUTPUT are not in the script (they
 * would be added twice); applyRuleset adds them when they are missing. Pure.
 * @throws RulesetError for a rule no firewall can express; InvalidValueError for a bad log prefix.
 */
export function renderIptables(model: RulesetModel, family: Family, opts: RenderOptions): string {
  return buildIptables(model, family, opts).script
}

/**
 * The chains, the restore script and the peer sets (ipset `hash:net`, see PEER_SET_THRESHOLD) the
 * script's rules match, for one family. The sets must exist before the script is loaded.
 * @throws RulesetError for a rule no firewall can express; InvalidValueError for a bad log prefix.
 */
export function renderIptablesRuleset(model: RulesetModel, family: Family, opts: RenderOptions): {chains: RenderedChain[]; script: string; sets: PeerSet[]} {
  return buildIptables(model, family, opts)
}

function buildIptables(model: RulesetModel, family: Family, opts: RenderOptions): {chains: RenderedChain[]; script: string; sets: PeerSet[]} {
  assertLogPrefix(opts.logPrefix, 'iptables')
  checkNflogGroup(opts.nflogGroup)
  const v = family === 4 ? 'v4' : 'v6'
  const C = RULESET_CHAINS
  const chains = new Map<string, string[]>(RULESET_CHAIN_NAMES.map((name) => [name, []]))
  const body: string[] = []
  const sets = new Map<string, PeerSet>()
  const add = (chain: string, spec: string): void => {
    chains.get(chain)!.push(spec)
    body.push(`-A ${chain} ${spec}`)
  }
  const addRule = (chain: string, rule: Rule, direction: RuleDirection): void => {
    const normal = ruleForFamily(rule, family, direction)
    if (normal === undefined) return
    if (rule.comment !== undefined) body.push(commentLine(rule.comment))
    for (const spec of iptablesSpecs(normal, family, direction, opts, sets)) add(chain, spec)
  }

  walkRuleset(model, {
    comment: (text) => body.push(commentLine(text)),
    incomingHead() {
      add(C.in, '-i lo -j ACCEPT')
      add(C.in, `-m set --match-set ${opts.names.allow[v]} src -j ACCEPT`)
      add(C.in, `-j ${C.whitelist}`)
      add(C.in, `-m set --match-set ${opts.names.block[v]} src -j DROP`)
      add(C.in, `-j ${C.blacklist}`)
    },
    outgoingHead: () => add(C.out, '-o lo -j ACCEPT'),
    rule: addRule,
  })

  const script = [
    commentLine(`diswall ruleset for IPv${family} from ${model.dir}; load with ${family === 4 ? 'iptables' : 'ip6tables'}-restore --noflush`),
    '*filter',
    ...RULESET_CHAIN_NAMES.map((name) => `:${name} - [0:0]`),
    ...body,
    'COMMIT',
    '',
  ].join('\n')
  return {chains: RULESET_CHAIN_NAMES.map((name) => ({name, rules: chains.get(name)!})), script, sets: [...sets.values()]}
}

/**
 * The iptables-save form of a rule: one specification per peer, one with a set match when there are more
 * than PEER_SET_THRESHOLD peers (the set is added to `sets`), or one for everyone.
 */
function iptablesSpecs(rule: NormalRule, family: Family, direction: RuleDirection, log: LogTarget, sets: Map<string, PeerSet>): string[] {
  const parts: string[] = []
  if (rule.proto !== undefined) parts.push(`-p ${rule.proto === 'icmpv6' ? 'ipv6-icmp' : rule.proto}`)
  const lookup = rule.peers.length > PEER_SET_THRESHOLD ? peerSet(rule.peers, family) : undefined
  if (lookup !== undefined) {
    sets.set(lookup.name, lookup)
    // iptables-save prints `-p` first, then the matches in the order they were given.
    parts.push(`-m set --match-set ${lookup.name} ${direction === 'outgoing' ? 'dst' : 'src'}`)
  }
  if (rule.proto === 'tcp' || rule.proto === 'udp') {
    checkMultiport(rule)
    parts.push(...portMatches(rule))
  }
  if (rule.icmp !== undefined) {
    const value = rule.icmp.code === undefined ? `${rule.icmp.type}` : `${rule.icmp.type}/${rule.icmp.code}`
    parts.push(rule.proto === 'icmp' ? `-m icmp --icmp-type ${value}` : `-m icmp6 --icmpv6-type ${value}`)
  }
  if (rule.state !== undefined) {
    const states = IPTABLES_STATE_ORDER.filter((s) => rule.state!.includes(s)).map((s) => s.toUpperCase())
    parts.push(`-m conntrack --ctstate ${states.join(',')}`)
  }
  if (rule.uidOwner !== undefined) parts.push(`-m owner --uid-owner ${rule.uidOwner}`)
  if (rule.sourceLimit !== undefined) {
    checkIptablesLimit(rule, rule.sourceLimit)
    parts.push(hashlimitMatch(rule.sourceLimit, family, direction))
  }
  if (rule.limit !== undefined) {
    checkIptablesLimit(rule, rule.limit)
    const {burst, count, unit} = rule.limit
    parts.push(`-m limit --limit ${count}/${IPTABLES_LIMIT_UNITS[unit]}${burst === undefined ? '' : ` --limit-burst ${burst}`}`)
  }
  parts.push(iptablesTarget(rule, family, log))
  const rest = parts.join(' ')
  if (rule.peers.length === 0 || lookup !== undefined) return [rest]
  const flag = direction === 'outgoing' ? '-d' : '-s'
  // iptables-save prints addresses with their prefix length (198.51.100.7/32).
  return rule.peers.map((peer) => `${flag} ${peer.text} ${rest}`)
}

/**
 * The hashlimit table of a per-peer limit: one per direction of the peer (source or destination), shared
 * by the rules of that direction (the kernel keys a table by name and family). All of diswall's rules
 * create it with the same options, so whichever rule comes first, the table is the same.
 */
export function hashlimitName(direction: RuleDirection): string {
  return direction === 'outgoing' ? 'diswall-log-dst' : 'diswall-log-src'
}

/**
 * `-m hashlimit …` of a per-peer limit, in iptables-save order (1.8.9): the peer is the source address
 * (the destination on outgoing rules), an IPv6 peer counted per /64 (see SOURCE_LIMIT_TABLE).
 */
function hashlimitMatch({burst, count, unit}: RateLimit, family: Family, direction: RuleDirection): string {
  const T = SOURCE_LIMIT_TABLE
  const peer = direction === 'outgoing' ? 'dst' : 'src'
  return [
    `-m hashlimit --hashlimit-upto ${count}/${IPTABLES_LIMIT_UNITS[unit]} --hashlimit-burst ${burst ?? DEFAULT_LIMIT_BURST}`,
    `--hashlimit-mode ${peer}ip --hashlimit-name ${hashlimitName(direction)}`,
    `--hashlimit-htable-size ${T.buckets} --hashlimit-htable-max ${T.maxEntries} --hashlimit-htable-expire ${T.expireMs}`,
    ...(family === 6 ? [`--hashlimit-${peer}mask ${T.ipv6Prefix}`] : []),
  ].join(' ')
}

/** `-m tcp --sport S --dport D` for single ports and ranges, `-m multiport --dports …` for lists. */
function portMatches(rule: NormalRule): string[] {
  const proto = rule.proto!
  const single: string[] = []
  const multi: string[] = []
  for (const [which, ranges] of [['sport', rule.sport], ['dport', rule.dport]] as const) {
    if (ranges === undefined) continue
    if (ranges.length === 1) {
      single.push(`--${which} ${formatPortRange(ranges[0])}`)
      continue
    }
    multi.push(`-m multiport --${which}s ${ranges.map((r) => formatPortRange(r)).join(',')}`)
  }
  return [...(single.length > 0 ? [`-m ${proto} ${single.join(' ')}`] : []), ...multi]
}

/** Where the `log` verdict sends packets: the kernel log, or an NFLOG group. */
type LogTarget = Pick<RenderOptions, 'logPrefix' | 'nflogGroup'>

function iptablesTarget(rule: NormalRule, family: Family, {logPrefix, nflogGroup}: LogTarget): string {
  switch (rule.verdict) {
    case 'accept': {
      return '-j ACCEPT'
    }
    case 'drop': {
      return '-j DROP'
    }
    case 'log': {
      // iptables-save 1.8.9 order. Threshold 1: the kernel sends each packet at once instead of batching
      // them for up to a second (the default flush timeout).
      if (nflogGroup !== undefined) {
        return `-j NFLOG --nflog-prefix ${quoteIptables(logPrefix)} --nflog-group ${nflogGroup} --nflog-threshold 1`
      }
      return `-j LOG --log-prefix ${quoteIptables(logPrefix)}`
    }
    case 'reject': {
      // iptables-save spells out the default answer, so the rendered rule does too.
      if (rule.tcpReset) return '-j REJECT --reject-with tcp-reset'
      return `-j REJECT --reject-with ${family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable'}`
    }
  }
}

/** Checks the port lists of a rule against xt_multiport's limit (nftables has none). */
function checkMultiport(rule: NormalRule): void {
  for (const ranges of [rule.sport, rule.dport]) {
    if (ranges === undefined || ranges.length < 2) continue
    const weight = ranges.reduce((n, [from, to]) => n + (from === to ? 1 : 2), 0)
    if (weight > MULTIPORT_MAX) {
      throw ruleError(rule.origin, `a port list has more than ${MULTIPORT_MAX} ports (a range counts as two)`,
        'Split it over several rule files.')
    }
  }
}
