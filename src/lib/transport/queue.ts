/**
 * The offline queue of a host's own reports: what it banned, allowed or lifted while NATS was away,
 * sent when the connection is back. Bounded (the oldest report is dropped and counted), and kept in
 * the state dir across a restart: the file is rewritten as a whole at most every
 * {@link QUEUE_WRITE_DELAY_MS} (one atomic write, no fsync per report) and removed once empty.
 */
import {readFile} from 'node:fs/promises'

import {parseTarget} from '../net/index.js'
import {DebouncedFileWriter} from '../system/index.js'
import {isValidComment, isValidTag} from './codec.js'
import type {WireEntry, WireList} from './port.js'

/** One queued report. */
export interface QueuedReport {
  op: 'add' | 'del'
  list: WireList
  entry: WireEntry
  /** When it was queued (ms since the epoch): a ban's timeout counts from then. */
  at: number
}

/** How many reports the queue holds by default. */
export const DEFAULT_QUEUE_MAX = 10_000

/** The queue file is written at most this often while reports arrive, ms. */
export const QUEUE_WRITE_DELAY_MS = 500

/** Name of the queue file in the state dir. */
export const QUEUE_FILE = 'nats-queue.jsonl'

/** Options of {@link ReportQueue}. */
export interface ReportQueueOptions {
  max?: number
  /** The file that keeps the queue across restarts; in memory only without one. */
  path?: string
  /** Called when writing or reading the file fails (the queue goes on in memory). */
  onError?: (message: string) => void
  now?: () => number
}

/** A bounded FIFO of reports, persisted compactly. */
export class ReportQueue {
  /** Reports dropped because the queue was full. */
  dropped = 0
  private items: QueuedReport[] = []
  private readonly max: number
  private readonly file: DebouncedFileWriter | undefined
  private readonly now: () => number

  constructor(private readonly options: ReportQueueOptions = {}) {
    this.max = Math.max(1, options.max ?? DEFAULT_QUEUE_MAX)
    this.now = options.now ?? Date.now
    const {onError, path} = options
    if (path !== undefined) {
      this.file = new DebouncedFileWriter(path, () => this.items.map((r) => formatLine(r)).join(''), {
        delayMs: QUEUE_WRITE_DELAY_MS,
        onError: (error) => onError?.(`writing ${path}: ${(error as Error).message}`),
        removeWhenEmpty: true,
      })
    }
  }

  get size(): number {
    return this.items.length
  }

  /** Reads the reports a previous run left; bad lines are skipped. Returns how many were loaded. */
  async load(): Promise<number> {
    if (this.options.path === undefined) return 0
    let text: string
    try {
      text = await readFile(this.options.path, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.options.onError?.(`reading ${this.options.path}: ${(error as Error).message}`)
      return 0
    }
    let loaded = 0
    for (const line of text.split('\n')) {
      const report = parseLine(line)
      if (report === undefined) continue
      this.push(report, false)
      loaded++
    }
    return loaded
  }

  /** Adds a report; the oldest is dropped (and counted) when the queue is full. */
  add(op: 'add' | 'del', list: WireList, entry: WireEntry): void {
    this.push({at: this.now(), entry, list, op}, true)
  }

  /** Takes every queued report out (oldest first) and schedules the file's removal. */
  takeAll(): QueuedReport[] {
    const out = this.items
    this.items = []
    this.file?.touch()
    return out
  }

  /** Puts reports back at the front (a send failed). */
  putBack(reports: QueuedReport[]): void {
    this.items = [...reports, ...this.items]
    if (this.items.length > this.max) {
      this.dropped += this.items.length - this.max
      this.items = this.items.slice(this.items.length - this.max)
    }
    this.file?.touch()
  }

  /** Writes the file now if a write is pending (stop). */
  async flush(): Promise<void> {
    await this.file?.flush()
  }

  private push(report: QueuedReport, persist: boolean): void {
    this.items.push(report)
    if (this.items.length > this.max) {
      this.items.shift()
      this.dropped++
    }
    if (persist) this.file?.touch()
  }
}

/** One report as a JSON line. */
export function formatLine({at, entry, list, op}: QueuedReport): string {
  return JSON.stringify({at, comment: entry.comment, list, op, tag: entry.tag, target: entry.target.text, ttl: entry.ttlSec}) + '\n'
}

/** Parses a line written by formatLine(); undefined for anything else (the file is validated like a payload). */
export function parseLine(line: string): QueuedReport | undefined {
  if (line.trim() === '' || line.length > 2048) return undefined
  let raw: Record<string, unknown>
  try {
    raw = JSON.parse(line) as Record<string, unknown>
  } catch {
    return undefined
  }
  if (typeof raw !== 'object' || raw === null) return undefined
  const {at, comment, list, op, tag, target, ttl} = raw
  if ((op !== 'add' && op !== 'del') || (list !== 'block' && list !== 'allow') || typeof target !== 'string') return undefined
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined
  let parsed
  try {
    parsed = parseTarget(target)
  } catch {
    return undefined
  }
  const entry: WireEntry = {target: parsed}
  if (typeof tag === 'string' && tag.length <= 256 && isValidTag(tag.slice(0, 64))) entry.tag = tag
  if (typeof comment === 'string' && isValidComment(comment)) entry.comment = comment
  if (typeof ttl === 'number' && Number.isInteger(ttl) && ttl > 0) entry.ttlSec = ttl
  return {at, entry, list, op}
}
