import type {Family, Network} from '../../net/index.js'

/**
 * The firewall directory as a model: what `incoming.d/`, `outgoing.d/`, `whitelist.d/`, `blacklist.d/`,
 * `local.d/`, `rule.d/` and the `disabled` flags say, with names resolved (templates, services,
 * hostnames). Pure data; the renderers turn it into one restore script per family or one nft file.
 */

/** Where a model element came from, for `file:line` messages and comments in the output. */
export interface Origin {
  file: string
  line?: number
}

export type Protocol = 'icmp' | 'icmpv6' | 'tcp' | 'udp'
export type Verdict = 'accept' | 'drop' | 'log' | 'reject'
export type ConnState = 'established' | 'invalid' | 'new' | 'related'

/**
 * One abstract rule: every field is a match (absent = any), `verdict` is what happens. Both renderers
 * (iptables and nftables) understand every field.
 */
export interface Rule {
  /** Only this family (e.g. icmp is IPv4 only); absent = both. */
  family?: Family
  proto?: Protocol
  /** Destination port or range, e.g. "22" or "49152:65535", or a list "21,49152:65535". */
  dport?: string
  sport?: string
  /** Peer networks (source on incoming, destination on outgoing); absent or empty = everyone. */
  peers?: Network[]
  state?: ConnState[]
  /** ICMP or ICMPv6 type name ("echo-request", "packet-too-big", …). */
  icmpType?: string
  /** Socket owner (OUTPUT only), for reject-www-data. */
  uidOwner?: string
  /** Host-wide rate limit ("10/second" style), e.g. for `log`; the LOG prefix comes from the config. */
  limit?: string
  /** Burst of `limit`, in packets (1–10,000); absent = 5, the kernel's default. */
  limitBurst?: number
  /**
   * Rate limit per peer address ("2/second" style): each source (incoming, list chains) or destination
   * (outgoing) gets its own bucket, an IPv6 address per /64. The `log` template uses it so that a scan
   * from many addresses logs each of them.
   */
  sourceLimit?: string
  /** Burst of `sourceLimit`, in packets (1–10,000); absent = 5. */
  sourceLimitBurst?: number
  verdict: Verdict
  /** With verdict reject on TCP: answer with a TCP reset. */
  tcpReset?: boolean
  /** Human text for a comment in the rendered output. */
  comment?: string
  origin: Origin
}

/** One file of incoming.d/ or outgoing.d/ after resolution. */
export interface RuleFile {
  /** File name, e.g. "10-ssh". */
  name: string
  /** Template or service name after the "NN-" prefix, e.g. "ssh". */
  templateName: string
  rules: Rule[]
  origin: Origin
}

/** One file of whitelist.d/ or blacklist.d/. */
export interface ListFile {
  name: string
  network: Network
  /** Ports this entry covers; undefined = all ports. */
  ports?: Array<{port: string; proto: 'tcp' | 'udp'}>
  /** `.auto` files are written by diswall and expire. */
  auto: boolean
  origin: Origin
}

/** An executable of local.d/, run after a successful apply. */
export interface LocalScript {
  name: string
  path: string
}

export interface RulesetModel {
  dir: string
  /** `disabled` exists: apply does nothing (the running rules stay); flush still works. */
  disabled: boolean
  incoming: RuleFile[]
  outgoing: RuleFile[]
  whitelist: {disabled: boolean; entries: ListFile[]}
  blacklist: {disabled: boolean; entries: ListFile[]}
  local: LocalScript[]
}
