/**
 * The journal of the kernel sets in `[daemon] state_dir`: every batch of bans, allow entries and their
 * removals that the coalescing writer committed is appended to it, so that a crash (`kill -9`, power
 * loss) loses at most the last second of them instead of everything since the last snapshot.
 *
 * Segments `sets.journal.N` (N counts up), each in the snapshot's line format (snapshot.ts) with its own
 * header and two more kinds of line:
 *
 * ```
 * # diswall journal v1 opened 2026-11-21T10:00:00Z
 * # at 1763719200
 * block 203.0.113.7 expires 1763805600
 * allow 198.51.100.0/24 expires never comment "office VPN"
 * delete block 203.0.113.7
 * ```
 *
 * - `# at SECONDS` is the unix time the following lines were written (one per second at most); a
 *   replayed entry never gets more time than it had then, as in a snapshot.
 * - Lines are appended after each committed batch (the kernel has them: nothing is journaled that the
 *   kernel refused), written at once (one write(2) into the page cache) and fsynced at most `syncMs`
 *   (1 s) later: a crashed process loses nothing written, a crashed machine at most that second. The
 *   ban path never waits for the disk.
 * - Compaction: before a snapshot reads the sets, rotate() opens segment N+1; the snapshot records
 *   `# journal N+1`, and once it is in place the segments before N+1 are removed. A save that fails or
 *   is aborted (the daemon stops during a periodic save) removes nothing: the old snapshot and every
 *   segment from its mark on still hold all changes. When those hold every change of the sets (agent.ts
 *   whySave()), the new snapshot is made from them instead of from the sets (compactSnapshot()).
 * - At stop, a journal without failures ({@link SetJournal.healthy}) is closed and kept instead of a
 *   snapshot being saved, unless the sets were changed outside it (agent.ts, changes.ts): the next
 *   start restores the last snapshot and replays the segments since, as after a crash. At start the daemon
 *   restores the snapshot, then replays the segments from its mark on, in order (adds and deletes as
 *   they came, so a delete after an add wins; entries expired since act as deletes), then opens a new
 *   segment. A crash anywhere in between replays a segment at most into a snapshot that already holds
 *   it, which changes nothing: adds are idempotent and the order within the segments is kept.
 * - A damaged segment (a line cut off by the crash, garbage) is read up to the damage; every bad line is
 *   reported as `path:LINE: reason` and skipped.
 */
import {writeSync} from 'node:fs'
import {mkdir, open, readdir, unlink} from 'node:fs/promises'
import type {FileHandle} from 'node:fs/promises'
import {join} from 'node:path'

import type {FirewallBackend, ListKind, SetEntry, SetOp, WriteJournal} from '../firewall/sets/index.js'
import {formatEntryLine, JOURNAL_VERSION, readJournalFile, readSnapshotFile, SnapshotBuilder} from './snapshot.js'
import type {SavedSnapshot, SnapshotReadReport} from './snapshot.js'

/** Segment files are `sets.journal.N` in the state directory. */
export const JOURNAL_PREFIX = 'sets.journal.'
/** Longest time between an append and its fsync, ms. */
export const JOURNAL_SYNC_MS = 1000
const SEGMENT_NAME = /^sets\.journal\.(\d{1,15})$/

/** The path of segment `seq`. */
export function journalPath(stateDir: string, seq: number): string {
  return join(stateDir, `${JOURNAL_PREFIX}${seq}`)
}

/** The segment numbers present in `stateDir`, ascending; none when the directory does not exist. */
export async function listJournalSegments(stateDir: string): Promise<number[]> {
  let names: string[]
  try {
    names = await readdir(stateDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }

  const seqs: number[] = []
  for (const name of names) {
    const m = SEGMENT_NAME.exec(name)
    if (m) seqs.push(Number(m[1]))
  }

  return seqs.sort((a, b) => a - b)
}

/** Options of {@link SetJournal}. */
export interface SetJournalOptions {
  /** Longest time between an append and its fsync, ms; {@link JOURNAL_SYNC_MS} by default. */
  syncMs?: number
  /** TTL of a ban queued without one (the kernel set's default), seconds. */
  defaultBlockTtlSec: number
  /** Told once per failure kind (a full disk must not flood the log); the journal goes on. */
  onError?: (message: string) => void
  /** The clock, ms (tests inject one). */
  now?: () => number
}

/**
 * The appending side of the journal: {@link WriteJournal} for the coalescing writer. record() only
 * formats and queues; the writes run in the background, one at a time, in order.
 */
export class SetJournal implements WriteJournal {
  private segment: Segment
  private readonly syncMs: number
  private readonly now: () => number
  private readonly onError: (message: string) => void
  private failed = false
  /** Operations recorded per segment number (this process's only). */
  private readonly recorded = new Map<number, number>()

  private constructor(private readonly stateDir: string, seq: number, private readonly options: SetJournalOptions) {
    this.syncMs = options.syncMs ?? JOURNAL_SYNC_MS
    this.now = options.now ?? Date.now
    this.onError = options.onError ?? (() => {})
    this.segment = this.openSegment(seq)
  }

  /**
   * Opens segment `seq` in `stateDir` (created 0700 when missing) for appending. Nothing is thrown
   * later: write and fsync errors go to `onError`, and the journal keeps trying.
   * @throws when the directory or the file cannot be created.
   */
  static async open(stateDir: string, seq: number, options: SetJournalOptions): Promise<SetJournal> {
    await mkdir(stateDir, {mode: 0o700, recursive: true})
    const journal = new SetJournal(stateDir, seq, options)
    await journal.segment.opened
    return journal
  }

  /** The segment appended to now. */
  get seq(): number {
    return this.segment.seq
  }

  /**
   * Whether every line recorded since open() was written and fsynced (or is queued to be): false once
   * any open, write, fsync, close or removal failed. Only then does the journal hold every change.
   */
  get healthy(): boolean {
    return !this.failed
  }

  /** Operations recorded by this process into the segments from `seq` on. */
  recordedFrom(seq: number): number {
    let total = 0
    for (const [n, count] of this.recorded) if (n >= seq) total += count
    return total
  }

  /** Appends the lines of one committed batch. */
  record(ops: readonly SetOp[]): void {
    if (ops.length === 0) return
    const nowSec = Math.floor(this.now() / 1000)
    let text = ''
    if (nowSec !== this.segment.atSec) {
      this.segment.atSec = nowSec
      text = `# at ${nowSec}\n`
    }

    for (const op of ops) {
      if (op.kind === 'del') {
        text += `delete ${op.list} ${op.target.text}\n`
        continue
      }

      text += formatEntryLine(op.list, op.entry.target, entryExpiresSec(op.list, op.entry, nowSec, this.options.defaultBlockTtlSec), op.entry.comment)
    }

    this.segment.append(text)
    this.recorded.set(this.segment.seq, (this.recorded.get(this.segment.seq) ?? 0) + ops.length)
  }

  /**
   * Starts segment seq+1 for what is recorded from now on, and waits until the previous one is written,
   * fsynced and closed. Returns the new number: a snapshot of the sets read after this holds everything
   * of the segments before it.
   */
  async rotate(): Promise<number> {
    const old = this.segment
    this.segment = this.openSegment(old.seq + 1)
    await old.close()
    await this.segment.opened
    return this.segment.seq
  }

  /** Removes the segments before `seq` (a snapshot holds them now). */
  async dropBefore(seq: number): Promise<void> {
    for (const n of await listJournalSegments(this.stateDir)) {
      if (n < seq) await unlink(journalPath(this.stateDir, n)).catch((error: unknown) => this.fail('removing', error))
    }
  }

  /** Writes and fsyncs what is queued now (tests, stop). */
  async sync(): Promise<void> {
    await this.segment.sync()
  }

  /** Writes, fsyncs and closes the current segment. */
  async close(): Promise<void> {
    await this.segment.close()
  }

  private openSegment(seq: number): Segment {
    return new Segment(journalPath(this.stateDir, seq), seq, this.syncMs, new Date(this.now()), (what, error) => this.fail(what, error))
  }

  private fail(what: string, error: unknown): void {
    if (this.failed) return
    this.failed = true
    this.onError(`${what} the journal failed, later failures are not logged: ${error instanceof Error ? error.message : String(error)}`)
  }
}

/**
 * The absolute expiry (unix seconds; undefined: never) the kernel gives `entry` when it is written at
 * `nowSec`: for bans 0 is no timeout and undefined the set's default (`defaultBlockTtlSec`); for allow
 * entries 0 or undefined is never.
 */
export function entryExpiresSec(list: ListKind, entry: SetEntry, nowSec: number, defaultBlockTtlSec: number | undefined): number | undefined {
  const ttlSec = list === 'block' && entry.ttlSec === undefined ? defaultBlockTtlSec : entry.ttlSec
  return ttlSec === undefined || ttlSec <= 0 ? undefined : nowSec + Math.ceil(ttlSec)
}

/**
 * One segment file: appends in order, an fsync at most `syncMs` after the first unsynced write. The
 * appends are write(2)s on the calling thread: a copy into the page cache (~40 bytes a ban) costs a
 * few microseconds, where a write on the thread pool wakes a pool thread and then the event loop
 * (~0.2 ms of CPU a ban on a small VM). Only the fsync, which waits for the disk, runs on the pool.
 */
class Segment {
  /** The unix second of the last `# at` line. */
  atSec = -1
  readonly opened: Promise<void>
  private handle: FileHandle | undefined
  private pending = ''
  private unsynced = false
  private syncTimer: NodeJS.Timeout | undefined
  private closed = false

  constructor(readonly path: string, readonly seq: number, private readonly syncMs: number, openedAt: Date,
    private readonly fail: (what: string, error: unknown) => void) {
    const header = `# diswall journal v${JOURNAL_VERSION} opened ${openedAt.toISOString().replace(/\.\d{3}Z$/, 'Z')}\n` +
      '# LIST TARGET expires UNIX_SECONDS|never [comment "TEXT"], or delete LIST TARGET\n'
    this.pending = header
    this.opened = (async () => {
      // O_APPEND: a segment found again after a crash is never overwritten (start always opens a new one).
      this.handle = await open(path, 'a', 0o600)
      this.flush()
    })()
    this.opened.catch((error: unknown) => {
      // Nothing can be written: queued lines would only pile up.
      this.closed = true
      this.pending = ''
      fail('opening', error)
    })
  }

  append(text: string): void {
    if (this.closed) return
    this.pending += text
    this.flush()
  }

  async sync(): Promise<void> {
    await this.opened.catch(() => {})
    await this.fsync()
  }

  async close(): Promise<void> {
    if (this.closed) return
    await this.sync()
    this.closed = true
    clearTimeout(this.syncTimer)
    await this.handle?.close().catch((error: unknown) => this.fail('closing', error))
  }

  /** Writes what is pending (once the file is open). */
  private flush(): void {
    if (this.handle === undefined || this.pending === '') return
    const data = Buffer.from(this.pending)
    this.pending = ''
    try {
      for (let done = 0; done < data.length;) {
        const written = writeSync(this.handle.fd, data, done)
        if (written === 0) throw new Error(`no byte of ${data.length - done} could be written`)
        done += written
      }
    } catch (error) {
      this.fail('writing', error)
    }
    this.unsynced = true
    // The timer runs from the first write after an fsync: every line is durable within syncMs.
    if (this.syncTimer === undefined && !this.closed) {
      this.syncTimer = setTimeout(() => void this.fsync(), this.syncMs)
      this.syncTimer.unref()
    }
  }

  private async fsync(): Promise<void> {
    clearTimeout(this.syncTimer)
    this.syncTimer = undefined
    if (!this.unsynced || this.handle === undefined || this.closed) return
    this.unsynced = false
    try {
      // fdatasync: the length changes with every append, and that is metadata the data needs anyway.
      await this.handle.datasync()
    } catch (error) {
      this.fail('syncing', error)
    }
  }
}

/** What replaying the journal found. */
export interface JournalReplayReport {
  /** Segments read, in order. */
  segments: number[]
  /** Entries added and removed (operations handed to the backend, deletes of absent entries included). */
  added: number
  removed: number
  /** Bad lines skipped. */
  skipped: number
  /** Entries whose time ran out (replayed as deletes). */
  expired: number
  /** Entries `admit` kept out. */
  refused: number
  /** `path:LINE: reason` for bad lines, `path: reason` for whole files and failed commits. */
  problems: string[]
}

/** Options of replayJournal(). */
export interface ReplayJournalOptions {
  /** Replay the segments from this one on (the snapshot's `# journal N`); all of them by default. */
  fromSeq?: number
  /** Whether a live entry may go back into the kernel (the never-ban check); all by default. */
  admit?: (list: ListKind, entry: SetEntry) => boolean
  /** Commit once this many operations are queued; 100,000 by default. */
  commitEvery?: number
  now?: () => number
}

/**
 * Replays the journal segments of `stateDir` from `fromSeq` on into the backend, in file order, after
 * the snapshot was restored: each operation goes to backend.add()/del() as it is read, committed every
 * `commitEvery` operations. Never throws for a file or a commit the kernel refuses: those are reported
 * in `problems`, and the rest is still replayed (a host must never stay unprotected over its journal).
 */
export async function replayJournal(backend: FirewallBackend, stateDir: string,
  {admit, commitEvery = 100_000, fromSeq = 0, now = Date.now}: ReplayJournalOptions = {}): Promise<JournalReplayReport> {
  const report: JournalReplayReport = {added: 0, expired: 0, problems: [], refused: 0, removed: 0, segments: [], skipped: 0}
  let segments: number[]
  try {
    segments = (await listJournalSegments(stateDir)).filter((n) => n >= fromSeq)
  } catch (error) {
    report.problems.push(`${stateDir}: cannot list the journal: ${error instanceof Error ? error.message : String(error)}`)
    return report
  }

  for (const seq of segments) {
    const path = journalPath(stateDir, seq)
    const commit = async (): Promise<void> => {
      try {
        const done = await backend.commit()
        report.added += done.added
        report.removed += done.removed
      } catch (error) {
        report.problems.push(`${path}: the kernel refused part of a replayed batch: ${error instanceof Error ? error.message : String(error)}`)
      }
    }

    const read: SnapshotReadReport = await readJournalFile(path, {
      add: (list, entry) => {
        if (admit === undefined || admit(list, entry)) backend.add(list, entry)
        else report.refused++
      },
      del: (list, target) => backend.del(list, target),
    }, {
      afterChunk: async () => {
        if (backend.pending >= commitEvery) await commit()
      },
      now,
    })
    if (backend.pending > 0) await commit()
    report.segments.push(seq)
    report.skipped += read.skipped
    report.expired += read.expired
    report.problems.push(...read.problems)
  }

  return report
}

/**
 * Most changes compactSnapshot() holds in memory (~200 bytes each); a journal with more is not
 * compacted, and the snapshot is read from the kernel sets instead.
 */
export const COMPACT_MAX_CHANGES = 200_000

/** Options of compactSnapshot(). */
export interface CompactSnapshotOptions {
  /** The snapshot's `# journal N`: the segments from this one on are folded in. */
  fromSeq: number
  /** The segment opened last (rotate()): the new snapshot holds the segments before it, and says so. */
  toSeq: number
  /** The time the new snapshot holds every change before (taken before the rotation), ms since the epoch. */
  savedAtMs: number
  /** At most this many changes in the segments; {@link COMPACT_MAX_CHANGES} by default. */
  maxChanges?: number
  /** Lists replaced whole by a copy since the snapshot: the copy's file stands for the list (list-copy.ts). */
  copies?: Partial<Record<ListKind, FoldedCopy>>
  signal?: AbortSignal
}

/**
 * A list copy loaded since the last snapshot (ListCopyFile, list-copy.ts): the file holds every entry
 * the copy put in the list, and the copy replaced the list whole as segment `fromSeq` began, so the
 * list is that file with the changes of the segments from `fromSeq` on.
 */
export interface FoldedCopy {
  path: string
  fromSeq: number
}

/**
 * A new snapshot made without reading the kernel sets: the snapshot at `path` with the journal segments
 * of `stateDir` from `fromSeq` up to `toSeq` folded in; a list with a copy in `copies` is that copy's
 * file with the changes of the segments from its swap on (what the list held before does not count).
 * Each entry's last word in the segments wins (an
 * add with its expiry, or a delete); entries whose time ran out are left out. It holds what reading the
 * sets would give when every change since the snapshot was journaled (the daemon checks that first:
 * agent.ts whySave()), and costs two file reads instead of a listing (1M elements: ~70 s with nft 1.0.6,
 * whose kernel dump walks the hash set again for every message).
 *
 * Returns `{why}` and writes nothing when the result could not be trusted: no snapshot at `path`, one
 * with problems or another `# journal` mark, a segment with bad lines, a copy file cut short, holding the
 * other list or swapped in outside the segments, or more than `maxChanges` changes
 * (held as entries; the old snapshot is read line by line and the new one kept as text until it is
 * written, as saveSnapshot() does). The old snapshot stays as it was then.
 * @throws FileWriteError when the file cannot be written, and `signal.reason` once it is aborted.
 */
export async function compactSnapshot(path: string, stateDir: string,
  {copies = {}, fromSeq, maxChanges = COMPACT_MAX_CHANGES, savedAtMs, signal, toSeq}: CompactSnapshotOptions): Promise<{saved: SavedSnapshot} | {why: string}> {
  const now = (): number => savedAtMs
  for (const [list, copy] of Object.entries(copies)) {
    if (copy.fromSeq < fromSeq || copy.fromSeq > toSeq) return {why: `the copy of the ${list} list begins at segment ${copy.fromSeq}, outside ${fromSeq} to ${toSeq}`}
  }
  // A change to a list before its copy replaced it is not in the sets any more.
  const replacedLater = (list: ListKind, seq: number): boolean => seq < (copies[list]?.fromSeq ?? -1)
  // The last word of the segments on each entry: the entry, or null for a delete.
  const changes = new Map<string, {list: ListKind; entry: SetEntry} | null>()
  const keyOf = (list: ListKind, text: string): string => `${list} ${text}`
  const tooMany = new Error('too many changes')
  const checkSize = async (): Promise<void> => {
    signal?.throwIfAborted()
    if (changes.size > maxChanges) throw tooMany
  }

  for (const seq of (await listJournalSegments(stateDir)).filter((n) => n >= fromSeq && n < toSeq)) {
    let read: SnapshotReadReport
    try {
      read = await readJournalFile(journalPath(stateDir, seq), {
        add(list, entry) {
          if (!replacedLater(list, seq)) changes.set(keyOf(list, entry.target.text), {entry, list})
        },
        del(list, target) {
          if (!replacedLater(list, seq)) changes.set(keyOf(list, target.text), null)
        },
      }, {afterChunk: checkSize, now})
      await checkSize()
    } catch (error) {
      if (error === tooMany) return {why: `the journal holds more than ${maxChanges} changes`}
      throw error
    }
    if (read.problems.length > 0) return {why: `the journal has problems: ${read.problems[0]}`}
  }

  const nowSec = Math.floor(savedAtMs / 1000)
  const expiresOf = (list: ListKind, entry: SetEntry): number | undefined =>
    entry.ttlSec === undefined || (list === 'block' && entry.ttlSec === 0) ? undefined : nowSec + entry.ttlSec
  const out = new SnapshotBuilder(savedAtMs, toSeq)
  const afterChunk = async (): Promise<void> => signal?.throwIfAborted()
  const base = await readSnapshotFile(path, (list, entry) => {
    // Changed since: written below as the journal left it. Replaced by a copy: written from the copy.
    if (copies[list] === undefined && !changes.has(keyOf(list, entry.target.text))) out.add(list, entry.target, expiresOf(list, entry), entry.comment)
  }, {afterChunk, now})
  if (base.savedAt === undefined) return {why: base.problems[0] ?? `there is no snapshot at ${path} to start from`}
  if (base.problems.length > 0) return {why: `the snapshot has problems: ${base.problems[0]}`}
  if ((base.journalSeq ?? 0) !== fromSeq) return {why: `the snapshot holds the journal up to segment ${base.journalSeq ?? 0}, not ${fromSeq}`}
  for (const [list, copy] of Object.entries(copies) as [ListKind, FoldedCopy][]) {
    let strays = 0
    const read = await readSnapshotFile(copy.path, (entryList, entry) => {
      if (entryList !== list) strays++
      else if (!changes.has(keyOf(list, entry.target.text))) out.add(list, entry.target, expiresOf(list, entry), entry.comment)
    }, {afterChunk, now})
    if (read.savedAt === undefined || read.problems.length > 0) return {why: `the copy of the ${list} list cannot be used: ${read.problems[0] ?? 'no header'}`}
    if (strays > 0) return {why: `the copy of the ${list} list at ${copy.path} holds ${strays} entries of the other list`}
  }
  for (const change of changes.values()) {
    if (change !== null) out.add(change.list, change.entry.target, expiresOf(change.list, change.entry), change.entry.comment)
  }
  signal?.throwIfAborted()
  return {saved: await out.write(path)}
}
