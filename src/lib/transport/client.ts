/**
 * The NATS transport: one connection to the cluster (nats.js 2), implementing the {@link Transport}
 * port. A host subscribes to the adds and deletes of the other hosts of its account and to the
 * server's broadcast, hands every valid entry to the daemon's sink, publishes its own reports (queued
 * while NATS is away, kept across a restart) and, after every (re)connect, asks the server for both
 * lists and streams the answer into the sink's replace().
 *
 * Connection: `[nats] server:port`, user/password = client_name/client_pass (or a creds file), TLS
 * with CA and client certificate, unlimited reconnects with back-off and jitter, and replies under the
 * account's own inbox prefix (`_INBOX.C.…`) so a nats-server permission can keep other accounts out.
 */

import type {ConnectionOptions, Msg, MsgHdrs, NatsConnection} from 'nats'
import {readFile} from 'node:fs/promises'

import type {NatsConfig} from '../config/index.js'
import {asDiswallError, TransportError} from '../errors.js'
import {isAddress} from '../net/index.js'
import {
  decodeAdd,
  decodeDel,
  decodeGlobal,
  decodeInitChunk,
  encodeAdd,
  encodeDel,
  entryHeaders,
  HEADER,
  initRequestHeaders,
  streamCount,
} from './codec.js'
import type {DecodeResult, RefusalKind} from './codec.js'
import {EventQueue} from './event-queue.js'
import {natsLib} from './nats-lib.js'
import type {Transport, TransportEvent, TransportSink, WireEntry, WireList} from './port.js'
import {ReportQueue} from './queue.js'
import type {QueuedReport} from './queue.js'
import {hostSubjects, parseSubject} from './subjects.js'
import type {HostSubjects} from './subjects.js'

/** Log levels the transport uses (those of the service logger). */
export type TransportLogLevel = 'debug' | 'error' | 'info' | 'notice' | 'warning'

/** What a message arrived on, as counted. */
export type FeedKind = 'allow.add' | 'allow.del' | 'block.add' | 'block.del' | 'global'

/** Options of {@link NatsTransport}. */
export interface NatsTransportOptions {
  /** `[nats]` of the config. */
  nats: NatsConfig
  /** This host's token in subjects (natsHostname()). */
  host: string
  /**
   * `host`: subscribes to the account's lists and runs init after every (re)connect (the daemon);
   * `publisher`: publishes only (the CLI).
   */
  role?: 'host' | 'publisher'
  /** The offline queue's file (in the state dir); in memory only without one. */
  queuePath?: string
  queueMax?: number
  log?: (level: TransportLogLevel, message: string) => void
  /** Reconnect wait and jitter, ms (1000 and 500 by default; tests shorten them). */
  reconnectWaitMs?: number
  reconnectJitterMs?: number
}

/** The last init of one list. */
export interface InitStatus {
  /** When the answer was complete. */
  at?: string
  /** Entries in the answer (valid ones). */
  entries?: number
  /** Lines of the answer that were refused. */
  refused?: number
  /** ms from the request to the end of the load. */
  ms?: number
  /** Why the last init did not replace the list (no server answered, a cut stream, …). */
  lastError?: string
}

/** State and counters of the connection, for `diswall status` and the metrics. */
export interface TransportStats {
  state: 'closed' | 'connected' | 'connecting' | 'reconnecting'
  server?: string
  account: string
  host: string
  connectedAt?: string
  reconnects: number
  /** Reports waiting for the connection. */
  queued: number
  /** Reports dropped from a full queue. */
  queueDropped: number
  published: number
  /** Valid messages received, per feed. */
  received: Record<FeedKind, number>
  /** Entries the daemon applied, per feed (the rest were refused by the never-ban check or failed). */
  applied: Record<FeedKind, number>
  /** Messages refused before the daemon saw them, per kind. */
  refused: Partial<Record<RefusalKind, number>>
  /** Own messages that came back (ignored). */
  echoes: number
  init: Record<WireList, InitStatus>
}

const FEEDS: readonly FeedKind[] = ['allow.add', 'allow.del', 'block.add', 'block.del', 'global']

/** Own reports remembered for the merge with an init answer (published but maybe not yet stored by the server). */
const RECENT_OWN_MAX = 10_000
const RECENT_OWN_MS = 10 * 60_000

/** Initial connect attempts: back-off from 250 ms doubling up to this, plus jitter. */
const CONNECT_BACKOFF_MAX_MS = 5000

/** Connection events kept for a status() reader that lags (or none); the oldest go first. */
const STATUS_EVENTS_MAX = 1000

/** `host:port` for nats.js: IPv6 addresses in brackets. */
export function natsServerUrl(server: string, port: number): string {
  return server.includes(':') ? `[${server}]:${port}` : `${server}:${port}`
}

/** The nats.js connection options of a `[nats]` section. Reads the creds file. */
export async function natsConnectionOptions(nats: NatsConfig, name: string,
  tune: {reconnectWaitMs?: number; reconnectJitterMs?: number} = {}): Promise<ConnectionOptions> {
  const options: ConnectionOptions = {
    ignoreClusterUpdates: false,
    inboxPrefix: hostSubjects(nats.client_name, 'x').inbox,
    maxPingOut: 2,
    maxReconnectAttempts: -1,
    name,
    pingInterval: 15_000,
    reconnect: true,
    reconnectJitter: tune.reconnectJitterMs ?? 500,
    reconnectJitterTLS: tune.reconnectJitterMs ?? 1000,
    reconnectTimeWait: tune.reconnectWaitMs ?? 1000,
    servers: [natsServerUrl(nats.server, nats.port)],
    timeout: Math.max(1, nats.connect_timeout) * 1000,
  }
  if (nats.creds !== '') {
    try {
      options.authenticator = natsLib().credsAuthenticator(await readFile(nats.creds))
    } catch (error) {
      throw new TransportError(`cannot read the NATS credentials file ${nats.creds}: ${(error as Error).message}`, 'E_NATS_CREDS',
        'Check [nats] creds: the file must exist and be readable by root.', {cause: error})
    }
  } else {
    options.user = nats.client_name
    options.pass = nats.client_pass
  }
  if (nats.tls || nats.tls_ca !== '' || nats.tls_cert !== '') {
    options.tls = {
      ...(nats.tls_ca === '' ? {} : {caFile: nats.tls_ca}),
      ...(nats.tls_cert === '' ? {} : {certFile: nats.tls_cert}),
      ...(nats.tls_key === '' ? {} : {keyFile: nats.tls_key}),
    }
  }
  return options
}

/** Turns a nats.js error into a TransportError with a hint. */
export function transportError(error: unknown, server: string): TransportError {
  if (error instanceof TransportError) return error
  const message = error instanceof Error ? error.message : String(error)
  const code = (error as {code?: string}).code ?? ''
  if (/AUTHORIZATION|Authorization/i.test(`${code} ${message}`)) {
    return new TransportError(`NATS server ${server} refused the login: ${message}`, 'E_NATS_AUTH',
      'Check [nats] client_name and client_pass (or creds).', {cause: error})
  }
  if (/TIMEOUT|ECONNREFUSED|CONNECTION_REFUSED|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH/i.test(`${code} ${message}`)) {
    return new TransportError(`NATS server ${server} cannot be reached: ${message}`, 'E_NATS_UNREACHABLE',
      'Check [nats] server and port, and that nats-server runs and the network allows the connection.', {cause: error})
  }
  return new TransportError(`NATS: ${message}`, 'E_NATS', 'Check the NATS server and [nats] in the config.', {cause: error})
}

/** The NATS transport of a host (the daemon) or of a one-shot publisher (the CLI). */
export class NatsTransport implements Transport {
  readonly subjects: HostSubjects
  private readonly queue: ReportQueue
  private nc: NatsConnection | undefined
  private sink: TransportSink | undefined
  private state: TransportStats['state'] = 'connecting'
  private readonly counters: Omit<TransportStats, 'account' | 'host' | 'queueDropped' | 'queued' | 'state'>
  private readonly loggedRefusals = new Set<RefusalKind>()
  private readonly events = new EventQueue<TransportEvent>(STATUS_EVENTS_MAX)
  private ended = false
  private settle!: (result: Error | void) => void
  private readonly whenClosed = new Promise<Error | void>((resolve) => (this.settle = resolve))
  private readonly inFlight = new Set<Promise<unknown>>()
  private readonly recentOwn = new Map<string, {at: number; entry: WireEntry; list: WireList}>()
  private initRunning: Promise<void> | undefined
  private initAgain = false
  private connectLoop: Promise<void> | undefined
  private abortConnect: (() => void) | undefined
  private readonly log: (level: TransportLogLevel, message: string) => void
  private readonly role: 'host' | 'publisher'

  constructor(private readonly options: NatsTransportOptions) {
    this.subjects = hostSubjects(options.nats.client_name, options.host)
    this.role = options.role ?? 'host'
    this.log = options.log ?? (() => {})
    this.queue = new ReportQueue({
      max: options.queueMax,
      onError: (message) => this.log('warning', `offline queue: ${message}`),
      ...(options.queuePath === undefined ? {} : {path: options.queuePath}),
    })
    const zero = (): Record<FeedKind, number> => Object.fromEntries(FEEDS.map((f) => [f, 0])) as Record<FeedKind, number>
    this.counters = {applied: zero(), echoes: 0, init: {allow: {}, block: {}}, published: 0, received: zero(), reconnects: 0, refused: {}}
  }

  /** Where the server is, for logs. */
  get server(): string {
    return natsServerUrl(this.options.nats.server, this.options.nats.port)
  }

  /** True while a connection is up. */
  get connected(): boolean {
    return this.state === 'connected'
  }

  /**
   * Connects and starts delivering to `sink`. Resolves once connected, or after `connect_timeout` while
   * it goes on trying in the background (reports are queued meanwhile, and `status` says
   * `reconnecting`): a host whose NATS server is away still protects itself. Throws TransportError
   * only for what retrying cannot fix (an unreadable creds file).
   */
  async start(sink: TransportSink): Promise<void> {
    if (this.ended) throw new TransportError('the NATS transport is closed')
    this.sink = sink
    const loaded = await this.queue.load()
    if (loaded > 0) this.log('notice', `${loaded} reports queued by a previous run will be sent once NATS is connected`)
    const options = await natsConnectionOptions(this.options.nats, `diswall ${this.options.host}`, this.options)
    const first = new Promise<boolean>((resolve) => {
      this.connectLoop = this.connectUntilUp(options, resolve)
    })
    const timeoutMs = Math.max(1, this.options.nats.connect_timeout) * 1000
    let timer: NodeJS.Timeout | undefined
    const up = await Promise.race([first, new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))])
    clearTimeout(timer)
    // Started means subscribed: the server has the subscriptions once it answers a ping after them
    // (a message published elsewhere right after start() would otherwise miss this host).
    if (up && this.nc !== undefined) {
      await Promise.race([this.nc.flush().catch(() => {}), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())])
    }
    if (!up) {
      this.state = 'reconnecting'
      this.log('warning', `NATS server ${this.server} not reachable within ${timeoutMs / 1000} s; working locally, ` +
        'own reports are queued, retrying in the background')
    }
  }

  /**
   * Connects once, for a one-shot command: resolves when connected, throws TransportError when the
   * server cannot be reached within `connect_timeout` (no background retries).
   */
  async connectOnce(): Promise<void> {
    const options = await natsConnectionOptions(this.options.nats, `diswall ${this.options.host}`, this.options)
    options.reconnect = false
    options.maxReconnectAttempts = 0
    try {
      this.attach(await natsLib().connect(options))
    } catch (error) {
      throw transportError(error, this.server)
    }
  }

  publishAdd(list: WireList, entry: WireEntry): void {
    this.rememberOwn(list, entry)
    this.send('add', list, entry)
  }

  publishDel(list: WireList, entry: WireEntry): void {
    this.recentOwn.delete(`${list} ${entry.target.text}`)
    this.send('del', list, entry)
  }

  /** Publishes a raw statistics payload (JSON) on this host's stats subject; dropped while disconnected. */
  publishStats(json: string): boolean {
    if (this.nc === undefined || !this.connected) return false
    try {
      this.nc.publish(this.subjects.stats, new TextEncoder().encode(json))
      return true
    } catch {
      return false
    }
  }

  /** Waits until everything published reached the server (the CLI before it exits). Throws TransportError. */
  async flush(timeoutMs = Math.max(1, this.options.nats.connect_timeout) * 1000): Promise<void> {
    if (this.nc === undefined) throw new TransportError('not connected to NATS', 'E_NATS_UNREACHABLE')
    let timer: NodeJS.Timeout | undefined
    try {
      await Promise.race([this.nc.flush(), new Promise<never>((_, reject) => (timer = setTimeout(
        () => reject(new TransportError(`NATS server ${this.server} did not confirm within ${timeoutMs} ms`, 'E_NATS_TIMEOUT')), timeoutMs)))])
    } catch (error) {
      throw transportError(error, this.server)
    } finally {
      clearTimeout(timer)
    }
  }

  status(): AsyncGenerator<TransportEvent> {
    return this.events.read()
  }

  closed(): Promise<Error | void> {
    return this.whenClosed
  }

  async close(): Promise<void> {
    if (this.ended) return
    this.ended = true
    this.abortConnect?.()
    await this.connectLoop
    const nc = this.nc
    if (nc !== undefined && !nc.isClosed()) {
      // What is published is sent before the connection goes; a lost server must not hold the stop up.
      await Promise.race([nc.flush().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
      await nc.close().catch(() => {})
    }
    await Promise.allSettled([...this.inFlight])
    await this.initRunning?.catch(() => {})
    await this.queue.flush()
    this.state = 'closed'
    this.settle(undefined)
    this.events.end()
  }

  /** The connection's state and counters. */
  stats(): TransportStats {
    return {
      ...this.counters,
      account: this.subjects.account,
      applied: {...this.counters.applied},
      host: this.subjects.host,
      init: {allow: {...this.counters.init.allow}, block: {...this.counters.init.block}},
      queueDropped: this.queue.dropped,
      queued: this.queue.size,
      received: {...this.counters.received},
      refused: {...this.counters.refused},
      state: this.state,
      ...(this.connected ? {server: this.server} : {}),
    }
  }

  /**
   * For a one-shot command after connectOnce(): runs init for both lists into `sink` and returns what
   * became of each (InitStatus.lastError when a list was left as it was).
   */
  async initOnce(sink: TransportSink): Promise<Record<WireList, InitStatus>> {
    this.sink = sink
    await this.init()
    return this.stats().init
  }

  /** Runs init for both lists now (after a connect; `diswall sync init`). */
  async init(): Promise<void> {
    if (this.initRunning !== undefined) {
      this.initAgain = true
      return this.initRunning
    }
    this.initRunning = (async () => {
      do {
        this.initAgain = false
        await Promise.all((['block', 'allow'] as const).map((list) => this.initList(list)))
      } while (this.initAgain && !this.ended && this.connected)
    })().finally(() => (this.initRunning = undefined))
    return this.initRunning
  }

  // ---- connection ----

  private async connectUntilUp(options: ConnectionOptions, firstUp: (up: boolean) => void): Promise<void> {
    let delay = 250
    let reported = false
    while (!this.ended) {
      try {
        const nc = await natsLib().connect(options)
        if (this.ended) {
          await nc.close().catch(() => {})
          break
        }
        this.attach(nc)
        firstUp(true)
        this.onConnected()
        return
      } catch (error) {
        const problem = transportError(error, this.server)
        if (!reported) {
          this.emit({error: problem, type: 'error'})
          reported = true
        }
        this.log('debug', `NATS connect failed: ${problem.message}`)
      }
      const wait = delay + Math.floor(Math.random() * delay * 0.3)
      delay = Math.min(delay * 2, CONNECT_BACKOFF_MAX_MS)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, wait)
        this.abortConnect = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.abortConnect = undefined
    }
    firstUp(false)
  }

  private attach(nc: NatsConnection): void {
    this.nc = nc
    this.state = 'connected'
    this.counters.connectedAt = new Date().toISOString()
    this.emit({server: nc.getServer(), type: 'connected'})
    if (this.role === 'host') this.subscribe(nc)
    void this.watch(nc)
  }

  private async watch(nc: NatsConnection): Promise<void> {
    try {
      for await (const s of nc.status()) {
        if (s.type === 'disconnect') {
          this.state = 'reconnecting'
          this.emit({server: String(s.data), type: 'disconnected'})
        } else if (s.type === 'reconnecting') {
          if (this.state !== 'reconnecting') this.emit({type: 'reconnecting'})
          this.state = 'reconnecting'
        } else if (s.type === 'reconnect') {
          this.state = 'connected'
          this.counters.reconnects++
          this.counters.connectedAt = new Date().toISOString()
          this.emit({server: String(s.data), type: 'connected'})
          this.onConnected()
        } else if (s.type === 'error') {
          this.emit({error: transportError(s.data, this.server), type: 'error'})
        }
      }
    } catch {
      // The status iterator ends with the connection.
    }
    const result = await nc.closed()
    if (!this.ended && result instanceof Error) {
      this.state = 'closed'
      this.emit({error: transportError(result, this.server), type: 'error'})
      this.ended = true
      this.settle(transportError(result, this.server))
      this.events.end()
    }
  }

  /** After a (re)connect: the queued reports go out, then init (hosts). */
  private onConnected(): void {
    this.flushQueue()
    if (this.role === 'host' && this.sink !== undefined) {
      this.track(this.init().catch((error: unknown) => this.log('warning', `init failed: ${asDiswallError(error).message}`)))
    }
  }

  private flushQueue(): void {
    const reports = this.queue.takeAll()
    if (reports.length === 0) return
    const failed: QueuedReport[] = []
    for (const report of reports) {
      if (!this.publishNow(report.op, report.list, report.entry)) failed.push(report)
    }
    if (failed.length > 0) this.queue.putBack(failed)
    this.log('notice', `sent ${reports.length - failed.length} queued reports${failed.length > 0 ? `, ${failed.length} still queued` : ''}`)
    // Core NATS keeps nothing for hosts that are not connected: after a server restart the other hosts
    // reconnect within one reconnect wait (plus jitter), maybe after this one. The reports go out once
    // more when they all should be back (adds and deletes are idempotent); the server's init covers
    // whatever is later still.
    const sent = reports.filter((r) => !failed.includes(r))
    const resendMs = 2 * (this.options.reconnectWaitMs ?? 1000) + (this.options.reconnectJitterMs ?? 500) + 500
    const timer = setTimeout(() => {
      if (this.ended || !this.connected) return
      for (const report of sent) this.publishNow(report.op, report.list, report.entry)
    }, resendMs)
    timer.unref()
  }

  // ---- publishing ----

  private send(op: 'add' | 'del', list: WireList, entry: WireEntry): void {
    if (this.connected && this.publishNow(op, list, entry)) return
    this.queue.add(op, list, entry)
  }

  private publishNow(op: 'add' | 'del', list: WireList, entry: WireEntry): boolean {
    const nc = this.nc
    if (nc === undefined || nc.isClosed()) return false
    const subject = this.subjects.own(list, op)
    const payload = op === 'add' ? encodeAdd(list, entry) : encodeDel(entry)
    const headers = op === 'add' ? entryHeaders({...entry, origin: this.subjects.host}) : undefined
    try {
      nc.publish(subject, payload, headers === undefined ? undefined : {headers})
      this.counters.published++
      return true
    } catch {
      return false
    }
  }

  private rememberOwn(list: WireList, entry: WireEntry): void {
    const key = `${list} ${entry.target.text}`
    this.recentOwn.delete(key)
    this.recentOwn.set(key, {at: Date.now(), entry, list})
    if (this.recentOwn.size > RECENT_OWN_MAX) this.recentOwn.delete(this.recentOwn.keys().next().value!)
  }

  // ---- receiving ----

  private subscribe(nc: NatsConnection): void {
    const feeds: Array<[string, FeedKind]> = [
      [this.subjects.fleet('block', 'add'), 'block.add'],
      [this.subjects.fleet('block', 'del'), 'block.del'],
      [this.subjects.fleet('allow', 'add'), 'allow.add'],
      [this.subjects.fleet('allow', 'del'), 'allow.del'],
      [this.subjects.global, 'global'],
    ]
    for (const [subject, feed] of feeds) {
      nc.subscribe(subject, {callback: (error, msg) => {
        if (error === null) this.receive(feed, msg)
      }})
    }
  }

  private receive(feed: FeedKind, msg: Msg): void {
    let origin: string | undefined
    if (feed !== 'global') {
      const parsed = parseSubject(msg.subject)
      if (parsed.kind === 'subject') return this.refuse(feed, {kind: 'subject', reason: parsed.reason})
      if (parsed.kind !== 'list') return this.refuse(feed, {kind: 'subject', reason: `unexpected subject ${msg.subject}`})
      if (parsed.account !== this.subjects.account) {
        return this.refuse(feed, {kind: 'account', reason: `a message of account ${parsed.account}`})
      }
      if (parsed.host === this.subjects.host) {
        this.counters.echoes++
        return
      }
      origin = parsed.host
    }
    const list: WireList = feed.startsWith('allow') ? 'allow' : 'block'
    const headers = msg.headers as MsgHdrs | undefined
    const result: DecodeResult = feed === 'global' ? decodeGlobal(msg.data, headers)
      : feed.endsWith('.del') ? decodeDel(msg.data, headers) : decodeAdd(list, msg.data, headers)
    if (!result.ok) return this.refuse(feed, result)
    const entry = result.entry
    entry.origin ??= origin ?? 'server'
    this.counters.received[feed]++
    const sink = this.sink
    if (sink === undefined) return
    const work = feed.endsWith('.del') ? sink.del(list, entry) : sink.add(list, entry)
    this.track(work.then((applied) => {
      if (applied !== false) this.counters.applied[feed]++
    }, (error: unknown) => this.log('error', `applying ${entry.target.text} from ${entry.origin} failed: ${asDiswallError(error).message}`)))
  }

  private refuse(feed: FeedKind | `init ${WireList}`, refusal: {kind: RefusalKind; reason: string}): void {
    this.counters.refused[refusal.kind] = (this.counters.refused[refusal.kind] ?? 0) + 1
    if (this.loggedRefusals.has(refusal.kind)) return
    this.loggedRefusals.add(refusal.kind)
    this.log('warning', `dropped a ${feed} message (${refusal.kind}): ${refusal.reason}; further ${refusal.kind} refusals are only counted`)
  }

  // ---- init ----

  private async initList(list: WireList): Promise<void> {
    const nc = this.nc
    const sink = this.sink
    if (nc === undefined || sink === undefined || nc.isClosed()) return
    const status = this.counters.init[list]
    const started = Date.now()
    const timeoutMs = Math.max(1, this.options.nats.request_timeout) * 1000
    const inbox = natsLib().createInbox(this.subjects.inbox)
    const sub = nc.subscribe(inbox)
    const messages = sub[Symbol.asyncIterator]()
    const next = async (what: string): Promise<Msg> => {
      let timer: NodeJS.Timeout | undefined
      try {
        const got = await Promise.race([messages.next(), new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)))])
        if (got === 'timeout') throw new TransportError(`${what} within ${timeoutMs / 1000} s`, 'E_NATS_TIMEOUT')
        if (got.done) throw new TransportError(`the connection closed while ${what}`, 'E_NATS')
        return got.value
      } finally {
        clearTimeout(timer)
      }
    }
    try {
      nc.publish(this.subjects.own(list, 'init'), natsLib().Empty, {headers: initRequestHeaders(true), reply: inbox})
      const first = await next('no server answered the init request')
      if (first.headers?.hasError === true || first.headers?.code === 503) {
        throw new TransportError('no server answers init requests (no responders)', 'E_NATS_NO_RESPONDERS')
      }
      let entries = 0
      let refused = 0
      let complete = false
      let broke: unknown
      const refuse = (r: {kind: RefusalKind; reason: string}): void => this.refuse(`init ${list}`, r)
      const recentOwn = this.recentOwn
      async function* stream(): AsyncGenerator<WireEntry[]> {
        try {
          yield* batches()
        } catch (error) {
          broke = error
          throw error
        }
      }
      async function* batches(): AsyncGenerator<WireEntry[]> {
        let msg = first
        for (;;) {
          const streamed = msg.headers?.get(HEADER.stream) === '1'
          if (msg.data.length === 0) {
            const expected = streamCount(msg.headers)
            if (expected !== undefined && expected !== entries + refused) {
              throw new TransportError(`the init answer announced ${expected} entries but held ${entries + refused}`, 'E_NATS_INIT')
            }
            break
          }
          // One batch per message: this message's entries are held, never the whole list.
          const batch: WireEntry[] = []
          for (const r of decodeInitChunk(list, msg.data)) {
            if (r.ok) batch.push(r.entry)
            else {
              refused++
              refuse(r)
            }
          }
          entries += batch.length
          if (batch.length > 0) yield batch
          if (!streamed) break // one message: the whole answer (an original server)
          msg = await next(`the init answer stopped after ${entries + refused} entries`)
        }
        // Own reports of the last minutes: the server may not have stored them when it answered.
        const cutoff = Date.now() - RECENT_OWN_MS
        const own = [...recentOwn.values()].filter((r) => r.list === list && r.at >= cutoff &&
          (list === 'allow' || isAddress(r.entry.target) || r.entry.target.prefix > 0)).map((r) => r.entry)
        if (own.length > 0) yield own
        complete = true
      }
      await sink.replace(list, stream())
      // A sink that swallowed the failure of a cut answer: the reason is the stream's own.
      if (broke !== undefined) throw broke
      if (!complete) throw new TransportError('the list was not replaced (see the log)', 'E_NATS_INIT')
      Object.assign(status, {at: new Date().toISOString(), entries, ms: Date.now() - started, refused})
      delete status.lastError
      this.log('info', `init ${list}: ${entries} entries${refused > 0 ? `, ${refused} refused` : ''} in ${Date.now() - started} ms`)
    } catch (error) {
      const message = asDiswallError(error).message
      status.lastError = message
      this.log('warning', `init of the ${list} list: ${message}; the current ${list} set is kept`)
    } finally {
      sub.unsubscribe()
    }
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work)
    void work.finally(() => this.inFlight.delete(work))
  }

  private emit(event: TransportEvent): void {
    this.events.push(event)
  }
}
