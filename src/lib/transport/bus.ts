/**
 * A plain NATS connection in wire terms, for the central server (and tests): subscribe with a
 * callback, publish with `Diswall-*` headers, answer requests, flush, drain. Hosts use the
 * Transport port instead; this is what the server needs beside it. NATS errors become TransportErrors.
 */
import type {Msg, MsgHdrs, NatsConnection, Subscription} from 'nats'
import {randomBytes} from 'node:crypto'

import {TransportError} from '../errors.js'
import type {HeaderReader} from './codec.js'
import {natsLib} from './nats-lib.js'

/** One received message. */
export interface BusMessage {
  readonly subject: string
  readonly data: Uint8Array
  /** Headers, when the message has any. */
  readonly headers?: HeaderReader
  /** Where a reply goes; "" for a plain publish. */
  readonly reply: string
  /** Answers a request; false when the message was no request. */
  respond(data?: Uint8Array | string, headers?: MsgHdrs): boolean
}

/** A subscription of a Bus. */
export interface BusSubscription {
  unsubscribe(): void
  /** Stops it on the server; resolves once every message sent before has been handed to the callback. */
  drain(): Promise<void>
}

/** Options of {@link connectBus}. */
export interface BusOptions {
  /** `nats://host:port` URLs. */
  servers: string | string[]
  user?: string
  pass?: string
  /** Client name shown by nats-server. */
  name?: string
  /** Prefix of reply subjects of our requests (`_INBOX.C` for an account). */
  inboxPrefix?: string
  /** Do not receive our own publications. */
  noEcho?: boolean
  /** Connection timeout, milliseconds. */
  timeoutMs?: number
  /** Keep reconnecting forever (a service); false: fail once the connection is lost (tests, tools). */
  reconnect?: boolean
}

/** A connection. */
export interface Bus {
  /** The server's max payload, bytes. */
  readonly maxPayload: number
  /** Subscribes; the callback must not throw (a throw is caught and counted by the caller's own try). */
  subscribe(subject: string, callback: (msg: BusMessage) => void, options?: {queue?: string}): BusSubscription
  publish(subject: string, data?: Uint8Array | string, headers?: MsgHdrs): void
  /** A request with one reply; throws TransportError on timeout or no responders. */
  request(subject: string, data?: Uint8Array | string, options?: {headers?: MsgHdrs; timeoutMs?: number}): Promise<BusMessage>
  /**
   * A request whose reply is several messages (a streamed init reply): yields each message until
   * `isLast` says so or `timeoutMs` passes without a message (TransportError).
   */
  requestMany(subject: string, data: Uint8Array | string,
    options: {headers?: MsgHdrs; timeoutMs: number; isLast(msg: BusMessage): boolean}): AsyncGenerator<BusMessage>
  /** Round trip to the server: everything published before has reached it. */
  flush(): Promise<void>
  /** Connection events as text (`disconnect`, `reconnect`, `error …`), for the log. */
  onStatus(listener: (event: string) => void): void
  /** Settles when the connection is closed: undefined after close/drain, the error otherwise. */
  closed(): Promise<Error | void>
  /** Lets subscriptions finish the messages they have, then closes. */
  drain(): Promise<void>
  close(): Promise<void>
}

/** Connects; throws TransportError (E_NATS_UNREACHABLE) when the server cannot be reached or refuses the user. */
export async function connectBus(options: BusOptions): Promise<Bus> {
  let nc: NatsConnection
  try {
    nc = await natsLib().connect({
      inboxPrefix: options.inboxPrefix,
      maxReconnectAttempts: options.reconnect === false ? 0 : -1,
      name: options.name ?? 'diswall',
      noEcho: options.noEcho,
      pass: options.pass,
      reconnect: options.reconnect !== false,
      reconnectTimeWait: 1000,
      servers: options.servers,
      timeout: options.timeoutMs ?? 10_000,
      user: options.user,
    })
  } catch (error) {
    const servers = Array.isArray(options.servers) ? options.servers.join(', ') : options.servers
    throw new TransportError(`cannot connect to NATS at ${servers}: ${(error as Error).message}`, 'E_NATS_UNREACHABLE',
      'Check [nats] server, port, client_name and client_pass, and that nats-server runs.', {cause: error})
  }
  return new NatsBus(nc, options.inboxPrefix ?? '_INBOX')
}

function wrap(msg: Msg): BusMessage {
  return {
    data: msg.data,
    headers: msg.headers,
    reply: msg.reply ?? '',
    respond: (data, headers) => msg.respond(data === undefined ? undefined : typeof data === 'string' ? new TextEncoder().encode(data) : data, {headers}),
    subject: msg.subject,
  }
}

function bytes(data: Uint8Array | string | undefined): Uint8Array | undefined {
  return typeof data === 'string' ? new TextEncoder().encode(data) : data
}

class NatsBus implements Bus {
  readonly maxPayload: number
  private readonly subscriptions = new Set<Subscription>()

  constructor(private readonly nc: NatsConnection, private readonly inboxPrefix: string) {
    this.maxPayload = nc.info?.max_payload ?? 1024 * 1024
  }

  subscribe(subject: string, callback: (msg: BusMessage) => void, options: {queue?: string} = {}): BusSubscription {
    const sub = this.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (error) return
        callback(wrap(msg))
      },
      queue: options.queue,
    })
    this.subscriptions.add(sub)
    return {
      drain: async () => {
        this.subscriptions.delete(sub)
        if (!sub.isClosed()) await sub.drain()
      },
      unsubscribe: () => {
        this.subscriptions.delete(sub)
        sub.unsubscribe()
      },
    }
  }

  publish(subject: string, data?: Uint8Array | string, headers?: MsgHdrs): void {
    try {
      this.nc.publish(subject, bytes(data), {headers})
    } catch (error) {
      throw new TransportError(`cannot publish on ${subject}: ${(error as Error).message}`, 'E_NATS', undefined, {cause: error})
    }
  }

  async request(subject: string, data?: Uint8Array | string, options: {headers?: MsgHdrs; timeoutMs?: number} = {}): Promise<BusMessage> {
    try {
      return wrap(await this.nc.request(subject, bytes(data), {headers: options.headers, timeout: options.timeoutMs ?? 10_000}))
    } catch (error) {
      throw new TransportError(`request on ${subject} failed: ${(error as Error).message}`, 'E_NATS_TIMEOUT',
        'Check that the diswall server runs and that this account may publish there.', {cause: error})
    }
  }

  async* requestMany(subject: string, data: Uint8Array | string,
    {headers, isLast, timeoutMs}: {headers?: MsgHdrs; timeoutMs: number; isLast(msg: BusMessage): boolean}): AsyncGenerator<BusMessage> {
    // A private inbox of our own: nats.js requestMany() ends on the first empty message only with
    // its "sentinel" strategy, and loses messages when the consumer is slower than the sender.
    const inbox = `${this.inboxPrefix}.${randomToken()}`
    const sub = this.nc.subscribe(inbox, {timeout: timeoutMs})
    try {
      await this.nc.flush()
      this.nc.publish(subject, bytes(data), {headers, reply: inbox})
      for await (const msg of sub) {
        const wrapped = wrap(msg)
        yield wrapped
        if (isLast(wrapped)) return
      }
    } catch (error) {
      throw new TransportError(`request on ${subject} failed: ${(error as Error).message}`, 'E_NATS_TIMEOUT',
        'Check that the diswall server runs and that this account may publish there.', {cause: error})
    } finally {
      sub.unsubscribe()
    }
  }

  async flush(): Promise<void> {
    try {
      await this.nc.flush()
    } catch (error) {
      throw new TransportError(`NATS flush failed: ${(error as Error).message}`, 'E_NATS', undefined, {cause: error})
    }
  }

  onStatus(listener: (event: string) => void): void {
    void (async () => {
      for await (const s of this.nc.status()) listener(s.data === undefined ? s.type : `${s.type} ${String(s.data)}`)
    })().catch(() => {})
  }

  async closed(): Promise<Error | void> {
    return this.nc.closed()
  }

  async drain(): Promise<void> {
    if (this.nc.isClosed()) return
    await this.nc.drain().catch(() => {})
  }

  async close(): Promise<void> {
    if (this.nc.isClosed()) return
    await this.nc.close()
  }
}

function randomToken(): string {
  return randomBytes(12).toString('hex')
}
