/**
 * The per-host agent behind `diswall daemon`: detection sources → detection engine → kernel sets
 * (enforcer: never-ban check, coalescing writer, connections cut, counters); plus the snapshot of the
 * sets, the control socket, metrics and reloads. A transport (NATS) plugs in through its port
 * ({@link Transport}): it receives what this host bans and allows, and hands in what other hosts report
 * and full list copies, all of which pass the same enforcer; without one the daemon is local-only.
 *
 * Snapshot and journal: the start restores the last snapshot, then replays the journal segments since
 * (journal.ts); every batch the writer commits is journaled, and every list copy from the server is
 * written to a file with a new journal segment at its swap (list-copy.ts). A periodic snapshot bounds
 * the journal: it folds the last snapshot, the copies since and the journal into a new one
 * (compactSnapshot(), a few seconds at 1M bans), or reads the sets back when the journal may lack a
 * change: no journal, a journal that failed, problems at the restore, a change that bypassed the writer
 * (a copy whose file failed, a failed batch), or a command that wrote the sets since the last snapshot
 * started (the marker of changes.ts). At stop the journal is closed and kept for the next start when it
 * holds every change; a copy no snapshot holds yet is folded into one first; otherwise the sets are read
 * back (1M elements take ~70 s on nftables, and a stop must fit systemd's stop timeout). A periodic save
 * still listing the sets is aborted then (its rotation removed no segment yet, so nothing is lost).
 */
import {unlink} from 'node:fs/promises'
import {join} from 'node:path'

import type {Config, DetectConfig} from '../config/index.js'
import {loadConfig as defaultLoadConfig} from '../config/index.js'
import {
  DetectEngine, FileSource, hasJournald, JOURNAL_CURSOR_FILE, JournalSource, KMSG_POSITION_FILE, KmsgSource, NflogSource, PipeSource, ServiceJournalSource,
  superviseSource, WtmpSource,
} from '../detect/index.js'
import type {
  AllowRequest,
  BanRequest,
  DetectEvent,
  LogLine,
  LogSource,
  PatternFile,
  SlowPatternReport,
  SupervisedSource,
  SupervisorEvent,
  WtmpLogin,
} from '../detect/index.js'
import {Enforcer, findConnected, HostFacts, readTablesWith} from '../enforce/index.js'
import type {EnforcerOptions} from '../enforce/index.js'
import {asDiswallError, DiswallError, ExitCode} from '../errors.js'
import type {BackendChoice, FirewallBackend, ListKind, SetEntry} from '../firewall/sets/index.js'
import {kernelNames, markSetsChanged, openFirewall, readSetCounters, readSetsChanged, SETS_CHANGED_FILE, SETS_COPIED_FILE, setsChangedPath} from '../firewall/sets/index.js'
import type {NetworkList} from '../net/index.js'
import type {Logger} from '../service/index.js'
import {openControlServer,openMetricsServer} from '../service/index.js'
import {threadExec} from '../system/index.js'
import type {Exec, ThreadExec} from '../system/index.js'
import type {Transport, TransportSink, TransportStats, WireEntry} from '../transport/index.js'
import type {StatsReading} from './fleet.js'
import {collectGarbage, holdYoungGeneration} from './heap.js'
import {openInstanceLock} from './instance.js'
import {compactSnapshot, listJournalSegments, replayJournal, SetJournal} from './journal.js'
import type {FoldedCopy} from './journal.js'
import {ListCopyFile, removeListCopies} from './list-copy.js'
import {daemonMetricFamilies} from './metrics.js'
import {loadPatternDir, planServiceLogs} from './patterns.js'
import {restoreSnapshotFile, saveSnapshot, snapshotPath} from './snapshot.js'
import type {SavedSnapshot} from './snapshot.js'
import {DAEMON_SERVICE} from './status.js'
import type {DaemonStatus, SnapshotStatus} from './status.js'
import {latencyTraceFromEnv, wallNow} from './trace.js'
import type {LatencyTrace} from './trace.js'

/** Where logged packets come from (`[detect] source`). */
export type PacketSourceKind = DetectConfig['source']

/** Options of {@link Daemon}. */
export interface DaemonOptions {
  config: Config
  /** The config file, read again on reload(). */
  configPath: string
  logger: Logger
  /** diswall version, for the status. */
  version: string
  /** Overrides `[detect] source`. */
  packetSource?: PacketSourceKind
  /** Overrides `[detect] pipe_path`. */
  pipePath?: string
  /** Whether the host runs journald (for `[detect] service_logs = "auto"`); checked at each plan by default. */
  hasJournald?: () => boolean
  exec?: Exec
  /** The kernel backend; opened from the config by default (tests pass a MemoryBackend). */
  firewall?: {backend: FirewallBackend; choice: BackendChoice}
  /** Host facts (own addresses, open ports, SSH peers); read with `ip` and `ss` by default. */
  hostFacts?: HostFacts
  /**
   * Log each ban's stage times at debug level (`timing local|remote …`, CLOCK_MONOTONIC ms, the clock every
   * process of the host shares): detected and published here, received from NATS and committed to the
   * kernel on the other hosts. The fleet benchmark reads them; off by default (no clock reads, no lines).
   */
  timings?: boolean
  /** Looks banned addresses up in the socket and conntrack tables before a kill; /proc by default (tests fake it). */
  findConnected?: EnforcerOptions['findConnected']
  /** Makes the sources; the real ones by default (tests inject lines). */
  makeSources?: (plan: SourcePlan) => PlannedSources
  /** Reads the config on reload(); loadConfig by default. */
  loadConfig?: (path: string) => Promise<{config: Config; warnings: string[]}>
  /** Where pattern files are read from; `[firewall] dir`/patterns.d by default. */
  patternsDir?: string
  /** The cluster transport (NATS); local-only without one. */
  transport?: Transport
  /** Further never-ban lists (the NATS server's addresses, see fleet.ts). */
  protect?: ReadonlyArray<{label: string; list: NetworkList}>
  /** The transport's state and counters for the status (NatsTransport.stats). */
  transportStatus?: () => TransportStats
  /** Start the control socket (`[daemon] socket`); true by default. */
  controlSocket?: boolean
  /** How long after a list copy its snapshot starts, ms; {@link COPY_SNAPSHOT_DELAY_MS} by default (tests: less). */
  copySnapshotDelayMs?: number
  /**
   * Refuse to start while another daemon holds the same kernel sets or state dir (see instance.ts);
   * true by default, unless `firewall` is given (a MemoryBackend is no kernel set to protect).
   */
  singleInstance?: boolean
  /**
   * How long start() waits for every source to read before it says `ready` without the late ones
   * (which are named in the log), in milliseconds; {@link SOURCES_READING_TIMEOUT_MS} by default.
   */
  sourcesTimeoutMs?: number
  /** Records the stages of detected bans (trace.ts); from DISWALL_LATENCY_TRACE when left out. */
  latencyTrace?: LatencyTrace
}

/**
 * How long the daemon waits for its sources to read before it is ready anyway, ms. Each reads within
 * ~0.1 s on an idle 2-vCPU VM (the kmsg thread and tcpdump start in 20–80 ms); 10 s leaves room for a
 * loaded machine, and a source that cannot start (a taken NFLOG group) is reported, not waited on.
 */
export const SOURCES_READING_TIMEOUT_MS = 10_000

/** What the sources should be, derived from config and pattern files (pure data). */
export interface SourcePlan {
  packet: {kind: PacketSourceKind; logPrefix: string; nflogGroup: number; pipePath: string; kmsgPositionFile?: string}
  /** Log files the pattern files read. */
  files: string[]
  /** systemd services whose journald entries the pattern files read (`unit =`); empty: none. */
  units: string[]
  /** Follow wtmp for logins (auto-allow). */
  wtmp: boolean
  /** Where the journald service-log source keeps its cursor across restarts. */
  journalCursorFile?: string
}

/** The sources for a plan, keyed by a stable id (`packet`, `file:PATH`, `units:A,B`, `wtmp`). */
export interface PlannedSources {
  lines: Map<string, LogSource>
  logins?: LogSource<WtmpLogin>
}

/**
 * A list copy from the server is followed by a snapshot this long after it, ms: the other list's copy,
 * which comes right after a connect, joins the same save.
 */
export const COPY_SNAPSHOT_DELAY_MS = 2000

/** A snapshot with at least this many entries gets its garbage collected right after the restore. */
const BULK_LOAD_GC_MIN = 50_000

/** Margin for the coarse clock of file times when comparing the change marker with a snapshot's start, ms. */
const CHANGE_MARK_MARGIN_MS = 1000

/** The allow list is read back from the kernel this often (entries added by `allow add`), ms. */
const ALLOW_REFRESH_MS = 60_000

/** The real sources of a plan. */
export function makeSources(plan: SourcePlan): PlannedSources {
  const lines = new Map<string, LogSource>()
  const {kind, kmsgPositionFile, logPrefix, nflogGroup, pipePath} = plan.packet
  const packet: Record<PacketSourceKind, () => LogSource> = {
    journal: () => new JournalSource({match: [logPrefix]}),
    // Blocking reads, and after each record 1 s of polling every 0.5 ms: no CPU while quiet, and
    // during a scan no wait for the kernel's next timer tick (up to 4 ms at HZ=250) per record.
    // With the position in the state dir: what the kernel logged while the daemon was down is read.
    kmsg: () => new KmsgSource({burstPollMs: 0.5, match: [logPrefix], ...(kmsgPositionFile === undefined ? {} : {positionFile: kmsgPositionFile})}),
    nflog: () => new NflogSource({group: nflogGroup, logPrefix}),
    pipe: () => new PipeSource({path: pipePath}),
  }
  lines.set('packet', packet[kind]())
  for (const file of plan.files) lines.set(`file:${file}`, new FileSource(file))
  if (plan.units.length > 0) {
    const {journalCursorFile: cursorFile} = plan
    lines.set(unitsSourceId(plan.units), new ServiceJournalSource({units: plan.units, ...(cursorFile === undefined ? {} : {cursorFile})}))
  }
  return {lines, ...(plan.wtmp ? {logins: new WtmpSource()} : {})}
}

/** The id of the journald source of `units` in PlannedSources: another set of units is another source. */
export function unitsSourceId(units: readonly string[]): string {
  return `units:${units.join(',')}`
}

/** The agent. start() once, then stop(); reload() in between as often as needed. */
export class Daemon {
  private config: Config
  private readonly log: Logger['log']
  private backend!: FirewallBackend
  private choice!: BackendChoice
  private enforcer!: Enforcer
  private engine!: DetectEngine
  private facts!: HostFacts
  private patterns: PatternFile[] = []
  /** Whether the pattern files came from patterns.d or are the shipped ones. */
  private patternOrigin: 'dir' | 'shipped' = 'dir'
  private readonly sources = new Map<string, {source: SupervisedSource<LogLine> | SupervisedSource<WtmpLogin>; loop: Promise<void>}>()
  private plan: SourcePlan | undefined
  private readonly inFlight = new Set<Promise<unknown>>()
  /** Stage times of detected bans, GCs and the event-loop delay (DISWALL_LATENCY_TRACE); off by default. */
  private trace: LatencyTrace | undefined
  /** Reads the transport's connection events until it closes. */
  private transportEvents: Promise<void> | undefined
  private snapshot: SnapshotStatus = {loaded: 0, path: ''}
  /** Appends every committed batch of writes (journal.ts); opened once the journal was replayed at start. */
  private journal: SetJournal | undefined
  /** The restored snapshot's `# journal N`: it holds the segments before N. */
  private journalFrom = 0
  /** The snapshot being saved (never rejects). */
  private saving: Promise<void> = Promise.resolve()
  /** A snapshot after a list copy is waiting to start (one is enough for any number of copies). */
  private copySnapshotQueued = false
  private copySnapshotTimer: NodeJS.Timeout | undefined
  /** Aborts the save in progress (stop() does not wait for a periodic save that it does not need). */
  private saveAbort: AbortController | undefined
  /**
   * When the listing of the last completed snapshot started, ms since the epoch (the restored file's
   * header, then each save's); undefined while there is none. Changes committed before it are in it.
   */
  private snapshotBaseMs: number | undefined
  /** Segment from which the journal holds changes the last completed snapshot lacks. */
  private journalMark = 0
  /** Changes replayed from the journal at start that no snapshot holds yet. */
  private replayedChanges = 0
  /** Writes that bypassed the journal and no copy file holds: a list copy whose file failed, or that failed. */
  private unjournaled = 0
  /**
   * List copies loaded since the last completed snapshot, each with its file (list-copy.ts): the next
   * snapshot is folded from them; a stop saves one before it may keep the journal.
   */
  private readonly copies = new Map<ListKind, FoldedCopy>()
  /** List copies streaming into the kernel now: while one does, no snapshot is folded and no journal kept. */
  private copying = 0
  /** The last change of the copy marker (copyMarker()). */
  private copyMarking: Promise<void> = Promise.resolve()
  /** unjournaledCount() when the listing of the last completed snapshot started. */
  private unjournaledAtSnapshot = 0
  /** Why the sets may differ from the snapshot and journal since the start (problems reading them). */
  private restoreDoubt: string | undefined
  private readonly closers: Array<() => Promise<void> | void> = []
  private startedAt = new Date()
  private loadedAt = new Date()
  private lastReloadError: string | undefined
  private state: 'new' | 'running' | 'stopped' | 'stopping' = 'new'
  /** Runs the programs that read the kernel's counters (the helper thread). */
  private countersExec!: Exec
  /** Set once start() has done everything (status and reload answer from then on). */
  private ready = false

  constructor(private readonly options: DaemonOptions) {
    this.config = options.config
    this.log = (level, message) => options.logger.log(level, message)
  }

  /**
   * Starts the agent: kernel sets ready and the last snapshot restored (before anything else, so a
   * restart never leaves the host unprotected), host facts read, the engine built, the control socket
   * and metrics opened, the sources started. Resolves when the daemon is ready.
   * @throws what fails on the way (bad pattern file: ConfigError; kernel: CommandFailedError; …),
   *   after undoing what was started.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new Error('the daemon was started already')
    this.state = 'running'
    this.startedAt = new Date()
    try {
      await this.startUnsafe()
    } catch (error) {
      await this.stop({saveSnapshot: false}).catch(() => {})
      throw error
    }
  }

  /** The helper thread that starts programs and reads /proc tables off the event loop; ended with the daemon. */
  private helperThread(): ThreadExec {
    const helper = threadExec()
    this.closers.push(() => helper.close())
    return helper
  }

  private async startUnsafe(): Promise<void> {
    const {config} = this
    // Before any worker thread starts: they keep the flag (heap.ts); bin/run.js set it at process start.
    holdYoungGeneration()
    const trace = this.options.latencyTrace ?? latencyTraceFromEnv()
    if (trace !== undefined) {
      trace.start()
      this.trace = trace
      this.closers.push(() => {
        trace.stop()
        this.log('info', `latency trace written to ${trace.file}`)
      })
    }
    // The single-instance locks first, before the control socket and any set: a second daemon with
    // another socket or state dir must not restore its snapshot over the live sets.
    if (this.options.singleInstance ?? this.options.firewall === undefined) {
      const lock = await openInstanceLock({controlSocket: config.daemon.socket, names: kernelNames(config),
        stateDir: config.daemon.state_dir, warn: (message) => this.log('warning', message)})
      this.closers.push(() => lock.close())
    }
    // The control socket next: a second daemon on the same socket is refused here too.
    if (this.options.controlSocket !== false) {
      const control = await openControlServer(config.daemon.socket, {
        reload: () => this.whenReady(() => this.reload()),
        status: () => this.whenReady(() => this.status()),
      }, DAEMON_SERVICE)
      this.closers.push(() => control.close())
    }
    // Programs beside the ban path (`ip -j addr`, `ss -K` and `conntrack` after a ban) start from a
    // helper thread: a process start blocks its thread until the child execs (exec-thread.ts). Single
    // bans go through the backend's long-running session (which needs the default exec).
    const helper = this.options.exec === undefined ? this.helperThread() : undefined
    const helperExec = this.options.exec ?? helper!
    this.countersExec = helperExec
    // Not marked as a command's changes (changes.ts): the daemon journals what it writes.
    const fw = this.options.firewall ?? await openFirewall(config, this.options.exec, {markChanges: false, session: true})
    this.backend = fw.backend
    this.choice = fw.choice
    this.closers.push(() => this.backend.close())
    const init = await this.backend.init()
    for (const name of init.created) this.log('info', `created kernel set ${name}`)
    for (const name of init.migrated) this.log('notice', `migrated kernel set ${name} (entries kept)`)

    const loadedPatterns = await this.readPatterns()
    this.patterns = loadedPatterns.files
    this.patternOrigin = loadedPatterns.origin
    this.facts = this.options.hostFacts ?? new HostFacts({
      followAddresses: true,
      exec: helperExec,
      onError: (what, error) => this.log('warning', `reading ${what} failed, keeping the previous: ${asDiswallError(error).message}`),
      sshPorts: sshPorts(this.patterns),
    })
    // Every ban and allow entry passes the enforcer, whatever its origin (the snapshot too); the
    // engine's own cheap never-ban check reads the enforcer's lists: one definition of "protected".
    this.enforcer = new Enforcer({backend: this.backend, config, exec: helperExec, facts: this.facts, log: this.log,
      journal: {record: (ops) => this.journal?.record(ops)}, ...(this.options.protect ? {protect: this.options.protect} : {}),
      ...(this.options.findConnected ? {findConnected: this.options.findConnected} :
        helper ? {findConnected: (addrs) => findConnected(addrs, readTablesWith(helper.readText))} : {})})
    // Host facts and the allow list first (one `ip`, the /proc/net tables, one list: milliseconds), so that
    // restored bans are checked against them; then the snapshot, before anything else is started.
    await this.facts.start()
    this.closers.push(() => this.facts.stop())
    await this.enforcer.refreshAllowList()
    await this.restoreSnapshot()
    await this.replayJournal()
    await this.checkLastRunCopies()
    // A restored snapshot of 1M bans leaves ~100 MB of garbage: collect it before the daemon is ready.
    if (this.snapshot.loaded >= BULK_LOAD_GC_MIN) collectGarbage()
    await this.enforcer.refreshAllowList()
    const plan = this.sourcePlan()
    this.engine = new DetectEngine(this.engineOptions(plan))

    const allowTimer = setInterval(() => void this.enforcer.refreshAllowList().catch((error: unknown) =>
      this.log('warning', `reading the allow list failed: ${asDiswallError(error).message}`)), ALLOW_REFRESH_MS)
    allowTimer.unref()
    this.closers.push(() => clearInterval(allowTimer))
    this.scheduleSnapshots()
    // A first start in a fleet saves a snapshot at once, while the sets are small: the one after the
    // server's copy (up to millions of entries) is then folded rather than read from the sets.
    if (this.options.transport && this.snapshotBaseMs === undefined && config.daemon.snapshot_interval > 0 && this.journal !== undefined) {
      void this.saveSnapshot()
    }

    if (config.metrics.listen !== '') {
      const metrics = await openMetricsServer(config.metrics.listen, async () => daemonMetricFamilies(await this.status()), DAEMON_SERVICE)
      this.closers.push(() => metrics.close())
      this.log('info', `metrics on http://${config.metrics.listen}/metrics`)
    }

    if (this.options.transport) await this.startTransport(this.options.transport)
    this.startSources(plan)
    await this.sourcesReading()
    this.ready = true
    this.log('notice', `ready: backend ${this.choice.backend} (${this.choice.reason}), ` +
      `sources ${this.sourceNames()}, ${this.patterns.length} pattern files, ` +
      `${this.snapshot.loaded} entries restored${this.options.transport ? '' : ', local-only'}`)
  }

  /**
   * Stops the agent: sources closed, pending kernel writes and connection kills finished, the journal
   * closed and kept (or, when it may lack a change, the snapshot saved: see the module comment), sockets
   * closed. Safe to call more than once.
   */
  async stop({saveSnapshot: save = true}: {saveSnapshot?: boolean} = {}): Promise<void> {
    if (this.state === 'stopped' || this.state === 'stopping') return
    this.state = 'stopping'
    await Promise.all([...this.sources.values()].map(async ({loop, source}) => {
      await source.close()
      await loop
    }))
    this.sources.clear()
    await this.options.transport?.close()
    await this.transportEvents
    await Promise.allSettled([...this.inFlight])
    if (this.enforcer) await this.enforcer.settle()
    if (save && this.backend) await this.keepJournalOrSave()
    for (const close of this.closers.reverse()) {
      try {
        await close()
      } catch (error) {
        this.log('warning', `while stopping: ${asDiswallError(error).message}`)
      }
    }
    this.closers.length = 0
    this.state = 'stopped'
  }

  /**
   * Reads the config file and the pattern files again (SIGHUP). On any error the running setup stays
   * as it is and the error is logged and returned. Backend, set names and the control socket change
   * only with a restart.
   */
  async reload(): Promise<{ok: boolean; error?: string}> {
    if (this.state !== 'running') return {error: 'the daemon is not running', ok: false}
    try {
      const {config, warnings} = await (this.options.loadConfig ?? defaultLoadConfig)(this.options.configPath)
      for (const w of warnings) this.log('warning', w)
      const previous = this.config
      this.config = config
      let patterns: PatternFile[]
      let origin: 'dir' | 'shipped'
      try {
        ({files: patterns, origin} = await this.readPatterns())
      } catch (error) {
        this.config = previous
        throw error
      }
      for (const key of ['backend', 'nft_table', 'block_max', 'allow_max'] as const) {
        if (config.firewall[key] !== previous.firewall[key]) this.log('warning', `[firewall] ${key} changes at the next restart`)
      }
      if (config.daemon.socket !== previous.daemon.socket) this.log('warning', '[daemon] socket changes at the next restart')
      this.patterns = patterns
      this.patternOrigin = origin
      this.facts.setSshPorts(sshPorts(patterns))
      this.enforcer.configure(config)
      const plan = this.sourcePlan()
      this.engine.reload(this.engineOptions(plan))
      this.restartChangedSources(plan)
      this.loadedAt = new Date()
      this.lastReloadError = undefined
      this.log('notice', `reloaded: ${patterns.length} pattern files, sources ${this.sourceNames()}`)
      return {ok: true}
    } catch (error) {
      const message = asDiswallError(error).message
      this.lastReloadError = message
      this.log('error', `reload failed, keeping the running configuration: ${message}`)
      return {error: message, ok: false}
    }
  }

  /**
   * Waits until every source reads (so that a packet logged after `ready` is always seen), at most
   * `sourcesTimeoutMs`; the ones that do not are named in the log, and start-up goes on without them.
   */
  private async sourcesReading(): Promise<void> {
    const timeoutMs = this.options.sourcesTimeoutMs ?? SOURCES_READING_TIMEOUT_MS
    const pending = new Set([...this.sources.values()].map(({source}) => source))
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))
    await Promise.race([timeout, Promise.allSettled([...pending].map(async (source) => {
      await source.reading()
      pending.delete(source)
    }))])
    clearTimeout(timer)
    for (const source of pending) {
      const {lastError, state} = source.health()
      this.log('error', `source ${source.name} is not reading after ${(timeoutMs / 1000).toFixed(1)} s (${state}` +
        `${lastError === undefined ? '' : `: ${lastError}`}); ready without it`)
    }
  }

  private sourceNames(): string {
    return [...this.sources.values()].map(({source}) => source.name).join(', ')
  }

  private whenReady<T>(fn: () => Promise<T>): Promise<T> {
    if (!this.ready) {
      return Promise.reject(new DiswallError('the daemon is starting (restoring its snapshot)', 'E_DAEMON_STARTING',
        ExitCode.ENVIRONMENT, 'Try again in a few seconds.'))
    }
    return fn()
  }

  /** What the daemon is doing (control socket, metrics). */
  async status(): Promise<DaemonStatus> {
    const count = async (list: 'allow' | 'block'): Promise<number> => {
      try {
        return await this.backend.count(list)
      } catch {
        return -1
      }
    }
    const now = Date.now()
    const {stats} = this.enforcer
    return {
      allows: {failed: stats.allowFailed, total: stats.allows},
      backend: {name: this.backend.name, reason: this.choice.reason},
      bans: {byReason: {...stats.byReason}, failed: stats.banFailed, own: stats.ownBans, refused: stats.refused, total: stats.bans},
      config: {loadedAt: this.loadedAt.toISOString(), path: this.options.configPath,
        ...(this.lastReloadError === undefined ? {} : {lastReloadError: this.lastReloadError})},
      detect: {...this.engine.stats, ...this.engine.tracked()},
      killed: {...stats.killed},
      lastBans: this.enforcer.recent(),
      mode: this.options.transport ? 'nats' : 'local-only',
      ...(this.options.transportStatus ? {nats: this.options.transportStatus()} : {}),
      patternFiles: this.patterns.map((p) => ({
        action: p.action, builtIn: this.patternOrigin === 'shipped', name: p.name,
        path: this.patternOrigin === 'shipped' ? null : p.path, patterns: p.patterns.length, reads: p.file, tag: p.tag,
        ...(p.units.length > 0 && (this.plan?.units.length ?? 0) > 0 ? {journalUnits: [...p.units]} : {}),
      })),
      patterns: this.patterns.map((p) => (this.patternOrigin === 'shipped' ? `built-in:${p.name}` : p.path)),
      pid: process.pid,
      sets: {allow: await count('allow'), block: await count('block')},
      snapshot: {...this.snapshot, journalChanges: this.journalChanges()},
      sources: [...this.sources.values()].map(({source}) => source.health()),
      startedAt: this.startedAt.toISOString(),
      uptimeSec: Math.round((now - this.startedAt.getTime()) / 1000),
      version: this.options.version,
      writer: {...this.enforcer.writer.stats, pending: this.backend.pending},
    }
  }

  /**
   * What the hourly statistics count, since the start (fleet.ts): this host's own bans, and the counters
   * of the set rules read from the kernel (one program run per family and chain, in the helper thread).
   * Counters that cannot be read are logged and left out.
   */
  async statistics(): Promise<StatsReading> {
    const bans = this.enforcer.stats.ownBans
    const kind = this.backend.name
    if (kind === 'memory') return {bans}
    try {
      return {bans, counters: await readSetCounters(kind, kernelNames(this.config), this.countersExec)}
    } catch (error) {
      this.log('warning', `reading the packet counters failed: ${asDiswallError(error).message}`)
      return {bans}
    }
  }

  /** Handles one line as the sources do (tests, and lines handed in by other parts). */
  handleLine(line: LogLine): void {
    const received = this.trace === undefined ? 0 : wallNow()
    const event = this.engine.handleLine(line)
    if (event === undefined) return
    if (this.trace !== undefined && event.kind === 'ban') this.track(this.tracedBan(event, received, this.trace))
    else this.act(event)
  }

  /** A ban with its stages recorded (DISWALL_LATENCY_TRACE). */
  private async tracedBan(ban: BanRequest, received: number, trace: LatencyTrace): Promise<void> {
    const decided = wallNow()
    await this.ban(ban)
    trace.ban({committed: wallNow(), decided, received, target: ban.target.text})
  }

  private act(event: DetectEvent): void {
    this.track(event.kind === 'ban' ? this.ban(event) : this.allow(event))
  }

  private track(work: Promise<unknown>): void {
    this.inFlight.add(work)
    void work.finally(() => this.inFlight.delete(work))
  }

  /**
   * A ban this host detected: published as soon as the never-ban check passes, then applied by the
   * enforcer. The other hosts need not wait for this host's kernel write (a few ms on nftables): the
   * detection is what they act on, and a write that fails here is counted and logged here.
   */
  private async ban(ban: BanRequest): Promise<void> {
    const detected = this.options.timings ? monotonicMs() : 0
    const transport = this.options.transport
    if (transport && this.enforcer.refusal(ban.target) === undefined) {
      transport.publishAdd('block', banToWire(ban, ban.ttlSec ?? this.config.firewall.block_timeout))
    }
    const published = this.options.timings ? monotonicMs() : 0
    const outcome = await this.enforcer.ban({address: ban.address, reason: ban.reason, source: ban.source, target: ban.target,
      ...(ban.ttlSec === undefined ? {} : {ttlSec: ban.ttlSec})})
    if (this.options.timings) {
      this.log('debug', `timing local ${ban.target.text} detected=${msText(detected)} published=${msText(published)} ` +
        `committed=${msText(monotonicMs())} ${outcome.result}`)
    }
  }

  /** An allow entry this host detected (a login): applied by the enforcer, published when it went in. */
  private async allow(request: AllowRequest): Promise<void> {
    const outcome = await this.enforcer.allow({comment: request.comment, source: request.source, target: request.address, ttlSec: request.ttlSec})
    if (outcome === 'allowed') this.options.transport?.publishAdd('allow', allowToWire(request))
  }

  /** Connects the transport with a sink that hands every remote change to the enforcer. */
  private async startTransport(transport: Transport): Promise<void> {
    const sink: TransportSink = {
      add: async (list, entry) => {
        const source = remoteSource(entry)
        if (list === 'block') {
          const received = this.options.timings ? monotonicMs() : 0
          const outcome = await this.enforcer.ban({reason: entry.tag ?? 'remote', source, target: entry.target,
            ...(entry.ttlSec === undefined ? {} : {ttlSec: entry.ttlSec})})
          if (this.options.timings) {
            this.log('debug', `timing remote ${entry.target.text} from ${entry.origin ?? 'server'} received=${msText(received)} ` +
              `committed=${msText(monotonicMs())} ${outcome.result}`)
          }
          return outcome.result === 'banned'
        }
        const outcome = await this.enforcer.allow({comment: entry.comment ?? `from ${source}`, source, target: entry.target,
          ...(entry.ttlSec === undefined ? {} : {ttlSec: entry.ttlSec})})
        return outcome !== 'failed'
      },
      del: async (list, entry) => {
        try {
          await (list === 'block' ? this.enforcer.unban(entry.target) : this.enforcer.disallow(entry.target))
          return true
        } catch (error) {
          this.log('error', `removing ${entry.target.text} from the ${list} list (${remoteSource(entry)}) failed: ${asDiswallError(error).message}`)
          return false
        }
      },
      replace: (list, entries) => this.loadCopy(list, entries),
    }
    this.closers.push(() => clearTimeout(this.copySnapshotTimer))
    await transport.start(sink)
    this.transportEvents = (async () => {
      try {
        for await (const event of transport.status()) {
          if (event.type === 'error') this.log('warning', `transport: ${asDiswallError(event.error).message}`)
          else this.log(event.type === 'connected' ? 'info' : 'warning', `transport ${event.type}${event.server ? ` (${event.server})` : ''}`)
        }
      } catch (error) {
        this.log('warning', `transport events ended: ${asDiswallError(error).message}`)
      }
    })()
    void transport.closed().then((result) => {
      if (result instanceof Error) this.log('error', `transport closed: ${asDiswallError(result).message}; this host is local-only now`)
    })
  }

  private engineOptions(plan: SourcePlan) {
    return {
      config: this.config,
      journalUnits: plan.units.length > 0,
      isOpenPort: (proto: string, port: number) => this.facts.isOpenPort(proto, port),
      neverBan: this.enforcer.engineNeverBan(),
      onSlowPattern: (r: SlowPatternReport) => this.log('warning',
        `${r.file}:${r.line}: the regex took ${Math.round(r.ms)} ms on a line; such lines are dropped (counted in detect.slowLines)`),
      patterns: this.patterns,
    }
  }

  private async readPatterns() {
    const dir = this.options.patternsDir ?? join(this.config.firewall.dir, 'patterns.d')
    const loaded = await loadPatternDir(dir)
    if (loaded.origin === 'shipped') this.log('info', `${dir} does not exist: using the shipped pattern files`)
    return loaded
  }

  private sourcePlan(): SourcePlan {
    const {files, units} = planServiceLogs(this.patterns, this.config.detect, (this.options.hasJournald ?? hasJournald)())
    return {
      files,
      packet: {
        kind: this.options.packetSource ?? this.config.detect.source,
        kmsgPositionFile: join(this.config.daemon.state_dir, KMSG_POSITION_FILE),
        logPrefix: this.config.detect.log_prefix,
        nflogGroup: this.config.detect.nflog_group,
        pipePath: this.options.pipePath ?? this.config.detect.pipe_path,
      },
      journalCursorFile: join(this.config.daemon.state_dir, JOURNAL_CURSOR_FILE),
      units,
      wtmp: this.config.detect.auto_allow,
    }
  }

  private startSources(plan: SourcePlan, only?: ReadonlySet<string>): void {
    this.plan = plan
    const made = (this.options.makeSources ?? makeSources)(plan)
    for (const [id, source] of made.lines) {
      if (only !== undefined && !only.has(id)) continue
      const supervised = superviseSource(source, {onEvent: (e) => this.onSourceEvent(e)})
      this.sources.set(id, {loop: this.consume(supervised, (line) => this.handleLine(line)), source: supervised})
    }
    if (made.logins && (only === undefined || only.has('wtmp'))) {
      const supervised = superviseSource(made.logins, {onEvent: (e) => this.onSourceEvent(e)})
      this.sources.set('wtmp', {loop: this.consume(supervised, (login) => this.onLogin(login)), source: supervised})
    }
  }

  /** After a reload: sources that are no longer wanted stop, new ones start, unchanged ones keep running. */
  private restartChangedSources(plan: SourcePlan): void {
    const old = this.plan
    const wanted = new Set<string>(['packet', ...plan.files.map((f) => `file:${f}`),
      ...(plan.units.length > 0 ? [unitsSourceId(plan.units)] : []), ...(plan.wtmp ? ['wtmp'] : [])])
    const packetChanged = old === undefined || JSON.stringify(old.packet) !== JSON.stringify(plan.packet)
    for (const [id, {loop, source}] of this.sources) {
      if (wanted.has(id) && !(id === 'packet' && packetChanged)) continue
      this.sources.delete(id)
      void source.close().then(() => loop)
    }
    const missing = new Set([...wanted].filter((id) => !this.sources.has(id)))
    if (missing.size > 0) this.startSources(plan, missing)
    this.plan = plan
  }

  private async consume<T>(source: SupervisedSource<T>, handle: (item: T) => void): Promise<void> {
    try {
      for await (const item of source.start()) handle(item)
    } catch {
      // A fatal error: reported by onSourceEvent and in the source's health.
    }
  }

  private onSourceEvent(event: SupervisorEvent): void {
    if (event.type === 'started') {
      this.log(event.run === 1 ? 'debug' : 'notice', `source ${event.source} started${event.run === 1 ? '' : ` (run ${event.run})`}`)
    } else if (event.type === 'reading') {
      this.log('info', `source ${event.source} reads${event.run === 1 ? '' : ` (run ${event.run})`}`)
    } else if (event.type === 'restarting') {
      this.log('warning', `source ${event.source} stopped: ${asDiswallError(event.error).message}; restarting in ` +
        `${(event.delayMs / 1000).toFixed(1)} s (restart ${event.restarts})`)
    } else {
      const error = asDiswallError(event.error)
      this.log('error', `source ${event.source} failed and is not restarted: ${error.message}${error.hint ? ` (${error.hint})` : ''}`)
    }
  }

  /** A login from wtmp: the same auto-allow as an "Accepted …" log line. */
  private onLogin(login: WtmpLogin): void {
    if (!this.config.detect.auto_allow) return
    const user = login.user.slice(0, 32).replace(/[^A-Za-z0-9._@+-]/g, '_')
    if (this.enforcer.allowList.contains(login.address)) return
    this.act({address: login.address, comment: `login ${user}`.trim(), kind: 'allow', source: login.source,
      ttlSec: this.config.detect.auto_allow_ttl})
  }

  private async restoreSnapshot(): Promise<void> {
    const path = snapshotPath(this.config.daemon.state_dir)
    this.snapshot = {loaded: 0, path}
    // Entries go to the kernel while the file is read: memory stays at one batch for 1M bans.
    const screens = {allow: this.enforcer.screen('allow', path), block: this.enforcer.screen('block', path)}
    const {added, journalSeq, problems, savedAt} = await restoreSnapshotFile(this.backend, path, {admit: (list, entry) => screens[list].admit(entry)})
    this.journalFrom = journalSeq ?? 0
    this.journalMark = this.journalFrom
    screens.block.done()
    for (const problem of problems) this.log('warning', `snapshot: ${problem}`)
    if (problems.length > 0) this.restoreDoubt = 'the snapshot restored at start had problems'
    if (savedAt !== undefined) {
      this.snapshotBaseMs = Date.parse(savedAt)
      this.snapshot.loadedSavedAt = savedAt
    }
    if (added === 0) return
    this.snapshot.loaded = added
    this.log('notice', `restored ${added} entries from ${path}`)
  }

  /**
   * After the snapshot: the journal segments it does not hold, in order (what was banned or lifted since
   * it was saved, up to a crash); then a new segment for what comes. A damaged segment is used up to the
   * damage and reported; a journal that cannot be opened is reported, and the daemon runs without it.
   */
  private async replayJournal(): Promise<void> {
    const stateDir = this.config.daemon.state_dir
    const screens = {allow: this.enforcer.screen('allow', 'the journal'), block: this.enforcer.screen('block', 'the journal')}
    const replay = await replayJournal(this.backend, stateDir, {admit: (list, entry) => screens[list].admit(entry), fromSeq: this.journalFrom})
    screens.block.done()
    for (const problem of replay.problems) this.log('warning', `journal: ${problem}`)
    if (replay.problems.length > 0) this.restoreDoubt ??= 'the journal replayed at start had problems'
    this.replayedChanges = replay.added + replay.removed
    if (this.replayedChanges > 0) this.snapshot.replayed = this.replayedChanges
    if (replay.added + replay.removed + replay.skipped > 0) {
      this.log('notice', `replayed the journal (segments ${replay.segments.join(', ')}): ${replay.added} entries added, ` +
        `${replay.removed} removed (${replay.expired} expired), ${replay.skipped} bad lines skipped`)
    }
    try {
      const segments = await listJournalSegments(stateDir)
      const next = Math.max(segments.at(-1) ?? -1, this.journalFrom - 1) + 1
      this.journal = await SetJournal.open(stateDir, next, {
        defaultBlockTtlSec: this.config.firewall.block_timeout,
        onError: (message) => this.log('error', `${message}; bans since the last snapshot may be lost in a crash`),
      })
      const journal = this.journal
      this.closers.push(() => journal.close())
      // Segments the snapshot holds (a crash after it was saved left them).
      await journal.dropBefore(this.journalFrom)
    } catch (error) {
      this.log('error', `cannot open the journal in ${stateDir}, bans since the last snapshot will be lost in a crash: ` +
        asDiswallError(error).message)
    }
  }

  /**
   * A copy of a list from the server, swapped in whole (Enforcer.replace()) and written to a file as it
   * streams (list-copy.ts), with a journal segment started at the swap: the next snapshot is folded from
   * the last one, the file and the journal, not read from the sets. Without the file (it could not be
   * written, no journal, `snapshot_interval = 0`) the copy counts as a change outside the journal.
   */
  private async loadCopy(list: ListKind, entries: AsyncIterable<readonly WireEntry[]>): Promise<void> {
    const stateDir = this.config.daemon.state_dir
    // On disk before and after: if this run ends without a snapshot holding the copy, the next one knows.
    const mark = (): Promise<void> => this.copyMarker(`the daemon (copy of the ${list} list)`)
    this.copying++
    // Whether the sets' new content is accounted for: in the copies to fold, in a snapshot, or unchanged.
    let accounted = false
    let file: ListCopyFile | undefined
    try {
      await mark()
      if (this.journal !== undefined && this.config.daemon.snapshot_interval > 0) {
        file = await ListCopyFile.create(stateDir, list, {defaultBlockTtlSec: this.config.firewall.block_timeout}).catch((error: unknown) => {
          this.log('warning', `cannot write the copy of the ${list} list in ${stateDir} (the next snapshot reads the sets): ${asDiswallError(error).message}`)
          return undefined
        })
      }
      const copy = file
      let fromSeq: number | undefined
      let rotated: Promise<number> | undefined
      let swapped = false
      try {
        await this.enforcer.replace(list, wireToSetEntries(entries), {
          ...(copy === undefined ? {} : {admitted: (batch) => copy.add(batch)}),
          swapped: () => {
            swapped = true
            // Whatever is journaled from here on was written to the copy.
            if (copy === undefined || this.journal === undefined) return
            rotated = this.journal.rotate()
            fromSeq = this.journal.seq
          },
        })
      } catch (error) {
        await copy?.discard()
        // Failed before the swap: the list is as it was (Enforcer.replace()).
        accounted = !swapped
        this.log('error', `loading the copy of the ${list} list failed, keeping the current one: ${asDiswallError(error).message}`)
        // The transport records it as the init's lastError: a status must not say the copy is in place.
        throw error
      }
      if (copy !== undefined && fromSeq !== undefined) {
        try {
          await rotated
          const finished = await copy.finish(fromSeq)
          accounted = true
          // A snapshot that rotated the journal after the swap read the sets (none is folded while a
          // copy loads): it holds the copy already.
          if (fromSeq >= this.journalMark) this.copies.set(list, finished)
          else await unlink(finished.path).catch(() => {})
        } catch (error) {
          await copy.discard()
          this.log('warning', `${asDiswallError(error).message}; the next snapshot reads the sets`)
        }
      }
      this.snapshotAfterCopy()
    } finally {
      // In the same turn as the copy ends: no check sees it neither loading nor accounted for.
      if (!accounted) this.unjournaled++
      this.copying--
      await mark()
    }
  }

  /**
   * Writes the copy marker (`what` copied) or, without `what`, removes it when every copy is in a
   * snapshot and none is loading (checked when its turn comes: one marker change at a time, in order,
   * so a removal never lands after the mark of a copy that began meanwhile). Never throws.
   */
  private copyMarker(what?: string): Promise<void> {
    const stateDir = this.config.daemon.state_dir
    this.copyMarking = this.copyMarking.then(async () => {
      try {
        if (what !== undefined) await markSetsChanged(stateDir, {file: SETS_COPIED_FILE, what})
        else if (this.copying === 0 && this.copies.size === 0 && this.unjournaledCount() === this.unjournaledAtSnapshot) {
          await unlink(setsChangedPath(stateDir, SETS_COPIED_FILE)).catch((error: unknown) => {
            if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
          })
        }
      } catch (error) {
        this.log('warning', `cannot ${what === undefined ? 'remove' : 'write'} ${SETS_COPIED_FILE}: ${asDiswallError(error).message}`)
      }
    })
    return this.copyMarking
  }

  /**
   * At start: the copy files of the last run are of no use (a stop folds its copies into the snapshot);
   * when its copy marker is newer than the snapshot, it ended before a snapshot held a copy (a crash),
   * and the first snapshot of this run reads the sets.
   */
  private async checkLastRunCopies(): Promise<void> {
    const stateDir = this.config.daemon.state_dir
    await removeListCopies(stateDir, {all: true}).catch((error: unknown) =>
      this.log('warning', `removing the list copies of the last run failed: ${asDiswallError(error).message}`))
    let copiedMs: number | undefined
    try {
      copiedMs = await readSetsChanged(stateDir, SETS_COPIED_FILE)
    } catch (error) {
      this.restoreDoubt ??= `cannot read ${SETS_COPIED_FILE}: ${asDiswallError(error).message}`
      return
    }
    if (copiedMs !== undefined && (this.snapshotBaseMs === undefined || copiedMs >= this.snapshotBaseMs - CHANGE_MARK_MARGIN_MS)) {
      this.restoreDoubt ??= `the last run loaded a list copy at ${new Date(copiedMs).toISOString()} that no snapshot holds`
    }
  }

  /** One save at a time (the timer's and stop's): each rotates the journal and drops what its snapshot holds. */
  private saveSnapshot(): Promise<void> {
    this.saving = this.saving.then(() => this.saveSnapshotNow())
    return this.saving
  }

  /**
   * A list copy is not journaled, so until a snapshot holds it a stop must save one (folded from the
   * copy's file: ~3 s for 1M entries; read from the sets when the file failed: ~70 s for 1M elements on
   * nftables). A snapshot in the background soon after the copy lets the stops after it keep the
   * journal again. Copies while one waits to start share it (a reconnecting transport queues no pile of
   * saves); one save already running may not hold a copy made meanwhile, so a copy then queues the
   * next. Not with `snapshot_interval = 0` (stop always saves then).
   */
  private snapshotAfterCopy(): void {
    if (this.copySnapshotQueued || this.config.daemon.snapshot_interval <= 0 || this.journal === undefined) return
    this.copySnapshotQueued = true
    this.copySnapshotTimer = setTimeout(() => {
      if (this.state !== 'running') return
      this.saving = this.saving.then(() => {
        this.copySnapshotQueued = false
        return this.state === 'running' ? this.saveSnapshotNow() : undefined
      })
    }, this.options.copySnapshotDelayMs ?? COPY_SNAPSHOT_DELAY_MS)
    this.copySnapshotTimer.unref()
  }

  private async saveSnapshotNow(): Promise<void> {
    const abort = new AbortController()
    this.saveAbort = abort
    try {
      if (this.enforcer) await this.enforcer.writer.flush()
      const startedMs = Date.now()
      const unjournaled = this.unjournaledCount()
      // When the last snapshot, the copies since and the journal hold the sets, they are folded into the
      // new one instead of reading the sets back (checked before the rotation: a command's change after
      // it is seen next time).
      const foldable = this.snapshotBaseMs !== undefined && await this.whySave({copies: 'fold'}) === undefined
      const from = this.journalMark
      const path = snapshotPath(this.config.daemon.state_dir)
      // In the same turn as the rotation: the copies registered now were swapped in before the new
      // segment, and none may be streaming (one could have begun during the check).
      const copies = Object.fromEntries(this.copies) as Partial<Record<ListKind, FoldedCopy>>
      const fold = foldable && this.copying === 0
      // A new segment before the sets are read: the snapshot holds everything of the older ones.
      const journalSeq = await this.journal?.rotate()
      let saved: SavedSnapshot | undefined
      let how = 'read from the kernel sets'
      if (fold && journalSeq !== undefined) {
        const compacted = await compactSnapshot(path, this.config.daemon.state_dir,
          {copies, fromSeq: from, savedAtMs: startedMs, signal: abort.signal, toSeq: journalSeq})
        if ('saved' in compacted) {
          saved = compacted.saved
          const copied = Object.keys(copies)
          const withCopies = ['', ', the copy of the ' + copied[0] + ' list', ', the copies of both lists'][copied.length]
          how = `folded from the last snapshot${withCopies} and the journal since (segments ${from} to ${journalSeq - 1})`
        } else {
          how = `read from the kernel sets: ${compacted.why}`
        }
      }
      saved ??= await saveSnapshot(path, this.backend, {...(journalSeq === undefined ? {} : {journalSeq}), signal: abort.signal})
      // Only once the new snapshot is in place: a save that failed or was aborted removes no segment,
      // so the old snapshot and the journal since it still hold every change.
      if (journalSeq !== undefined) {
        await this.journal?.dropBefore(journalSeq)
        this.journalMark = journalSeq
        // Copies swapped in before the rotation are in the snapshot, folded or read from the sets.
        for (const [list, copy] of this.copies) if (copy.fromSeq < journalSeq) this.copies.delete(list)
      } else {
        this.copies.clear()
      }
      this.snapshotBaseMs = Date.parse(saved.savedAt)
      this.unjournaledAtSnapshot = unjournaled
      this.replayedChanges = 0
      this.restoreDoubt = undefined
      this.snapshot = {...this.snapshot, saved: saved.entries, savedAt: new Date(saved.savedAt).toISOString()}
      delete this.snapshot.lastError
      await this.copyMarker()
      this.log('info', `saved ${saved.entries} entries to ${path}, ${how}`)
    } catch (error) {
      if (abort.signal.aborted) {
        this.log('info', 'the snapshot being saved was abandoned for the stop; the journal holds its changes')
        return
      }
      this.snapshot.lastError = asDiswallError(error).message
      this.log('error', `saving the snapshot failed: ${this.snapshot.lastError}`)
    } finally {
      if (this.saveAbort === abort) this.saveAbort = undefined
      // The files of copies a snapshot holds, or a later copy of the same list replaced.
      await removeListCopies(this.config.daemon.state_dir, {keep: new Set([...this.copies.values()].map((c) => c.path))})
        .catch((error: unknown) => this.log('warning', `removing old list copies failed: ${asDiswallError(error).message}`))
    }
  }

  /** Writes that bypassed the journal: list copies, and batches the kernel refused (not journaled, maybe partly applied). */
  private unjournaledCount(): number {
    return this.unjournaled + (this.enforcer?.writer.stats.failedBatches ?? 0)
  }

  /**
   * Why the journal may lack a change since the last completed snapshot (the stop must then save a new
   * one), or undefined when the snapshot and the journal hold the sets. With `copies: 'fold'`, list
   * copies loaded since, each in its file, do not count: a snapshot can be folded from them.
   */
  private async whySave({copies = 'save'}: {copies?: 'fold' | 'save'} = {}): Promise<string | undefined> {
    // No periodic snapshot would ever compact the journal.
    if (this.config.daemon.snapshot_interval <= 0) return 'snapshot_interval is 0 (snapshots on stop only)'
    if (this.journal === undefined) return 'there is no journal'
    if (!this.journal.healthy) return 'the journal failed'
    if (this.restoreDoubt !== undefined) return this.restoreDoubt
    if (this.copying > 0) return 'a list copy is being loaded'
    if (this.unjournaledCount() > this.unjournaledAtSnapshot) return 'the sets were changed outside the journal (a list copy that failed or could not be written to a file, or a failed batch)'
    if (copies === 'save' && this.copies.size > 0) {
      return this.copies.size === 1 ? `the copy of the ${[...this.copies.keys()][0]} list is in no snapshot yet` : 'the copies of both lists are in no snapshot yet'
    }
    const stateDir = this.config.daemon.state_dir
    let changedMs: number | undefined
    try {
      changedMs = await readSetsChanged(stateDir)
    } catch (error) {
      return `cannot read ${SETS_CHANGED_FILE}: ${asDiswallError(error).message}`
    }
    // The marker's mtime comes from the kernel's coarse clock, a few ms behind Date.now(): 1 s of margin.
    if (changedMs !== undefined && (this.snapshotBaseMs === undefined || changedMs >= this.snapshotBaseMs - CHANGE_MARK_MARGIN_MS)) {
      return `a command changed the sets at ${new Date(changedMs).toISOString()} (${SETS_CHANGED_FILE})`
    }
    return undefined
  }

  /** Changes the journal holds beyond the last completed snapshot (what the next start replays). */
  private journalChanges(): number {
    return this.replayedChanges + (this.journal?.recordedFrom(this.journalMark) ?? 0)
  }

  /**
   * The snapshot part of stop(): closes the journal and keeps it for the next start when it holds every
   * change since the last snapshot; otherwise saves the snapshot (reading the whole sets). A periodic save
   * in progress is aborted when it is not needed, and waited for when it is.
   */
  private async keepJournalOrSave(): Promise<void> {
    if (this.saveAbort !== undefined && await this.whySave() === undefined) this.saveAbort.abort(new Error('the daemon is stopping'))
    await this.saving
    let why = await this.whySave()
    if (why === undefined) {
      const journal = this.journal!
      await journal.close()
      if (journal.healthy) {
        const base = this.snapshotBaseMs === undefined ? 'no snapshot (yet)' : `the snapshot of ${new Date(this.snapshotBaseMs).toISOString()}`
        this.log('info', `journal closed: ${this.journalChanges()} changes since ${base} kept for the next start`)
        this.snapshot.stoppedWith = 'journal'
        return
      }
      why = 'closing the journal failed'
    }
    this.log('info', `saving the snapshot at stop: ${why}`)
    await this.saveSnapshot()
    this.snapshot.stoppedWith = 'snapshot'
  }

  private scheduleSnapshots(): void {
    const everySec = this.config.daemon.snapshot_interval
    if (everySec <= 0) return
    let saving = false
    const timer = setInterval(() => {
      if (saving || this.state !== 'running') return
      saving = true
      void this.saveSnapshot().finally(() => (saving = false))
    }, everySec * 1000)
    timer.unref()
    this.closers.push(() => clearInterval(timer))
  }
}

/** The SSH server's ports, from the `ports =` of pattern files tagged `ssh`; [22] when none say. */
function sshPorts(patterns: readonly PatternFile[]): number[] {
  const ports = new Set<number>()
  for (const p of patterns) {
    if (p.tag === 'ssh' && p.ports !== 'all') for (const port of p.ports) ports.add(port)
  }
  return ports.size === 0 ? [22] : [...ports]
}

/** CLOCK_MONOTONIC in milliseconds (process.hrtime): one clock for every process of the host. */
function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

function msText(ms: number): string {
  return ms.toFixed(3)
}

/** A ban this host detected, as the wire carries it. */
export function banToWire(ban: BanRequest, ttlSec: number): WireEntry {
  return {tag: ban.reason, target: ban.target, ttlSec}
}

/** An allow entry this host detected, as the wire carries it. */
export function allowToWire(allow: AllowRequest): WireEntry {
  return {comment: allow.comment, target: allow.address, ttlSec: allow.ttlSec}
}

/** The `source` of a remote change in logs and recent bans: `remote` or `remote HOST`. */
function remoteSource(entry: WireEntry): string {
  return entry.origin === undefined ? 'remote' : `remote ${entry.origin}`
}

/** Wire entries of a list copy as kernel set entries, converted batch by batch while the copy streams in. */
async function* wireToSetEntries(batches: AsyncIterable<readonly WireEntry[]>): AsyncGenerator<SetEntry[]> {
  for await (const batch of batches) {
    yield batch.map((entry) => ({target: entry.target, ...(entry.comment === undefined ? {} : {comment: entry.comment}),
      ...(entry.ttlSec === undefined ? {} : {ttlSec: entry.ttlSec})}))
  }
}
