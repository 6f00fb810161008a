/**
 * Snapshots of the kernel sets in `[daemon] state_dir`, so that a restart or a reboot never leaves the
 * host unprotected: the daemon saves one periodically (`[daemon] snapshot_interval`) and, when it starts,
 * loads the last one into the kernel sets, then replays its journal (journal.ts), before it does anything
 * else. On SIGTERM it saves one only when its journal may lack a change (agent.ts stop()): reading 1M
 * elements back from nftables takes ~70 s. For the same reason a periodic snapshot is folded from the
 * last one and the journal when that holds every change (compactSnapshot(), journal.ts).
 *
 * Format, version 1: UTF-8 text, one record per line, every line ended by "\n".
 *
 * ```
 * # diswall snapshot v1 saved 2026-11-21T10:00:00Z
 * # LIST TARGET expires UNIX_SECONDS|never [comment "TEXT"]
 * block 203.0.113.7 expires 1763720000
 * block 2001:db8::7 expires never
 * allow 198.51.100.0/24 expires never comment "office VPN"
 * # end 3 entries
 * ```
 *
 * - Line 1 is the header. A file without it, or of another version, is rejected as a whole. Its time is
 *   when the listing started, with milliseconds unless they are zero (`…T10:00:00.250Z`).
 * - LIST is `block` (single addresses; IPv6 networks too: grouped offenders) or `allow` (addresses or
 *   networks); TARGET is in canonical form.
 * - `expires` is absolute (unix seconds), so the time the daemon was down (a reboot) counts; `never` is
 *   an entry without a timeout. A ban is never extended past the TTL it had when the file was saved, even
 *   when the clock is behind after a reboot.
 * - `comment` belongs to allow entries only. Its text passes isValidComment() (no quotes, backslashes or
 *   control characters; at most 128 bytes), so it needs no escaping: the closing quote ends the line.
 * - Other lines starting with `#`, and empty lines, are ignored. The last line, `# end N entries`,
 *   lets the loader notice a file that was cut short. `# journal N` (second line, when the daemon keeps a
 *   journal) says that the snapshot holds every change of the journal segments before N (journal.ts).
 *
 * The loader trusts nothing: every line is validated, and a bad one is skipped and reported as
 * `path:LINE: reason` (a line without its newline, the usual damage after a crash, is one of them).
 * Entries that can never be valid (the unspecified address as a ban, a /0) are refused by the parser;
 * an entry the kernel still refuses is skipped by the restore with its line, and the rest goes in.
 *
 * TTLs on restore: a timed entry gets its remaining time, at least 1 s; with less it counts as expired
 * and is dropped. So it never reaches a backend as `ttlSec: 0`, which the kernel backends, like
 * `block add --timeout 0`, store without a timeout: a ban about to end must not become permanent. An
 * entry saved as `never` comes back without a timeout: a ban with `ttlSec: 0` (not undefined, which
 * would give it the set's default of one day) and an allow entry without `ttlSec`.
 */
import {mkdir, open} from 'node:fs/promises'
import type {FileHandle} from 'node:fs/promises'
import {dirname, join} from 'node:path'

import {formatLocation} from '../errors.js'
import {isValidComment} from '../firewall/sets/index.js'
import type {FirewallBackend, ListedEntry, ListKind, SetEntry} from '../firewall/sets/index.js'
import {MAX_PREFIX, parseTarget} from '../net/index.js'
import type {Target} from '../net/index.js'
import {writeFileAtomic} from '../system/index.js'

/** Name of the snapshot file in `[daemon] state_dir`. */
export const SNAPSHOT_FILE = 'sets.snapshot'
/** The format version this code writes and reads. */
export const SNAPSHOT_VERSION = 1
/** Longest TTL a snapshot may hold, seconds (2^31 - 1, ~68 years); a larger one means a damaged file. */
export const MAX_SNAPSHOT_TTL_SEC = 2_147_483_647
/** Lines longer than this (bytes) are skipped unread: a damaged file must not fill the memory. */
const MAX_LINE_BYTES = 4096
/** Problems listed in full; the rest are counted in one closing line, so a ruined file logs little. */
const MAX_PROBLEMS = 100
const READ_CHUNK_BYTES = 1 << 20
/** Lines per chunk handed to writeFileAtomic(). */
const LINES_PER_CHUNK = 4096

const HEADER = /^# diswall snapshot v(\d+) saved (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z)$/
const ANY_HEADER = /^# diswall snapshot v(\d+)\b/
const TRAILER = /^# end (\d{1,9}) entries$/
const JOURNAL_MARK = /^# journal (\d{1,15})$/
/** The unspecified address of each family, in canonical form. */
const UNSPECIFIED = {4: '0.0.0.0', 6: '::'} as const
const FORMAT = 'expected "block|allow TARGET expires UNIX_SECONDS|never [comment "TEXT"]"'

/** The path of the snapshot in the state directory. */
export function snapshotPath(stateDir: string): string {
  return join(stateDir, SNAPSHOT_FILE)
}

/** What saveSnapshot() wrote. */
export interface SavedSnapshot {
  path: string
  /** Entries written (both lists). */
  entries: number
  block: number
  allow: number
  /**
   * When, as written in the header (ISO 8601, UTC, milliseconds unless whole): the time the listing
   * started, so every change committed before it is in the file.
   */
  savedAt: string
}

/** One entry read from a snapshot, with its remaining TTL. */
export interface SnapshotEntry {
  list: ListKind
  /**
   * `ttlSec` is the remaining time, at least 1 s. A permanent ban has `ttlSec: 0` (what
   * `block add --timeout 0` passes, and what the kernel backends store without a timeout); a
   * permanent allow entry has no `ttlSec`.
   */
  entry: SetEntry
}

/** What reading a snapshot found, besides the entries. */
export interface SnapshotReadReport {
  /** Lines that were not valid entries. */
  skipped: number
  /** Valid entries whose time ran out before now; dropped. */
  expired: number
  /** `path:LINE: reason` for every skipped line (the first 100), and `path: reason` for the file as a whole. */
  problems: string[]
  /** The header's save time (ISO 8601), when the header was read. */
  savedAt?: string
  /** From its `# journal N` line: the snapshot holds every change of the journal segments before N. */
  journalSeq?: number
}

/** What loadSnapshot() found. */
export interface LoadedSnapshot extends SnapshotReadReport {
  entries: SnapshotEntry[]
}

/** What restoreSnapshotFile() found and added. */
export interface SnapshotRestoreReport extends SnapshotReadReport {
  /** Entries handed to the backend (the sum of its commit reports). */
  added: number
  /** Live entries `admit` kept out (only when an `admit` filter was given). */
  refused?: number
}

/** Options of saveSnapshot(), loadSnapshot() and restoreSnapshotFile(). */
export interface SnapshotClock {
  /** The clock, milliseconds since the epoch (tests inject one). */
  now?: () => number
}

/** Options of saveSnapshot(). */
export interface SaveSnapshotOptions extends SnapshotClock {
  /** Written as `# journal N`: the journal segment opened before the sets were read (journal.ts). */
  journalSeq?: number
  /**
   * Aborting it stops the listing (the backend kills its program) and the save: the call rejects with
   * `signal.reason`, and the old snapshot stays as it was (the daemon's stop does not wait for a
   * periodic save: its journal holds what the save would have).
   */
  signal?: AbortSignal
}

/**
 * One entry as a snapshot or journal line, "\n" included: `expiresSec` is absolute (unix seconds),
 * undefined for `never`; the comment is written for allow entries only, when isValidComment() takes it.
 */
export function formatEntryLine(list: ListKind, target: Target, expiresSec: number | undefined, comment?: string): string {
  const note = list === 'allow' && comment && isValidComment(comment) ? ` comment "${comment}"` : ''
  return `${list} ${target.text} expires ${expiresSec === undefined ? 'never' : expiresSec}${note}\n`
}

/**
 * Reads both lists from the backend (every entry, with remaining TTL and comment: not for the hot path)
 * and writes them to `path` atomically, mode 0600; creates the parent directory (0700) when missing.
 * Entries whose TTL has run out are left out; an allow comment that could not be read back is dropped
 * (the entry is kept).
 * @throws FileWriteError when the file cannot be written (the old snapshot then stays as it was),
 *   whatever backend.forEachEntry() or backend.list() throws, and `signal.reason` once it is aborted.
 */
export async function saveSnapshot(path: string, backend: FirewallBackend,
  {journalSeq, now = Date.now, signal}: SaveSnapshotOptions = {}): Promise<SavedSnapshot> {
  // The clock is read first: listing a big set takes a while (seconds with ipset, ~70 s for 1M elements
  // with nft 1.0.6), and counting the remaining TTLs from its start ends entries early, never late.
  const nowMs = now()
  const nowSec = Math.floor(nowMs / 1000)
  const out = new SnapshotBuilder(nowMs, journalSeq)
  for (const list of ['block', 'allow'] as const) {
    const visit = ({comment, target, ttlSec}: ListedEntry): void => {
      if (ttlSec !== undefined && ttlSec <= 0) return // expiring right now
      out.add(list, target, ttlSec === undefined ? undefined : nowSec + Math.ceil(ttlSec), comment)
    }

    signal?.throwIfAborted()
    const options = signal === undefined ? {} : {signal}
    if (backend.forEachEntry) await backend.forEachEntry(list, visit, options)
    else for (const entry of await backend.list(list, options)) visit(entry)
  }

  signal?.throwIfAborted()
  return out.write(path)
}

/** The first lines of a snapshot saved at `savedAt` (ISO time), holding the journal before `journalSeq`. */
export function snapshotHeader(savedAt: string, journalSeq?: number): string {
  return `# diswall snapshot v${SNAPSHOT_VERSION} saved ${savedAt}\n${journalSeq === undefined ? '' : `# journal ${journalSeq}\n`}` +
    '# LIST TARGET expires UNIX_SECONDS|never [comment "TEXT"]\n'
}

/** The last line of a snapshot of `entries` entries: without it the file was cut short. */
export function snapshotEnd(entries: number): string {
  return `# end ${entries} entries\n`
}

/** A snapshot header's time: ISO, with milliseconds unless they are zero. */
export function snapshotTime(ms: number): string {
  return new Date(ms).toISOString().replace('.000Z', 'Z')
}

/**
 * The lines of a new snapshot, formatted as they come into chunks of LINES_PER_CHUNK (with 1M bans no
 * array of 1M entry objects is built), then written in one pass: saveSnapshot() from the kernel sets,
 * compactSnapshot() (journal.ts) from the last snapshot and the journal.
 */
export class SnapshotBuilder {
  readonly counts = {allow: 0, block: 0}
  /** The header's time (see SavedSnapshot.savedAt). */
  readonly savedAt: string
  private readonly chunks: string[]
  private chunk = ''
  private lines = 0

  /** `savedAtMs`: what the snapshot holds every change before; `journalSeq`: written as `# journal N`. */
  constructor(savedAtMs: number, journalSeq?: number) {
    // With milliseconds: the daemon compares it with the time of the last change made by a command (changes.ts).
    this.savedAt = snapshotTime(savedAtMs)
    this.chunks = [snapshotHeader(this.savedAt, journalSeq)]
  }

  /** One entry; `expiresSec` absolute, undefined for never (formatEntryLine()). */
  add(list: ListKind, target: Target, expiresSec: number | undefined, comment?: string): void {
    this.chunk += formatEntryLine(list, target, expiresSec, comment)
    this.counts[list]++
    if (++this.lines % LINES_PER_CHUNK === 0) {
      this.chunks.push(this.chunk)
      this.chunk = ''
    }
  }

  /**
   * Writes the file atomically, mode 0600, its parent directory created (0700) when missing.
   * @throws FileWriteError when it cannot be written (the old file then stays as it was).
   */
  async write(path: string): Promise<SavedSnapshot> {
    this.chunks.push(`${this.chunk}${snapshotEnd(this.lines)}`)
    this.chunk = ''
    await mkdir(dirname(path), {mode: 0o700, recursive: true})
    await writeFileAtomic(path, this.chunks, {mode: 0o600})
    const {allow, block} = this.counts
    return {allow, block, entries: allow + block, path, savedAt: this.savedAt}
  }
}

/**
 * Reads the snapshot at `path` with each entry's remaining TTL at `now`. Never throws: a missing file
 * is an empty result (the first start); a file that cannot be read, or whose header is missing or of
 * another version, is rejected as a whole with one problem; a bad line is skipped and reported as
 * `path:LINE: reason`. Entries that have expired are dropped and counted. Reads the file in chunks, but
 * returns every entry at once (~180 bytes of heap each); restoreSnapshotFile() streams instead.
 */
export async function loadSnapshot(path: string, {now = Date.now}: SnapshotClock = {}): Promise<LoadedSnapshot> {
  const entries: SnapshotEntry[] = []
  const report = await readSnapshot(path, now, (list, entry) => {
    entries.push({entry, list})
  })
  return {entries, ...report}
}

/**
 * Queues every loaded entry with backend.add() and commits once. A merge, not a replace: entries already
 * in the kernel stay (the kernel backends add with -exist semantics; a re-added entry takes the
 * snapshot's TTL and comment). Timed entries carry their remaining TTL (at least 1 s, so that none turns
 * into a permanent one); permanent ones stay permanent.
 * @throws whatever backend.commit() throws (CommandFailedError).
 */
export async function restoreSnapshot(backend: FirewallBackend, loaded: Pick<LoadedSnapshot, 'entries'>): Promise<{added: number}> {
  for (const {entry, list} of loaded.entries) backend.add(list, entry)
  if (backend.pending === 0) return {added: 0}
  const {added} = await backend.commit()
  return {added}
}

/** Options of restoreSnapshotFile(). */
export interface RestoreSnapshotFileOptions extends SnapshotClock {
  /** Commit once this many operations are queued; 100,000 by default (Infinity: one commit at the end). */
  commitEvery?: number
  /** Whether a live entry may go back into the kernel (the daemon's never-ban check); all by default. */
  admit?: (list: ListKind, entry: SetEntry) => boolean
}

/**
 * Failed commits spent on finding the entries the kernel refuses in one restore. Each costs one process
 * (ipset restore or nft -f); a kernel that refuses everything (a set removed by hand) must not turn a
 * 1M-entry restore into a million processes, so past this the rest of a failing batch is skipped whole.
 */
const MAX_ISOLATING_COMMITS = 256

/** An entry queued during a restore, with the snapshot line it came from. */
interface QueuedEntry {
  list: ListKind
  entry: SetEntry
  line: number
}

/**
 * loadSnapshot() and restoreSnapshot() in one pass, for the daemon's start with a large snapshot:
 * entries go to backend.add() as they are read, and the backend commits whenever `commitEvery`
 * operations are queued, so memory stays bounded by one batch instead of the whole file (the entries
 * are independent and added with -exist semantics, so several commits restore the same as one).
 * Reads, validates and reports like loadSnapshot(); a file rejected as a whole adds nothing.
 * An entry the kernel refuses is skipped and reported as `path:LINE: the kernel refused …` (counted in
 * `skipped`); the rest of the snapshot is restored. Never throws for a refused entry: a restart must
 * never leave the host unprotected because of one line.
 * @throws only what `admit` throws; the backend must not hold operations queued before the call.
 */
export async function restoreSnapshotFile(backend: FirewallBackend, path: string,
  {admit, commitEvery = 100_000, now = Date.now}: RestoreSnapshotFileOptions = {}): Promise<SnapshotRestoreReport> {
  let added = 0
  let refused = 0
  let batch: QueuedEntry[] = []
  let budget = MAX_ISOLATING_COMMITS
  let kernelRefused = 0
  const problems: string[] = []
  const refuse = (entries: QueuedEntry[], error: unknown): void => {
    kernelRefused += entries.length
    const where = formatLocation({file: path, line: entries[0].line})
    problems.push(entries.length === 1
      ? `${where}: the kernel refused ${entries[0].list} ${entries[0].entry.target.text}, skipped: ${messageOf(error)}`
      : `${where}: the kernel refused some of the ${entries.length} entries of lines ${entries[0].line} to ` +
        `${entries.at(-1)!.line} (not all of them are restored): ${messageOf(error)}`)
  }

  /** Commits `entries` (queued already); on failure finds the refused ones by halving, re-adding the rest. */
  const commitOrIsolate = async (entries: QueuedEntry[]): Promise<void> => {
    try {
      added += (await backend.commit()).added
      return
    } catch (error) {
      // ipset restore and nft -f apply what they can and report the first bad line, in their own line
      // numbers; the entries are re-added in halves (-exist: a second add of a good entry changes
      // nothing) until every refused one is known by its snapshot line.
      if (entries.length === 1 || budget <= 0) return refuse(entries, error)
      budget--
    }

    const half = Math.ceil(entries.length / 2)
    for (const part of [entries.slice(0, half), entries.slice(half)]) {
      for (const {entry, list} of part) backend.add(list, entry)
      await commitOrIsolate(part)
    }
  }

  const commit = async (): Promise<void> => {
    const entries = batch
    batch = []
    await commitOrIsolate(entries)
  }

  const report = await readSnapshot(path, now, (list, entry, line) => {
    if (admit !== undefined && !admit(list, entry)) {
      refused++
      return
    }
    backend.add(list, entry)
    batch.push({entry, line, list})
  }, async () => {
    if (batch.length >= commitEvery) await commit()
  })
  if (batch.length > 0) await commit()
  report.skipped += kernelRefused
  report.problems.push(...problems)
  return {added, ...report, ...(admit === undefined ? {} : {refused})}
}

/** Receives each live entry with its line number in the file. */
type EntrySink = (list: ListKind, entry: SetEntry, line: number) => void

/**
 * Reads the snapshot at `path` like loadSnapshot(), handing each live entry to `sink` as it is read
 * instead of returning them all: for work over a whole snapshot with bounded memory (compaction,
 * journal.ts). Never throws for the file; errors thrown by `sink` or `afterChunk` propagate.
 */
export function readSnapshotFile(path: string, sink: EntrySink, {afterChunk, now = Date.now}: SnapshotClock &
  {afterChunk?: () => Promise<void>} = {}): Promise<SnapshotReadReport> {
  return readSnapshot(path, now, sink, afterChunk)
}

/** What a journal line asks for, in file order: an entry to add, or one to remove. */
export interface JournalSink {
  add: EntrySink
  del: (list: ListKind, target: Target) => void
}

/**
 * Reads a journal segment (journal.ts) with the snapshot's parser, handing each operation to `sink` in
 * file order: live entries to `add` with their remaining TTL, deletions and entries that have expired
 * since to `del` (so a later, shorter TTL wins over an earlier entry). Never throws for the file: read
 * and format problems go into the report as `path:LINE: reason` (a cut-off last line after a crash is one
 * of them), and what was read before stays. Errors thrown by `sink` or `afterChunk` propagate.
 */
export function readJournalFile(path: string, sink: JournalSink, {afterChunk, now = Date.now}: SnapshotClock &
  {afterChunk?: () => Promise<void>} = {}): Promise<SnapshotReadReport> {
  return readSnapshot(path, now, sink.add, afterChunk, sink.del)
}

/**
 * Parses the file at `path`, handing each live entry to `sink` and calling `afterChunk` after every
 * chunk read (at most READ_CHUNK_BYTES). With `del`, the file is a journal (journal.ts): other header,
 * deletions, `# at` times, no end marker. Read and format problems go into the report; errors thrown by
 * `sink` or `afterChunk` propagate.
 */
async function readSnapshot(path: string, now: () => number, sink: EntrySink,
  afterChunk?: () => Promise<void>, del?: JournalSink['del']): Promise<SnapshotReadReport> {
  const report: SnapshotReadReport = {expired: 0, problems: [], skipped: 0}
  const what = del === undefined ? 'snapshot' : 'journal'
  let handle: FileHandle
  try {
    handle = await open(path, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return report
    report.problems.push(`${path}: cannot read the ${what}: ${messageOf(error)}; the whole file is ignored`)
    return report
  }

  const parser = new SnapshotParser(path, Math.floor(now() / 1000), report, sink, del)
  try {
    await readLines(handle, parser, afterChunk)
  } finally {
    await handle.close().catch(() => {})
  }

  parser.finish()
  return report
}

/** Splits the file into lines on the bytes (no string per line) and hands them to the parser. */
async function readLines(handle: FileHandle, parser: SnapshotParser, afterChunk?: () => Promise<void>): Promise<void> {
  const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES)
  let filled = 0 // bytes of an unfinished line kept at the start of buf
  let discarding = false // inside a line that is too long: drop bytes up to its newline
  for (;;) {
    let bytesRead: number
    try {
      ({bytesRead} = await handle.read(buf, filled, buf.length - filled, null))
    } catch (error) {
      // What was read stays; the rest of the file is lost (e.g. EIO on a damaged disk).
      parser.readFailed(`cannot read the rest of the file: ${messageOf(error)}`)
      return
    }

    if (bytesRead === 0) break
    const end = filled + bytesRead
    let pos = 0
    for (;;) {
      const nl = buf.indexOf(10, pos)
      if (nl === -1 || nl >= end) break // bytes past `end` are stale
      if (discarding) discarding = false
      else parser.line(buf, pos, nl)
      if (parser.rejected) return
      pos = nl + 1
    }

    if (afterChunk) await afterChunk()
    if (discarding) {
      filled = 0
      continue
    }

    filled = end - pos
    if (filled > MAX_LINE_BYTES) {
      parser.tooLong()
      if (parser.rejected) return
      discarding = true
      filled = 0
    } else if (filled > 0 && pos > 0) {
      buf.copy(buf, 0, pos, end)
    }
  }

  if (filled > 0 && !discarding) parser.incomplete()
}

const BLOCK = Buffer.from('block')
const ALLOW = Buffer.from('allow')
const EXPIRES = Buffer.from('expires')
const NEVER = Buffer.from('never')
const COMMENT = Buffer.from('comment "')
const DELETE = Buffer.from('delete')
const JOURNAL_HEADER = /^# diswall journal v(\d+) opened (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?Z)$/
/** A journal's time line: the entries after it were written at this unix second. */
const JOURNAL_AT = /^# at (\d{1,15})$/
/** The journal format version this code writes and reads (journal.ts). */
export const JOURNAL_VERSION = 1
const utf8 = new TextDecoder('utf-8', {fatal: true})

class SnapshotParser {
  rejected = false
  private lineNo = 0
  private headerSeen = false
  private savedSec = 0
  private entryLines = 0
  private endCount: number | undefined
  private unlisted = 0
  private failed = false

  constructor(private readonly path: string, private readonly nowSec: number, private readonly out: SnapshotReadReport,
    private readonly sink: EntrySink, private readonly del?: JournalSink['del']) {}

  line(buf: Buffer, start: number, end: number): void {
    this.lineNo++
    if (!this.headerSeen) {
      this.header(buf.toString('utf8', start, end))
      return
    }

    if (start === end) return
    if (buf[start] === 0x23) { // "#"
      const text = buf.toString('utf8', start, end)
      if (this.del !== undefined) {
        const at = JOURNAL_AT.exec(text)
        // The clamp of entries below (never longer than the TTL they had when written) counts from here.
        if (at) this.savedSec = Number(at[1])
        return
      }

      const m = TRAILER.exec(text)
      if (m) this.endCount = Number(m[1])
      const mark = JOURNAL_MARK.exec(text)
      if (mark) this.out.journalSeq = Number(mark[1])
      return
    }

    this.entryLines++
    const reason = this.del !== undefined && end - start > DELETE.length && isWord(buf, start, start + DELETE.length, DELETE) &&
      buf[start + DELETE.length] === 0x20 ? this.deletion(buf, start + DELETE.length + 1, end) : this.entry(buf, start, end)
    if (reason !== undefined) this.skip(reason)
  }

  tooLong(): void {
    this.lineNo++
    if (!this.headerSeen) return this.reject(`not a diswall ${this.what} (the first line is not a ${this.what} header)`)
    this.entryLines++
    this.skip(`the line is longer than ${MAX_LINE_BYTES} bytes`)
  }

  incomplete(): void {
    this.lineNo++
    if (!this.headerSeen) return this.reject(`the ${this.what} header is incomplete (no newline); the file is damaged`)
    this.entryLines++
    this.skip('the line is incomplete (no newline at the end); the file was cut short')
  }

  /** The file could not be read to its end: what was read counts, and the end marker is not checked. */
  readFailed(reason: string): void {
    this.failed = true
    this.problem(undefined, reason)
  }

  finish(): void {
    if (this.rejected) return
    if (!this.failed && !this.headerSeen) return this.reject(`the file is empty; expected a ${this.what} header`)
    // A journal is appended to and has no end marker; after a read error the marker is unread.
    if (this.del === undefined && !this.failed) {
      if (this.endCount === undefined) {
        this.problem(undefined, 'the end marker ("# end N entries") is missing; the file may have been cut short')
      } else if (this.endCount !== this.entryLines) {
        this.problem(undefined, `the end marker counts ${this.endCount} entries, but the file holds ${this.entryLines}`)
      }
    }

    if (this.unlisted > 0) this.out.problems.push(`${this.path}: ${this.unlisted} more problems not listed`)
  }

  /** Records a problem of one line (the first MAX_PROBLEMS in full) or, with no line, of the whole file (always). */
  problem(line: number | undefined, reason: string): void {
    if (line === undefined || this.out.problems.length < MAX_PROBLEMS) {
      this.out.problems.push(`${formatLocation({file: this.path, line})}: ${reason}`)
    } else {
      this.unlisted++
    }
  }

  private skip(reason: string): void {
    this.out.skipped++
    this.problem(this.lineNo, reason)
  }

  private reject(reason: string): void {
    this.rejected = true
    this.problem(Math.max(this.lineNo, 1), `${reason}; the whole file is ignored`) // an empty file: line 1
  }

  private get what(): string {
    return this.del === undefined ? 'snapshot' : 'journal'
  }

  private header(text: string): void {
    if (this.del !== undefined) return this.journalHeader(text)
    const m = HEADER.exec(text)
    if (!m) {
      const other = ANY_HEADER.exec(text)
      if (other && other[1] !== String(SNAPSHOT_VERSION)) {
        return this.reject(`snapshot format v${other[1]} is not supported (this diswall reads v${SNAPSHOT_VERSION})`)
      }
      return this.reject(`not a diswall snapshot: expected "# diswall snapshot v${SNAPSHOT_VERSION} saved TIME", found ${show(text)}`)
    }

    if (m[1] !== String(SNAPSHOT_VERSION)) {
      return this.reject(`snapshot format v${m[1]} is not supported (this diswall reads v${SNAPSHOT_VERSION})`)
    }

    const savedMs = Date.parse(m[2])
    if (Number.isNaN(savedMs)) return this.reject(`the save time ${show(m[2])} in the header is not a valid time`)
    this.savedSec = Math.floor(savedMs / 1000)
    this.out.savedAt = m[2]
    this.headerSeen = true
  }

  private journalHeader(text: string): void {
    const m = JOURNAL_HEADER.exec(text)
    if (!m) return this.reject(`not a diswall journal: expected "# diswall journal v${JOURNAL_VERSION} opened TIME", found ${show(text)}`)
    if (m[1] !== String(JOURNAL_VERSION)) {
      return this.reject(`journal format v${m[1]} is not supported (this diswall reads v${JOURNAL_VERSION})`)
    }

    const openedMs = Date.parse(m[2])
    if (Number.isNaN(openedMs)) return this.reject(`the time ${show(m[2])} in the header is not a valid time`)
    this.savedSec = Math.floor(openedMs / 1000)
    this.headerSeen = true
  }

  /** A journal's `delete LIST TARGET` (from `start`, past "delete "); returns why it is bad otherwise. */
  private deletion(buf: Buffer, start: number, end: number): string | undefined {
    const sp = spaceIn(buf, start, end)
    const bad = 'expected "delete block|allow TARGET"'
    if (sp < 0) return bad
    let list: ListKind
    if (isWord(buf, start, sp, BLOCK)) list = 'block'
    else if (isWord(buf, start, sp, ALLOW)) list = 'allow'
    else return bad
    if (spaceIn(buf, sp + 1, end) >= 0) return bad
    let target: Target
    try {
      target = parseTarget(buf.toString('latin1', sp + 1, end))
    } catch (error) {
      return messageOf(error)
    }

    if (target.kind === 'network' && target.prefix === MAX_PREFIX[target.family]) target = target.address
    this.del!(list, target)
    return undefined
  }

  /** Parses one entry line and keeps it (or counts it as expired); returns why it is bad otherwise. */
  private entry(buf: Buffer, start: number, end: number): string | undefined {
    const sp1 = spaceIn(buf, start, end)
    if (sp1 < 0) return FORMAT
    let list: ListKind
    if (isWord(buf, start, sp1, BLOCK)) list = 'block'
    else if (isWord(buf, start, sp1, ALLOW)) list = 'allow'
    else return `unknown list ${show(buf.toString('utf8', start, sp1))} (expected block or allow)`
    const sp2 = spaceIn(buf, sp1 + 1, end)
    if (sp2 < 0) return FORMAT
    const sp3 = spaceIn(buf, sp2 + 1, end)
    if (sp3 < 0 || !isWord(buf, sp2 + 1, sp3, EXPIRES)) return FORMAT
    let sp4 = spaceIn(buf, sp3 + 1, end)
    if (sp4 < 0) sp4 = end

    let target: Target
    try {
      // latin1: a valid target is ASCII, and any other byte makes parseTarget() refuse it.
      target = parseTarget(buf.toString('latin1', sp1 + 1, sp2))
    } catch (error) {
      return messageOf(error)
    }

    if (list === 'block' && target.kind === 'network') {
      // A host network is the address itself (as `block add` treats it). IPv6 bans may cover an
      // offender's network (`[detect] ipv6_group_prefix`); IPv4 bans are single addresses.
      if (target.prefix === MAX_PREFIX[target.family]) target = target.address
      else if (target.family === 4) return `IPv4 block entries must be single addresses, not networks (${target.text})`
    }

    // Entries that can never be valid stop here rather than in the kernel: ipset 7.17 refuses the
    // null address in hash:ip ("Null-valued element") and a /0 in hash:net; and they would ban or
    // allow everyone, which a snapshot diswall wrote never holds.
    if (target.kind === 'network' && target.prefix === 0) {
      return `${list} ${target.text} covers every address and is never valid`
    }
    if (list === 'block' && (target.kind === 'address' ? target : target.address).text === UNSPECIFIED[target.family]) {
      return `${target.text} is the unspecified address and can never be banned`
    }

    let expires = -1 // -1: never
    if (!isWord(buf, sp3 + 1, sp4, NEVER)) {
      expires = parseSeconds(buf, sp3 + 1, sp4)
      if (expires < 0 || expires - this.savedSec > MAX_SNAPSHOT_TTL_SEC) {
        return `expiry ${show(buf.toString('utf8', sp3 + 1, sp4))} is not a unix time in seconds within ` +
          `${MAX_SNAPSHOT_TTL_SEC} s of the save time, nor "never"`
      }
    }

    let comment: string | undefined
    if (sp4 < end) {
      const textStart = sp4 + 1 + COMMENT.length
      if (!isWord(buf, sp4 + 1, textStart, COMMENT) || end - 1 < textStart || buf[end - 1] !== 0x22) return FORMAT
      if (list === 'block') return 'block entries carry no comment'
      try {
        comment = utf8.decode(buf.subarray(textStart, end - 1))
      } catch {
        return 'the comment is not valid UTF-8'
      }

      if (!isValidComment(comment)) {
        return `comment ${show(comment)} cannot be stored (at most 128 bytes; no quotes, backslashes or control characters)`
      }
    }

    let ttlSec: number | undefined
    if (expires >= 0) {
      // Never longer than the TTL at save time: after a reboot the clock may still be behind.
      ttlSec = Math.min(expires - this.nowSec, expires - this.savedSec)
      if (ttlSec < 1) {
        this.out.expired++
        // In a journal the line may have renewed an entry with a shorter TTL: it is over now, whatever came before.
        this.del?.(list, target)
        return undefined
      }
    }

    if (list === 'block') {
      // 0 = no timeout, a permanent ban; a timed one is at least 1 s here, so it never becomes permanent.
      this.sink(list, {target, ttlSec: ttlSec ?? 0}, this.lineNo)
      return undefined
    }

    const entry: SetEntry = {target}
    if (ttlSec !== undefined) entry.ttlSec = ttlSec
    if (comment) entry.comment = comment
    this.sink(list, entry, this.lineNo)
    return undefined
  }
}

/** Index of the first space in [from, end), or -1. */
function spaceIn(buf: Buffer, from: number, end: number): number {
  for (let i = from; i < end; i++) if (buf[i] === 0x20) return i
  return -1
}

/** Whether buf[start, end) holds exactly `word`. */
function isWord(buf: Buffer, start: number, end: number, word: Buffer): boolean {
  if (end - start !== word.length) return false
  for (let i = 0; i < word.length; i++) if (buf[start + i] !== word[i]) return false
  return true
}

/** A decimal number of 1 to 15 digits without a leading zero (so it stays exact), or -1. */
function parseSeconds(buf: Buffer, start: number, end: number): number {
  const len = end - start
  if (len < 1 || len > 15 || (len > 1 && buf[start] === 0x30)) return -1
  let value = 0
  for (let i = start; i < end; i++) {
    const d = buf[i] - 0x30
    if (d < 0 || d > 9) return -1
    value = value * 10 + d
  }
  return value
}

/** Quotes file text for a message; long text is cut. */
function show(text: string): string {
  return JSON.stringify(text.length > 60 ? `${text.slice(0, 60)}…` : text)
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
