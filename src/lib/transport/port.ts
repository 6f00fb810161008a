/**
 * What a transport (NATS) offers the daemon, in wire terms: entries of the two shared lists, published
 * and received as adds and deletes, full copies of a list as a stream (init, re-sync), and the state
 * of the connection. The transport owns this interface; the daemon adapts to it and converts its own
 * detection types to wire entries.
 */
import type {Address, Network} from '../net/index.js'

/** The two lists hosts share: bans (`block`) and allow entries (`allow`). */
export type WireList = 'allow' | 'block'

/** One entry as it travels between hosts. */
export interface WireEntry {
  /** A single address, or a network (an IPv6 group ban, an allowed network). */
  target: Address | Network
  /** Why it was banned (the `IP|TAG` tag: `ssh`, `port-scan 23/tcp`, …). */
  tag?: string
  /** Seconds until the entry expires; the receiver's default when left out. */
  ttlSec?: number
  /** Stored with allow entries. */
  comment?: string
  /** The host (or server) that reported it. */
  origin?: string
}

/** What the daemon gives a transport: where other hosts' changes and list copies go. */
export interface TransportSink {
  /**
   * Another host added an entry. The daemon decides (never-ban check) and applies it; resolves to
   * false when it did not (refused or failed), which the transport counts.
   */
  add(list: WireList, entry: WireEntry): Promise<boolean | void>
  /** Another host (or the server) deleted an entry; resolves to false when that failed. */
  del(list: WireList, entry: WireEntry): Promise<boolean | void>
  /**
   * A full copy of a list (init at start, re-sync after a reconnect): it replaces the list in one
   * swap. The stream is read once, to its end, as it arrives: one batch of valid entries per network
   * message (a 1M-entry list is never held whole; a batch per entry would cost an async step each).
   * It throws where the copy broke off (then nothing may be replaced); resolves when the copy is in place.
   */
  replace(list: WireList, batches: AsyncIterable<readonly WireEntry[]>): Promise<void>
}

/** A change of the connection, as nats.js reports them. */
export type TransportEvent =
  | {type: 'connected' | 'disconnected' | 'reconnecting'; server?: string}
  | {type: 'error'; error: Error}

/** A transport: one connection to the cluster, started once, closed once. */
export interface Transport {
  /**
   * Connects and starts delivering to `sink`; resolves once connected, or (NATS) once the connect
   * timeout has passed while it keeps trying in the background. Throws TransportError for what
   * retrying cannot fix.
   */
  start(sink: TransportSink): Promise<void>
  /** Publishes an entry this host added (fire and forget: a lost message is re-synced later). */
  publishAdd(list: WireList, entry: WireEntry): void
  /** Publishes an entry this host deleted. */
  publishDel(list: WireList, entry: WireEntry): void
  /** The connection's events, from start() until the transport is closed; read by one consumer. */
  status(): AsyncIterable<TransportEvent>
  /** Settles when the transport is closed: undefined after close(), the error when it gave up. */
  closed(): Promise<Error | void>
  /** Closes the connection; safe to call twice. */
  close(): Promise<void>
}
