/** The enforcer: the one place that decides and applies bans and allow entries, and what it knows of its host. */
export {Enforcer, MAX_REASON_KINDS, RECENT_BANS} from './enforcer.js'
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
} from './enforcer.js'
export {HostFacts, parseAddressEvent, parseProcNetEndpoint, parseProcNetListening, parseProcNetSshPeers, PROC_NET_TABLES} from './host-facts.js'
export type {AddressEvent, HostFactsOptions, ReadText} from './host-facts.js'
