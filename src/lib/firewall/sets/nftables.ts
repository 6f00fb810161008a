import {CommandFailedError} from '../../errors.js'
import {containsAddress, isAddress, parseTarget, toNetwork} from '../../net/index.js'
import type {Target} from '../../net/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import {DEFAULT_LIMITS, SetTypeMismatchError} from './ipset.js'
import type {SetLimits} from './ipset.js'
import {RULESET_CHAINS} from './names.js'
import type {KernelNames} from './names.js'
import {isNftSessionStatement, NftSession} from './nft-session.js'
import type {NftBatchRunner, NftSessionFactory} from './nft-session.js'
import {OpQueue, opTarget, reportOf} from './op-queue.js'
import type {Op} from './op-queue.js'
import {setFor} from './types.js'
import type {CommitReport, FirewallBackend, InitReport, ListedEntry, ListKind, SetEntry} from './types.js'

/** The hook of the guard chain: before the ruleset's chains (priority filter), after nothing of ours. */
export const NFT_GUARD_CHAIN_SPEC = 'type filter hook input priority filter - 10; policy accept;'

/** Block adds in one commit from which a commit probes timeout refresh first (see probeTimeoutRefresh). */
const LAZY_PROBE_MIN_ADDS = 2

/** Elements per `add element` statement in bulk loads: keeps nft's parser memory bounded. */
const BULK_CHUNK = 10_000

/** Options of {@link NftBackend}. */
export interface NftBackendOptions {
  /**
   * Sends small commits (up to {@link NFT_SESSION_MAX_OPS} changes) through a persistent `nft -i`
   * process ({@link NftSession}) instead of starting `nft -f -` each time: a single ban reaches the
   * kernel in about half a millisecond instead of ~8 ms. `true` runs that process in this network
   * namespace, so it needs the default exec; a factory makes it elsewhere (tests, benchmarks). Off by
   * default, so that one-shot commands leave no process behind; the daemon turns it on and calls close().
   */
  session?: boolean | NftSessionFactory
}

/**
 * Largest commit (queued changes) sent through the session. Bigger ones gain little from it (their
 * elements cost more than starting nft) and would make long `nft -i` lines, which nft keeps in its history.
 */
export const NFT_SESSION_MAX_OPS = 64

interface NftSetJson {
  name: string
  table?: string
  type: string
  /** libnftables-json(5): one flag may be a plain string ("timeout"), as nft releases of 2025 print it; several are an array. */
  flags?: string | string[]
  elem?: unknown[]
}

/** Parses `nft -j list set …` / `list table` output into its sets (pure). */
export function parseNftSets(json: string): NftSetJson[] {
  const doc = JSON.parse(json) as {nftables?: Array<{set?: NftSetJson}>}
  return (doc.nftables ?? []).flatMap((item) => (item.set ? [item.set] : []))
}

/** parseNftElements that answers [] for output it cannot parse. */
function parseNftElementsSafe(json: string): ListedEntry[] {
  try {
    return parseNftElements(json)
  } catch {
    return []
  }
}

/** Parses the elements of one set from `nft -j list set` output (pure). */
export function parseNftElements(json: string): ListedEntry[] {
  const out: ListedEntry[] = []
  for (const set of parseNftSets(json)) {
    for (const raw of set.elem ?? []) {
      const entry = listedOf(raw)
      if (entry) out.push(entry)
    }
  }

  return out
}

/** One element of libnftables JSON as an entry, or undefined when it is no address or network. */
function listedOf(raw: unknown): ListedEntry | undefined {
  const elem = (typeof raw === 'object' && raw !== null && 'elem' in raw ? (raw as {elem: unknown}).elem : raw) as
    {comment?: string; expires?: number; val?: unknown} | string | {prefix: {addr: string; len: number}}
  const val = typeof elem === 'object' && 'val' in elem ? elem.val : elem
  let text: string | undefined
  if (typeof val === 'string') text = val
  else if (typeof val === 'object' && val !== null && 'prefix' in val) {
    const {addr, len} = (val as {prefix: {addr: string; len: number}}).prefix
    text = `${addr}/${len}`
  }

  if (text === undefined) return undefined
  let target: Target
  try {
    target = parseTarget(text)
  } catch {
    return undefined
  }

  const meta = typeof elem === 'object' && 'val' in elem ? elem : {}
  return {comment: meta.comment, target, ttlSec: meta.expires}
}

/**
 * parseNftElements() of a single-set listing one element at a time: each element of the set's
 * `"elem": [...]` array is parsed on its own, so 1M elements (70 MB of JSON) never become one object
 * tree of several hundred MB. Output that is not one set's listing falls back to parseNftElements().
 */
export function forEachNftElement(json: string, visit: (entry: ListedEntry) => void): void {
  const key = json.indexOf('"elem": [')
  if (key === -1 || json.indexOf('"elem": [', key + 1) !== -1) {
    for (const entry of parseNftElements(json)) visit(entry)
    return
  }

  let i = key + '"elem": ['.length
  for (;;) {
    while (i < json.length && (json[i] === ' ' || json[i] === ',' || json[i] === '\n')) i++
    if (i >= json.length || json[i] === ']') return
    const end = endOfJsonValue(json, i)
    const entry = listedOf(JSON.parse(json.slice(i, end)))
    if (entry) visit(entry)
    i = end
  }
}

/** Index just past the JSON string or object/array that starts at `start` (strings may hold brackets). */
function endOfJsonValue(json: string, start: number): number {
  let depth = 0
  let i = start
  do {
    const c = json[i]
    if (c === '"') {
      i++
      while (i < json.length && json[i] !== '"') i += json[i] === '\\' ? 2 : 1
    } else if (c === '{' || c === '[') {
      depth++
    } else if (c === '}' || c === ']') {
      depth--
    }

    i++
  } while (depth > 0 && i < json.length)
  if (depth !== 0) throw new SyntaxError('nft JSON ends inside an element')
  return i
}

/**
 * Kernel sets on nftables: one table `inet <table>` that is ours alone (never `flush ruleset`), with
 * ban sets (`flags timeout`) and allow sets (`flags interval, timeout`, comments kept), made effective
 * by the base chain `diswall-sets` (hook input, priority filter - 10). With the `session` option, small
 * commits go through a persistent nft process (see NftBackendOptions); close() ends it.
 */
export class NftBackend implements FirewallBackend {
  readonly name = 'nftables'
  private readonly queue = new OpQueue()
  /**
   * Whether `add element` of an existing element sets its new timeout: probed by init() with a session
   * (the daemon), else by the first commit of several timed bans; undefined until then.
   */
  private refreshesTimeout: boolean | undefined
  /** Set by init(): the table exists, so a commit may probe in it. */
  private initialized = false
  private readonly sessionFactory: NftSessionFactory | undefined
  /** Made by the first commit that uses it. */
  private session: NftBatchRunner | undefined
  private closed = false
  /** Commits applied through the session, and those that fell back to `nft -f -` after it failed. */
  readonly sessionStats = {batches: 0, fallbacks: 0}

  /** Throws TypeError for `session: true` with another exec than the default (it would run elsewhere). */
  constructor(
    private readonly names: KernelNames,
    private readonly limits: SetLimits = DEFAULT_LIMITS,
    private readonly exec: Exec = defaultExec,
    {session = false}: NftBackendOptions = {},
  ) {
    if (session === true && exec !== defaultExec) {
      // The session would run in this namespace while exec (e.g. netnsExec) runs elsewhere.
      throw new TypeError('NftBackend: session: true needs the default exec; pass a session factory with a custom exec')
    }

    this.sessionFactory = session === true ? () => new NftSession() : session === false ? undefined : session
  }

  get pending(): number {
    return this.queue.length
  }

  async init(): Promise<InitReport> {
    const report: InitReport = {created: [], leftovers: [], migrated: []}
    const existing = new Map((await this.listSetHeaders()).map((s) => [s.name, s]))
    for (const list of ['block', 'allow'] as const) {
      for (const family of [4, 6] as const) {
        const name = family === 4 ? this.names[list].v4 : this.names[list].v6
        const found = existing.get(name)
        const wantedType = family === 4 ? 'ipv4_addr' : 'ipv6_addr'
        const wantedFlags = list === 'block' && family === 4 ? ['timeout'] : ['interval', 'timeout']
        if (!found) {
          report.created.push(name)
          continue
        }

        const flags = [found.flags ?? []].flat().sort()
        if (found.type !== wantedType || flags.join(',') !== wantedFlags.join(',')) {
          throw new SetTypeMismatchError(`inet ${this.names.table} ${name}`, `${found.type} flags ${flags.join(',') || 'none'}`,
            `${wantedType} flags ${wantedFlags.join(',')}`)
        }
      }
    }

    const t = this.table()
    const chain = this.names.guardChain
    const script = [
      `add table ${t}`,
      ...(['block', 'allow'] as const).flatMap((list) => ([4, 6] as const).map((family) => this.setDecl(list, family))),
      `add chain ${t} ${chain} { ${NFT_GUARD_CHAIN_SPEC} }`,
      `flush chain ${t} ${chain}`,
      // While the ruleset's diswall-in exists it does this in the order of DESIGN.md (whitelist.d
      // before the block set): the guard, which runs first, stays empty then. The counters feed the
      // hourly statistics (counters.ts).
      ...(await this.hasChain(RULESET_CHAINS.in) ? [] : [
        `add rule ${t} ${chain} ip saddr @${this.names.allow.v4} counter accept`,
        `add rule ${t} ${chain} ip6 saddr @${this.names.allow.v6} counter accept`,
        `add rule ${t} ${chain} ip saddr @${this.names.block.v4} counter drop`,
        `add rule ${t} ${chain} ip6 saddr @${this.names.block.v6} counter drop`,
      ]),
    ]
    await this.run(script)
    this.initialized = true
    // The probe costs four nft processes: a one-shot command that adds one ban does not need it.
    if (this.sessionFactory && this.refreshesTimeout === undefined) this.refreshesTimeout = await this.probeTimeoutRefresh()
    return report
  }

  /**
   * Whether re-adding an element updates its timeout. Newer kernels do (seen on 6.18); older ones
   * keep the old timeout, and then every ban needs add + delete + add to be refreshed, which costs
   * about three times as much. Probed in a throwaway set of our table, which is deleted again.
   */
  private async probeTimeoutRefresh(): Promise<boolean> {
    const t = this.table()
    const probe = `${this.names.guardChain}-probe`
    // 192.0.2.1 (TEST-NET-1) is only an element of a set that no rule uses.
    await this.run([`add set ${t} ${probe} { type ipv4_addr; flags timeout; }`, `flush set ${t} ${probe}`,
      `add element ${t} ${probe} { 192.0.2.1 timeout 100s }`])
    try {
      await this.run([`add element ${t} ${probe} { 192.0.2.1 timeout 200s }`])
      const {stdout} = await this.exec('nft', ['-j', 'list', 'set', 'inet', this.names.table, probe])
      // Output we cannot read means "no": the add + delete + add path is correct everywhere.
      return parseNftElementsSafe(stdout).some((e) => e.ttlSec !== undefined && e.ttlSec > 100)
    } finally {
      await this.run([`delete set ${t} ${probe}`])
    }
  }

  add(list: ListKind, entry: SetEntry): void {
    this.queue.add(list, entry)
  }

  del(list: ListKind, target: Target): void {
    this.queue.del(list, target)
  }

  async commit(): Promise<CommitReport> {
    const ops = this.queue.take()
    if (this.initialized && this.refreshesTimeout === undefined && ops.filter((op) => op.kind === 'add' && op.list === 'block').length >= LAZY_PROBE_MIN_ADDS) {
      // A probe that fails (the table was deleted meanwhile) means "no": add + delete + add is right everywhere.
      this.refreshesTimeout = await this.probeTimeoutRefresh().catch((error: unknown) => {
        if (error instanceof CommandFailedError) return false
        throw error
      })
    }

    if (ops.length > 0 && !await this.commitThroughSession(ops)) await this.commitOps(ops)
    return reportOf(ops)
  }

  async has(list: ListKind, target: Target): Promise<boolean> {
    const set = setFor(this.names[list], target)
    if (list === 'allow') {
      // nft 1.0.6 `get element` fetches every set of the table first, the block sets with their
      // elements (130 s at 1M bans on a loaded 2-vCPU host); listing the small allow set alone does not.
      // As `ipset test` answers on hash:net: an address inside a listed network is in; a network is in
      // when it is an element itself.
      const entries = await this.listSet(set)
      return isAddress(target)
        ? entries.some((e) => containsAddress(toNetwork(e.target), target))
        : entries.some((e) => e.target.text === target.text)
    }

    try {
      // `create` fails on an existing element without fetching the set; paired with `delete` in one
      // transaction it changes nothing.
      const element = `inet ${this.names.table} ${set} { ${target.text} }`
      await this.run([`create element ${element}`, `delete element ${element}`])
      return false
    } catch (error) {
      if (!(error instanceof CommandFailedError)) throw error
      // An IPv6 address inside a banned network: blocked, though not an element of its own.
      if (/File exists|interval overlaps/.test(error.stderr)) return true
      throw error
    }
  }

  /** The entries of both families' sets; a set (or table) that does not exist has none. */
  async list(list: ListKind): Promise<ListedEntry[]> {
    const out: ListedEntry[] = []
    for (const name of [this.names[list].v4, this.names[list].v6]) {
      // A loop, not push(...): spreading more than ~125k elements overflows V8's stack (RangeError).
      for (const entry of await this.listSet(name)) out.push(entry)
    }

    // Right after a bulk insert, while the kernel resizes the set, a listing can repeat elements.
    const seen = new Set<string>()
    return out.filter((e) => !seen.has(e.target.text) && seen.add(e.target.text))
  }

  async forEachEntry(list: ListKind, visit: (entry: ListedEntry) => void): Promise<void> {
    // No de-duplication (list() has it): a repeated element of a set being resized is added twice, to the same state.
    for (const name of [this.names[list].v4, this.names[list].v6]) forEachNftElement(await this.readSet(name), visit)
  }

  /** The elements of one set of our table; a set (or table) that does not exist has none. */
  private async listSet(name: string): Promise<ListedEntry[]> {
    return parseNftElements(await this.readSet(name))
  }

  /** `nft -j list set` of one set of our table; a set (or table) that does not exist gives an empty listing. */
  private async readSet(name: string): Promise<string> {
    let stdout: string
    try {
      // nft 1.0.6: listing a large set is slow (~70 s for 1M elements); never list a block set on the hot path.
      stdout = (await this.exec('nft', ['-j', 'list', 'set', 'inet', this.names.table, name], {timeoutMs: 300_000})).stdout
    } catch (error) {
      // Listing must never create anything: before the first set-up there is simply nothing.
      if (error instanceof CommandFailedError && /No such file or directory/.test(error.stderr)) return '{"nftables": []}'
      throw error
    }

    return stdout
  }

  async count(list: ListKind): Promise<number> {
    return (await this.list(list)).length
  }

  async replace(list: ListKind, entries: Iterable<SetEntry>): Promise<void> {
    const t = this.table()
    const byName = new Map<string, string[]>([[this.names[list].v4, []], [this.names[list].v6, []]])
    for (const entry of entries) byName.get(setFor(this.names[list], entry.target))!.push(this.element(entry, list))
    // One file is one transaction: the set is flushed and refilled atomically.
    const script: string[] = []
    for (const [name, elements] of byName) {
      script.push(`flush set ${t} ${name}`)
      for (let i = 0; i < elements.length; i += BULK_CHUNK) {
        script.push(`add element ${t} ${name} { ${elements.slice(i, i + BULK_CHUNK).join(', ')} }`)
      }
    }

    await this.run(script, 600_000)
  }

  async destroy(): Promise<void> {
    try {
      await this.exec('nft', ['delete', 'table', 'inet', this.names.table])
    } catch (error) {
      if (!(error instanceof CommandFailedError && /No such file or directory/.test(error.stderr))) throw error
    }
  }

  /**
   * Ends the session process, if any (commits after this use `nft -f -`), and waits for its exit.
   * Safe to call more than once.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.session?.close()
  }

  /**
   * Applies a small commit through the session, as one transaction like `nft -f -`; false when there
   * is none or it failed. Then the caller sends the same ops through `nft -f -` (halving on failure):
   * a failed transaction applied nothing, and where the session died after applying it, the statements
   * run again to the same state (add, delete, add ends with the element and its new timeout; a
   * refreshing add sets the same timeout again; a deletion ends without the element).
   */
  private async commitThroughSession(ops: Op[]): Promise<boolean> {
    if (!this.sessionFactory || this.closed || ops.length > NFT_SESSION_MAX_OPS) return false
    const statements = this.statements(ops)
    // An allow comment outside ASCII: nft 1.0.6 -i would drop its bytes; `nft -f -` keeps them.
    if (!statements.every((s) => isNftSessionStatement(s))) return false
    this.session ??= this.sessionFactory()
    try {
      await this.session.run(statements)
      this.sessionStats.batches++
      return true
    } catch {
      this.sessionStats.fallbacks++
      return false
    }
  }

  private table(): string {
    return `inet ${this.names.table}`
  }

  private setDecl(list: ListKind, family: 4 | 6): string {
    const name = family === 4 ? this.names[list].v4 : this.names[list].v6
    const type = family === 4 ? 'ipv4_addr' : 'ipv6_addr'
    // No `size`: nft hash sets grow on demand, so a full set never drops a ban. No default timeout
    // either: with one, an element without a timeout would take it, so a permanent ban (0) is
    // impossible; every ban carries its own timeout instead.
    // IPv6 bans may be networks (the offender's /64), so that set is an interval set like the allow sets.
    return list === 'block' && family === 4
      ? `add set ${this.table()} ${name} { type ${type}; flags timeout; }`
      : `add set ${this.table()} ${name} { type ${type}; flags interval, timeout; }`
  }

  private element({comment, target, ttlSec}: SetEntry, list: ListKind): string {
    const ttl = ttlSec ?? (list === 'block' ? this.limits.blockTimeoutSec : 0)
    const note = list === 'allow' && comment ? ` comment "${comment}"` : ''
    return `${target.text}${ttl > 0 ? ` timeout ${Math.floor(ttl)}s` : ''}${note}`
  }

  /**
   * Renders ops as statements. nft 1.0.6 has no `destroy element`, and `delete element` of an absent
   * element fails the whole transaction, so every element is first added (a no-op when present),
   * then deleted, then re-added with its new timeout and comment: idempotent, one transaction.
   * Timed bans skip that dance where the kernel refreshes timeouts on add (see probeTimeoutRefresh).
   */
  private statements(ops: Op[]): string[] {
    const t = this.table()
    const out: string[] = []
    let i = 0
    while (i < ops.length) {
      // Runs of the same kind on the same set become three statements, not three per element.
      const first = ops[i]
      const set = setFor(this.names[first.list], opTarget(first))
      const run: Op[] = []
      while (i < ops.length && run.length < BULK_CHUNK) {
        const op = ops[i]
        const opSet = setFor(this.names[op.list], opTarget(op))
        if (op.kind !== first.kind || opSet !== set) break
        run.push(op)
        i++
      }

      const full = first.kind === 'add'
        ? run.map((op) => this.element((op as {entry: SetEntry}).entry, op.list)).join(', ')
        : ''
      // Where the kernel refreshes the timeout of an existing element, timed bans need one statement.
      const plain = first.kind === 'add' && first.list === 'block' && this.refreshesTimeout === true &&
        run.every((op) => op.kind === 'add' && (op.entry.ttlSec ?? this.limits.blockTimeoutSec) > 0)
      if (plain) {
        out.push(`add element ${t} ${set} { ${full} }`)
        continue
      }

      const bare = run.map((op) => opTarget(op).text).join(', ')
      out.push(`add element ${t} ${set} { ${bare} }`, `delete element ${t} ${set} { ${bare} }`)
      if (first.kind === 'add') out.push(`add element ${t} ${set} { ${full} }`)
    }

    return out
  }

  /** A failed batch is retried in halves, so one bad element does not drop the rest. */
  private async commitOps(ops: Op[]): Promise<void> {
    try {
      await this.run(this.statements(ops))
    } catch (error) {
      if (error instanceof CommandFailedError && ops.length === 1 && /interval overlaps/.test(error.stderr)) {
        return this.addOverlapping(ops[0]!, error)
      }
      if (!(error instanceof CommandFailedError) || ops.length === 1) throw error
      const mid = Math.ceil(ops.length / 2)
      const failures: unknown[] = []
      for (const half of [ops.slice(0, mid), ops.slice(mid)]) {
        try {
          await this.commitOps(half)
        } catch (error_) {
          failures.push(error_)
        }
      }

      if (failures.length > 0) throw failures[0]
    }
  }

  /**
   * An IPv6 ban that overlaps elements of the interval set (nft refuses overlapping intervals): an
   * address inside a banned network is already blocked (nothing to do); a network that holds banned
   * addresses replaces them, in one transaction. Rare (the detection bans an offender's /64 or,
   * when that holds a protected address, the address alone), so the set is read here.
   */
  private async addOverlapping(op: Op, error: CommandFailedError): Promise<void> {
    const target = opTarget(op)
    if (op.kind !== 'add' || op.list !== 'block' || target.family !== 6) throw error
    if (isAddress(target)) return
    const set = setFor(this.names.block, target)
    const {stdout} = await this.exec('nft', ['-j', 'list', 'set', 'inet', this.names.table, set], {timeoutMs: 300_000})
    const inside = parseNftElements(stdout).filter((e) => e.target.text !== target.text &&
      containsAddress(target, isAddress(e.target) ? e.target : e.target.address))
    if (inside.length === 0) throw error
    const t = this.table()
    await this.run([`delete element ${t} ${set} { ${inside.map((e) => e.target.text).join(', ')} }`,
      `add element ${t} ${set} { ${this.element(op.entry, 'block')} }`])
  }

  /**
   * The sets of our table, without their elements. nft 1.0.6 fetches every element for
   * `list table` even with -t (7 s at 300k bans); `-t list sets` does not (~10 ms).
   */
  private async listSetHeaders(): Promise<NftSetJson[]> {
    const {stdout} = await this.exec('nft', ['-t', '-j', 'list', 'sets', 'inet'])
    return parseNftSets(stdout).filter((set) => set.table === this.names.table)
  }

  /** Whether our table has this chain (`-t list chains` does not fetch set elements). */
  private async hasChain(name: string): Promise<boolean> {
    const {stdout} = await this.exec('nft', ['-t', '-j', 'list', 'chains', 'inet'])
    const doc = JSON.parse(stdout) as {nftables?: Array<{chain?: {name: string; table: string}}>}
    return (doc.nftables ?? []).some((i) => i.chain?.table === this.names.table && i.chain.name === name)
  }

  private async run(lines: string[], timeoutMs = 120_000): Promise<void> {
    await this.exec('nft', ['-f', '-'], {input: lines.join('\n') + '\n', timeoutMs})
  }
}
