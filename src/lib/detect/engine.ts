/**
 * The detection engine: log lines in, ban and allow requests out. Pure (no I/O); the clock is injected
 * as `now()` in ms. Sources (kmsg, journal, pipe, log files) feed it; the daemon applies what it yields.
 */
import type {DetectConfig, FirewallConfig} from '../config/index.js'
import type {Address, Network, NeverBanContext, Target} from '../net/index.js'
import {classify, containsAddress, groupPrefix, NetworkList, neverBanReason, parseAddress} from '../net/index.js'
import {DedupCache} from './dedup.js'
import {parseKernelLog, parsePipeLine, parsePipeReport, type PacketLog} from './kernel-log.js'
import {type PatternFile, type PatternLevel, type PatternRule, readsSource, runsAtLevel} from './pattern-file.js'
import {classifyPort, portScanReason, SlidingWindowCounter} from './policy.js'
import {MAX_PENDING_PER_PROCESS, type ProcessState, ProcessTable, syslogPid} from './processes.js'
import type {AllowRequest, BanRequest, DetectEvent, LogLine} from './types.js'

/** The parts of the config the engine reads; a whole `Config` fits. */
export interface DetectEngineConfig {
  readonly detect: Pick<DetectConfig, 'auto_allow' | 'auto_allow_from_logs' | 'auto_allow_ttl' | 'dedup_max' | 'dedup_ttl' | 'ephemeral_hits'
    | 'ephemeral_port_min' | 'ephemeral_window' | 'ipv6_group_prefix' | 'log_prefix' | 'skip_private'> & {
    /** `[detect] level`; "normal" when missing. */
    readonly level?: PatternLevel
  }
  readonly firewall: Pick<FirewallConfig, 'block_timeout'>
  readonly ignore_ips: ReadonlyArray<{readonly target: Target}>
}

/** What the engine is built from; `reload()` takes the same. */
export interface DetectEngineOptions {
  config: DetectEngineConfig
  /** Compiled pattern files (parsePatternFiles()); the first file that fires on a line wins. */
  patterns?: readonly PatternFile[]
  /**
   * What else is never banned: the host's own addresses, the allow list, the NATS server, SSH peers.
   * `ignore_ips` and `skip_private` come from the config; an `ignore` list given here is added to them.
   * The lists are read on every decision, so the daemon may update them in place.
   */
  neverBan?: Omit<NeverBanContext, 'skipPrivate'>
  /** Whether a port is open on this host (e.g. from the ruleset); packets to open ports never ban. */
  isOpenPort?: (proto: string, port: number) => boolean
  /** The clock, in ms (Date.now by default). */
  now?: () => number
  /**
   * The daemon reads the units of the pattern files from journald: a file with `unit =` then reads only
   * its `unit:NAME` lines, not its `file =` (followed for another pattern file) nor `journal:IDENT`,
   * where a line a local user wrote would count.
   */
  journalUnits?: boolean
  /** Sources whose lines may be kernel packet logs (default `kmsg`, `journal`, `journal:kernel`, `nflog`, `pipe`). */
  kernelSources?: readonly string[]
  /** Most addresses (or groups) each counter tracks at once (default 100,000). */
  maxTracked?: number
  /** Longer lines are not matched against patterns (default 8192 characters). */
  maxLineLength?: number
  /**
   * A line whose pattern matching took longer than this (ms, default SLOW_MATCH_MS) is dropped and
   * counted in `slowLines`, and the regex is reported once through `onSlowPattern`.
   */
  slowMatchMs?: number
  /** The clock that times pattern matching, in ms (performance.now by default). */
  matchClock?: () => number
  /** Called once per regex (file and line) the first time a line took longer than `slowMatchMs` on it. */
  onSlowPattern?: (report: SlowPatternReport) => void
  /** Called for every line a regex matched (`diswall patterns test`); not needed by the daemon. */
  onPatternMatch?: (report: PatternMatchReport) => void
  /** Most processes remembered for address-less lines (processes.ts; default 10,000). */
  maxProcesses?: number
}

/** A line that a regex matched, as {@link DetectEngineOptions.onPatternMatch} reports it. */
export interface PatternMatchReport {
  readonly file: PatternFile
  readonly rule: PatternRule
  readonly line: LogLine
  /** The address the match counts against (for `pid` lines: its process's), if known. */
  readonly address?: Address
  /** What the match did: `counted` (towards a ban or an allow), `banned`, `allowed`, or why it did not count. */
  readonly outcome: 'allowed' | 'banned' | 'counted' | 'echo' | 'held' | 'ignored' | 'tracked'
}

/** A regex of a pattern file that took longer than `slowMatchMs` on a line. */
export interface SlowPatternReport {
  /** The pattern file's path. */
  readonly file: string
  /** The regex's line number in it. */
  readonly line: number
  /** The regex as written. */
  readonly source: string
  /** How long the line took, in ms. */
  readonly ms: number
}

/** Counters of the engine, for metrics and `diswall status`. All only grow. */
export interface DetectStats {
  /** Lines handled. */
  lines: number
  /** Kernel packet lines (and pipe packet lines) parsed. */
  packets: number
  /** Pattern lines that matched (ban and allow patterns). */
  matches: number
  /** Ban requests yielded. */
  bans: number
  /** Allow requests yielded. */
  allows: number
  /** Evidence about a target reported within `dedup_ttl`: dropped. */
  duplicates: number
  /** Evidence about protected addresses (never-ban list, special ranges): dropped. */
  protected: number
  /** Packets to open ports: dropped. */
  openPorts: number
  /** Packets without a port (ICMP, GRE, …): dropped; pings and ICMP errors from routers are no probes. */
  portless: number
  /** Evidence counted towards a threshold that was not reached yet. */
  pending: number
  /** Pattern matches whose `__IP__` text is not an address (e.g. a host name with UseDNS): dropped. */
  badAddresses: number
  /** Lines longer than `maxLineLength` that patterns did not see. */
  longLines: number
  /** Lines dropped because a regex took longer than `slowMatchMs` on them. */
  slowLines: number
  /** Second reports of an attempt (an `echo` line beside the line it repeats): not counted again. */
  echoes: number
  /** `pid` or `echo` lines whose process or address stayed unknown: not counted. */
  unattributed: number
  /** Successful logins after failures for other user names in the same process: not allowed. */
  refusedAllows: number
}

/** Memory gauges of the engine. */
export interface DetectTracked {
  /** Keys held by all sliding-window counters. */
  counterKeys: number
  /** Keys held by the de-duplication cache. */
  dedupKeys: number
  /** Keys dropped because a counter or the cache was full. */
  evicted: number
}

const DEFAULT_KERNEL_SOURCES = ['kmsg', 'journal', 'journal:kernel', 'nflog', 'pipe']
const DEFAULT_MAX_TRACKED = 100_000
const DEFAULT_MAX_LINE_LENGTH = 8192
/**
 * Default `slowMatchMs`. Pattern regexes run in linear time (pattern-regex.ts), but linear in the line
 * times the regex: `^x(.*a){16}b __IP__$` takes 97-135 ms on an 8 KiB line of "a", a 400-character
 * regex of sixteen-fold `.*a` groups ~18 s (Node 20.20 on 2 vCPU under load). Measured on the wall
 * clock, so on a host far busier than its cores a normal line may exceed it; the report says which regex.
 */
export const SLOW_MATCH_MS = 250
/** Longest user name kept in an auto-allow comment. */
const MAX_USER_LENGTH = 32

interface FileState {
  readonly file: PatternFile
  readonly counter: SlidingWindowCounter
  /** The rules that run at the configured level. */
  readonly rules: readonly PatternRule[]
}

/**
 * Turns log lines into BanRequests and AllowRequests:
 * - kernel packet lines (closed-port probes): ports below `ephemeral_port_min` and the well-known ones
 *   ban on the first packet, ephemeral ports after `ephemeral_hits` within `ephemeral_window`; open
 *   ports (`isOpenPort`) and portless packets never ban; reason `port-scan 23/tcp`;
 * - pattern files: `threshold` matches within `window` per (file, address or IPv6 group); reason = tag;
 *   `action = allow` files yield AllowRequests (successful logins) when `auto_allow` and
 *   `auto_allow_from_logs` are on, and a login clears the evidence counted against its address;
 * - original pipe reports `IP|TAG`: ban at once, reason TAG (or `pipe`).
 *
 * On every path protected addresses (neverBanReason(): special ranges, `skip_private`, `ignore_ips`,
 * own addresses, the allow list, …) yield nothing and are counted; IPv6 offenders are counted and
 * banned by their `ipv6_group_prefix` network (128 = single addresses), except when that network holds
 * a protected entry, then the address alone is banned. A target reported within `dedup_ttl` is not
 * reported again. All state is bounded by `maxTracked` per counter and `dedup_max`.
 */
export class DetectEngine {
  /** Counters since construction (kept across reload()). */
  readonly stats: DetectStats = {
    allows: 0,
    badAddresses: 0,
    bans: 0,
    duplicates: 0,
    echoes: 0,
    lines: 0,
    longLines: 0,
    matches: 0,
    openPorts: 0,
    packets: 0,
    pending: 0,
    portless: 0,
    protected: 0,
    refusedAllows: 0,
    slowLines: 0,
    unattributed: 0,
  }

  private config!: DetectEngineConfig
  private ctx!: NeverBanContext
  private isOpenPort!: (proto: string, port: number) => boolean
  private now!: () => number
  private kernelSources!: ReadonlySet<string>
  private journalUnits = false
  private maxTracked!: number
  private maxLineLength!: number
  private slowMatchMs!: number
  private matchClock!: () => number
  private onSlowPattern: DetectEngineOptions['onSlowPattern']
  private onPatternMatch: DetectEngineOptions['onPatternMatch']
  private processes = new ProcessTable()
  /** The address and outcome of the last match, for onPatternMatch. */
  private matched: {address?: Address; outcome: PatternMatchReport['outcome']} = {outcome: 'ignored'}
  /** Regexes reported slow already, as `path:line`; kept across reload(). */
  private readonly slow = new Set<string>()
  private prefix!: string
  private files: FileState[] = []
  private ephemeral!: SlidingWindowCounter
  private readonly dedup: DedupCache
  private readonly filesBySource = new Map<string, FileState[]>()

  /** Builds an engine; see DetectEngineOptions. Throws nothing for valid config values. */
  constructor(options: DetectEngineOptions) {
    const {detect} = options.config
    this.dedup = new DedupCache({max: detect.dedup_max, ttlMs: detect.dedup_ttl * 1000})
    this.configure(options)
  }

  /**
   * Takes new options (config, patterns, never-ban lists), as on SIGHUP. The de-duplication cache and
   * the stats are kept; a counter is kept when its file (by path) or the ephemeral policy keeps the
   * same threshold and window, and starts empty otherwise.
   */
  reload(options: DetectEngineOptions): void {
    const {detect} = options.config
    this.dedup.configure({max: detect.dedup_max, ttlMs: detect.dedup_ttl * 1000})
    this.configure(options)
  }

  /** Memory gauges: keys held by the counters and the de-duplication cache. */
  tracked(): DetectTracked {
    let counterKeys = this.ephemeral.size
    let evicted = this.ephemeral.evicted + this.dedup.evicted
    for (const f of this.files) {
      counterKeys += f.counter.size
      evicted += f.counter.evicted
    }
    return {counterKeys, dedupKeys: this.dedup.size, evicted}
  }

  /** Handles one line; returns the request it completes, if any (at most one per line). Never throws on bad input. */
  handleLine(line: LogLine): DetectEvent | undefined {
    this.stats.lines++
    const {source, text} = line
    if (typeof text !== 'string' || typeof source !== 'string') return undefined
    if (this.kernelSources.has(source)) {
      if (source === 'pipe') {
        const packet = parsePipeLine(text)
        if (packet !== undefined) return this.onPacket(packet, source)
        const report = parsePipeReport(text)
        if (report === undefined) return undefined
        return this.offend(report.address, undefined, report.tag ?? 'pipe', this.config.firewall.block_timeout, source)
      }
      const packet = parseKernelLog(text, this.prefix)
      if (packet !== undefined) return this.onPacket(packet, source)
    }
    const files = this.filesFor(source)
    if (files.length === 0) return undefined
    if (text.length > this.maxLineLength) {
      this.stats.longLines++
      return undefined
    }
    for (const state of files) {
      const found = this.matchFile(state, text)
      if (found === 'slow') return undefined
      if (found === null) continue
      this.stats.matches++
      const event = this.onMatch(state, found.rule, found.match, line)
      if (this.onPatternMatch !== undefined) {
        const outcome = event === undefined ? this.matched.outcome : event.kind === 'ban' ? 'banned' : 'allowed'
        this.onPatternMatch({...this.matched, file: state.file, line, outcome, rule: found.rule})
      }
      if (event !== undefined) return event
    }
    return undefined
  }

  /** Regexes that took longer than `slowMatchMs` on a line, as `path:line`, in the order found. */
  slowPatterns(): string[] {
    return [...this.slow]
  }

  /** Runs handleLine() over a stream of lines and yields the requests, in order. */
  async *detect(lines: AsyncIterable<LogLine>): AsyncGenerator<DetectEvent, void, undefined> {
    for await (const line of lines) {
      const event = this.handleLine(line)
      if (event !== undefined) yield event
    }
  }

  private configure(options: DetectEngineOptions): void {
    const {config} = options
    const {detect} = config
    this.config = config
    const {ignore: extraIgnore, lists = [], own} = options.neverBan ?? {}
    // By reference, so that changes the daemon makes in place count at once.
    const allLists = extraIgnore === undefined ? lists : [{label: 'listed in ignore_ips', list: extraIgnore}, ...lists]
    this.ctx = {ignore: new NetworkList(config.ignore_ips.map((e) => e.target)), lists: allLists, own, skipPrivate: detect.skip_private}
    this.isOpenPort = options.isOpenPort ?? (() => false)
    this.now = options.now ?? Date.now
    this.kernelSources = new Set(options.kernelSources ?? DEFAULT_KERNEL_SOURCES)
    this.journalUnits = options.journalUnits ?? false
    this.maxTracked = options.maxTracked ?? DEFAULT_MAX_TRACKED
    this.maxLineLength = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH
    this.slowMatchMs = options.slowMatchMs ?? SLOW_MATCH_MS
    this.matchClock = options.matchClock ?? (() => performance.now())
    this.onSlowPattern = options.onSlowPattern
    this.onPatternMatch = options.onPatternMatch
    if (options.maxProcesses !== undefined) this.processes = new ProcessTable(options.maxProcesses)
    const level = detect.level ?? 'normal'
    this.prefix = detect.log_prefix

    const ephemeral = {maxKeys: this.maxTracked, threshold: detect.ephemeral_hits, windowMs: detect.ephemeral_window * 1000}
    this.ephemeral = sameCounter(this.ephemeral, ephemeral) ? this.ephemeral : new SlidingWindowCounter(ephemeral)

    const old = new Map(this.files.map((f) => [f.file.path, f.counter]))
    this.files = (options.patterns ?? []).map((file) => {
      const wanted = {maxKeys: this.maxTracked, threshold: file.threshold, windowMs: file.windowSec * 1000}
      const previous = old.get(file.path)
      const rules = file.patterns.filter((rule) => runsAtLevel(rule, level))
      return {counter: sameCounter(previous, wanted) ? previous! : new SlidingWindowCounter(wanted), file, rules}
    }).filter((f) => f.rules.length > 0)
    this.filesBySource.clear()
  }

  private filesFor(source: string): FileState[] {
    let files = this.filesBySource.get(source)
    if (files === undefined) {
      const unitLine = source.startsWith('unit:')
      files = this.files.filter((f) => readsSource(f.file, source) && (!this.journalUnits || f.file.units.length === 0 || unitLine))
      if (this.filesBySource.size >= 1024) this.filesBySource.clear() // sources are few; bound it anyway
      this.filesBySource.set(source, files)
    }
    return files
  }

  /**
   * The first regex of the file that matches the line (two regexes matching one line count once), or
   * 'slow' when one took longer than `slowMatchMs`: the line is dropped, counted and the regex
   * reported once. Only regexes that pass their literal prefilter are run and timed.
   */
  private matchFile(state: FileState, text: string): {match: RegExpExecArray; rule: PatternRule} | 'slow' | null {
    const {file} = state
    for (const p of state.rules) {
      if (p.literal !== '' && !text.includes(p.literal)) continue
      const started = this.matchClock()
      const m = p.regex.exec(text)
      const ms = this.matchClock() - started
      if (ms > this.slowMatchMs) {
        this.stats.slowLines++
        const key = `${file.path}:${p.line}`
        if (!this.slow.has(key)) {
          this.slow.add(key)
          this.onSlowPattern?.({file: file.path, line: p.line, ms, source: p.source})
        }
        return 'slow'
      }
      if (m !== null) return {match: m, rule: p}
    }
    return null
  }

  private onPacket(packet: PacketLog, source: string): BanRequest | undefined {
    this.stats.packets++
    const {dpt, proto} = packet
    if (dpt === undefined) {
      this.stats.portless++
      return undefined
    }
    if (this.isOpenPort(proto, dpt)) {
      this.stats.openPorts++
      return undefined
    }
    const counter = classifyPort(dpt, this.config.detect.ephemeral_port_min) === 'ephemeral' ? this.ephemeral : undefined
    return this.offend(packet.src, counter, undefined, this.config.firewall.block_timeout, source, dpt, proto)
  }

  /**
   * A regex matched: count it against its address (or, for a `pid` line, its process's), record what the
   * process did (processes.ts), or yield an allow request for a login. Sets `matched` for onPatternMatch.
   */
  private onMatch(state: FileState, rule: PatternRule, match: RegExpExecArray, line: LogLine): DetectEvent | undefined {
    const {file} = state
    const {source} = line
    const groups = match.groups
    const now = this.now()
    // The PID is read only for matching lines: no cost for the lines no regex matches.
    const pid = line.pid ?? syslogPid(line.text)
    const proc = pid === undefined ? undefined : this.processes.get(source, pid, now)
    const ttlSec = file.banSec ?? this.config.firewall.block_timeout
    this.matched = {outcome: 'ignored'}
    let address: Address | undefined
    let event: DetectEvent | undefined
    if (rule.pid) {
      if (proc === undefined) {
        this.stats.unattributed++
        return undefined
      }
      address = proc.address
    } else {
      address = addressOrUndefined(groups?.ip)
      if (address === undefined) {
        this.stats.badAddresses++
        return undefined
      }
      if (file.action === 'allow') {
        this.matched = {address, outcome: 'counted'}
        return this.onLogin(file, address, groups?.user, source, proc)
      }
      if (proc !== undefined) {
        if (proc.address !== undefined && proc.address.text !== address.text) resetProcess(proc) // a reused PID
        proc.address = address
        // Address-less failures of this process logged before its address.
        for (; proc.pending > 0; proc.pending--) event ??= this.offend(address, state.counter, file.tag, ttlSec, source)
      }
    }
    if (rule.kind === 'track') {
      this.matched = {address, outcome: 'tracked'}
      return event
    }
    const user = groups?.user
    if (proc !== undefined && user !== undefined && (proc.failedUsers?.size ?? 0) < 64) (proc.failedUsers ??= new Set()).add(user)
    if (rule.kind === 'echo') {
      // The other report of the attempt came first, or cannot be told apart without a process: count nothing.
      if (proc === undefined || proc.counted) {
        if (proc === undefined) this.stats.unattributed++
        else this.stats.echoes++
        this.matched = {address, outcome: 'echo'}
        return event
      }
      proc.echoOpen = true
    } else if (proc?.echoOpen === true) {
      proc.echoOpen = false
      this.stats.echoes++
      this.matched = {address, outcome: 'echo'}
      return event
    }
    if (proc !== undefined) proc.counted = true
    if (address === undefined) {
      // Held until a line of the same process names the address (kex_exchange_identification comes first).
      if (proc!.pending < MAX_PENDING_PER_PROCESS) proc!.pending++
      this.matched = {outcome: 'held'}
      return event
    }
    this.matched = {address, outcome: 'counted'}
    return event ?? this.offend(address, state.counter, file.tag, ttlSec, source)
  }

  private onLogin(file: PatternFile, address: Address, user: string | undefined, source: string,
    proc: ProcessState | undefined): AllowRequest | undefined {
    const {detect} = this.config
    // A login after failures for other user names in the same connection is somebody who guessed an
    // account, not the owner who mistyped: no allow entry, and the evidence stays.
    if (proc?.failedUsers !== undefined && proc.address?.text === address.text && [...proc.failedUsers].some((u) => u !== user)) {
      this.stats.refusedAllows++
      this.matched = {address, outcome: 'ignored'}
      return undefined
    }
    // A log line can be written by any local user (`logger -t sshd …`): it allows only when the operator
    // opted in; wtmp (root-only) is the default source of logins.
    if (!detect.auto_allow || !detect.auto_allow_from_logs) return undefined
    // Only the special ranges that are never banned either (loopback, link-local, …): allowing them means nothing.
    if (neverBanReason(address, {skipPrivate: false}) !== undefined) {
      this.stats.protected++
      return undefined
    }
    const now = this.now()
    // A successful login clears the evidence counted against the address (typos before it).
    const group = this.groupOf(address)
    for (const f of this.files) {
      f.counter.delete(address.text)
      if (group !== undefined) f.counter.delete(group.text)
    }
    const key = `allow ${address.text}`
    if (this.dedup.has(key, now)) {
      this.stats.duplicates++
      return undefined
    }
    this.dedup.add(key, now)
    this.stats.allows++
    const who = user === undefined ? '' : sanitiseUser(user)
    return {address, comment: who === '' ? `${file.tag} login` : `${file.tag} login ${who}`, kind: 'allow', source, ttlSec: detect.auto_allow_ttl}
  }

  /**
   * The common ban path: de-duplication, never-ban, counting, IPv6 grouping. `reason` undefined means
   * a closed-port probe (`port-scan PORT/PROTO`), built only when a request is made: most packets
   * are duplicates.
   */
  private offend(address: Address, counter: SlidingWindowCounter | undefined, reason: string | undefined, ttlSec: number,
    source: string, port?: number, proto?: string): BanRequest | undefined {
    const now = this.now()
    const group = this.groupOf(address)
    const key = group === undefined ? address.text : group.text
    if (this.dedup.has(key, now) || (group !== undefined && this.dedup.has(address.text, now))) {
      this.stats.duplicates++
      return undefined
    }
    if (neverBanReason(address, this.ctx) !== undefined) {
      this.stats.protected++
      return undefined
    }
    if (counter !== undefined && !counter.hit(key, now)) {
      this.stats.pending++
      return undefined
    }
    const target: Address | Network = group === undefined || this.holdsProtected(group) ? address : group
    this.dedup.add(target.text, now)
    this.stats.bans++
    if (port === undefined || proto === undefined) return {address, kind: 'ban', reason: reason ?? '', source, target, ttlSec}
    return {address, kind: 'ban', port, proto, reason: reason ?? portScanReason(port, proto), source, target, ttlSec}
  }

  /**
   * The IPv6 group network of an address, or undefined when offenders are single addresses (IPv4,
   * `ipv6_group_prefix = 128`, or a special range narrower than the group, such as NAT64's /96).
   */
  private groupOf(address: Address): Network | undefined {
    const prefix = this.config.detect.ipv6_group_prefix
    if (address.family !== 6 || prefix >= 128) return undefined
    const range = classify(address)
    if (range !== undefined && range.network.prefix > prefix) return undefined
    return groupPrefix(address, prefix)
  }

  /** Whether a protected entry lies inside the group (then only the offender itself is banned). Runs per ban, not per line. */
  private holdsProtected(group: Network): boolean {
    const lists: Array<Iterable<Network> | undefined> = [this.ctx.own, this.ctx.ignore, ...(this.ctx.lists ?? []).map((l) => l.list)]
    for (const list of lists) {
      if (list === undefined) continue
      for (const net of list) {
        if (net.family === 6 && net.prefix >= group.prefix && containsAddress(group, net.address)) return true
      }
    }
    return false
  }
}

function resetProcess(proc: ProcessState): void {
  proc.address = undefined
  proc.counted = false
  proc.echoOpen = false
  proc.failedUsers = undefined
  proc.pending = 0
}

function sameCounter(counter: SlidingWindowCounter | undefined, wanted: {maxKeys: number; threshold: number; windowMs: number}): boolean {
  if (counter === undefined) return false
  const o = counter.options
  return o.threshold === wanted.threshold && o.windowMs === wanted.windowMs && o.maxKeys === wanted.maxKeys
}

function addressOrUndefined(text: string | undefined): Address | undefined {
  if (text === undefined || text.length === 0 || text.length > 45) return undefined
  try {
    return parseAddress(text)
  } catch {
    return undefined
  }
}

/** A user name fit for an allow-entry comment (ipset comment, NATS payload): safe characters only, cut short. */
function sanitiseUser(user: string): string {
  return user.slice(0, MAX_USER_LENGTH).replace(/[^A-Za-z0-9._@+-]/g, '_')
}
