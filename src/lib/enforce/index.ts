/** The enforcer: the one place that decides and applies bans and allow entries, and what it knows of its host. */
export {Enforcer, RECENT_BANS} from './enforcer.js'
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
export {HostFacts, parseAddressEvent, parseListeningPorts, parseSsEndpoint, parseSshPeers} from './host-facts.js'
export type {AddressEvent, HostFactsOptions} from './host-facts.js'
