/**
 * The server's store, behind one interface: the lists of every account (block and allow entries,
 * unique per account, list and address), what escalation remembers of earlier bans, and the hourly
 * statistics of hosts. SQLite (sqlite.ts) is the embedded default; a NATS JetStream store for
 * several server instances can implement the same interface (every method may then be slower, so
 * the server treats reads as the only synchronous part and writes as queued).
 */

/** The two lists, as the store names them. */
export type StoreList = 'allow' | 'block'

/** The account name under which the global list (broadcast to every account) is kept. */
export const GLOBAL_ACCOUNT = ''

/** One entry of a list. Times are seconds since the epoch. */
export interface StoredEntry {
  account: string
  list: StoreList
  /** Canonical address or network text (src/lib/net). */
  target: string
  /** The host that reported it last (`H` of the subject). */
  reporter: string
  /** Why it was banned (block) or the comment (allow); "" for none. */
  note: string
  firstSeen: number
  lastSeen: number
  /** When it ends; null = never (allow entries unless asked). */
  expiresAt: number | null
  /** How many bans this entry has seen within the escalation window (1 for allow entries). */
  bans: number
}

/** What an init reply needs of an entry. */
export interface ActiveEntry {
  target: string
  expiresAt: number | null
  note: string
}

/** What escalation remembers of an address (per account), kept after the entry expired. */
/** One account's block entry of an address, as {@link BanStore.blockState} reads it. */
export interface BlockEntryState {
  account: string
  expiresAt: number | null
  bans: number
  firstSeen: number
  note: string
}

/** See {@link BanStore.blockState}. */
export interface BlockState {
  entries: BlockEntryState[]
  offender?: StoredOffender
}

export interface StoredOffender {
  bans: number
  bannedUntil: number
}

/** Hourly statistics of one host, as the original's stats payload gives them (cumulative counters). */
export interface HostStats {
  account: string
  host: string
  /** Start of the hour, seconds since the epoch. */
  hour: number
  banned: number
  packetsDropped: number
  bytesDropped: number
  packetsAccepted: number
  bytesAccepted: number
}

/** Entries per account and list. */
export interface ListCount {
  account: string
  list: StoreList
  entries: number
}

/** What the store says about itself for `server status`. */
export interface StoreInfo {
  /** `sqlite`, … */
  kind: string
  /** The database file. */
  path: string
  /** Bytes on disk (database plus write-ahead log). */
  bytes: number
  schemaVersion: number
  /** Writes queued, not committed yet. */
  pending: number
  /** Committed batches since start. */
  commits: number
  /** Rows removed by sweeps since start. */
  swept: number
}

/**
 * The store. Reads see every write made before them (committed or queued); writes are queued and
 * committed in batches (flush() commits now), so a crash loses at most the writes of the last batch
 * window. Methods throw StoreError.
 */
export interface BanStore {
  /** The entry, expired or not, or undefined. */
  get(account: string, list: StoreList, target: string): StoredEntry | undefined
  /** Inserts or replaces the entry (queued). */
  put(entry: StoredEntry): void
  /** Deletes the entry; true when there was one (queued). */
  delete(account: string, list: StoreList, target: string): boolean
  /** Escalation memory of an address in an account. */
  getOffender(account: string, target: string): StoredOffender | undefined
  /** Forgets the escalation memory of an address (a deleted ban). */
  forgetOffender(account: string, target: string): void
  /** Accounts (not the global one) with an unexpired block entry for `target`. */
  accountsBlocking(target: string, nowSec: number): string[]
  /**
   * What a block report of `target` by `account` needs, in one read: the block entries of every
   * account for it (the global one included; expired or not) and the escalation memory of `account`.
   */
  blockState(account: string, target: string): BlockState
  /**
   * Entries of the account's list that have not expired, page by page in address order (never the whole
   * list at once); `excludeAccount` leaves out targets that account holds itself.
   */
  activeEntries(account: string, list: StoreList, nowSec: number, options?: {pageSize?: number; excludeAccount?: string}): Iterable<ActiveEntry>
  /** Entries per account and list (rows stored, expired ones until the next sweep). */
  counts(): ListCount[]
  /**
   * Removes expired entries (at most `maxRows`) and forgotten offenders; returns the entries removed per
   * account and list. A removed block entry leaves its ban count in the escalation memory until
   * `forgetAfterSec` after it ended: a running ban keeps its history in its own row, so a report writes
   * one row, not two.
   */
  sweep(nowSec: number, options: {forgetAfterSec: number; maxRows?: number}): ListCount[]
  /** Stores a host's statistics for its hour (the last report of the hour wins). */
  putStats(stats: HostStats): void
  /** Statistics since `sinceSec`, newest hour first. */
  statsSince(sinceSec: number): HostStats[]
  /** Commits the queued writes now. */
  flush(): void
  info(): StoreInfo
  /** Commits and closes; safe to call twice. */
  close(): void
}
