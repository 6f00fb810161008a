/**
 * The model as one `nft -f` file for the table `inet <names.table>`: one file is one transaction, and it
 * touches only the ruleset chains (never the sets, never the guard chain, never another table). Pure.
 *
 * Rules are written the way `nft list chain` (nftables 1.0.6) prints them, so a rendered chain compares line
 * by line with the kernel's (see diffRuleset in apply.ts). Known exceptions, where nft prints a rule
 * differently from how it was written (so a diff shows it as changed every time): a user name in an owner
 * match (listed as the uid), and a TCP reset bound to one family without peers (nft 1.0.6 does not list
 * the `meta nfproto`).
 */
import type {Family, Network} from '../../net/index.js'
import {NFT_GUARD_CHAIN_SPEC, nftBlock6Rules} from '../sets/index.js'
import type {ConnState, Rule, RulesetModel} from './model.js'
import {
  assertLogPrefix,
  checkNflogGroup,
  commentLine,
  DEFAULT_LIMIT_BURST,
  formatPortRange,
  normaliseRule,
  PEER_SET_THRESHOLD,
  peerSet,
  RULESET_CHAIN_NAMES,
  RULESET_CHAINS,
  ruleFamily,
  SOURCE_LIMIT_TABLE,
  walkRuleset,
} from './normalise.js'
import type {NormalRule, PeerSet, RateLimit, RenderedChain, RenderOptions, RuleDirection} from './normalise.js'

/** nft spelling of ICMP types (by number); other numbers are written as numbers. */
const NFT_ICMP_TYPES: Record<number, string> = {
  0: 'echo-reply', 3: 'destination-unreachable', 4: 'source-quench', 5: 'redirect', 8: 'echo-request',
  9: 'router-advertisement', 10: 'router-solicitation', 11: 'time-exceeded', 12: 'parameter-problem',
  13: 'timestamp-request', 14: 'timestamp-reply', 15: 'info-request', 16: 'info-reply',
  17: 'address-mask-request', 18: 'address-mask-reply',
}

/** nft spelling of ICMPv6 types (by number). */
const NFT_ICMPV6_TYPES: Record<number, string> = {
  1: 'destination-unreachable', 2: 'packet-too-big', 3: 'time-exceeded', 4: 'parameter-problem',
  128: 'echo-request', 129: 'echo-reply', 130: 'mld-listener-query', 131: 'mld-listener-report',
  132: 'mld-listener-done', 133: 'nd-router-solicit', 134: 'nd-router-advert', 135: 'nd-neighbor-solicit',
  136: 'nd-neighbor-advert', 137: 'nd-redirect', 138: 'router-renumbering', 141: 'ind-neighbor-solicit',
  142: 'ind-neighbor-advert', 143: 'mld2-listener-report',
}

/** nft 1.0.6 prints these ICMP codes by name, whatever the type. */
const NFT_ICMP_CODES: Record<number, string> = {
  0: 'net-unreachable', 1: 'host-unreachable', 2: 'prot-unreachable', 3: 'port-unreachable', 4: 'frag-needed',
  9: 'net-prohibited', 10: 'host-prohibited', 13: 'admin-prohibited',
}

/** nft 1.0.6 prints these ICMPv6 codes by name, whatever the type. */
const NFT_ICMPV6_CODES: Record<number, string> = {
  0: 'no-route', 1: 'admin-prohibited', 3: 'addr-unreachable', 4: 'port-unreachable', 5: 'policy-fail',
  6: 'reject-route',
}

/** nft's order of connection states (by bit value). */
const NFT_STATE_ORDER: readonly ConnState[] = ['invalid', 'established', 'related', 'new']

/**
 * The ruleset chains with their rules as `nft list chain` prints them.
 * @throws ConfigError for a rule no firewall can express; InvalidValueError for a bad log prefix.
 */
export function renderNftChains(model: RulesetModel, opts: RenderOptions): RenderedChain[] {
  return buildNft(model, opts).chains
}

/**
 * The `nft -f` file of the model, one atomic transaction on the table `inet <names.table>`:
 * `add table`, the base chains `diswall-in` (hook input) and `diswall-out` (hook output), both priority
 * filter and policy accept (the guard chain `diswall-sets` runs before, at filter - 10), and the regular
 * chains `diswall-whitelist` and `diswall-blacklist`; then `flush chain` of each and the rules:
 * - `diswall-in`: loopback → allow sets → jump whitelist → block sets → jump blacklist → incoming.d;
 * - `diswall-out`: loopback → outgoing.d;
 * - `diswall-whitelist` / `diswall-blacklist`: whitelist.d accept / blacklist.d drop (empty when disabled).
 * The sets (`@diswall-wl` …) are referenced, never declared or flushed: NftBackend.init() creates them, and
 * the file fails without them. Rules for one family carry `ip`/`ip6` peers or `meta nfproto`. Pure.
 * @throws ConfigError for a rule no firewall can express; InvalidValueError for a bad log prefix.
 */
export function renderNft(model: RulesetModel, opts: RenderOptions): string {
  return buildNft(model, opts).script
}

/** The chains, the `nft -f` file and the peer sets it declares (see PEER_SET_THRESHOLD). Pure. */
export function renderNftRuleset(model: RulesetModel, opts: RenderOptions): {chains: RenderedChain[]; script: string; sets: PeerSet[]} {
  return buildNft(model, opts)
}

/** `inet <table>`, as nft commands name the table. */
export function nftTable(opts: Pick<RenderOptions, 'names'>): string {
  return `inet ${opts.names.table}`
}

/** The hook spec of the two base chains of the ruleset (as `nft list chain` prints it). */
export const NFT_BASE_CHAIN_SPECS: Readonly<Record<string, string>> = {
  [RULESET_CHAINS.in]: 'type filter hook input priority filter; policy accept;',
  [RULESET_CHAINS.out]: 'type filter hook output priority filter; policy accept;',
}

function buildNft(model: RulesetModel, opts: RenderOptions): {chains: RenderedChain[]; script: string; sets: PeerSet[]} {
  assertLogPrefix(opts.logPrefix, 'nft')
  checkNflogGroup(opts.nflogGroup)
  const t = nftTable(opts)
  const C = RULESET_CHAINS
  const {allow, block} = opts.names
  const chains = new Map<string, string[]>(RULESET_CHAIN_NAMES.map((name) => [name, []]))
  const body: string[] = []
  const add = (chain: string, rule: string): void => {
    chains.get(chain)!.push(rule)
    body.push(`add rule ${t} ${chain} ${rule}`)
  }
  // Each per-peer limit gets its own meter (nft refuses one meter in two rules), numbered in file order.
  let meters = 0
  const sets = new Map<string, PeerSet>()
  const log: LogTarget = {...opts, addSet: (set) => sets.set(set.name, set), nextMeter: () => `${NFT_METER_PREFIX}${++meters}`}
  const addRule = (chain: string, rule: Rule, direction: RuleDirection): void => {
    const rendered = nftRules(normaliseRule(rule, direction), direction, log)
    if (rendered.length === 0) return
    if (rule.comment !== undefined) body.push(commentLine(rule.comment))
    for (const text of rendered) add(chain, text)
  }

  walkRuleset(model, {
    comment: (text) => body.push(commentLine(text)),
    incomingHead() {
      add(C.in, 'iifname "lo" accept')
      add(C.in, `ip saddr @${allow.v4} counter accept`)
      add(C.in, `ip6 saddr @${allow.v6} counter accept`)
      add(C.in, `jump ${C.whitelist}`)
      add(C.in, `ip saddr @${block.v4} counter drop`)
      for (const rule of nftBlock6Rules(opts.names)) add(C.in, rule)
      add(C.in, `jump ${C.blacklist}`)
    },
    outgoingHead: () => add(C.out, 'oifname "lo" accept'),
    rule: addRule,
  })

  const script = [
    commentLine(`diswall ruleset from ${model.dir}; load with nft -f (one transaction)`),
    `add table ${t}`,
    ...RULESET_CHAIN_NAMES.map((name) => declareNftChain(t, name)),
    ...RULESET_CHAIN_NAMES.map((name) => `flush chain ${t} ${name}`),
    // The guard chain runs first and would drop a banned address before whitelist.d can let it in;
    // diswall-in does all it does, in order, so it stays empty while the ruleset is loaded.
    `add chain ${t} ${opts.names.guardChain} { ${NFT_GUARD_CHAIN_SPEC} }`,
    `flush chain ${t} ${opts.names.guardChain}`,
    ...[...sets.values()].flatMap((set) => declareNftPeerSet(t, set)),
    ...body,
    '',
  ].join('\n')
  return {chains: RULESET_CHAIN_NAMES.map((name) => ({name, rules: chains.get(name)!})), script, sets: [...sets.values()]}
}

/**
 * A peer set of the ruleset (see PEER_SET_THRESHOLD) in the same transaction as the rules: declared
 * (`flags interval`, and `auto-merge` so that overlapping networks of a file merge instead of failing),
 * emptied and filled, so that it holds exactly its networks whatever was there.
 */
export function declareNftPeerSet(table: string, set: PeerSet): string[] {
  const type = set.family === 4 ? 'ipv4_addr' : 'ipv6_addr'
  return [
    `add set ${table} ${set.name} { type ${type}; flags interval; auto-merge; }`,
    `flush set ${table} ${set.name}`,
    `add element ${table} ${set.name} { ${set.networks.join(', ')} }`,
  ]
}

/** `add chain` of a ruleset chain, with its hook for the base chains. */
export function declareNftChain(table: string, name: string): string {
  const spec = NFT_BASE_CHAIN_SPECS[name]
  return spec === undefined ? `add chain ${table} ${name}` : `add chain ${table} ${name} { ${spec} }`
}

/**
 * The nft rules of one model rule: one per peer (each peer's family from its address), or one for everyone.
 * One rule per peer, not an anonymous set: nft merges and reorders set elements when it lists them, and
 * the rendered rules must compare with the listing.
 */
function nftRules(rule: NormalRule, direction: RuleDirection, log: LogTarget): string[] {
  const only = ruleFamily(rule)
  if (rule.peers.length === 0) {
    // A meter's key is an address of one family: a per-peer limit for both families is two rules.
    if (rule.sourceLimit !== undefined && only === undefined) return ([4, 6] as const).map((f) => nftRule(rule, f, undefined, direction, log))
    return [nftRule(rule, only, undefined, direction, log)]
  }
  const peers = rule.peers.filter((peer) => only === undefined || peer.family === only)
  const field = direction === 'outgoing' ? 'daddr' : 'saddr'
  const large = (family: Family): boolean => peers.filter((p) => p.family === family).length > PEER_SET_THRESHOLD
  if (!large(4) && !large(6)) return nftPeerRules(rule, peers, direction, log)
  const out: string[] = []
  for (const family of [...new Set(peers.map((p) => p.family))]) {
    const ofFamily = peers.filter((p) => p.family === family)
    if (ofFamily.length <= PEER_SET_THRESHOLD) {
      out.push(...nftPeerRules(rule, ofFamily, direction, log))
      continue
    }
    const set = peerSet(ofFamily, family)
    log.addSet(set)
    out.push(nftRule(rule, family, `${family === 4 ? 'ip' : 'ip6'} ${field} @${set.name}`, direction, log))
  }
  return out
}

/** One rule per peer. */
function nftPeerRules(rule: NormalRule, peers: readonly Network[], direction: RuleDirection, log: LogTarget): string[] {
  return peers
    .map((peer) => {
      // A host is listed without its /32 or /128.
      const host = peer.prefix === (peer.family === 4 ? 32 : 128)
      const field = direction === 'outgoing' ? 'daddr' : 'saddr'
      const match = `${peer.family === 4 ? 'ip' : 'ip6'} ${field} ${host ? peer.address.text : peer.text}`
      return nftRule(rule, peer.family, match, direction, log)
    })
}

/**
 * Where the `log` verdict sends packets (the kernel log, or an NFLOG group), and the name of the next
 * meter of a per-peer limit.
 */
type LogTarget = Pick<RenderOptions, 'logPrefix' | 'nflogGroup'> & {nextMeter: () => string; addSet: (set: PeerSet) => void}

/** Meters of per-peer limits are named `diswall-log-1`, `diswall-log-2`, … in the ruleset's table. */
export const NFT_METER_PREFIX = 'diswall-log-'

function nftRule(rule: NormalRule, family: Family | undefined, peerMatch: string | undefined, direction: RuleDirection,
  log: LogTarget): string {
  const parts: string[] = []
  // A rule bound to one family needs a family match unless something else in it implies one: a peer
  // address, a meter keyed by an address, an icmp/icmpv6 protocol, or a reject answered with ICMP of that family.
  const implied = peerMatch !== undefined || rule.sourceLimit !== undefined || rule.proto === 'icmp' || rule.proto === 'icmpv6' ||
    (rule.verdict === 'reject' && !rule.tcpReset)
  if (family !== undefined && !implied) parts.push(`meta nfproto ${family === 4 ? 'ipv4' : 'ipv6'}`)
  if (peerMatch !== undefined) parts.push(peerMatch)
  parts.push(...protoMatches(rule))
  if (rule.state !== undefined) parts.push(`ct state ${NFT_STATE_ORDER.filter((s) => rule.state!.includes(s)).join(',')}`)
  // A uid is written bare (nft lists it so); a user name quoted, so that `-` or `.` in it cannot confuse
  // nft's parser. nft resolves the name when loading and lists the uid.
  if (rule.uidOwner !== undefined) parts.push(`meta skuid ${/^\d+$/.test(rule.uidOwner) ? rule.uidOwner : `"${rule.uidOwner}"`}`)
  if (rule.sourceLimit !== undefined) parts.push(nftMeter(rule.sourceLimit, family!, direction, log.nextMeter()))
  if (rule.limit !== undefined) parts.push(`limit rate ${formatNftLimit(rule.limit)}`)
  parts.push(nftVerdict(rule, family, log))
  return parts.join(' ')
}

function protoMatches(rule: NormalRule): string[] {
  const {proto} = rule
  if (proto === undefined) return []
  if (proto === 'tcp' || proto === 'udp') {
    const out: string[] = []
    if (rule.sport !== undefined) out.push(`${proto} sport ${nftPorts(rule.sport)}`)
    if (rule.dport !== undefined) out.push(`${proto} dport ${nftPorts(rule.dport)}`)
    // A port match implies the protocol; nft lists `meta l4proto` only without one.
    return out.length > 0 ? out : [`meta l4proto ${proto}`]
  }
  const [name, types, codes] = proto === 'icmp' ? ['icmp', NFT_ICMP_TYPES, NFT_ICMP_CODES] : ['icmpv6', NFT_ICMPV6_TYPES, NFT_ICMPV6_CODES]
  if (rule.icmp === undefined) return [`meta l4proto ${proto === 'icmp' ? 'icmp' : 'ipv6-icmp'}`]
  const out = [`${name} type ${types[rule.icmp.type] ?? rule.icmp.type}`]
  if (rule.icmp.code !== undefined) out.push(`${name} code ${codes[rule.icmp.code] ?? rule.icmp.code}`)
  return out
}

/** `22`, `1024-65535`, or an anonymous set `{ 21, 49152-65535 }` (sorted, as nft lists interval sets). */
function nftPorts(ranges: ReadonlyArray<readonly [number, number]>): string {
  if (ranges.length === 1) return formatPortRange(ranges[0], '-')
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || a[1] - b[1])
  return `{ ${sorted.map((r) => formatPortRange(r, '-')).join(', ')} }`
}

/** `10/second`, with ` burst N packets` when the burst is not the default (nft 1.0.6 lists it so). */
function formatNftLimit({burst, count, unit}: RateLimit): string {
  return burst === undefined || burst === DEFAULT_LIMIT_BURST ? `${count}/${unit}` : `${count}/${unit} burst ${burst} packets`
}

/**
 * The meter of a per-peer limit, as nft 1.0.6 lists it: keyed by the source address (the destination on
 * outgoing rules), an IPv6 address masked to its /64 (see SOURCE_LIMIT_TABLE).
 */
function nftMeter(limit: RateLimit, family: Family, direction: RuleDirection, name: string): string {
  const T = SOURCE_LIMIT_TABLE
  const field = direction === 'outgoing' ? 'daddr' : 'saddr'
  const key = family === 4 ? `ip ${field}` : `ip6 ${field} & ${ipv6Mask(T.ipv6Prefix)}`
  return `meter ${name} size ${T.maxEntries} { ${key} timeout ${T.expireMs / 1000}s limit rate ${formatNftLimit(limit)} }`
}

/** An IPv6 prefix length as a mask, the way nft prints it (`ffff:ffff:ffff:ffff::` for 64; multiples of 16). */
function ipv6Mask(prefix: number): string {
  return `${Array.from({length: prefix / 16}, () => 'ffff').join(':')}::`
}

function nftVerdict(rule: NormalRule, family: Family | undefined, {logPrefix, nflogGroup}: LogTarget): string {
  switch (rule.verdict) {
    case 'accept': {
      return 'accept'
    }
    case 'drop': {
      return 'drop'
    }
    case 'log': {
      // As nft 1.0.6 lists it; queue-threshold 1 sends each packet at once (see render-iptables.ts).
      if (nflogGroup !== undefined) return `log prefix "${logPrefix}" group ${nflogGroup} queue-threshold 1`
      return `log prefix "${logPrefix}"`
    }
    case 'reject': {
      if (rule.tcpReset) return 'reject with tcp reset'
      // In the inet family plain `reject` answers each family with its own ICMP port-unreachable; a rule
      // for one family names it (that is also how nft lists it).
      if (family === undefined) return 'reject'
      return family === 4 ? 'reject with icmp port-unreachable' : 'reject with icmpv6 port-unreachable'
    }
  }
}
