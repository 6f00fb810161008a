/**
 * The server's pending limits. nats.js has none of its own and hands each message to the callback
 * while it reads the socket, so a publisher faster than the server fills nats-server's buffer for
 * the server's connection until nats-server cuts it as a slow consumer: everything in that buffer and
 * everything published until the reconnect is lost, and the server sees only a disconnect. Instead,
 * the subscriptions put messages into this inbox, which the server handles in slices between socket
 * reads; past the limits a message is dropped here, counted, and the episode is logged (a slow
 * consumer, as the NATS clients that have pending limits call it). Pure but for the scheduler.
 */

/** Messages received and not handled yet, at most. */
export interface PendingLimits {
  messages: number
  bytes: number
}

/** The default pending limits: 65,536 messages or 64 MiB (nats.js has no default; the Go client's is 512k / 64 MiB). */
export const PENDING_LIMITS: PendingLimits = {bytes: 64 * 1024 * 1024, messages: 65_536}

/** Messages handled in one turn of the event loop at most (reading NATS and the control socket go on between turns). */
export const INBOX_SLICE = 1024

/** What the inbox counts. */
export interface InboxCounters {
  /** Slow-consumer episodes: times the inbox became full. */
  events: number
  /** Messages dropped because the inbox was full. */
  dropped: number
  /** Messages waiting now. */
  pending: number
  pendingBytes: number
  /** The most messages that ever waited. */
  highWater: number
  /** When the running episode began (ms), or undefined. */
  slowSinceMs?: number
}

/** Options of {@link Inbox}. */
export interface InboxOptions<T> {
  limits: PendingLimits
  /** Handles one message; must not throw. */
  handle(item: T): void
  /** Bytes of a message. */
  size(item: T): number
  /** An episode begins (the first drop) or ends (the backlog fell below half the limits). */
  onSlow?(event: {kind: 'begin'} | {kind: 'end'; dropped: number; durationMs: number}): void
  now?: () => number
  /** Runs the next slice later (setImmediate by default). */
  schedule?: (fn: () => void) => void
}

/** A bounded FIFO handled in slices. */
export class Inbox<T> {
  readonly counters: InboxCounters = {dropped: 0, events: 0, highWater: 0, pending: 0, pendingBytes: 0}
  private items: T[] = []
  private head = 0
  private scheduled = false
  private episodeDropped = 0
  private limits: PendingLimits
  private readonly now: () => number
  private readonly schedule: (fn: () => void) => void

  constructor(private readonly options: InboxOptions<T>) {
    this.limits = options.limits
    this.now = options.now ?? Date.now
    this.schedule = options.schedule ?? ((fn) => setImmediate(fn))
  }

  /** Queues a message; false when it was dropped because the inbox is full. */
  push(item: T): boolean {
    const c = this.counters
    const bytes = this.options.size(item)
    if (c.pending >= this.limits.messages || c.pendingBytes + bytes > this.limits.bytes) {
      c.dropped++
      this.episodeDropped++
      if (c.slowSinceMs === undefined) {
        c.slowSinceMs = this.now()
        c.events++
        this.options.onSlow?.({kind: 'begin'})
      }
      return false
    }
    this.items.push(item)
    c.pending++
    c.pendingBytes += bytes
    if (c.pending > c.highWater) c.highWater = c.pending
    if (!this.scheduled) {
      this.scheduled = true
      this.schedule(() => this.run())
    }
    return true
  }

  /** Handles everything waiting, now (stop). */
  drainAll(): void {
    while (this.counters.pending > 0) this.slice(Number.POSITIVE_INFINITY)
  }

  private run(): void {
    this.scheduled = false
    this.slice(INBOX_SLICE)
    if (this.counters.pending > 0 && !this.scheduled) {
      this.scheduled = true
      this.schedule(() => this.run())
    }
  }

  private slice(max: number): void {
    const c = this.counters
    const end = Math.min(this.items.length, this.head + max)
    while (this.head < end) {
      const item = this.items[this.head]!
      this.items[this.head++] = undefined as T
      c.pending--
      c.pendingBytes -= this.options.size(item)
      this.options.handle(item)
    }
    if (this.head === this.items.length) {
      this.items = []
      this.head = 0
    } else if (this.head >= 65_536) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    if (c.slowSinceMs !== undefined && c.pending <= this.limits.messages / 2 && c.pendingBytes <= this.limits.bytes / 2) {
      const durationMs = this.now() - c.slowSinceMs
      const dropped = this.episodeDropped
      c.slowSinceMs = undefined
      this.episodeDropped = 0
      this.options.onSlow?.({dropped, durationMs, kind: 'end'})
    }
  }
}
