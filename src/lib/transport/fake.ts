import {EventQueue} from './event-queue.js'
import type {Transport, TransportEvent, TransportSink, WireEntry, WireList} from './port.js'

/** One publication recorded by {@link FakeTransport}. */
export interface Published {
  op: 'add' | 'del'
  list: WireList
  entry: WireEntry
}

/**
 * An in-memory transport for tests of the daemon: it records what is published, and the test hands
 * in other hosts' changes (deliverAdd, deliverDel), list copies (deliverCopy) and connection events
 * (emit, fail) as a real transport would.
 */
export class FakeTransport implements Transport {
  /** Everything published, in order. */
  readonly published: Published[] = []
  private sink: TransportSink | undefined
  private readonly events = new EventQueue<TransportEvent>()
  private ended = false
  private settle!: (result: Error | void) => void
  private readonly whenClosed = new Promise<Error | void>((resolve) => (this.settle = resolve))

  async start(sink: TransportSink): Promise<void> {
    if (this.ended) throw new Error('the fake transport is closed')
    this.sink = sink
    this.emit({type: 'connected', server: 'fake'})
  }

  publishAdd(list: WireList, entry: WireEntry): void {
    this.published.push({entry, list, op: 'add'})
  }

  publishDel(list: WireList, entry: WireEntry): void {
    this.published.push({entry, list, op: 'del'})
  }

  status(): AsyncGenerator<TransportEvent> {
    return this.events.read()
  }

  closed(): Promise<Error | void> {
    return this.whenClosed
  }

  async close(): Promise<void> {
    this.end(undefined)
  }

  /** Another host added an entry: resolves once the daemon has handled it. */
  async deliverAdd(list: WireList, entry: WireEntry): Promise<boolean | void> {
    return this.started().add(list, entry)
  }

  /** Another host deleted an entry: resolves once the daemon has handled it. */
  async deliverDel(list: WireList, entry: WireEntry): Promise<boolean | void> {
    return this.started().del(list, entry)
  }

  /** A full copy of a list (init, re-sync), streamed in batches of `batch` entries (1000 by default). */
  async deliverCopy(list: WireList, entries: Iterable<WireEntry>, batch = 1000): Promise<void> {
    async function* stream(): AsyncGenerator<WireEntry[]> {
      let out: WireEntry[] = []
      for (const entry of entries) {
        out.push(entry)
        if (out.length >= batch) {
          yield out
          out = []
        }
      }
      if (out.length > 0) yield out
    }
    return this.started().replace(list, stream())
  }

  /** Queues a connection event for status() readers. */
  emit(event: TransportEvent): void {
    this.events.push(event)
  }

  /** The transport gives up: an `error` event, then closed() settles with the error. */
  fail(error: Error): void {
    this.emit({error, type: 'error'})
    this.end(error)
  }

  private end(result: Error | void): void {
    if (this.ended) return
    this.ended = true
    this.settle(result)
    this.events.end()
  }

  private started(): TransportSink {
    if (this.sink === undefined) throw new Error('the fake transport was not started')
    return this.sink
  }
}
