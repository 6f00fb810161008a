import {CommandFailedError, DiswallError, ExitCode} from '../../errors.js'
import {IPSET_MAX_TIMEOUT_SEC, parseTarget} from '../../net/index.js'
import type {Address, Target} from '../../net/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import {IpsetSession} from './ipset-session.js'
import type {IpsetBatchRunner, IpsetSessionFactory} from './ipset-session.js'
import {RULESET_CHAINS, STAGING_SUFFIX} from './names.js'
import type {KernelNames} from './names.js'
import {OpQueue, opTarget, reportOf} from './op-queue.js'
import type {Op} from './op-queue.js'
import {changeOneElement, forEachOf, PREPARED_INIT_MAX_AGE_MS, setFor} from './types.js'
import type {CommitReport, FirewallBackend, InitReport, ListedEntry, ListKind, ListOptions, SetEntry, SetEntrySource} from './types.js'

/** Sizes and defaults of the sets. */
export interface SetLimits {
  /** maxelem of each block set (per family). */
  blockMax: number
  /** maxelem of each allow set (per family). */
  allowMax: number
  /** Default timeout of the block sets, seconds. */
  blockTimeoutSec: number
}

export const DEFAULT_LIMITS: SetLimits = {allowMax: 65_536, blockMax: 1_000_000, blockTimeoutSec: 86_400}

/** Options of {@link IpsetBackend}. */
export interface IpsetBackendOptions {
  /**
   * Sends small commits (up to {@link SESSION_MAX_LINES} lines) through a persistent `ipset -exist -`
   * process ({@link IpsetSession}) instead of starting `ipset restore` each time: a single ban reaches
   * the kernel in a fraction of a millisecond instead of ~3 ms. `true` runs that process in this network
   * namespace, so it needs the default exec; a factory makes it elsewhere (tests, benchmarks). Off by
   * default, so that one-shot commands leave no process behind; the daemon turns it on and calls close().
   */
  session?: boolean | IpsetSessionFactory
}

/** Characters of a streamed restore script handed to the pipe at once (~2,000 lines). */
const STREAM_CHUNK_CHARS = 64 * 1024
/** A list copy streams while it arrives from the network: the whole init of 1M entries, with room. */
const REPLACE_TIMEOUT_MS = 600_000

/** Largest commit sent through the session; bigger ones gain nothing from it and go to `ipset restore`. */
export const SESSION_MAX_LINES = 512

/** A set exists under our name but is of another type or family: never silently reused. */
export class SetTypeMismatchError extends DiswallError {
  constructor(name: string, found: string, wanted: string) {
    super(`kernel set "${name}" exists with type "${found}", but diswall needs "${wanted}"`, 'E_SET_TYPE',
      ExitCode.COMMAND_FAILED,
      `Remove it if nothing else uses it (ipset destroy ${name}), or choose other names with ipset_black_list / ipset_white_list.`)
  }
}

/** The header of `ipset list -t NAME`. */
export interface IpsetHeader {
  type: string
  family: 'inet' | 'inet6'
  maxelem: number
  timeout?: number
  comment: boolean
  entries: number
}

/** Parses the output of `ipset list -t NAME` (pure). */
export function parseIpsetHeader(text: string): IpsetHeader {
  const field = (name: string): string => text.match(new RegExp(`^${name}: (.*)$`, 'm'))?.[1]?.trim() ?? ''
  const header = field('Header')
  const option = (name: string): string | undefined => header.match(new RegExp(`(?:^| )${name} (\\S+)`))?.[1]
  return {
    comment: / comment(?: |$)/.test(` ${header}`),
    entries: Number(field('Number of entries') || 0),
    family: option('family') === 'inet6' ? 'inet6' : 'inet',
    maxelem: Number(option('maxelem') ?? 65_536),
    timeout: option('timeout') === undefined ? undefined : Number(option('timeout')),
    type: field('Type'),
  }
}

/**
 * Parses `ipset save` output into entries (pure). Lines that are not `add` lines of `setName`
 * are ignored; an entry that does not parse as an address or network is skipped.
 */
export function parseIpsetSave(text: string, setName?: string): ListedEntry[] {
  const out: ListedEntry[] = []
  forEachIpsetSaveEntry(text, setName, (entry) => out.push(entry))
  return out
}

/**
 * parseIpsetSave() one entry at a time, without splitting the text into an array of lines (1M bans:
 * 41 MB) and without a regular expression per line (its lazy `.*?comment` tried every position of
 * every line without a comment).
 */
function forEachIpsetSaveEntry(text: string, setName: string | undefined, visit: (entry: ListedEntry) => void): void {
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    const entry = text.startsWith('add ', start) ? saveLineEntry(text, start + 4, end, setName) : undefined
    if (entry) visit(entry)
    start = end + 1
  }
}

/** The entry of an `add SET TARGET [timeout N] [… comment "TEXT"]` line from `from` (past "add ") to `end`. */
function saveLineEntry(text: string, from: number, end: number, setName: string | undefined): ListedEntry | undefined {
  const setEnd = text.indexOf(' ', from)
  if (setEnd === -1 || setEnd >= end) return undefined
  if (setName !== undefined && (setEnd - from !== setName.length || !text.startsWith(setName, from))) return undefined
  let targetEnd = text.indexOf(' ', setEnd + 1)
  if (targetEnd === -1 || targetEnd > end) targetEnd = end
  let target: Target
  try {
    target = parseTarget(text.slice(setEnd + 1, targetEnd))
  } catch {
    return undefined
  }

  // ipset prints the timeout before the comment, whose text may hold anything but quotes and backslashes.
  // Searched in the line's rest only: an indexOf() on the whole text would run to its end on every line.
  const rest = text.slice(targetEnd, end)
  let optionsEnd = rest.indexOf(' comment "')
  let comment: string | undefined
  if (optionsEnd === -1) {
    optionsEnd = rest.length
  } else {
    const textStart = optionsEnd + ' comment "'.length
    let close = textStart
    while (close < rest.length && rest[close] !== '"') close += rest[close] === '\\' ? 2 : 1
    if (close < rest.length) comment = rest.slice(textStart, close)
  }

  let ttlSec: number | undefined
  const at = rest.indexOf(' timeout ')
  if (at !== -1 && at < optionsEnd) {
    let value = 0
    let i = at + ' timeout '.length
    for (; i < optionsEnd && rest.charCodeAt(i) >= 0x30 && rest.charCodeAt(i) <= 0x39; i++) value = value * 10 + rest.charCodeAt(i) - 0x30
    if (i > at + ' timeout '.length && value > 0) ttlSec = value
  }

  return {comment, target, ttlSec}
}

/**
 * Kernel sets on ipset, made effective by a small iptables/ip6tables chain (`diswall-sets`) that
 * INPUT jumps to first: allow set → ACCEPT, block set → DROP. With the `session` option, small commits
 * go through a persistent ipset process (see IpsetBackendOptions); close() ends it.
 */
export class IpsetBackend implements FirewallBackend {
  readonly name = 'ipset'
  private readonly queue = new OpQueue()
  /** Current maxelem per set, learnt at init and after growing. */
  private readonly maxelem = new Map<string, number>()
  /** Whether commits start with the sets' `create` lines (see commit()). */
  private createPrefix = true
  private readonly sessionFactory: IpsetSessionFactory | undefined
  /** Made by the first commit that uses it. */
  private session: IpsetBatchRunner | undefined
  /** The readings prepareInit() started, and when, for the next init(). */
  private prepared: {at: number; names: Promise<string>; rules: Record<4 | 6, Promise<string>>} | undefined
  private closed = false
  /** Commits applied through the session, and those that fell back to `ipset restore` after it failed. */
  readonly sessionStats = {batches: 0, fallbacks: 0}

  /** Throws TypeError for `session: true` with another exec than the default (it would run elsewhere). */
  constructor(
    private readonly names: KernelNames,
    private readonly limits: SetLimits = DEFAULT_LIMITS,
    private readonly exec: Exec = defaultExec,
    {session = false}: IpsetBackendOptions = {},
  ) {
    if (session === true && exec !== defaultExec) {
      // The session would run in this namespace while exec (e.g. netnsExec) runs elsewhere.
      throw new TypeError('IpsetBackend: session: true needs the default exec; pass a session factory with a custom exec')
    }

    this.sessionFactory = session === true
      ? (sentinelSet) => new IpsetSession({sentinelSet})
      : session === false ? undefined : session
  }

  get pending(): number {
    return this.queue.length
  }

  prepareInit(): void {
    const read = (program: string, args: string[]): Promise<string> => {
      const stdout = this.exec(program, args).then((r) => r.stdout)
      // Read by the init() that follows; a command that stops before it must not leave a rejection unhandled.
      stdout.catch(() => {})
      return stdout
    }
    this.prepared = {at: Date.now(), names: read('ipset', ['list', '-n']), rules: {4: read('iptables', ['-S']), 6: read('ip6tables', ['-S'])}}
  }

  async init(): Promise<InitReport> {
    const report: InitReport = {created: [], leftovers: [], migrated: []}
    // The set names and both families' rules, read already by prepareInit() (all three only read).
    const prepared = this.prepared !== undefined && Date.now() - this.prepared.at <= PREPARED_INIT_MAX_AGE_MS ? this.prepared : undefined
    this.prepared = undefined
    const names = await (prepared?.names ?? this.exec('ipset', ['list', '-n']).then((r) => r.stdout))
    const existing = new Set(names.split('\n').filter(Boolean))
    for (const name of this.allSets()) {
      if (existing.has(name + STAGING_SUFFIX)) {
        await this.exec('ipset', ['destroy', name + STAGING_SUFFIX])
        report.leftovers.push(name + STAGING_SUFFIX)
      }
    }

    // One `ipset -exist restore` of the four `create` lines: the kernel accepts a create of an existing
    // set only when type, family, maxelem, timeout and extensions are the same, so sets that pass need
    // no `ipset list -t`, which walks every entry to count them (~30 ms at 1M bans, ipset 7.17). A set
    // that fails is checked alone (checkSet()), and the lines after it go in another restore.
    let rest = (['block', 'allow'] as const).flatMap((list) => ([4, 6] as const).map((family) => {
      const name = family === 4 ? this.names[list].v4 : this.names[list].v6
      return {family, list, name, max: this.maxelem.get(name) ?? this.limits[list === 'block' ? 'blockMax' : 'allowMax']}
    }))
    while (rest.length > 0) {
      let checked = rest.length
      try {
        await this.restore(rest.map((s) => this.createLine(s.list, s.family, s.name, s.max)))
      } catch (error) {
        if (!(error instanceof CommandFailedError)) throw error
        checked = Math.max(0, failedLine(error) - 1) // the lines before the failing one were applied
      }

      for (const s of rest.slice(0, checked)) {
        this.maxelem.set(s.name, s.max)
        if (!existing.has(s.name)) report.created.push(s.name)
      }

      if (checked === rest.length) break
      const failed = rest[checked]!
      const max = await this.checkSet(failed, existing.has(failed.name), report, failed.max)
      // replace() makes both families' sets of a list anew: the other one likely has its capacity too.
      const grown = max === roomyMaxelem(this.limits[failed.list === 'block' ? 'blockMax' : 'allowMax'])
      rest = rest.slice(checked + 1).map((s) => (grown && s.list === failed.list ? {...s, max} : s))
    }

    await this.installGuard(prepared?.rules)
    return report
  }

  /**
   * A set whose `create` line with maxelem `tried` failed: created when missing; else most likely one
   * that replace() made with room to grow, or one made with the configured capacity (a `create` with that
   * maxelem passes, one program each); else read with `ipset list -t`: another type or family is an
   * error, a set that lacks the timeout, the comments or the configured capacity is migrated. Returns
   * the set's maxelem.
   */
  private async checkSet({family, list, name}: {family: 4 | 6; list: ListKind; name: string}, exists: boolean, report: InitReport,
    tried: number): Promise<number> {
    const limit = this.limits[list === 'block' ? 'blockMax' : 'allowMax']
    if (!exists) {
      await this.restore([this.createLine(list, family, name, limit)])
      this.maxelem.set(name, limit)
      report.created.push(name)
      return limit
    }

    for (const max of new Set([roomyMaxelem(limit), limit])) {
      if (max === tried) continue
      try {
        await this.restore([this.createLine(list, family, name, max)])
        this.maxelem.set(name, max)
        return max
      } catch (error) {
        if (!(error instanceof CommandFailedError)) throw error
      }
    }

    const header = parseIpsetHeader((await this.exec('ipset', ['list', '-t', name])).stdout)
    const wantedType = blockSetType(list, family)
    const wantedFamily = family === 4 ? 'inet' : 'inet6'
    if (header.type !== wantedType || header.family !== wantedFamily) {
      throw new SetTypeMismatchError(name, `${header.type} family ${header.family}`, `${wantedType} family ${wantedFamily}`)
    }

    const max = Math.max(header.maxelem, limit)
    this.maxelem.set(name, max)
    if (header.timeout === undefined || (list === 'allow' && !header.comment) || header.maxelem < max) {
      await this.migrate(list, family, name, max)
      report.migrated.push(name)
    }
    return max
  }

  add(list: ListKind, entry: SetEntry): void {
    this.queue.add(list, entry)
  }

  del(list: ListKind, target: Target): void {
    this.queue.del(list, target)
  }

  async commit(): Promise<CommitReport> {
    const ops = this.queue.take()
    if (ops.length === 0) return reportOf(ops)
    const lines = ops.map((op) => this.opLine(op))
    if (await this.commitThroughSession(ops, lines)) return reportOf(ops)
    // One process for the whole batch: ~0.5 s for 100k entries, against ~3 ms per entry one by one.
    // `ipset restore` applies the lines before a bad one and stops there: a full set is grown and the
    // batch resumes at that line; any other bad line is skipped, so it does not drop the rest.
    let start = 0
    let firstFailure: unknown
    while (start < lines.length) {
      // ipset 7.17 sends one netlink message per `add` line, unless the script first names the set
      // with its own `create` line (a no-op under -exist): then adds are batched, ~2.5x faster.
      const prefix = this.createPrefix ? this.createLinesFor(ops.slice(start)) : []
      try {
        await this.restore([...prefix, ...lines.slice(start)])
        break
      } catch (error) {
        const line = failedLine(error)
        if (line > 0 && line <= prefix.length) {
          // A set whose parameters differ from ours (changed by hand): go on without the prefix.
          this.createPrefix = false
          continue
        }

        const failedAt = start + line - prefix.length - 1
        if (failedAt < start || failedAt >= lines.length) throw error
        if (isSetFull(error)) {
          const op = ops[failedAt]
          await this.grow(op.list, setFor(this.names[op.list], opTarget(op)))
          start = failedAt
          continue
        }

        firstFailure ??= error
        start = failedAt + 1
      }
    }

    if (firstFailure) throw firstFailure
    return reportOf(ops)
  }

  async has(list: ListKind, target: Target): Promise<boolean> {
    try {
      await this.exec('ipset', ['test', setFor(this.names[list], target), target.text])
      return true
    } catch (error) {
      if (error instanceof CommandFailedError && /is NOT in set/.test(error.stderr)) return false
      throw error
    }
  }

  async addIfAbsent(entry: SetEntry & {target: Address}): Promise<boolean | undefined> {
    if (entry.target.family !== 4) return undefined
    const timeout = clampTimeout(entry.ttlSec ?? this.limits.blockTimeoutSec)
    // Without -exist, `ipset add` refuses an element that is there, and changes nothing then.
    return changeOneElement(() => this.exec('ipset', ['add', this.names.block.v4, entry.target.text, 'timeout', String(timeout)]), /already added/)
  }

  async delIfPresent(target: Address): Promise<boolean | undefined> {
    if (target.family !== 4) return undefined
    return changeOneElement(() => this.exec('ipset', ['del', this.names.block.v4, target.text]), /it's not added/)
  }

  /** The entries of both families' sets; a set that does not exist (nothing was ever set up) has none. */
  async list(list: ListKind, {family, signal}: ListOptions = {}): Promise<ListedEntry[]> {
    const out: ListedEntry[] = []
    const names = [...family === 6 ? [] : [this.names[list].v4], ...family === 4 ? [] : [this.names[list].v6]]
    // The allow sets are small: both are read at once (a single `allow add` or never-ban check waits for
    // one process start, not two). Block sets one after the other, so that one listing is held at a time.
    const saved = list === 'allow'
      ? await Promise.all(names.map((name) => this.readMissingAsEmpty(['save', name], {signal, timeoutMs: 120_000})))
      : undefined
    for (const [i, name] of names.entries()) {
      const text = saved?.[i] ?? await this.readMissingAsEmpty(['save', name], {signal, timeoutMs: 120_000})
      // A loop, not push(...): spreading more than ~125k elements overflows V8's stack (RangeError).
      for (const entry of parseIpsetSave(text, name)) out.push(entry)
    }

    return out
  }

  async forEachEntry(list: ListKind, visit: (entry: ListedEntry) => void, {signal}: ListOptions = {}): Promise<void> {
    for (const name of [this.names[list].v4, this.names[list].v6]) {
      forEachIpsetSaveEntry(await this.readMissingAsEmpty(['save', name], {signal, timeoutMs: 120_000}), name, visit)
    }
  }

  /** stdout of an ipset read, or '' when the set does not exist: listing must never create anything. */
  private async readMissingAsEmpty(args: string[], options: {signal?: AbortSignal | undefined; timeoutMs?: number} = {}): Promise<string> {
    try {
      return (await this.exec('ipset', args, options)).stdout
    } catch (error) {
      if (error instanceof CommandFailedError && /set with the given name does not exist/.test(error.stderr)) return ''
      throw error
    }
  }

  async count(list: ListKind): Promise<number> {
    let total = 0
    for (const name of [this.names[list].v4, this.names[list].v6]) {
      const header = await this.readMissingAsEmpty(['list', '-t', name])
      if (header !== '') total += parseIpsetHeader(header).entries
    }

    return total
  }

  /**
   * One `ipset -exist restore` fed through stdin as the entries come: both staging sets are created
   * (and flushed, should a crashed run have left one), filled, swapped in and destroyed. The live sets
   * are complete before and after, never half-loaded. A stream that throws kills the process before
   * the swap lines, and the staging sets are destroyed: the live sets stay exactly as they were.
   * The staging sets are sized for the configured capacity with room to grow (the count is unknown
   * up front); a copy larger than that fails with "set is full" and changes nothing.
   */
  async replace(list: ListKind, entries: SetEntrySource): Promise<void> {
    const names = this.names[list]
    const staging = {4: names.v4 + STAGING_SUFFIX, 6: names.v6 + STAGING_SUFFIX}
    const limit = this.limits[list === 'block' ? 'blockMax' : 'allowMax']
    const max = {4: fitMaxelem(this.maxelem.get(names.v4) ?? limit, limit), 6: fitMaxelem(this.maxelem.get(names.v6) ?? limit, limit)}
    const addLine = this.addLine.bind(this)
    const head = ([4, 6] as const).map((family) => `${this.createLine(list, family, staging[family], max[family])}\nflush ${staging[family]}\n`).join('')
    async function* script(): AsyncGenerator<string> {
      let chunk = head
      const pending: string[] = []
      for await (const item of entries) {
        forEachOf(item, (entry) => {
          chunk += addLine(list, staging[entry.target.family], entry) + '\n'
          if (chunk.length >= STREAM_CHUNK_CHARS) {
            pending.push(chunk)
            chunk = ''
          }
        })
        // One batch (a network message's entries) makes a few pipe-sized chunks at most.
        while (pending.length > 0) yield pending.shift()!
      }
      yield `${chunk}swap ${staging[4]} ${names.v4}\nswap ${staging[6]} ${names.v6}\ndestroy ${staging[4]}\ndestroy ${staging[6]}\n`
    }
    try {
      await this.exec('ipset', ['-exist', 'restore'], {inputStream: script(), timeoutMs: REPLACE_TIMEOUT_MS})
    } catch (error) {
      await this.dropStaging([staging[4], staging[6]])
      throw error
    }
    this.maxelem.set(names.v4, max[4])
    this.maxelem.set(names.v6, max[6])
  }

  /** Destroys staging sets a failed replace left (absent ones are no error); a failure here is only less tidy. */
  private async dropStaging(names: string[]): Promise<void> {
    for (const name of names) {
      try {
        await this.exec('ipset', ['destroy', name])
      } catch {
        // Absent (the restore never created it) or busy: init() removes leftovers at the next start.
      }
    }
  }

  async destroy(): Promise<void> {
    for (const program of ['iptables', 'ip6tables']) {
      try {
        await this.exec(program, ['-D', 'INPUT', '-j', this.names.guardChain])
      } catch (error) {
        if (!(error instanceof CommandFailedError)) throw error
      }

      try {
        await this.exec(program, ['-F', this.names.guardChain])
        await this.exec(program, ['-X', this.names.guardChain])
      } catch (error) {
        if (!(error instanceof CommandFailedError)) throw error
      }
    }

    const existing = new Set((await this.exec('ipset', ['list', '-n'])).stdout.split('\n'))
    for (const name of this.allSets()) {
      for (const n of [name, name + STAGING_SUFFIX]) if (existing.has(n)) await this.exec('ipset', ['destroy', n])
    }
  }

  /**
   * Ends the session process, if any (commits after this use `ipset restore`), and waits for its exit.
   * Safe to call more than once.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.session?.close()
  }

  /**
   * Applies a small batch through the session; false when there is none or it failed. Then the caller
   * sends the same lines through `ipset restore`, which grows a full set, skips a bad line and reports
   * it: re-running lines that the session did apply changes nothing (`-exist`, same order).
   */
  private async commitThroughSession(ops: Op[], lines: string[]): Promise<boolean> {
    if (!this.sessionFactory || this.closed || lines.length > SESSION_MAX_LINES) return false
    const sentinelSet = this.names.block.v4
    this.session ??= this.sessionFactory(sentinelSet)
    // The create lines (no-ops under -exist) recreate missing sets, the sentinel set among them, which
    // would otherwise leave the batch unanswered until the session's timeout. They cost ~0.1 ms of the
    // ~0.2 ms of a one-ban batch (ipset 7.17, bench p1.commit.ipset-session).
    const prefix = this.createPrefix ? this.createLinesFor(ops, true) : []
    try {
      await this.session.run([...prefix, ...lines])
      this.sessionStats.batches++
      return true
    } catch {
      this.sessionStats.fallbacks++
      return false
    }
  }

  private allSets(): string[] {
    return [this.names.block.v4, this.names.block.v6, this.names.allow.v4, this.names.allow.v6]
  }

  /** `create` lines (exactly as the sets were made) of the sets a batch touches, and of the IPv4 block set if asked. */
  private createLinesFor(ops: Op[], withBlockV4 = false): string[] {
    const out = new Map<string, string>()
    if (withBlockV4) {
      const name = this.names.block.v4
      out.set(name, this.createLine('block', 4, name, this.maxelem.get(name) ?? this.limits.blockMax))
    }

    for (const op of ops) {
      const target = opTarget(op)
      const name = setFor(this.names[op.list], target)
      if (out.has(name)) continue
      const max = this.maxelem.get(name) ?? this.limits[op.list === 'block' ? 'blockMax' : 'allowMax']
      out.set(name, this.createLine(op.list, target.family, name, max))
    }

    return [...out.values()]
  }

  private createLine(list: ListKind, family: 4 | 6, name: string, maxelem: number): string {
    const fam = family === 4 ? 'inet' : 'inet6'
    return list === 'block'
      ? `create ${name} ${blockSetType(list, family)} family ${fam} hashsize 32768 maxelem ${maxelem} timeout ${clampTimeout(this.limits.blockTimeoutSec)}`
      // timeout 0: allow entries are permanent unless added with a timeout (auto-allow).
      : `create ${name} hash:net family ${fam} hashsize 1024 maxelem ${maxelem} timeout 0 comment`
  }

  private addLine(list: ListKind, name: string, {comment, target, ttlSec}: SetEntry): string {
    const timeout = list === 'block' ? clampTimeout(ttlSec ?? this.limits.blockTimeoutSec) : clampTimeout(ttlSec ?? 0)
    return `add ${name} ${target.text} timeout ${timeout}${list === 'allow' && comment ? ` comment "${comment}"` : ''}`
  }

  private opLine(op: Op): string {
    const set = setFor(this.names[op.list], opTarget(op))
    return op.kind === 'add' ? this.addLine(op.list, set, op.entry) : `del ${set} ${op.target.text}`
  }

  private async restore(lines: string[], timeoutMs = 120_000): Promise<void> {
    await this.exec('ipset', ['-exist', 'restore'], {input: lines.join('\n') + '\n', timeoutMs})
  }

  /** Recreates a set with the right parameters and the same entries, then swaps it in. */
  private async migrate(list: ListKind, family: 4 | 6, name: string, maxelem: number): Promise<void> {
    const entries = parseIpsetSave((await this.exec('ipset', ['save', name], {timeoutMs: 120_000})).stdout, name)
    await this.restore([
      this.createLine(list, family, name + STAGING_SUFFIX, fitMaxelem(maxelem, entries.length)),
      ...entries.map((e) => this.addLine(list, name + STAGING_SUFFIX, e)),
      `swap ${name + STAGING_SUFFIX} ${name}`,
      `destroy ${name + STAGING_SUFFIX}`,
    ], 300_000)
  }

  /** A full set never loses bans: double its maxelem (recreate + swap, entries kept). */
  private async grow(list: ListKind, name: string): Promise<void> {
    const family = name === this.names[list].v4 ? 4 : 6
    const max = (this.maxelem.get(name) ?? this.limits[list === 'block' ? 'blockMax' : 'allowMax']) * 2
    await this.migrate(list, family, name, max)
    this.maxelem.set(name, max)
  }

  /**
   * Chain `diswall-sets` (allow set ACCEPT, block set DROP), jumped to first from INPUT, so bans work
   * without a ruleset. While the ruleset's `diswall-in` is in INPUT it does the same in the order of
   * DESIGN.md (whitelist.d before the block set), so the guard's jump is taken out instead.
   * Both families at once: one `iptables -S` each (it lists the guard chain with INPUT), and an
   * `iptables-restore --noflush` only where chain or jump are not as they should be (so every single
   * command after the first writes no rule). `listings`: those `-S` outputs, when prepareInit() read them.
   */
  private async installGuard(listings?: Record<4 | 6, Promise<string>>): Promise<void> {
    await Promise.all(([4, 6] as const).map(async (family) => {
      const v = family === 4 ? 'v4' : 'v6'
      const chain = this.names.guardChain
      const tool = family === 4 ? 'iptables' : 'ip6tables'
      const listed = (await (listings?.[family] ?? this.exec(tool, ['-S']).then((r) => r.stdout))).split('\n')
      const rulesetActive = listed.includes(`-A INPUT -j ${RULESET_CHAINS.in}`)
      const guardJumps = listed.filter((l) => l === `-A INPUT -j ${chain}`).length
      const jumps = rulesetActive
        ? Array.from({length: guardJumps}, () => `-D INPUT -j ${chain}`)
        : guardJumps === 0 ? [`-I INPUT 1 -j ${chain}`] : []
      const rules = [
        `-A ${chain} -m set --match-set ${this.names.allow[v]} src -j ACCEPT`,
        `-A ${chain} -m set --match-set ${this.names.block[v]} src -j DROP`,
      ]
      const current = listed.filter((l) => l.startsWith(`-A ${chain} `))
      const inPlace = listed.includes(`-N ${chain}`) && jumps.length === 0 && current.join('\n') === rules.join('\n')
      if (inPlace) return
      // In iptables-restore --noflush, declaring an existing chain flushes it: re-running is idempotent.
      const script = ['*filter', `:${chain} - [0:0]`, ...rules, ...jumps, 'COMMIT', ''].join('\n')
      await this.exec(`${tool}-restore`, ['--noflush'], {input: script})
    }))
  }
}

/**
 * The ipset type of a set: IPv4 bans are single addresses (`hash:ip`); IPv6 bans may be whole
 * networks (the offender's /64 with `[detect] ipv6_group_prefix`), so the IPv6 block set and the
 * allow sets are `hash:net` (a lookup tries each prefix length present: /64 and /128 for bans).
 */
function blockSetType(list: ListKind, family: 4 | 6): 'hash:ip' | 'hash:net' {
  return list === 'block' && family === 4 ? 'hash:ip' : 'hash:net'
}

/** Timeouts are whole seconds in [0, IPSET_MAX_TIMEOUT_SEC]. */
function clampTimeout(sec: number): number {
  return Math.min(Math.max(0, Math.floor(sec)), IPSET_MAX_TIMEOUT_SEC)
}

/** The maxelem replace() gives the sets it makes when it knows no other (the count is unknown up front). */
function roomyMaxelem(configured: number): number {
  return fitMaxelem(configured, configured)
}

/** maxelem that holds `count` entries with room to grow: at least `configured`, doubled as needed. */
function fitMaxelem(configured: number, count: number): number {
  let max = configured
  while (max < count * 1.25) max *= 2
  return max
}

/** `ipset v7.17: Error in line 5: …` → 5 (1-based; 0 when absent). */
function failedLine(error: unknown): number {
  if (!(error instanceof CommandFailedError)) return 0
  return Number(error.stderr.match(/Error in line (\d+)/)?.[1] ?? 0)
}

function isSetFull(error: unknown): boolean {
  return error instanceof CommandFailedError && /Hash is full|maximal number of elements/i.test(error.stderr)
}
