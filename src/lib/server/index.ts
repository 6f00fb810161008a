/**
 * The central server: store (SQLite; the interface admits a JetStream store later), escalation,
 * trust (honeypots, distinct accounts, rate limits), init replies, statistics, and the nats-server
 * permissions generator.
 */
export {LIST_LIMITS, parseStatsPayload, ServerCore} from './core.js'
export type {AddOutcome, CoreCounters, CorePolicy, RefusalReason} from './core.js'
export {escalate, stepFor} from './escalation.js'
export type {EscalationDecision, EscalationPolicy, OffenderHistory} from './escalation.js'
export {accountPermissions, buildNatsConfig, generatePassword, parsePasswordLines} from './nats-config.js'
export type {NatsConfig, NatsConfigOptions, NatsConfigUser} from './nats-config.js'
export {Inbox, INBOX_SLICE, PENDING_LIMITS} from './inbox.js'
export type {InboxCounters, InboxOptions, PendingLimits} from './inbox.js'
export {runServerService, serverModeLocation} from './run.js'
export {corePolicy, DiswallServer, neverBanContext, pendingStatus} from './server.js'
export type {ServerOptions} from './server.js'
export {queryServer, SERVER_SERVICE, serverMetricFamilies} from './status.js'
export type {ServerStatus} from './status.js'
export {COMMIT_INTERVAL_MS, COMMIT_MAX_ROWS, GLOBAL_ACCOUNT, openSqliteStore, SCHEMA_VERSION, SWEEP_MAX_ROWS} from './store/index.js'
export type {ActiveEntry, BanStore, BlockEntryState, BlockState, HostStats, ListCount, SqliteStoreOptions, StoredEntry, StoredOffender, StoreInfo, StoreList} from './store/index.js'
export {AccountRateLimiter, globalBanReason} from './trust.js'
export type {GlobalPolicy} from './trust.js'
