/**
 * The one place that decides and applies a ban or an allow entry, whatever asked for it: detection on
 * this host, another host's report, an init or re-sync copy of a list, or `block add`. It holds the
 * never-ban setup (special ranges, `skip_private`, `ignore_ips`, own addresses, the allow list,
 * established SSH peers), writes through the coalescing writer, cuts the connections of banned
 * addresses, and counts what it did.
 */
import type {DetectConfig, FirewallConfig} from '../config/index.js'
import {asDiswallError} from '../errors.js'
import {CoalescingWriter, forEachOf, killConnectionsBatch} from '../firewall/sets/index.js'
import type {FirewallBackend, ListKind, SetEntry, SetEntrySource, WriteJournal} from '../firewall/sets/index.js'
import {containsAddress, formatDuration, isAddress, neverBanReason, NetworkList, toNetwork} from '../net/index.js'
import type {Address, Network, NeverBanContext, Target} from '../net/index.js'
import {exec as defaultExec} from '../system/index.js'
import type {Exec} from '../system/index.js'
import {findConnected as defaultFindConnected} from './connected.js'
import type {ConnectedReport} from './connected.js'

/** The parts of the config the enforcer reads; a whole `Config` fits. */
export interface EnforcerConfig {
  readonly detect: Pick<DetectConfig, 'skip_private'>
  readonly firewall: Pick<FirewallConfig, 'block_timeout' | 'kill_connections'>
  readonly ignore_ips: ReadonlyArray<{readonly target: Target}>
}

/** What the enforcer knows of its host: HostFacts fits; the lists may change in place. */
export interface ProtectedHostFacts {
  /** The host's own addresses. */
  readonly own: NetworkList
  /** Peers of established SSH sessions. */
  readonly sshPeers: NetworkList
}

/** Log levels the enforcer writes with (a subset of the daemon logger's). */
export type EnforcerLogLevel = 'error' | 'info' | 'notice' | 'warning'

/** Options of {@link Enforcer}. */
export interface EnforcerOptions {
  config: EnforcerConfig
  backend: FirewallBackend
  /** Own addresses and SSH peers; none known when left out. */
  facts?: ProtectedHostFacts
  /** Runs `ss -K` and `conntrack` for the connection kill. */
  exec?: Exec
  log?: (level: EnforcerLogLevel, message: string) => void
  /** The coalescing window of the writer, ms; 0 by default (latency first, see WriterOptions). */
  windowMs?: number
  /** The clock, ms (Date.now by default). */
  now?: () => number
  /** Told every batch of writes the kernel took (the daemon's journal); none by default. */
  journal?: WriteJournal
  /** Further never-ban lists with the reason they give (the NATS server's addresses); may change in place. */
  protect?: ReadonlyArray<{label: string; list: NetworkList}>
  /** Looks banned addresses up in the socket and conntrack tables before a kill; /proc by default (connected.ts). */
  findConnected?: (addrs: readonly Address[]) => Promise<ConnectedReport>
}

/** Told what a list copy puts in the kernel (Enforcer.replace()): the daemon writes it to a file. */
export interface ReplaceHooks {
  /** Each batch of entries as it goes to the backend, after the never-ban check; awaited (back-pressure). Must not throw. */
  admitted?: (entries: readonly SetEntry[]) => Promise<void>
  /**
   * Called at once when the backend has swapped the copy in, before anything is written to the new list:
   * every later change of the list comes after it (the daemon starts a journal segment here). Must not throw.
   */
  swapped?: () => void
}

/**
 * How long after a ban of this host's own its connections are looked up and cut, ms. The look-up reads
 * the kernel's conntrack table (~0.7 ms of kernel time for 262,144 buckets, however few flows), so the
 * bans of a burst (a scan) share one read, and the read stays out of the way of the kernel writes of
 * the next bans. Nothing of a banned address gets through meanwhile (the block set's DROP comes before
 * the `established` rule): the cut frees the sockets and flows, and a connected attacker (an SSH or
 * HTTP session this host detected) sees it at once.
 */
export const KILL_DELAY_MS = 20

/**
 * The same for a ban another host reported, ms: such an address is rarely connected here, and the
 * reports of a fleet under a spread-out scan (tens a second) then share one read of the machine-wide
 * conntrack hash. An own ban queued meanwhile brings the read forward to its own delay.
 */
export const REMOTE_KILL_DELAY_MS = 250

/** One ban to apply. */
export interface BanOrder {
  /** An address, or a network (an IPv6 group banned as a whole). */
  target: Address | Network
  /** The offending address when it differs from the target (its connections are cut). */
  address?: Address
  /** Why: `port-scan 23/tcp`, a pattern tag, a remote tag. */
  reason: string
  /** Seconds; `[firewall] block_timeout` when left out. */
  ttlSec?: number
  /** Where the order comes from, for logs and the recent bans: `kmsg`, `remote host-b`, … */
  source: string
}

/** What became of a ban order. */
export type BanOutcome =
  | {result: 'banned'; ttlSec: number}
  | {result: 'failed'; error: string}
  | {result: 'refused'; why: string}

/** One allow entry to apply. */
export interface AllowOrder {
  target: Target
  comment?: string
  /** Seconds until it expires; undefined or 0: never. */
  ttlSec?: number
  /** Where the order comes from: `wtmp`, `file:/var/log/auth.log`, `remote host-b`, … */
  source: string
}

/** What became of an allow order: `covered` when a network or a permanent entry already covers it. */
export type AllowOutcome = 'allowed' | 'covered' | 'failed'

/** One ban in the recent-bans list. */
export interface RecentBanRecord {
  at: string
  reason: string
  source: string
  target: string
  ttlSec: number
}

/** Counters since start; they only grow. */
export interface EnforcerStats {
  bans: number
  /** Bans this host decided itself (detection, its own orders): not those other hosts or the server sent. */
  ownBans: number
  byReason: Record<string, number>
  /** Bans whose kernel write failed. */
  banFailed: number
  /** Ban orders refused by the never-ban check (any path, also entries of a replaced list). */
  refused: number
  allows: number
  allowFailed: number
  /** Connections cut after bans. */
  killed: {conntrack: number; sockets: number}
}

/** How many recent bans are kept. */
export const RECENT_BANS = 20
/**
 * Distinct reasons counted in `byReason`; bans with a further reason count as `other`. Reasons of
 * remote bans are other hosts' words: a peer that sends a new one with every ban must not grow the
 * daemon's memory (or its metrics) with them.
 */
export const MAX_REASON_KINDS = 64
/** At most this many addresses per kill batch get their conntrack flows deleted (one process each). */
const CONNTRACK_PER_BATCH = 16
/** Allow entries added here stay in the in-memory list this long across refreshes that raced them, ms. */
const RECENT_ALLOW_KEEP_MS = 120_000
/** Refused entries of a replaced list named in its one log line. */
const REFUSED_NAMED = 5
/**
 * Most own bans whose expiry is remembered (see Enforcer.ban): ~100 bytes each, so at most ~10 MB, and
 * only for what this host detected; the oldest are forgotten first. Remote bans and list copies (up to
 * 1M entries) are never remembered one by one.
 */
export const OWN_EXPIRIES_MAX = 100_000

/** Whether an order comes from another host or the server (the transport's `remote …` sources). */
export function isRemoteSource(source: string): boolean {
  return source === 'remote' || source.startsWith('remote ')
}

/**
 * Decides and applies bans and allow entries. Every ban order, from any path, passes the never-ban
 * check first; a refused order is counted and logged once. Writes go through one CoalescingWriter,
 * so single orders are batched; connection kills run one batch at a time.
 */
export class Enforcer {
  /** The allow list as the kernel holds it (refreshAllowList()) plus what this enforcer added since. */
  readonly allowList = new NetworkList()
  readonly stats: EnforcerStats = {allowFailed: 0, allows: 0, banFailed: 0, bans: 0, byReason: {}, killed: {conntrack: 0, sockets: 0}, ownBans: 0,
    refused: 0}
  readonly writer: CoalescingWriter
  private config: EnforcerConfig
  private readonly ignore = new NetworkList()
  private readonly facts: ProtectedHostFacts
  private readonly protectedLists: Array<{label: string; list: NetworkList}>
  private readonly exec: Exec
  private readonly log: (level: EnforcerLogLevel, message: string) => void
  private readonly now: () => number
  /** Allow entries with an expiry (auto-allow), as network texts (`203.0.113.7/32`). */
  private expiringAllows = new Set<string>()
  /** Allow entries added lately, kept across a refresh of allowList that raced them. */
  private readonly recentAllows = new Map<string, {at: number; expiring: boolean; target: Target}>()
  private recentBans: RecentBanRecord[] = []
  /** Per list being replaced: the entries written here meanwhile, which the swap must not lose. */
  private readonly replacing = new Map<ListKind, Map<string, SetEntry>>()
  private killQueue: Address[] = []
  private killing: Promise<void> | undefined
  /** While the queued kills wait: ends the wait (settle(), or an earlier due time), and when it is due (performance.now()). */
  private killNow: (() => void) | undefined
  private killDue = 0
  private killTimer: NodeJS.Timeout | undefined
  /**
   * When this host's own bans expire (ms; Infinity: never), by target text, oldest first; at most
   * {@link OWN_EXPIRIES_MAX}. Neither backend can tell one element's remaining timeout cheaply (ipset
   * has no per-element query; nft 1.0.6 `get element` fetches every element of the table, seconds at
   * 200k), and both replace the timeout of an element added again, so this is what keeps a remote ban
   * from shortening a longer local one.
   */
  private readonly ownExpiries = new Map<string, number>()
  private readonly findConnected: (addrs: readonly Address[]) => Promise<ConnectedReport>

  constructor(private readonly options: EnforcerOptions) {
    this.config = options.config
    this.facts = options.facts ?? {own: new NetworkList(), sshPeers: new NetworkList()}
    // By reference: the detection engine reads these lists on every decision, so updates count at once.
    this.protectedLists = [
      {label: 'it is in the allow list', list: this.allowList},
      {label: 'an established SSH peer', list: this.facts.sshPeers},
      ...(options.protect ?? []),
    ]
    this.exec = options.exec ?? defaultExec
    this.log = options.log ?? (() => {})
    this.now = options.now ?? Date.now
    this.findConnected = options.findConnected ?? ((addrs) => defaultFindConnected(addrs))
    this.writer = new CoalescingWriter(options.backend, {windowMs: options.windowMs ?? 0, ...(options.journal ? {journal: options.journal} : {})})
    this.configure(options.config)
  }

  /** Takes a new config (reload): `ignore_ips`, `skip_private`, `block_timeout`, `kill_connections`. */
  configure(config: EnforcerConfig): void {
    this.config = config
    this.ignore.clear()
    for (const {target} of config.ignore_ips) this.ignore.add(target)
  }

  /**
   * The never-ban lists for the detection engine, which takes `ignore_ips` and `skip_private` from the
   * same config: own addresses, the allow list and SSH peers, by reference (kept up to date in place).
   */
  engineNeverBan(): Omit<NeverBanContext, 'ignore' | 'skipPrivate'> {
    return {lists: this.protectedLists, own: this.facts.own}
  }

  /**
   * Why a ban of `target` must be refused, or undefined when it may go ahead (pure over the current
   * lists). A network is refused when its first address is, or when it holds a protected entry
   * (an own address, an ignore_ips or allow entry, an SSH peer).
   */
  refusal(target: Address | Network): string | undefined {
    const ctx: NeverBanContext = {ignore: this.ignore, lists: this.protectedLists, own: this.facts.own, skipPrivate: this.config.detect.skip_private}
    if (isAddress(target)) return neverBanReason(target, ctx)
    const first = neverBanReason(target.address, ctx)
    if (first !== undefined) return first
    const inside: Array<[string, NetworkList]> = [['an address of this host', this.facts.own], ['listed in ignore_ips', this.ignore],
      ...this.protectedLists.map(({label, list}): [string, NetworkList] => [label, list])]
    for (const [label, list] of inside) {
      for (const net of list) {
        if (net.family === target.family && net.prefix >= target.prefix && containsAddress(target, net.address)) return `it holds ${net.text}: ${label}`
      }
    }
    return undefined
  }

  /**
   * Applies one ban: refused when protected (counted, logged), else written through the writer
   * (resolves once in the kernel), counted, kept in the recent bans, logged, and the offender's
   * connections are cut when `kill_connections` is on. Never throws: a failed write is counted.
   * The kernel gets the longer of the order's timeout and what is left of this host's own ban of the
   * same target: a 15-minute ban from the server does not shorten a 1-day ban detected here.
   */
  async ban(order: BanOrder): Promise<BanOutcome> {
    const {reason, source, target} = order
    const why = this.refusal(target)
    if (why !== undefined) {
      this.stats.refused++
      this.log('notice', `refused to ban ${target.text} (${reason}, ${source}): ${why}`)
      return {result: 'refused', why}
    }
    const own = !isRemoteSource(source)
    const ttlSec = this.longerTtl(target.text, order.ttlSec ?? this.config.firewall.block_timeout, own)
    this.replacing.get('block')?.set(target.text, {target, ttlSec})
    try {
      await this.writer.add('block', {target, ttlSec})
    } catch (error) {
      const message = asDiswallError(error).message
      this.stats.banFailed++
      this.log('error', `ban ${target.text} (${reason}) failed: ${message}`)
      return {error: message, result: 'failed'}
    }
    this.stats.bans++
    if (own) this.stats.ownBans++
    let kind = reason.split(' ')[0] || 'other'
    if (this.stats.byReason[kind] === undefined && Object.keys(this.stats.byReason).length >= MAX_REASON_KINDS) kind = 'other'
    this.stats.byReason[kind] = (this.stats.byReason[kind] ?? 0) + 1
    this.recentBans.unshift({at: new Date(this.now()).toISOString(), reason, source, target: target.text, ttlSec})
    if (this.recentBans.length > RECENT_BANS) this.recentBans.length = RECENT_BANS
    const offender = order.address !== undefined && order.address.text !== target.text ? `, offender ${order.address.text}` : ''
    this.log('notice', `ban ${target.text}: ${reason} (${source}${offender}), ${formatDuration(ttlSec)}`)
    // A network ban (IPv6 group) from another host names no single offender: ss -K and conntrack
    // take addresses, so only an address's connections are cut.
    const victim = order.address ?? (isAddress(target) ? target : undefined)
    if (this.config.firewall.kill_connections && victim !== undefined) this.kill(victim, own ? KILL_DELAY_MS : REMOTE_KILL_DELAY_MS)
    return {result: 'banned', ttlSec}
  }

  /** Removes a ban (another host lifted it); resolves once applied. Throws what the commit throws. */
  async unban(target: Target): Promise<void> {
    this.replacing.get('block')?.delete(target.text)
    this.ownExpiries.delete(target.text)
    await this.writer.del('block', target)
    this.log('info', `unban ${target.text}`)
  }

  /**
   * Applies one allow entry. An expiring entry covered by a network or by a permanent entry is left
   * alone (a permanent entry never gets an expiry); an expiring entry of the address itself gets its
   * expiry renewed. Never throws: a failed write is counted.
   */
  async allow(order: AllowOrder): Promise<AllowOutcome> {
    const {comment, source, target} = order
    const ttlSec = order.ttlSec === 0 ? undefined : order.ttlSec
    const key = toNetwork(target).text
    if (ttlSec !== undefined) {
      const covering = isAddress(target) ? this.allowList.find(target) : undefined
      const permanentSame = this.allowList.has(target) && !this.expiringAllows.has(key)
      if ((covering !== undefined && (covering.text !== key || !this.expiringAllows.has(key))) || permanentSame) return 'covered'
      this.expiringAllows.add(key)
    } else {
      this.expiringAllows.delete(key)
    }
    this.allowList.add(target)
    this.recentAllows.set(key, {at: this.now(), expiring: ttlSec !== undefined, target})
    const entry: SetEntry = {target, ...(comment === undefined ? {} : {comment}), ...(ttlSec === undefined ? {} : {ttlSec})}
    this.replacing.get('allow')?.set(key, entry)
    try {
      await this.writer.add('allow', entry)
    } catch (error) {
      this.stats.allowFailed++
      this.log('error', `allow ${target.text} (${comment ?? ''}) failed: ${asDiswallError(error).message}`)
      return 'failed'
    }
    this.stats.allows++
    this.log('notice', `allow ${target.text}: ${comment ?? ''} (${source}), ${ttlSec === undefined ? 'permanent' : formatDuration(ttlSec)}`)
    return 'allowed'
  }

  /** Removes an allow entry (another host deleted it); resolves once applied. Throws what the commit throws. */
  async disallow(target: Target): Promise<void> {
    const key = toNetwork(target).text
    this.allowList.delete(target)
    this.expiringAllows.delete(key)
    this.recentAllows.delete(key)
    this.replacing.get('allow')?.delete(key)
    await this.writer.del('allow', target)
    this.log('info', `allow entry ${target.text} removed`)
  }

  /**
   * Replaces a whole list with a copy (init at start, re-sync after a reconnect) in one `replace()`:
   * the backend's staging swap, not one ban per entry. The copy streams through the never-ban check
   * into the backend as it comes, never held whole. Block entries the check refuses are left out,
   * counted as refused and logged in one line. Pending single writes are flushed first.
   *
   * Entries this enforcer writes while the copy streams (a ban detected during the init) must survive
   * the swap though the copy lacks them: they are appended to the copy's end, and those written after
   * that point (while the kernel program finishes) are written again once the copy is in place.
   * `hooks` are told every entry that goes in and the moment of the swap.
   * Throws what replace() throws: the list is then exactly as it was.
   */
  async replace(list: ListKind, entries: SetEntrySource, hooks: ReplaceHooks = {}): Promise<{loaded: number; refused: number}> {
    const screen = this.screen(list, `the ${list} list copy`)
    await this.writer.flush()
    const during = new Map<string, SetEntry>()
    this.replacing.set(list, during)
    let loaded = 0
    let appended = 0
    async function* admitted(): AsyncGenerator<SetEntry[]> {
      for await (const item of entries) {
        const batch: SetEntry[] = []
        forEachOf(item, (entry) => {
          if (screen.admit(entry)) batch.push(entry)
        })
        loaded += batch.length
        if (batch.length > 0) {
          await hooks.admitted?.(batch)
          yield batch
        }
      }
      const written = [...during.values()]
      during.clear()
      appended = written.length
      if (written.length > 0) {
        await hooks.admitted?.(written)
        yield written
      }
    }
    let refused: number
    try {
      await this.options.backend.replace(list, admitted())
      hooks.swapped?.()
    } finally {
      this.replacing.delete(list)
      refused = screen.done()
    }
    // Idempotent adds; they reach the new set (the swap is done), not the old one.
    const late = [...during.values()]
    if (late.length > 0) await Promise.all(late.map((entry) => this.writer.add(list, entry).catch(() => {})))
    if (list === 'allow') {
      this.recentAllows.clear()
      await this.refreshAllowList()
    }
    const kept = appended + late.length > 0 ? ` (and ${appended + late.length} written here meanwhile)` : ''
    this.log('notice', `loaded ${loaded} entries into the ${list} list${kept}`)
    return {loaded, refused}
  }

  /**
   * A filter for entries that bypass single orders (a list copy, the snapshot at start): admit()
   * says whether an entry may go in (allow entries always may; block entries pass the never-ban
   * check); done() counts the refused ones, logs them in one line naming the first few, and
   * returns their number.
   */
  screen(list: ListKind, what: string): {admit: (entry: SetEntry) => boolean; done: () => number} {
    const refused: string[] = []
    let count = 0
    return {
      admit: (entry) => {
        const why = list === 'block' ? this.refusal(entry.target) : undefined
        if (why === undefined) return true
        count++
        if (refused.length < REFUSED_NAMED) refused.push(`${entry.target.text} (${why})`)
        return false
      },
      done: () => {
        if (count > 0) {
          this.stats.refused += count
          const more = count > refused.length ? ` and ${count - refused.length} more` : ''
          this.log('warning', `left ${count} protected entries out of ${what}: ${refused.join(', ')}${more}`)
        }
        return count
      },
    }
  }

  /**
   * Reads the allow list back from the kernel (entries added by `allow add` or by hand). With `family`,
   * only that family's entries are read and kept: for a one-shot check of addresses of one family
   * (`block add` of IPv4 addresses), one set to read instead of two. Throws what list() throws.
   */
  async refreshAllowList(family?: 4 | 6): Promise<void> {
    const entries = await this.options.backend.list('allow', family === undefined ? {} : {family})
    this.allowList.clear()
    this.expiringAllows = new Set()
    for (const e of entries) {
      this.allowList.add(e.target)
      if (e.ttlSec !== undefined) this.expiringAllows.add(toNetwork(e.target).text)
    }
    const cutoff = this.now() - RECENT_ALLOW_KEEP_MS
    for (const [key, {at, expiring, target}] of this.recentAllows) {
      if (at < cutoff) {
        this.recentAllows.delete(key)
      } else if (!this.allowList.has(target)) {
        this.allowList.add(target)
        if (expiring) this.expiringAllows.add(key)
      }
    }
  }

  /** The most recent bans, newest first (at most {@link RECENT_BANS}). */
  recent(): RecentBanRecord[] {
    return [...this.recentBans]
  }

  /** Waits until queued writes are in the kernel and queued kills have run (stop, tests). */
  async settle(): Promise<void> {
    await this.writer.flush().catch(() => {})
    while (this.killing !== undefined) {
      this.killNow?.()
      await this.killing
    }
  }

  /**
   * The timeout to write for a ban of `key` (seconds, 0 = never expires): the longer of `ttlSec` and the
   * rest of this host's own ban of it. An own ban is remembered with its new expiry.
   */
  private longerTtl(key: string, ttlSec: number, own: boolean): number {
    const now = this.now()
    const asked = ttlSec <= 0 ? Number.POSITIVE_INFINITY : now + ttlSec * 1000
    const kept = this.ownExpiries.get(key)
    const expires = kept !== undefined && kept > asked ? kept : asked
    if (own) {
      this.ownExpiries.delete(key)
      this.ownExpiries.set(key, expires)
      // Oldest first: drop expired ones from the front, and the oldest beyond the cap.
      for (const [first, at] of this.ownExpiries) {
        if (at > now && this.ownExpiries.size <= OWN_EXPIRIES_MAX) break
        this.ownExpiries.delete(first)
      }
    } else if (kept !== undefined && kept <= now) {
      this.ownExpiries.delete(key)
    }
    return expires === Number.POSITIVE_INFINITY ? 0 : Math.max(1, Math.ceil((expires - now) / 1000))
  }

  /**
   * Queues an address whose connections are cut `delayMs` from now, or earlier with an earlier one
   * queued; one batch of kills runs at a time, and addresses queued while it runs are cut right after.
   */
  private kill(address: Address, delayMs: number): void {
    this.killQueue.push(address)
    const due = performance.now() + delayMs
    if (this.killing === undefined) {
      this.killing = this.runKills(due, delayMs)
    } else if (this.killNow !== undefined && due < this.killDue) {
      clearTimeout(this.killTimer)
      this.killDue = due
      this.killTimer = setTimeout(this.killNow, delayMs)
    }
  }

  private async runKills(due: number, delayMs: number): Promise<void> {
    await new Promise<void>((resolve) => {
      this.killDue = due
      this.killTimer = setTimeout(resolve, delayMs)
      this.killNow = () => {
        clearTimeout(this.killTimer)
        resolve()
      }
    })
    this.killNow = undefined
    while (this.killQueue.length > 0) {
      const batch = this.killQueue
      this.killQueue = []
      try {
        // Most banned addresses have nothing to cut (connected.ts): then no process starts.
        const only = await this.findConnected(batch).catch(() => undefined)
        const report = await killConnectionsBatch(batch, {conntrackMax: CONNTRACK_PER_BATCH, exec: this.exec, ...(only === undefined ? {} : {only})})
        this.stats.killed.sockets += report.sockets
        this.stats.killed.conntrack += report.conntrack
        if (report.sockets + report.conntrack > 0) {
          this.log('info', `cut ${report.sockets} sockets and ${report.conntrack} conntrack flows of ${batch.map((a) => a.text).join(', ')}`)
        }
      } catch (error) {
        this.log('warning', `cutting the connections of ${batch.length} banned addresses failed: ${asDiswallError(error).message}`)
      }
    }
    this.killing = undefined
  }
}
