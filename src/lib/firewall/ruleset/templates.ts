/**
 * The built-in rule templates, as code producing model {@link Rule}s: what `incoming.d/NN-NAME` and
 * `outgoing.d/NN-NAME` mean when NAME is one of {@link BUILTIN_TEMPLATE_NAMES}, or a service or port (the
 * default template `accept` with that port).
 */
import type {Family, Network} from '../../net/index.js'
import type {ConnState, Origin, Rule} from './model.js'
import {parsePortOrRange, RulesetError} from './resolve.js'
import type {PortProto} from './resolve.js'

/** Which file set a rule comes from: `incoming.d/` (INPUT, peers are sources) or `outgoing.d/` (OUTPUT, destinations). */
export type Direction = 'incoming' | 'outgoing'

/** The port of a file: one port (`"22"`) or a range (`"49152:65535"`), and the protocols to open it for. */
export interface PortSpec {
  port: string
  protos: readonly PortProto[]
}

/** What a template is instantiated with. */
export interface TemplateInput {
  direction: Direction
  /** The port the file gives (service, number or range); only the port templates take one. */
  port?: PortSpec
  /** The file's addresses; empty or absent = everyone. */
  peers?: readonly Network[]
  /** ICMP (or ICMPv6) type for the `icmp` and `icmpv6` templates; absent = every type. */
  icmpType?: string
  /** Where the rules come from (the `incoming.d`/`outgoing.d` file). */
  origin: Origin
}

/** The template used for a file named after a service or a port: accept. */
export const DEFAULT_TEMPLATE = 'accept'

/**
 * Rate limit of the `log` template per peer address (an IPv6 address per /64), with its burst: a scan
 * from thousands of addresses logs every one of them, while one address cannot flood the log. The LOG
 * prefix is the renderer's (from the config).
 */
export const LOG_SOURCE_LIMIT = '2/second'
export const LOG_SOURCE_BURST = 5

/**
 * Host-wide safety cap of the `log` template, with its burst: far above what the per-address limit lets
 * a scan through (the fastest iptables takes, 10,000 packets/s), so that only a flood from tens of
 * thousands of addresses at once is cut.
 */
export const LOG_HOST_LIMIT = '10000/second'
export const LOG_HOST_BURST = 10_000

/** The passive-mode data ports the `ftp` template opens besides 21 (configure the FTP server to match). */
export const FTP_PASSIVE_PORTS = '49152:65535'

/** The ICMP types of `ping`, for IPv4 (icmp) and IPv6 (icmpv6) alike. */
export const PING_TYPES = ['echo-request', 'echo-reply', 'time-exceeded'] as const

/** The ICMPv6 types IPv6 cannot work without (RFC 4890), accepted by `essential-icmpv6`. */
export const ESSENTIAL_ICMPV6_TYPES = [
  'destination-unreachable', 'packet-too-big', 'parameter-problem', 'router-solicitation', 'router-advertisement',
  'neighbor-solicitation', 'neighbor-advertisement',
] as const

/**
 * ICMP type names the model uses (iptables spelling; all of them exist in nftables too). User templates may
 * also give a type number (0–255).
 */
export const ICMP_TYPES = [
  'echo-reply', 'destination-unreachable', 'source-quench', 'redirect', 'echo-request', 'router-advertisement',
  'router-solicitation', 'time-exceeded', 'parameter-problem', 'timestamp-request', 'timestamp-reply',
  'address-mask-request', 'address-mask-reply',
] as const

/**
 * ICMPv6 type names the model uses (ip6tables spelling). nftables spells the neighbour-discovery ones
 * differently (`nd-router-solicit`, `nd-router-advert`, `nd-neighbor-solicit`, `nd-neighbor-advert`,
 * `nd-redirect` for `redirect`): the nft renderer maps them.
 */
export const ICMPV6_TYPES = [
  'destination-unreachable', 'packet-too-big', 'time-exceeded', 'parameter-problem', 'echo-request', 'echo-reply',
  'router-solicitation', 'router-advertisement', 'neighbor-solicitation', 'neighbor-advertisement', 'redirect',
] as const

/** The user whose outgoing connections `reject-www-data` restricts (Debian's web server user). */
export const WWW_DATA_USER = 'www-data'

/** A rule before the file's peers and origin are added (see {@link withPeers}). */
export type TemplateRule = Omit<Rule, 'origin' | 'peers'>

interface TemplateDef {
  directions: readonly Direction[]
  /** Whether the template takes the port of the file (its "port variant"). */
  takesPort: boolean
  summary: string
  expand: (input: TemplateInput) => Rule[]
}

const BOTH: readonly Direction[] = ['incoming', 'outgoing']

/** A template of simple rules: each rule gets the peers; a port gives one rule per protocol. */
function simple(summary: string, base: TemplateRule, noPort: readonly TemplateRule[] = [base]): TemplateDef {
  return {
    directions: BOTH,
    expand: ({origin, peers, port}) =>
      withPeers(port === undefined ? noPort : port.protos.map((proto) => portRule(base, proto, port.port)), peers, origin),
    summary,
    takesPort: true,
  }
}

function portRule(base: TemplateRule, proto: PortProto, dport: string): TemplateRule {
  const rule: TemplateRule = {...base, dport, proto}
  if (base.verdict === 'reject') {
    if (proto === 'tcp') rule.tcpReset = true
    else delete rule.tcpReset
  }
  return rule
}

function stateTemplate(state: ConnState, verdict: 'accept' | 'drop', directions: readonly Direction[] = BOTH): TemplateDef {
  const summary = verdict === 'accept' ? `accept packets of ${state} connections` : `drop packets of ${state} connections`
  return {...simple(summary, {state: [state], verdict}), directions}
}

function icmpRules(family: Family, types: readonly string[]): TemplateRule[] {
  return types.map((icmpType) => ({family, icmpType, proto: family === 4 ? 'icmp' : 'icmpv6', verdict: 'accept'}))
}

/** Destination ports of DNS replies: the resolver's unprivileged source ports (as the reference template). */
const DNS_REPLY_PORTS = '1024:65535'

/** A template that accepts one TCP port, in both directions, for the file's peers. */
function fixedPort(summary: string, port: string): TemplateDef {
  return {
    directions: BOTH,
    expand: ({origin, peers}) => withPeers([{dport: port, proto: 'tcp', verdict: 'accept'}], peers, origin),
    summary,
    takesPort: false,
  }
}

const ACCEPT = simple('accept (the port, or everything)', {verdict: 'accept'})
const DROP = simple('drop silently (the port, or everything)', {verdict: 'drop'})

const TEMPLATES: Readonly<Record<string, TemplateDef>> = {
  accept: ACCEPT,
  allow: ACCEPT,
  blacklist: DROP,
  dns: {
    directions: BOTH,
    expand({direction, origin, peers}) {
      const protos = ['tcp', 'udp'] as const
      // Incoming: only replies to our own queries (conntrack ESTABLISHED); a source port of 53 alone proves
      // nothing, so it never opens a port by itself.
      const base: TemplateRule[] = direction === 'incoming'
        ? protos.map((proto) => ({dport: DNS_REPLY_PORTS, proto, sport: '53', state: ['established'], verdict: 'accept'}))
        : protos.map((proto) => ({dport: '53', proto, verdict: 'accept'}))
      return withPeers(base, peers, origin)
    },
    summary: `incoming: DNS replies (tcp/udp from port 53 to ${DNS_REPLY_PORTS}, established only); outgoing: DNS queries to port 53`,
    takesPort: false,
  },
  collector: fixedPort('accept the Bytemark monitoring collector (tcp 1919)', '1919'),
  drop: DROP,
  'essential-icmpv6': {
    directions: BOTH,
    expand: ({origin, peers}) => withPeers(icmpRules(6, ESSENTIAL_ICMPV6_TYPES), peers, origin),
    summary: `accept the ICMPv6 types IPv6 needs (${ESSENTIAL_ICMPV6_TYPES.join(', ')})`,
    takesPort: false,
  },
  established: stateTemplate('established', 'accept'),
  // The reference wrote IPv4 INPUT rules whatever the file and its addresses; here it is a plain port template.
  imager: fixedPort('accept the Bytemark imager (tcp 5000)', '5000'),
  ftp: {
    directions: BOTH,
    expand: ({origin, peers}) => withPeers([{dport: `21,${FTP_PASSIVE_PORTS}`, proto: 'tcp', verdict: 'accept'}], peers, origin),
    summary: `accept FTP: tcp 21 and the passive range ${FTP_PASSIVE_PORTS}`,
    takesPort: false,
  },
  icmp: {
    directions: BOTH,
    expand: ({icmpType, origin, peers}) => withPeers([withType({family: 4, proto: 'icmp', verdict: 'accept'}, icmpType)], peers, origin),
    summary: 'accept ICMP (IPv4 only), all types or one',
    takesPort: false,
  },
  icmpv6: {
    directions: BOTH,
    expand: ({icmpType, origin, peers}) => withPeers([withType({family: 6, proto: 'icmpv6', verdict: 'accept'}, icmpType)], peers, origin),
    summary: 'accept ICMPv6 (IPv6 only), all types or one',
    takesPort: false,
  },
  invalid: stateTemplate('invalid', 'drop'),
  log: simple(`log what reaches it (at most ${LOG_SOURCE_LIMIT} per address, burst ${LOG_SOURCE_BURST}; ${LOG_HOST_LIMIT} in all), for the detection`,
    {limit: LOG_HOST_LIMIT, limitBurst: LOG_HOST_BURST, sourceLimit: LOG_SOURCE_LIMIT, sourceLimitBurst: LOG_SOURCE_BURST, verdict: 'log'}),
  new: stateTemplate('new', 'accept'),
  ping: {
    directions: BOTH,
    expand: ({origin, peers}) => withPeers([...icmpRules(4, PING_TYPES), ...icmpRules(6, PING_TYPES)], peers, origin),
    summary: `accept ping (${PING_TYPES.join(', ')}) over IPv4 and IPv6`,
    takesPort: false,
  },
  reject: simple('reject: TCP with a reset, the rest with ICMP port-unreachable',
    {verdict: 'reject'}, [{proto: 'tcp', tcpReset: true, verdict: 'reject'}, {verdict: 'reject'}]),
  'reject-www-data': {
    directions: ['outgoing'],
    expand({origin, peers}) {
      const uidOwner = WWW_DATA_USER
      // The file's addresses are the destinations www-data may reach. With no address, nothing is added:
      // an empty file must not mean "www-data may reach everyone".
      const allowed = peers !== undefined && peers.length > 0 ? withPeers([{uidOwner, verdict: 'accept'}], peers, origin) : []
      // The DNS and reject rules carry no peers and no family, so both families are restricted whatever
      // the addresses are (Symbiosis left www-data's IPv6 open when the file held IPv4 addresses only).
      const rest: TemplateRule[] = [
        {dport: '53', proto: 'tcp', uidOwner, verdict: 'accept'},
        {dport: '53', proto: 'udp', uidOwner, verdict: 'accept'},
        {proto: 'tcp', tcpReset: true, uidOwner, verdict: 'reject'},
        {uidOwner, verdict: 'reject'},
      ]
      return [...allowed, ...withPeers(rest, [], origin)]
    },
    summary: `let user ${WWW_DATA_USER} resolve names and reach the file's addresses only; reject the rest`,
    takesPort: false,
  },
  related: stateTemplate('related', 'accept'),
  'syn-ack-flood-protection': stateTemplate('invalid', 'drop', ['incoming']),
  whitelist: ACCEPT,
}

function withType(rule: TemplateRule, icmpType: string | undefined): TemplateRule {
  return icmpType === undefined ? rule : {...rule, icmpType}
}

/** The names of the built-in templates, sorted. */
export const BUILTIN_TEMPLATE_NAMES: readonly string[] = Object.keys(TEMPLATES).sort()

/** True when `name` is a built-in template (for either direction). */
export function isBuiltinTemplate(name: string): boolean {
  return Object.hasOwn(TEMPLATES, name)
}

/** The directions a built-in template works in, or undefined if there is no such template. */
export function builtinTemplateDirections(name: string): readonly Direction[] | undefined {
  return isBuiltinTemplate(name) ? TEMPLATES[name].directions : undefined
}

/** True when the built-in template takes the port of its file (accept, drop, reject, the state ones, log). */
export function builtinTemplateTakesPort(name: string): boolean {
  return isBuiltinTemplate(name) && TEMPLATES[name].takesPort
}

/** One line describing a built-in template, for help and `firewall show`; undefined if there is none. */
export function describeBuiltinTemplate(name: string): string | undefined {
  return isBuiltinTemplate(name) ? TEMPLATES[name].summary : undefined
}

/**
 * Instantiates a built-in template into model rules (see the README table of templates):
 * - accept = allow = whitelist, drop = blacklist: one rule per protocol of the port, or one for everything;
 * - reject: TCP answered with a reset, the rest with the kernel's ICMP port-unreachable;
 * - established, related, new: accept that conntrack state; invalid and syn-ack-flood-protection (incoming
 *   only): drop state INVALID; with a port, one rule per protocol;
 * - log: verdict `log`, rate-limited per peer address ({@link LOG_SOURCE_LIMIT}) under a host-wide cap
 *   ({@link LOG_HOST_LIMIT});
 * - ping: echo-request, echo-reply, time-exceeded over ICMP (IPv4) and ICMPv6 (IPv6); icmp / icmpv6: one
 *   family, every type or `input.icmpType`; essential-icmpv6: {@link ESSENTIAL_ICMPV6_TYPES};
 * - dns: incoming = replies (tcp and udp from port 53 to 1024–65535, state established only), outgoing =
 *   queries to 53;
 * - collector, imager: tcp 1919, tcp 5000 (Bytemark services of the reference), both directions and families;
 * - ftp: tcp 21 and {@link FTP_PASSIVE_PORTS};
 * - reject-www-data (outgoing only): www-data may reach the file's addresses and DNS, the rest is rejected,
 *   in both families.
 *
 * Peers: an empty list means everyone. Otherwise each rule is emitted once per family present in the peers,
 * with `family` set and only that family's peers, and a rule for one family (ping's ICMP rules) only when
 * that family has peers: a rule with peers never relies on the renderer to filter them, and a file of IPv4
 * addresses never opens anything for IPv6.
 * @throws RulesetError (at `input.origin`) for an unknown template, a direction the template does not work
 * in, a port given to a template without a port variant, or a bad port.
 */
export function expandBuiltinTemplate(name: string, input: TemplateInput): Rule[] {
  const {direction, origin, port} = input
  if (!isBuiltinTemplate(name)) {
    throw new RulesetError(origin, `${JSON.stringify(name)} is not a built-in template`,
      `Use one of: ${BUILTIN_TEMPLATE_NAMES.join(', ')}.`)
  }
  const def = TEMPLATES[name]
  if (!def.directions.includes(direction)) {
    const other = def.directions[0]
    throw new RulesetError(origin, `template "${name}" works in ${other}.d only, not in ${direction}.d`,
      `Move the file to ${other}.d/, or use another template.`)
  }
  if (port !== undefined) {
    if (!def.takesPort) {
      throw new RulesetError(origin, `template "${name}" takes no port`,
        `Only ${BUILTIN_TEMPLATE_NAMES.filter((n) => TEMPLATES[n].takesPort).join(', ')} take a port.`)
    }
    checkPort(port, origin)
  }
  if (input.icmpType !== undefined && name !== 'icmp' && name !== 'icmpv6') {
    throw new RulesetError(origin, `template "${name}" takes no ICMP type`, 'Only icmp and icmpv6 take an ICMP type.')
  }
  return def.expand(input)
}

function checkPort(port: PortSpec, origin: Origin): void {
  try {
    if (parsePortOrRange(port.port) !== port.port) throw new Error(`write it as ${parsePortOrRange(port.port)}`)
  } catch (error) {
    throw new RulesetError(origin, `bad port ${JSON.stringify(port.port)}: ${error instanceof Error ? error.message : String(error)}`,
      'Give a port (22) or a range (5000:5010).')
  }
  if (port.protos.length === 0) {
    throw new RulesetError(origin, `no protocol for port ${port.port}`, 'Give tcp, udp or both.')
  }
}

/**
 * Adds the peers and the origin to rules. No peers: the rules as they are (everyone). Peers: each rule once
 * per family among the peers (IPv4 first), with `family` and that family's peers only; a rule already bound
 * to a family is kept only if that family has peers.
 */
export function withPeers(rules: readonly TemplateRule[], peers: readonly Network[] | undefined, origin: Origin): Rule[] {
  if (peers === undefined || peers.length === 0) return rules.map((rule) => ({...rule, origin}))
  const byFamily = ([4, 6] as const)
    .map((family) => ({family, nets: peers.filter((p) => p.family === family)}))
    .filter(({nets}) => nets.length > 0)
  const out: Rule[] = []
  for (const rule of rules) {
    for (const {family, nets} of byFamily) {
      if (rule.family !== undefined && rule.family !== family) continue
      out.push({...rule, family, origin, peers: [...nets]})
    }
  }
  return out
}
