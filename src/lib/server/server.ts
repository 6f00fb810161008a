/**
 * `diswall server`: the central service. It subscribes to the adds, deletes and init requests of
 * every account and to host statistics, hands each message to the core (validate, rate-limit,
 * escalate, store), answers init requests from the store (streamed when asked), broadcasts trusted
 * bans on `diswall.blacklist.new`, and serves its status on a control socket and as metrics.
 */
import {lookup} from 'node:dns/promises'
import {networkInterfaces} from 'node:os'
import {setImmediate as yieldToLoop} from 'node:timers/promises'

import {loadConfig} from '../config/index.js'
import type {Config} from '../config/index.js'
import {DiswallError, ExitCode, StoreError} from '../errors.js'
import {NetworkList, parseAddress, parseTarget} from '../net/index.js'
import type {NeverBanContext} from '../net/index.js'
import {openControlServer, openMetricsServer} from '../service/index.js'
import type {ControlServer, Logger, MetricsServer} from '../service/index.js'
import {acquirePidLock} from '../system/index.js'
import type {HeldLock} from '../system/index.js'
import {
  ANY,
  connectBus,
  DEFAULT_ACCOUNT_GLOBAL_SUBJECT,
  decodeAdd,
  decodeDel,
  encodeAdd,
  encodeGlobal,
  endOfStreamHeaders,
  streamChunkHeaders,
  entryHeaders,
  errorHeaders,
  GLOBAL_BLOCK_SUBJECT,
  initReplyChunks,
  isSubjectRefusal,
  listSubject,
  listWildcard,
  parseSubject,
  wantsStream,
} from '../transport/index.js'
import type {Bus, BusMessage, ParsedSubject, SubjectRefusal} from '../transport/index.js'
import {LIST_LIMITS, ServerCore} from './core.js'
import type {CorePolicy} from './core.js'
import {Inbox, PENDING_LIMITS} from './inbox.js'
import type {InboxCounters, PendingLimits} from './inbox.js'
import {serverMetricFamilies, SERVER_SERVICE} from './status.js'
import type {ServerStatus} from './status.js'
import {openSqliteStore} from './store/index.js'
import type {BanStore, SqliteStoreOptions} from './store/index.js'

/** How often expired entries are swept, milliseconds. */
const SWEEP_INTERVAL_MS = 60_000
/** Longest statistics payload accepted, bytes. */
const MAX_STATS_BYTES = 4096
/** Warnings about refused reports logged per 10 s at most; the rest are counted and summed up. */
const LOG_BURST = 20
/** Init reply messages sent between two flushes (bounds what waits in the client's buffer). */
const CHUNKS_PER_FLUSH = 16
/** How long stop() waits for NATS to confirm the end of the subscriptions, milliseconds. */
const DRAIN_TIMEOUT_MS = 5000
/** Parsed subjects kept (hosts publish on a few subjects each); the cache is emptied when full. */
const SUBJECT_CACHE_MAX = 10_000
/** The host token the server publishes under when it tells an account about an escalated ban. */
const SERVER_HOST = 'diswall-server'

/** Options of {@link DiswallServer}. */
export interface ServerOptions {
  config: Config
  configPath: string
  logger: Logger
  version: string
  /** The clock, milliseconds (tests). */
  now?: () => number
  store?: SqliteStoreOptions
  /** Pending limits of the subscriptions; {@link PENDING_LIMITS} by default (tests set small ones). */
  pending?: PendingLimits
}

/** A message waiting in the inbox with its handler. */
interface Pending {
  msg: BusMessage
  handle(msg: BusMessage): void
}

/** The server: start() once, stop() once; reload() on SIGHUP. */
export class DiswallServer {
  private config: Config
  private store: BanStore | undefined
  private lock: HeldLock | undefined
  private core: ServerCore | undefined
  private bus: Bus | undefined
  private control: ControlServer | undefined
  private metrics: MetricsServer | undefined
  private sweepTimer: NodeJS.Timeout | undefined
  private rateTimer: NodeJS.Timeout | undefined
  private readonly rateRing: number[] = []
  private connected = false
  private invalid = 0
  private errors = 0
  private truncated = 0
  private readonly startedAt: number
  private loadedAt: number
  private lastReloadError: string | undefined
  private logWindow = {at: 0, logged: 0, suppressed: 0}
  private readonly now: () => number
  private readonly subjects = new Map<string, ParsedSubject>()
  private readonly inbox: Inbox<Pending>
  private readonly pendingLimits: PendingLimits
  private readonly subscriptions: Array<{drain(): Promise<void>}> = []
  private disconnects = 0

  constructor(private readonly options: ServerOptions) {
    this.config = options.config
    this.now = options.now ?? Date.now
    this.startedAt = this.now()
    this.loadedAt = this.startedAt
    this.pendingLimits = options.pending ?? PENDING_LIMITS
    this.inbox = new Inbox<Pending>({
      handle: (p) => p.handle(p.msg),
      limits: this.pendingLimits,
      now: this.now,
      onSlow: (event) => this.onSlowConsumer(event),
      size: (p) => p.msg.data.byteLength + p.msg.subject.length,
    })
  }

  /** Opens the store, the control socket, metrics, then NATS; resolves once subscribed ("ready"). */
  async start(): Promise<void> {
    const {config, logger} = this.options
    if (config.server.db !== ':memory:') this.lock = await lockStore(config.server.db)
    this.store = openSqliteStore(config.server.db, this.options.store)
    this.core = new ServerCore(this.store, corePolicy(config), await neverBanContext(config), this.now)
    const swept = this.core.sweep()
    logger.log('info', `store ${config.server.db}: ${this.core.entryCounts().reduce((n, c) => n + c.entries, 0)} entries`
      + (swept > 0 ? `, ${swept} expired removed` : ''))

    this.control = await openControlServer(config.server.socket, {
      reload: () => this.reload(),
      status: () => this.status(),
    }, SERVER_SERVICE)
    if (config.metrics.listen !== '') {
      this.metrics = await openMetricsServer(config.metrics.listen, () => serverMetricFamilies(this.status()), SERVER_SERVICE)
    }

    const {nats} = config
    if (nats.server === '') {
      throw new DiswallError('the diswall server needs NATS: [nats] server is empty', 'E_CONFIG', 3,
        'Set [nats] server (and port, client_name, client_pass of the server user) in the config.')
    }
    this.bus = await connectBus({
      name: 'diswall-server', noEcho: true, pass: nats.client_pass, reconnect: true,
      servers: `nats://${nats.server.includes(':') ? `[${nats.server}]` : nats.server}:${nats.port}`,
      timeoutMs: nats.connect_timeout * 1000, user: nats.client_name,
    })
    this.connected = true
    this.bus.onStatus((event) => {
      if (event.startsWith('disconnect')) {
        this.connected = false
        this.disconnects++
      }
      if (event.startsWith('reconnect') && !event.startsWith('reconnecting')) this.connected = true
      if (!event.startsWith('pingTimer')) logger.log(event.startsWith('error') ? 'warning' : 'info', `nats: ${event}`)
    })
    // Every message goes through the inbox (the pending limits), in the order it arrived.
    const receive = (handle: (msg: BusMessage) => void) => (msg: BusMessage): void => {
      this.inbox.push({handle, msg})
    }
    this.subscriptions.push(
      this.bus.subscribe(listWildcard(ANY, 'add', ANY, ANY), receive((msg) => this.guard(() => this.onAdd(msg)))),
      this.bus.subscribe(listWildcard(ANY, 'del', ANY, ANY), receive((msg) => this.guard(() => this.onDel(msg)))),
      this.bus.subscribe(listWildcard(ANY, 'init', ANY, ANY), receive((msg) => {
        this.onInit(msg).catch((error: unknown) => this.failure(`init reply on ${msg.subject}`, error))
      })),
    )
    await this.bus.flush()

    this.sweepTimer = setInterval(() => this.guard(() => this.core?.sweep()), SWEEP_INTERVAL_MS)
    this.rateTimer = setInterval(() => {
      this.rateRing.push(this.core?.counters.reports ?? 0)
      if (this.rateRing.length > 11) this.rateRing.shift()
    }, 1000)
    this.rateTimer.unref()
    logger.log('notice', `ready: ${this.bus.maxPayload} bytes max payload, honeypots [${[...config.nats.honeypots].join(', ')}], `
      + `global after ${config.server.global_min_accounts} accounts, ${config.server.account_rate_limit} reports/s per account`)
  }

  /** Stops taking messages, answers what arrived, commits every pending write and closes. */
  async stop(): Promise<void> {
    clearInterval(this.sweepTimer)
    clearInterval(this.rateTimer)
    // Stop the subscriptions (what nats-server sent before still arrives), handle every message that
    // waits, then close: each request that arrived gets its answer.
    // NATS unreachable: do not wait for it longer than DRAIN_TIMEOUT_MS.
    let timer: NodeJS.Timeout | undefined
    await Promise.race([
      Promise.all(this.subscriptions.map((sub) => sub.drain().catch(() => {}))),
      new Promise((resolve) => {
        timer = setTimeout(resolve, DRAIN_TIMEOUT_MS)
      }),
    ])
    clearTimeout(timer)
    this.inbox.drainAll()
    await this.bus?.drain()
    this.connected = false
    this.store?.close()
    await this.metrics?.close()
    await this.control?.close()
    await this.lock?.release()
  }

  /** Re-reads the config: escalation, trust, limits and never-ban take effect at once; NATS and the db need a restart. */
  async reload(): Promise<{reloaded: boolean; error?: string}> {
    const {logger} = this.options
    try {
      const {config} = await loadConfig(this.options.configPath)
      this.core?.reconfigure(corePolicy(config), await neverBanContext(config))
      const restart = config.server.db !== this.config.server.db || config.nats.server !== this.config.nats.server
        || config.nats.port !== this.config.nats.port || config.nats.client_name !== this.config.nats.client_name
      this.config = config
      this.loadedAt = this.now()
      this.lastReloadError = undefined
      logger.log('notice', `config reloaded from ${this.options.configPath}${restart ? ' ([server] db and NATS settings apply after a restart)' : ''}`)
      return {reloaded: true}
    } catch (error) {
      this.lastReloadError = (error as Error).message
      logger.log('error', `reload failed, the running config stays: ${this.lastReloadError}`)
      return {error: this.lastReloadError, reloaded: false}
    }
  }

  /** The status (see ServerStatus). */
  status(): ServerStatus {
    const core = this.core
    const c = core?.counters
    const now = this.now()
    const ring = this.rateRing
    const perSec = ring.length >= 2 ? (ring.at(-1)! - ring[0]!) / (ring.length - 1) : 0
    const {nats} = this.config
    return {
      broadcasts: c?.broadcasts ?? 0,
      config: {loadedAt: new Date(this.loadedAt).toISOString(), path: this.options.configPath,
        ...(this.lastReloadError === undefined ? {} : {lastReloadError: this.lastReloadError})},
      entries: core?.entryCounts() ?? [],
      errors: this.errors,
      hostStats: this.store?.statsSince(Math.floor(now / 1000) - 86_400) ?? [],
      init: {entries: c?.initEntries ?? 0, requests: c?.initRequests ?? 0, truncated: this.truncated},
      nats: {connected: this.connected, disconnects: this.disconnects, maxPayload: this.bus?.maxPayload ?? 0, servers: `${nats.server}:${nats.port}`, user: nats.client_name},
      pending: pendingStatus(this.inbox.counters, this.pendingLimits),
      pid: process.pid,
      reports: {
        deleted: c?.deleted ?? 0, invalid: this.invalid, perSec: Math.round(perSec * 10) / 10, rateLimited: c?.rateLimited ?? 0,
        refused: {broad: c?.refused.broad ?? 0, limit: c?.refused.limit ?? 0, neverBan: c?.refused['never-ban'] ?? 0},
        stored: c?.stored ?? 0, total: c?.reports ?? 0,
      },
      startedAt: new Date(this.startedAt).toISOString(),
      store: this.store?.info() ?? {bytes: 0, commits: 0, kind: 'sqlite', path: this.config.server.db, pending: 0, schemaVersion: 0, swept: 0},
      uptimeSec: Math.floor((now - this.startedAt) / 1000),
      version: this.options.version,
    }
  }

  private onAdd(msg: BusMessage): void {
    const parsed = this.parseSubject(msg.subject)
    if (isSubjectRefusal(parsed) || parsed.kind === 'global') return this.bad(msg, isSubjectRefusal(parsed) ? parsed.reason : 'global subject')
    if (parsed.kind === 'stats') return this.onStats(parsed.account, parsed.host, msg)
    const {account, host, list} = parsed
    const decoded = decodeAdd(list, msg.data, msg.headers)
    if (!decoded.ok) return this.bad(msg, decoded.reason)
    const outcome = this.core!.add(account, host, list, decoded.entry)
    if (outcome.kind === 'rate-limited') {
      this.warn(`account ${account}: over ${this.config.server.account_rate_limit} reports/s, report dropped`)
      if (msg.reply !== '') msg.respond('', errorHeaders(`rate limit: over ${this.config.server.account_rate_limit} reports/s`))
      return
    }
    if (outcome.kind === 'refused') {
      this.warn(`refused ${list} add from ${account}/${host}: ${outcome.message}`)
      if (msg.reply !== '') msg.respond('', errorHeaders(outcome.message))
      return
    }
    const target = decoded.entry.target
    if (msg.reply !== '') msg.respond('', entryHeaders({target, ttlSec: outcome.timeoutSec}))
    if (list === 'block' && outcome.escalated && outcome.timeoutSec !== undefined) {
      // Hosts of the account ban with their own default; an escalated ban is longer, so tell them.
      const entry = {origin: SERVER_HOST, tag: decoded.entry.tag, target, ttlSec: outcome.timeoutSec}
      this.bus!.publish(listSubject('block', 'add', account, SERVER_HOST), encodeAdd('block', entry), entryHeaders(entry))
    }
    if (outcome.broadcast) {
      const {timeoutSec, why} = outcome.broadcast
      const entry = {tag: decoded.entry.tag, target, ttlSec: timeoutSec}
      this.bus!.publish(GLOBAL_BLOCK_SUBJECT, encodeGlobal(entry), entryHeaders(entry))
      // Hosts of the account "default" listen to their own broadcast, which carried long bans only.
      if (timeoutSec >= 86_400) this.bus!.publish(DEFAULT_ACCOUNT_GLOBAL_SUBJECT, encodeGlobal(entry), entryHeaders(entry))
      this.options.logger.log('info', `global ban ${target.text} for ${timeoutSec}s (${why})`)
    }
  }

  private onDel(msg: BusMessage): void {
    const parsed = this.parseSubject(msg.subject)
    if (isSubjectRefusal(parsed) || parsed.kind !== 'list') return this.bad(msg, isSubjectRefusal(parsed) ? parsed.reason : 'not a list subject')
    const decoded = decodeDel(msg.data, msg.headers)
    if (!decoded.ok) return this.bad(msg, decoded.reason)
    const result = this.core!.del(parsed.account, parsed.list, decoded.entry.target)
    if (result === 'rate-limited') {
      this.warn(`account ${parsed.account}: over ${this.config.server.account_rate_limit} reports/s, delete dropped`)
      if (msg.reply !== '') msg.respond('', errorHeaders('rate limit'))
      return
    }
    if (msg.reply !== '') msg.respond('')
  }

  private async onInit(msg: BusMessage): Promise<void> {
    const parsed = this.parseSubject(msg.subject)
    if (isSubjectRefusal(parsed) || parsed.kind !== 'list') return this.bad(msg, isSubjectRefusal(parsed) ? parsed.reason : 'not a list subject')
    if (msg.reply === '') return this.bad(msg, 'init without a reply subject')
    const {account, list} = parsed
    const bus = this.bus!
    // The connection's max payload bounds a whole message; a little room for the protocol line.
    const chunks = initReplyChunks(list, this.core!.initEntries(account, list), bus.maxPayload - 256)
    if (!wantsStream(msg.headers)) {
      // Original clients read one message: send what fits, and say so when that is not everything.
      const first = await chunks.next()
      const more = !(await chunks.next()).done
      await chunks.return(undefined)
      msg.respond(first.done ? '' : first.value)
      if (more) {
        this.truncated++
        this.warn(`init of ${account} (${list}) answered in one message as the requester asked: the list was cut at `
          + `${bus.maxPayload} bytes (diswall hosts ask for a streamed reply)`)
      }
      return
    }
    let count = 0
    let sent = 0
    const marked = streamChunkHeaders()
    for await (const chunk of chunks) {
      for (const byte of chunk) if (byte === 10) count++
      msg.respond(chunk, marked)
      if (++sent % CHUNKS_PER_FLUSH === 0) await bus.flush()
      else await yieldToLoop() // reports go on being handled while a large list is sent
    }
    msg.respond('', endOfStreamHeaders(count))
  }

  private onStats(account: string, host: string, msg: BusMessage): void {
    if (msg.data.byteLength > MAX_STATS_BYTES) return this.bad(msg, `statistics of ${msg.data.byteLength} bytes`)
    let payload: unknown
    try {
      payload = JSON.parse(new TextDecoder('utf-8', {fatal: true}).decode(msg.data))
    } catch {
      return this.bad(msg, 'statistics that are not JSON')
    }
    if (!this.core!.stats(account, host, payload)) this.bad(msg, 'statistics without valid counters')
  }

  private onSlowConsumer(event: {kind: 'begin'} | {kind: 'end'; dropped: number; durationMs: number}): void {
    const {logger} = this.options
    const {bytes, messages} = this.pendingLimits
    if (event.kind === 'begin') {
      logger.log('error', `slow consumer: ${messages} messages (or ${bytes} bytes) wait to be handled; further reports are dropped `
        + 'and counted until the server catches up (see diswall server status)')
    } else {
      logger.log('warning', `slow consumer: caught up after ${(event.durationMs / 1000).toFixed(1)} s; ${event.dropped} messages were dropped`)
    }
  }

  /** parseSubject(), remembered per subject string: a subject is checked once, not on each report. */
  private parseSubject(subject: string): ParsedSubject | SubjectRefusal {
    const known = this.subjects.get(subject)
    if (known !== undefined) return known
    const parsed = parseSubject(subject)
    if (isSubjectRefusal(parsed)) return parsed
    if (this.subjects.size >= SUBJECT_CACHE_MAX) this.subjects.clear()
    this.subjects.set(subject, parsed)
    return parsed
  }

  private bad(msg: BusMessage, reason: string): void {
    this.invalid++
    this.warn(`invalid message on ${msg.subject.slice(0, 120)}: ${reason}`)
  }

  /** A handler that throws (a store failure) must not end the subscription: log, count, go on. */
  private guard(fn: () => void): void {
    try {
      fn()
    } catch (error) {
      this.failure('handling a message', error)
    }
  }

  private failure(what: string, error: unknown): void {
    this.errors++
    this.options.logger.log('error', `${what} failed: ${(error as Error).message}`)
  }

  /** Warnings about what the network sends, at most LOG_BURST per 10 s (a flood must not flood the journal). */
  private warn(message: string): void {
    const now = this.now()
    const w = this.logWindow
    if (now - w.at >= 10_000) {
      if (w.suppressed > 0) this.options.logger.log('warning', `${w.suppressed} more warnings in the last 10 s not logged (see diswall server status)`)
      this.logWindow = {at: now, logged: 0, suppressed: 0}
    }
    if (this.logWindow.logged++ < LOG_BURST) this.options.logger.log('warning', message)
    else this.logWindow.suppressed++
  }
}

/** The core's settings from the config. */
export function corePolicy(config: Config): CorePolicy {
  return {
    accountRateLimit: config.server.account_rate_limit,
    escalation: {steps: config.server.escalation, windowSec: config.server.escalation_window},
    globalMinAccounts: config.server.global_min_accounts,
    honeypots: new Set(config.nats.honeypots),
    limits: {...LIST_LIMITS},
  }
}

/**
 * One server per store: two would each handle every report (or, in a queue group, keep diverging
 * counts and escalation state), so a second one on the same database file is refused. The lock file
 * `DB.lock` holds the PID; one left by a process that is gone (kill -9) is taken over.
 */
async function lockStore(db: string): Promise<HeldLock> {
  const path = `${db}.lock`
  const taken = await acquirePidLock(path).catch((error: unknown) => {
    throw new StoreError(`cannot create the lock file ${path}: ${(error as Error).message}`,
      'Check [server] db: its directory must be writable by the server (root).', {cause: error})
  })
  if ('holder' in taken) {
    throw new DiswallError(`another diswall server (pid ${taken.holder}) uses the database ${db} (lock file ${path})`, 'E_BUSY', ExitCode.COMMAND_FAILED,
      'One server runs per store: stop the other one (systemctl stop diswall-server), or give this one its own [server] db. '
      + 'Several instances cannot share one SQLite store.')
  }
  return taken.held
}

/** The pending part of the status. Pure. */
export function pendingStatus(c: InboxCounters, limits: PendingLimits): ServerStatus['pending'] {
  return {
    bytes: c.pendingBytes, dropped: c.dropped, highWater: c.highWater, limits: {...limits}, messages: c.pending, slowConsumerEvents: c.events,
    ...(c.slowSinceMs === undefined ? {} : {slowSince: new Date(c.slowSinceMs).toISOString()}),
  }
}

/**
 * What the server never stores as a ban: special ranges and private ones, `ignore_ips`, the server's
 * own addresses and the NATS server's (a name is resolved once, here).
 */
export async function neverBanContext(config: Config): Promise<NeverBanContext> {
  const own = new NetworkList()
  for (const infos of Object.values(networkInterfaces())) {
    for (const info of infos ?? []) {
      try {
        own.add(parseAddress(info.address.split('%')[0]!))
      } catch {
        // an address Node reports that we cannot parse is no address to protect
      }
    }
  }
  const natsServer = new NetworkList()
  if (config.nats.server !== '') {
    try {
      natsServer.add(parseTarget(config.nats.server))
    } catch {
      const found = await lookup(config.nats.server, {all: true}).catch(() => [])
      for (const {address} of found) natsServer.add(parseAddress(address))
    }
  }
  const ignore = new NetworkList(config.ignore_ips.map((e) => e.target))
  return {ignore, lists: [{label: 'the NATS server', list: natsServer}], own, skipPrivate: true}
}
