/** The server's store: the interface and its SQLite implementation (the only importer of better-sqlite3). */
export {COMMIT_INTERVAL_MS, COMMIT_MAX_ROWS, openSqliteStore, SCHEMA_VERSION, SWEEP_MAX_ROWS} from './sqlite.js'
export type {SqliteStoreOptions} from './sqlite.js'
export {GLOBAL_ACCOUNT} from './types.js'
export type {ActiveEntry, BanStore, BlockEntryState, BlockState, HostStats, ListCount, StoredEntry, StoredOffender, StoreInfo, StoreList} from './types.js'
