/** The enforcer: the one place that decides and applies bans and allow entries, and what it knows of its host. */
export {conntrackAddresses, CONNTRACK_READ_MAX_FLOWS, findConnected, PROC_CONNTRACK, PROC_CONNTRACK_COUNT, readTablesWith, tcpPeers} from './connected.js'
export type {ConnectedReport, ReadOptional} from './connected.js'
export {Enforcer, isRemoteSource, KILL_DELAY_MS, MAX_REASON_KINDS, OWN_EXPIRIES_MAX, RECENT_BANS, REMOTE_KILL_DELAY_MS} from './enforcer.js'
export type {
  AllowOrder,
  AllowOutcome,
  BanOrder,
  BanOutcome,
  EnforcerConfig,
  EnforcerLogLevel,
  EnforcerOptions,
  EnforcerStats,
  ProtectedHostFacts,
  RecentBanRecord,
  ReplaceHooks,
} from './enforcer.js'
export {HostFacts, parseAddressEvent, parseProcNetEndpoint, parseProcNetListening, parseProcNetSshPeers, PROC_NET_TABLES} from './host-facts.js'
export type {AddressEvent, HostFactsOptions, ReadText} from './host-facts.js'
