import type {Target} from '../../net/index.js'
import type {Op} from './op-queue.js'
import type {CommitReport, FirewallBackend, ListKind, SetEntry} from './types.js'

/** One change the writer committed: an entry added, or a target removed. */
export type SetOp = Op

/**
 * Where the writer reports what reached the kernel (the daemon's journal): record() gets the operations
 * of each committed batch, in order, once the commit succeeded. It runs on the ban path: it must only
 * queue (never block or throw).
 */
export interface WriteJournal {
  record(ops: readonly SetOp[]): void
}

export interface WriterOptions {
  /**
   * How long the first queued entry waits for company before the batch goes out, ms; 2 by default.
   * 0: the batch goes out as soon as the current event-loop turn ends (what arrived in the same read
   * of a log joins it; the daemon uses this, for latency). Entries that arrive while a commit runs
   * always form the next batch, so load still coalesces.
   */
  windowMs?: number
  /** A batch this large goes out at once, without waiting for the window. */
  maxBatch?: number
  /** Told the operations of every committed batch. */
  journal?: WriteJournal
}

/** The promise of one batch, shared by every entry in it. */
interface Batch {
  /** The operations, kept only when there is a journal. */
  ops: SetOp[]
  done: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

function newBatch(): Batch {
  let resolve!: () => void
  let reject!: (error: unknown) => void
  const done = new Promise<void>((res, rej) => {
    resolve = res
    reject = rej
  })
  // Callers may fire and forget; a failed batch is counted in stats, not an unhandled rejection.
  done.catch(() => {})
  return {done, ops: [], reject, resolve}
}

/**
 * Coalesces single changes into batched commits: entries arriving within `windowMs` reach the kernel
 * in one `ipset restore` / `nft -f -`. One commit runs at a time; entries that arrive meanwhile form
 * the next batch. Each add()/del() promise settles when its batch is committed (or failed); entries
 * of one batch share one promise, so a burst of 100k bans costs no 100k promises.
 */
export class CoalescingWriter {
  private readonly windowMs: number
  private readonly maxBatch: number
  private batch: Batch | undefined
  /** Cancels the pending window timer; set while one is pending. */
  private timer: (() => void) | undefined
  private running: Promise<void> | undefined
  private readonly journal: WriteJournal | undefined
  /** Totals since start. */
  readonly stats = {added: 0, batches: 0, failedBatches: 0, removed: 0}

  constructor(private readonly backend: FirewallBackend, {journal, maxBatch = 50_000, windowMs = 2}: WriterOptions = {}) {
    this.windowMs = windowMs
    this.maxBatch = maxBatch
    this.journal = journal
  }

  /** Queues an entry; resolves once it is in the kernel (and handed to the journal). */
  add(list: ListKind, entry: SetEntry): Promise<void> {
    this.backend.add(list, entry)
    this.batch ??= newBatch()
    if (this.journal) this.batch.ops.push({entry, kind: 'add', list})
    return this.enqueue()
  }

  /** Queues a deletion; resolves once it is applied (and handed to the journal). */
  del(list: ListKind, target: Target): Promise<void> {
    this.backend.del(list, target)
    this.batch ??= newBatch()
    if (this.journal) this.batch.ops.push({kind: 'del', list, target})
    return this.enqueue()
  }

  /** Commits everything queued now and waits for it (shutdown, tests). */
  async flush(): Promise<void> {
    this.cancelTimer()
    while (this.running || this.batch) {
      await (this.running ?? this.start())
    }
  }

  private enqueue(): Promise<void> {
    this.batch ??= newBatch()
    const {done} = this.batch
    if (this.backend.pending >= this.maxBatch && !this.running) {
      this.cancelTimer()
      void this.start()
    } else if (!this.timer && !this.running) {
      const fire = (): void => {
        this.timer = undefined
        void this.start()
      }
      // setTimeout(0) would wait at least 1 ms.
      if (this.windowMs === 0) {
        const immediate = setImmediate(fire)
        this.timer = () => clearImmediate(immediate)
      } else {
        const timeout = setTimeout(fire, this.windowMs)
        this.timer = () => clearTimeout(timeout)
      }
    }

    return done
  }

  private cancelTimer(): void {
    this.timer?.()
    this.timer = undefined
  }

  private start(): Promise<void> {
    const batch = this.batch ?? newBatch()
    this.batch = undefined
    this.running = this.backend.commit().then(
      (report: CommitReport) => {
        this.stats.batches++
        this.stats.added += report.added
        this.stats.removed += report.removed
        // Before the batch resolves: whoever waits on it (a snapshot's rotation, stop) finds it journaled.
        // A failed batch is not journaled (parts of it may be in the kernel; the next snapshot has them).
        this.journal?.record(batch.ops)
        batch.resolve()
      },
      (error: unknown) => {
        this.stats.failedBatches++
        batch.reject(error)
      },
    ).finally(() => {
      this.running = undefined
      // What arrived during the commit goes out right away: it has waited long enough.
      if (this.batch && !this.timer) void this.start()
    })
    return this.running
  }
}
