/**
 * The connection events behind `Transport.status()`: the transport pushes them as they happen, and one
 * reader takes them in order, waiting while there are none, until the transport ends.
 */

/** A FIFO of events for one reader; the oldest are dropped beyond `max`, so an unread queue stays bounded. */
export class EventQueue<T> {
  private readonly items: T[] = []
  private wake: (() => void) | undefined
  private ended = false

  constructor(private readonly max = Number.POSITIVE_INFINITY) {}

  /** Adds an event and wakes the reader. */
  push(event: T): void {
    this.items.push(event)
    if (this.items.length > this.max) this.items.shift()
    this.wake?.()
  }

  /** No more events: the reader gets what is queued, then its stream ends. */
  end(): void {
    this.ended = true
    this.wake?.()
  }

  /** The events in order, as they come; returns once end() was called and the queue is empty. */
  async *read(): AsyncGenerator<T> {
    for (;;) {
      const event = this.items.shift()
      if (event !== undefined) {
        yield event
        continue
      }
      if (this.ended) return
      await new Promise<void>((resolve) => (this.wake = resolve))
      this.wake = undefined
    }
  }
}
