/**
 * What the server does with each message, without NATS: validate against never-ban and the limits,
 * rate-limit per account, escalate block entries, store, decide global bans, and produce init
 * replies from the store. server.ts connects it to NATS; tests drive it directly with an injected
 * clock and a `:memory:` store.
 */
import {broadNetworkReason, isAddress, IPSET_MAX_TIMEOUT_SEC, neverBanReason} from '../net/index.js'
import type {Address, NeverBanContext, Target} from '../net/index.js'
import type {WireEntry, WireList} from '../transport/index.js'
import {escalate} from './escalation.js'
import type {EscalationPolicy} from './escalation.js'
import {GLOBAL_ACCOUNT} from './store/index.js'
import type {ActiveEntry, BanStore, BlockEntryState, BlockState, HostStats, StoredOffender} from './store/index.js'
import {AccountRateLimiter, globalBanReason} from './trust.js'

/** Entries one account may hold per list (DESIGN.md): the capacity of the hosts' kernel sets. */
export const LIST_LIMITS = {allow: 65_536, block: 1_000_000} as const satisfies Record<WireList, number>

/** The settings of the core, from `[server]` and `[nats] honeypots`. */
export interface CorePolicy {
  escalation: EscalationPolicy
  honeypots: ReadonlySet<string>
  globalMinAccounts: number
  /** Reports per second per account. */
  accountRateLimit: number
  /** Entries per account and list; {@link LIST_LIMITS} by default. */
  limits?: Record<WireList, number>
}

/** Why a report was refused; each has a counter. */
export type RefusalReason = 'never-ban' | 'limit' | 'broad'

/** The outcome of an add. */
export type AddOutcome =
  | {kind: 'refused'; reason: RefusalReason; message: string}
  | {kind: 'rate-limited'}
  | {
    kind: 'stored'
    /** New entry (not a refresh of an existing one). */
    created: boolean
    /** The ban time hosts are told, seconds (block entries; allow entries with a timeout). */
    timeoutSec?: number
    /** The ban took a new escalation step beyond the first. */
    escalated: boolean
    /** A global ban to broadcast: the address and its timeout. */
    broadcast?: {target: Target; timeoutSec: number; why: string}
  }

/** Counters since start. */
export interface CoreCounters {
  reports: number
  stored: number
  deleted: number
  refused: Record<RefusalReason, number>
  rateLimited: number
  broadcasts: number
  initRequests: number
  initEntries: number
  stats: number
}

/** The core. */
export class ServerCore {
  readonly counters: CoreCounters = {
    broadcasts: 0, deleted: 0, initEntries: 0, initRequests: 0, rateLimited: 0, refused: {broad: 0, limit: 0, 'never-ban': 0},
    reports: 0, stats: 0, stored: 0,
  }
  private readonly limiter: AccountRateLimiter
  private readonly counts = new Map<string, number>()
  private policy: CorePolicy

  constructor(private readonly store: BanStore, policy: CorePolicy, private neverBan: NeverBanContext,
    private readonly nowMs: () => number = Date.now) {
    this.policy = policy
    this.limiter = new AccountRateLimiter(policy.accountRateLimit)
    for (const {account, entries, list} of store.counts()) this.counts.set(countKey(account, list), entries)
  }

  /** New settings (SIGHUP). */
  reconfigure(policy: CorePolicy, neverBan: NeverBanContext): void {
    this.policy = policy
    this.neverBan = neverBan
    this.limiter.setRate(policy.accountRateLimit)
  }

  /** Entries stored per account and list (expired ones until the next sweep). */
  entryCounts(): Array<{account: string; list: WireList; entries: number}> {
    return [...this.counts].map(([key, entries]) => {
      const [list, account] = key.split('\u0000') as [WireList, string]
      return {account: account === GLOBAL_ACCOUNT ? '(global)' : account, entries, list}
    }).filter((c) => c.entries > 0).sort((a, b) => (a.account + a.list < b.account + b.list ? -1 : 1))
  }

  /**
   * An add reported by `host` of `account`. Block: never-ban check, escalation, global decision.
   * Allow: never expires unless the entry has a timeout; the comment is kept.
   */
  add(account: string, host: string, list: WireList, entry: WireEntry): AddOutcome {
    this.counters.reports++
    const nowMs = this.nowMs()
    if (!this.limiter.take(account, nowMs)) {
      this.counters.rateLimited++
      return {kind: 'rate-limited'}
    }
    const now = Math.floor(nowMs / 1000)
    const broad = broadNetworkReason(entry.target)
    if (broad !== undefined) return this.refuse('broad', `${entry.target.text}: ${broad}`)
    return list === 'allow' ? this.addAllow(account, host, entry, now) : this.addBlock(account, host, entry, now)
  }

  /** A delete: removes the account's own entry (never the global one); false when there was none. */
  del(account: string, list: WireList, target: Target): boolean | 'rate-limited' {
    this.counters.reports++
    if (!this.limiter.take(account, this.nowMs())) {
      this.counters.rateLimited++
      return 'rate-limited'
    }
    const deleted = this.store.delete(account, list, target.text)
    if (deleted) {
      this.bump(account, list, -1)
      this.counters.deleted++
    }
    // A deleted ban is usually a false positive: its escalation history goes with it.
    if (list === 'block') this.store.forgetOffender(account, target.text)
    return deleted
  }

  /**
   * The entries an init request of `account` gets, as wire entries, read page by page from the store:
   * block = the account's own bans, then the global list without those; allow = the account's entries.
   */
  * initEntries(account: string, list: WireList): Generator<WireEntry> {
    this.counters.initRequests++
    const now = Math.floor(this.nowMs() / 1000)
    const convert = (e: ActiveEntry): WireEntry => {
      const entry: WireEntry = {target: parseStoredTarget(e.target)}
      if (e.expiresAt !== null) entry.ttlSec = Math.max(1, Math.min(e.expiresAt - now, IPSET_MAX_TIMEOUT_SEC))
      if (list === 'allow' && e.note !== '') entry.comment = e.note
      return entry
    }
    for (const e of this.store.activeEntries(account, list, now)) {
      this.counters.initEntries++
      yield convert(e)
    }
    if (list === 'block' && account !== GLOBAL_ACCOUNT) {
      for (const e of this.store.activeEntries(GLOBAL_ACCOUNT, 'block', now, {excludeAccount: account})) {
        this.counters.initEntries++
        yield convert(e)
      }
    }
  }

  /** Hourly statistics of a host (the original's JSON payload); false when the payload is invalid. */
  stats(account: string, host: string, payload: unknown): boolean {
    const s = parseStatsPayload(payload)
    if (s === undefined) return false
    const hour = Math.floor(this.nowMs() / 3_600_000) * 3600
    this.store.putStats({...s, account, host, hour})
    this.counters.stats++
    return true
  }

  /** Removes expired entries (a bounded number per call); returns how many went. */
  sweep(): number {
    const removed = this.store.sweep(Math.floor(this.nowMs() / 1000), {forgetAfterSec: this.policy.escalation.windowSec})
    let total = 0
    for (const {account, entries, list} of removed) {
      this.bump(account, list, -entries)
      total += entries
    }
    return total
  }

  private addAllow(account: string, host: string, entry: WireEntry, now: number): AddOutcome {
    const existing = this.store.get(account, 'allow', entry.target.text)
    if (existing === undefined && !this.hasRoom(account, 'allow')) return this.full(account, 'allow', entry.target)
    const expiresAt = entry.ttlSec === undefined ? null : now + Math.min(entry.ttlSec, IPSET_MAX_TIMEOUT_SEC)
    this.store.put({
      account, bans: 1, expiresAt, firstSeen: existing?.firstSeen ?? now, lastSeen: now, list: 'allow',
      note: entry.comment ?? existing?.note ?? '', reporter: host, target: entry.target.text,
    })
    if (existing === undefined) this.bump(account, 'allow', 1)
    this.counters.stored++
    return {created: existing === undefined, escalated: false, kind: 'stored', timeoutSec: entry.ttlSec}
  }

  private addBlock(account: string, host: string, entry: WireEntry, now: number): AddOutcome {
    const why = neverBanReason(addressOf(entry.target), this.neverBan)
    if (why !== undefined) return this.refuse('never-ban', `${entry.target.text}: ${why}`)
    const target = entry.target.text
    // One read: every account's entry of the address (own, global, the others') and own offender memory.
    const state = this.store.blockState(account, target)
    let existing: BlockEntryState | undefined
    let existingGlobal: BlockEntryState | undefined
    for (const e of state.entries) {
      if (e.account === account) existing = e
      if (e.account === GLOBAL_ACCOUNT) existingGlobal = e
    }
    if (existing === undefined && !this.hasRoom(account, 'block')) return this.full(account, 'block', entry.target)

    const decision = this.ban(account, host, target, entry.tag ?? '', existing, () => state.offender, now)
    if (existing === undefined) this.bump(account, 'block', 1)
    this.counters.stored++
    const outcome: AddOutcome = {created: existing === undefined, escalated: decision.escalated && decision.bans > 1,
      kind: 'stored', timeoutSec: decision.timeoutSec}

    // The set of accounts banning the address changes only when this account starts a new ban.
    if (account !== GLOBAL_ACCOUNT && decision.escalated) {
      const trust = {honeypots: this.policy.honeypots, minAccounts: this.policy.globalMinAccounts}
      const reporting = this.policy.honeypots.has(account) || this.policy.globalMinAccounts <= 1
        ? []
        : activeBlockers(state, account, decision.bannedUntil, now)
      const globalWhy = globalBanReason(trust, account, reporting)
      if (globalWhy !== undefined) {
        if (existingGlobal !== undefined || this.hasRoom(GLOBAL_ACCOUNT, 'block')) {
          const global = this.ban(GLOBAL_ACCOUNT, host, target, entry.tag ?? '', existingGlobal, () => this.store.getOffender(GLOBAL_ACCOUNT, target), now)
          if (existingGlobal === undefined) this.bump(GLOBAL_ACCOUNT, 'block', 1)
          // Only a new global ban (or a new step) is broadcast: reports during a running ban add nothing.
          if (global.escalated) {
            this.counters.broadcasts++
            outcome.broadcast = {target: entry.target, timeoutSec: global.timeoutSec, why: globalWhy}
          }
        } else {
          this.counters.refused.limit++
        }
      }
    }
    return outcome
  }

  /** Escalates and stores one block entry (its row holds the ban count until the sweep moves it to the offender memory). */
  private ban(account: string, host: string, target: string, note: string, existing: BlockEntryState | undefined,
    offender: () => StoredOffender | undefined, now: number) {
    // The entry holds the history of its address until the sweep moves it into the offender memory.
    const inEntry = existing !== undefined && existing.expiresAt !== null
    const remembered = inEntry ? undefined : offender()
    const history = inEntry ? {bannedUntil: existing.expiresAt!, bans: existing.bans} : remembered
    const decision = escalate(this.policy.escalation, history, now)
    this.store.put({
      account, bans: decision.bans, expiresAt: decision.bannedUntil, firstSeen: existing?.firstSeen ?? now, lastSeen: now,
      list: 'block', note: note === '' ? (existing?.note ?? '') : note, reporter: host, target,
    })
    return decision
  }

  private hasRoom(account: string, list: WireList): boolean {
    return (this.counts.get(countKey(account, list)) ?? 0) < (this.policy.limits ?? LIST_LIMITS)[list]
  }

  private full(account: string, list: WireList, target: Target): AddOutcome {
    const limit = (this.policy.limits ?? LIST_LIMITS)[list]
    return this.refuse('limit', `${target.text}: the ${list} list of account ${account} is full (${limit} entries)`)
  }

  private refuse(reason: RefusalReason, message: string): AddOutcome {
    this.counters.refused[reason]++
    return {kind: 'refused', message, reason}
  }

  private bump(account: string, list: WireList, by: number): void {
    const key = countKey(account, list)
    this.counts.set(key, Math.max(0, (this.counts.get(key) ?? 0) + by))
  }
}

/**
 * The accounts (not the global one) with a running ban of the address once `account`'s ban, ending
 * at `ownUntil`, is stored: what BanStore.accountsBlocking would answer after the write.
 */
function activeBlockers(state: BlockState, account: string, ownUntil: number, now: number): string[] {
  const accounts: string[] = []
  for (const e of state.entries) {
    if (e.account !== GLOBAL_ACCOUNT && e.account !== account && e.expiresAt !== null && e.expiresAt > now) accounts.push(e.account)
  }
  if (account !== GLOBAL_ACCOUNT && ownUntil > now) accounts.push(account)
  return accounts
}

function countKey(account: string, list: WireList): string {
  return `${list}\u0000${account}`
}

function addressOf(target: Target): Address {
  return isAddress(target) ? target : target.address
}

/** Stored targets were canonical when written; parse them back without the cost of a full check twice. */
function parseStoredTarget(text: string): Target {
  const slash = text.indexOf('/')
  const family = text.includes(':') ? 6 : 4
  const address: Address = {family, kind: 'address', text: slash === -1 ? text : text.slice(0, slash)}
  if (slash === -1) return address
  return {address, family, kind: 'network', prefix: Number(text.slice(slash + 1)), text}
}

type StatsValues = Omit<HostStats, 'account' | 'host' | 'hour'>

const STATS_FIELDS = {
  banned: 'banned', bytes_accepted: 'bytesAccepted', bytes_dropped: 'bytesDropped', packets_accepted: 'packetsAccepted',
  packets_dropped: 'packetsDropped',
} as const satisfies Record<string, keyof StatsValues>

/**
 * The original's statistics payload `{"time":…,"banned":…,"packets_dropped":…,…}` (the last four
 * default to 0), or undefined when it is not an object of non-negative safe integers. Pure.
 */
export function parseStatsPayload(payload: unknown): StatsValues | undefined {
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) return undefined
  const values: StatsValues = {banned: 0, bytesAccepted: 0, bytesDropped: 0, packetsAccepted: 0, packetsDropped: 0}
  const record = payload as Record<string, unknown>
  if (!('banned' in record)) return undefined
  for (const [wire, field] of Object.entries(STATS_FIELDS)) {
    const value = record[wire]
    if (value === undefined && wire !== 'banned') continue
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return undefined
    values[field] = value
  }
  return values
}
