import type {Target} from '../net/index.js'
import type {CommitReport, FirewallBackend, ListKind, SetEntry} from './types.js'

export interface WriterOptions {
  /** How long the first queued entry waits for company before the batch goes out, ms. */
  windowMs?: number
  /** A batch this large goes out at once, without waiting for the window. */
  maxBatch?: number
}

/**
 * Coalesces single changes into batched commits: entries arriving within `windowMs` reach the kernel
 * in one `ipset restore` / `nft -f -`. One commit runs at a time; entries that arrive meanwhile form
 * the next batch. Each add()/del() promise settles when its batch is committed (or failed).
 */
export class CoalescingWriter {
  private readonly windowMs: number
  private readonly maxBatch: number
  private waiters: Array<{reject: (e: unknown) => void; resolve: () => void}> = []
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  /** Totals since start. */
  readonly stats = {added: 0, batches: 0, failedBatches: 0, removed: 0}

  constructor(private readonly backend: FirewallBackend, {maxBatch = 50_000, windowMs = 2}: WriterOptions = {}) {
    this.windowMs = windowMs
    this.maxBatch = maxBatch
  }

  /** Queues an entry; resolves once it is in the kernel. */
  add(list: ListKind, entry: SetEntry): Promise<void> {
    this.backend.add(list, entry)
    return this.enqueue()
  }

  /** Queues a deletion; resolves once it is applied. */
  del(list: ListKind, target: Target): Promise<void> {
    this.backend.del(list, target)
    return this.enqueue()
  }

  /** Commits everything queued now and waits for it (shutdown, tests). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    while (this.running || this.waiters.length > 0) {
      await (this.running ?? this.start())
    }
  }

  private enqueue(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => this.waiters.push({reject, resolve}))
    if (this.backend.pending >= this.maxBatch && !this.running) {
      if (this.timer) clearTimeout(this.timer)
      this.timer = undefined
      void this.start()
    } else if (!this.timer && !this.running) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        void this.start()
      }, this.windowMs)
    }

    return done
  }

  private start(): Promise<void> {
    const waiters = this.waiters
    this.waiters = []
    this.running = this.backend.commit().then(
      (report: CommitReport) => {
        this.stats.batches++
        this.stats.added += report.added
        this.stats.removed += report.removed
        for (const w of waiters) w.resolve()
      },
      (error: unknown) => {
        this.stats.failedBatches++
        for (const w of waiters) w.reject(error)
      },
    ).finally(() => {
      this.running = undefined
      // What arrived during the commit goes out right away: it has waited long enough.
      if (this.waiters.length > 0 && !this.timer) void this.start()
    })
    return this.running
  }
}
