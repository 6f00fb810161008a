/**
 * The embedded store: one SQLite file (`[server] db`) in WAL mode, opened through better-sqlite3
 * (synchronous, one connection). Writes go into an open transaction that is committed every
 * {@link COMMIT_INTERVAL_MS} or after {@link COMMIT_MAX_ROWS} rows, whichever comes first: one
 * fsync per batch instead of one per report lets ingestion keep up with a fleet under attack, and a
 * crash (kill -9, power loss with synchronous = FULL) loses at most the writes of the open batch.
 * Reads run on the same connection, so they see queued writes.
 */
import Database from 'better-sqlite3'
import type {Database as SqliteDatabase, Statement} from 'better-sqlite3'
import {mkdirSync, statSync} from 'node:fs'
import {dirname} from 'node:path'

import {StoreError} from '../../errors.js'
import type {ActiveEntry, BanStore, BlockEntryState, BlockState, HostStats, ListCount, StoredEntry, StoredOffender, StoreInfo, StoreList} from './types.js'

/** Longest time a write waits for its commit, milliseconds: the window a crash can lose. */
export const COMMIT_INTERVAL_MS = 50
/** Rows after which a batch is committed at once. */
export const COMMIT_MAX_ROWS = 10_000
/** Expired entries removed by one sweep at most, so that a sweep never blocks ingestion for long. */
export const SWEEP_MAX_ROWS = 20_000
/** Rows read per page when a list is streamed. */
const PAGE_SIZE = 5000

const LIST_CODE = {allow: 1, block: 0} as const satisfies Record<StoreList, number>
const LIST_OF_CODE: readonly StoreList[] = ['block', 'allow']

/**
 * Schema versions, in order: migration N brings a database at version N-1 to version N
 * (`PRAGMA user_version`). Never edit a released migration; add the next one.
 */
const MIGRATIONS: readonly string[] = [
  // 1: lists, escalation memory, hourly host statistics.
  `CREATE TABLE entries (
     account TEXT NOT NULL,
     list INTEGER NOT NULL,
     target TEXT NOT NULL,
     reporter TEXT NOT NULL,
     note TEXT NOT NULL DEFAULT '',
     first_seen INTEGER NOT NULL,
     last_seen INTEGER NOT NULL,
     expires_at INTEGER,
     bans INTEGER NOT NULL DEFAULT 1,
     PRIMARY KEY (account, list, target)
   ) WITHOUT ROWID;
   CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL;
   CREATE INDEX entries_target ON entries (target, list);
   CREATE TABLE offenders (
     account TEXT NOT NULL,
     target TEXT NOT NULL,
     bans INTEGER NOT NULL,
     banned_until INTEGER NOT NULL,
     forget_at INTEGER NOT NULL,
     PRIMARY KEY (account, target)
   ) WITHOUT ROWID;
   CREATE INDEX offenders_forget ON offenders (forget_at);
   CREATE TABLE host_stats (
     account TEXT NOT NULL,
     host TEXT NOT NULL,
     hour INTEGER NOT NULL,
     banned INTEGER NOT NULL,
     packets_dropped INTEGER NOT NULL,
     bytes_dropped INTEGER NOT NULL,
     packets_accepted INTEGER NOT NULL,
     bytes_accepted INTEGER NOT NULL,
     PRIMARY KEY (account, host, hour)
   ) WITHOUT ROWID;`,
]

/** The schema version this build writes. */
export const SCHEMA_VERSION = MIGRATIONS.length

interface EntryRow {
  account: string
  list: number
  target: string
  reporter: string
  note: string
  first_seen: number
  last_seen: number
  expires_at: number | null
  bans: number
}

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** Commit interval, milliseconds; {@link COMMIT_INTERVAL_MS} by default. */
  commitIntervalMs?: number
  /** Rows per batch at most; {@link COMMIT_MAX_ROWS} by default. */
  commitMaxRows?: number
}

/**
 * Opens (creating it and its directory when missing) the SQLite store at `path` (":memory:" for
 * tests), migrates it to {@link SCHEMA_VERSION} in one transaction, and returns it. Throws
 * StoreError when the file cannot be opened, is not a diswall database, or is newer than this build.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): BanStore {
  let db: SqliteDatabase
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), {mode: 0o750, recursive: true})
    db = new Database(path)
    db.pragma('journal_mode = WAL')
    // FULL: a committed batch survives kill -9 and a power loss; one fsync per batch (every 50 ms at most) costs little.
    db.pragma('synchronous = FULL')
    db.pragma('busy_timeout = 5000')
    // 64 MiB of page cache (the default is 2 MiB): the indexes of a million-entry list stay in memory.
    db.pragma('cache_size = -65536')
    // Checkpoint every ~40 MiB of log instead of 4 MiB: a page written by many batches is copied into
    // the database once (ingestion costs ~10% less CPU); a commit is as durable as before.
    db.pragma('wal_autocheckpoint = 10000')
  } catch (error) {
    throw new StoreError(`cannot open the server database ${path}: ${(error as Error).message}`,
      'Check [server] db: its directory must be writable by the server (root).', {cause: error})
  }
  try {
    migrate(db, path)
    return new SqliteStore(db, path, options)
  } catch (error) {
    db.close()
    throw error
  }
}

function migrate(db: SqliteDatabase, path: string): void {
  const version = db.pragma('user_version', {simple: true}) as number
  if (version > SCHEMA_VERSION) {
    throw new StoreError(`the server database ${path} has schema version ${version}; this diswall knows up to ${SCHEMA_VERSION}`,
      'Run the diswall version that wrote it, or restore a backup.')
  }
  if (version === 0) {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{name: string}>
    if (tables.length > 0) {
      throw new StoreError(`${path} is an SQLite database with other tables (${tables.slice(0, 3).map((t) => t.name).join(', ')}), not a diswall store`,
        'Point [server] db at a new file; the original DisWall\'s diswall.db is not read.')
    }
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!)
      db.pragma(`user_version = ${v + 1}`)
    })()
  }
}

class SqliteStore implements BanStore {
  private readonly statements: {
    get: Statement
    put: Statement
    del: Statement
    forgetOffender: Statement
    getOffender: Statement
    putOffender: Statement
    accounts: Statement
    blockState: Statement
    page: Statement
    pageExcluding: Statement
    counts: Statement
    sweepEntries: Statement
    sweepOffenders: Statement
    putStats: Statement
    statsSince: Statement
  }
  private inBatch = false
  private batchRows = 0
  private timer: NodeJS.Timeout | undefined
  private commits = 0
  private swept = 0
  private closed = false
  private readonly intervalMs: number
  private readonly maxRows: number

  constructor(private readonly db: SqliteDatabase, private readonly path: string, options: SqliteStoreOptions) {
    this.intervalMs = options.commitIntervalMs ?? COMMIT_INTERVAL_MS
    this.maxRows = options.commitMaxRows ?? COMMIT_MAX_ROWS
    const columns = 'account, list, target, reporter, note, first_seen, last_seen, expires_at, bans'
    this.statements = {
      accounts: db.prepare(`SELECT account FROM entries WHERE target = ? AND list = ${LIST_CODE.block} AND account <> '' AND expires_at > ?`).pluck(),
      // One statement for the reads of a block report (the entries of the address in every account
      // through entries_target, and the reporter's offender row): a third of the statements per report.
      blockState: db.prepare(`SELECT account, expires_at, bans, first_seen, note, 0 FROM entries WHERE target = ? AND list = ${LIST_CODE.block}
        UNION ALL SELECT account, banned_until, bans, 0, '', 1 FROM offenders WHERE account = ? AND target = ?`).raw(),
      counts: db.prepare('SELECT account, list, COUNT(*) AS entries FROM entries GROUP BY account, list ORDER BY account, list'),
      del: db.prepare('DELETE FROM entries WHERE account = ? AND list = ? AND target = ?'),
      get: db.prepare(`SELECT ${columns} FROM entries WHERE account = ? AND list = ? AND target = ?`),
      getOffender: db.prepare('SELECT bans, banned_until FROM offenders WHERE account = ? AND target = ?'),
      // Raw rows of three columns: a list of a million entries is read ~4× faster than as objects of nine.
      page: db.prepare(`SELECT target, expires_at, note FROM entries WHERE account = ? AND list = ? AND target > ?
        AND (expires_at IS NULL OR expires_at > ?) ORDER BY target LIMIT ?`).raw(),
      pageExcluding: db.prepare(`SELECT e.target, e.expires_at, e.note FROM entries AS e WHERE e.account = ? AND e.list = ? AND e.target > ?
        AND (e.expires_at IS NULL OR e.expires_at > ?)
        AND NOT EXISTS (SELECT 1 FROM entries AS o WHERE o.account = ? AND o.list = e.list AND o.target = e.target
          AND (o.expires_at IS NULL OR o.expires_at > ?))
        ORDER BY e.target LIMIT ?`).raw(),
      put: db.prepare(`INSERT OR REPLACE INTO entries (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      forgetOffender: db.prepare('DELETE FROM offenders WHERE account = ? AND target = ?'),
      putOffender: db.prepare('INSERT OR REPLACE INTO offenders (account, target, bans, banned_until, forget_at) VALUES (?, ?, ?, ?, ?)'),
      putStats: db.prepare(`INSERT OR REPLACE INTO host_stats (account, host, hour, banned, packets_dropped, bytes_dropped,
        packets_accepted, bytes_accepted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      statsSince: db.prepare(`SELECT account, host, hour, banned, packets_dropped, bytes_dropped, packets_accepted, bytes_accepted
        FROM host_stats WHERE hour >= ? ORDER BY hour DESC, account, host`),
      sweepEntries: db.prepare(`DELETE FROM entries WHERE (account, list, target) IN
        (SELECT account, list, target FROM entries WHERE expires_at IS NOT NULL AND expires_at <= ? LIMIT ?)
        RETURNING account, list, target, bans, expires_at`),
      sweepOffenders: db.prepare('DELETE FROM offenders WHERE forget_at <= ?'),
    }
  }

  get(account: string, list: StoreList, target: string): StoredEntry | undefined {
    const row = this.run(() => this.statements.get.get(account, LIST_CODE[list], target)) as EntryRow | undefined
    return row && toEntry(row)
  }

  put(e: StoredEntry): void {
    this.write(() => this.statements.put.run(e.account, LIST_CODE[e.list], e.target, e.reporter, e.note, e.firstSeen, e.lastSeen,
      e.expiresAt, e.bans))
  }

  delete(account: string, list: StoreList, target: string): boolean {
    return this.write(() => this.statements.del.run(account, LIST_CODE[list], target).changes > 0)
  }

  getOffender(account: string, target: string): StoredOffender | undefined {
    const row = this.run(() => this.statements.getOffender.get(account, target)) as {bans: number; banned_until: number} | undefined
    return row && {bannedUntil: row.banned_until, bans: row.bans}
  }

  forgetOffender(account: string, target: string): void {
    this.write(() => this.statements.forgetOffender.run(account, target))
  }

  accountsBlocking(target: string, nowSec: number): string[] {
    return this.run(() => this.statements.accounts.all(target, nowSec)) as string[]
  }

  blockState(account: string, target: string): BlockState {
    type Row = [account: string, expiresAt: number | null, bans: number, firstSeen: number, note: string, offender: number]
    const rows = this.run(() => this.statements.blockState.all(target, account, target)) as Row[]
    const entries: BlockEntryState[] = []
    let offender: StoredOffender | undefined
    for (const [rowAccount, expiresAt, bans, firstSeen, note, isOffender] of rows) {
      if (isOffender === 1) offender = {bannedUntil: expiresAt!, bans}
      else entries.push({account: rowAccount, bans, expiresAt, firstSeen, note})
    }
    return offender === undefined ? {entries} : {entries, offender}
  }

  * activeEntries(account: string, list: StoreList, nowSec: number,
    {excludeAccount, pageSize = PAGE_SIZE}: {pageSize?: number; excludeAccount?: string} = {}): Generator<ActiveEntry> {
    // Keyset pages: each page is one finished statement, so the connection is free between pages
    // (reports go on being stored while a large list is sent) and memory holds one page.
    let after = ''
    for (;;) {
      type Row = [target: string, expiresAt: number | null, note: string]
      const rows = this.run(() => excludeAccount === undefined
        ? this.statements.page.all(account, LIST_CODE[list], after, nowSec, pageSize)
        : this.statements.pageExcluding.all(account, LIST_CODE[list], after, nowSec, excludeAccount, nowSec, pageSize)) as Row[]
      for (const [target, expiresAt, note] of rows) yield {expiresAt, note, target}
      if (rows.length < pageSize) return
      after = rows.at(-1)![0]
    }
  }

  counts(): ListCount[] {
    const rows = this.run(() => this.statements.counts.all()) as Array<{account: string; list: number; entries: number}>
    return rows.map((r) => ({account: r.account, entries: r.entries, list: LIST_OF_CODE[r.list]!}))
  }

  sweep(nowSec: number, {forgetAfterSec, maxRows = SWEEP_MAX_ROWS}: {forgetAfterSec: number; maxRows?: number}): ListCount[] {
    type Row = {account: string; list: number; target: string; bans: number; expires_at: number}
    const rows = this.write(() => this.statements.sweepEntries.all(nowSec, maxRows)) as Row[]
    const removed = new Map<string, ListCount>()
    for (const {account, bans, expires_at: until, list, target} of rows) {
      // Only a ban that can still count is remembered (a ban deleted by hand was forgotten already).
      if (list === LIST_CODE.block && until + forgetAfterSec > nowSec) {
        this.write(() => this.statements.putOffender.run(account, target, bans, until, until + forgetAfterSec))
      }
      const key = `${list}\u0000${account}`
      const count = removed.get(key)
      if (count) count.entries++
      else removed.set(key, {account, entries: 1, list: LIST_OF_CODE[list]!})
    }
    const offenders = this.write(() => this.statements.sweepOffenders.run(nowSec).changes)
    this.swept += rows.length + offenders
    return [...removed.values()]
  }

  putStats(s: HostStats): void {
    this.write(() => this.statements.putStats.run(s.account, s.host, s.hour, s.banned, s.packetsDropped, s.bytesDropped,
      s.packetsAccepted, s.bytesAccepted))
  }

  statsSince(sinceSec: number): HostStats[] {
    const rows = this.run(() => this.statements.statsSince.all(sinceSec)) as Array<Record<string, number | string>>
    return rows.map((r) => ({
      account: String(r.account), banned: Number(r.banned), bytesAccepted: Number(r.bytes_accepted), bytesDropped: Number(r.bytes_dropped),
      host: String(r.host), hour: Number(r.hour), packetsAccepted: Number(r.packets_accepted), packetsDropped: Number(r.packets_dropped),
    }))
  }

  flush(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.inBatch) return
    this.run(() => this.db.exec('COMMIT'))
    this.inBatch = false
    this.batchRows = 0
    this.commits++
  }

  info(): StoreInfo {
    const size = (file: string): number => {
      try {
        return statSync(file).size
      } catch {
        return 0
      }
    }
    return {
      bytes: this.path === ':memory:' ? 0 : size(this.path) + size(`${this.path}-wal`),
      commits: this.commits,
      kind: 'sqlite',
      path: this.path,
      pending: this.batchRows,
      schemaVersion: SCHEMA_VERSION,
      swept: this.swept,
    }
  }

  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.db.close()
  }

  /** Runs a write inside the open batch, opening one (and its commit timer) when none is open. */
  private write<T>(fn: () => T): T {
    if (this.closed) throw new StoreError(`the server database ${this.path} is closed`)
    if (!this.inBatch) {
      this.run(() => this.db.exec('BEGIN'))
      this.inBatch = true
      this.timer = setTimeout(() => this.flushFromTimer(), this.intervalMs)
    }
    const result = this.run(fn)
    if (++this.batchRows >= this.maxRows) this.flush()
    return result
  }

  private flushFromTimer(): void {
    this.timer = undefined
    try {
      this.flush()
    } catch {
      // The next write or flush() reports it: a timer has nobody to throw to.
    }
  }

  private run<T>(fn: () => T): T {
    try {
      return fn()
    } catch (error) {
      if (error instanceof StoreError) throw error
      throw new StoreError(`server database ${this.path}: ${(error as Error).message}`,
        'Check the disk (space, permissions) and the file; the server log has the details.', {cause: error})
    }
  }
}

function toEntry(row: EntryRow): StoredEntry {
  return {
    account: row.account,
    bans: row.bans,
    expiresAt: row.expires_at,
    firstSeen: row.first_seen,
    lastSeen: row.last_seen,
    list: LIST_OF_CODE[row.list]!,
    note: row.note,
    reporter: row.reporter,
    target: row.target,
  }
}
