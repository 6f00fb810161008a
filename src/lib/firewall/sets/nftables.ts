import {CommandFailedError} from '../../errors.js'
import {containsAddress, groupPrefix, isAddress, parseNetwork, parseTarget, toNetwork} from '../../net/index.js'
import type {Address, Target} from '../../net/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import {DEFAULT_LIMITS, SetTypeMismatchError} from './ipset.js'
import type {SetLimits} from './ipset.js'
import {nftBlock6Rules, nftBlock6Sets, RULESET_CHAINS} from './names.js'
import type {KernelNames, NftBlock6Sets} from './names.js'
import {isNftSessionStatement, NftSession} from './nft-session.js'
import type {NftBatchRunner, NftSessionFactory} from './nft-session.js'
import {OpQueue, opTarget, reportOf} from './op-queue.js'
import type {Op} from './op-queue.js'
import {changeOneElement, forEachOf, PREPARED_INIT_MAX_AGE_MS, setFor} from './types.js'
import type {CommitReport, FirewallBackend, InitReport, ListedEntry, ListKind, ListOptions, SetEntry, SetEntrySource} from './types.js'

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

/** What init() compares of a guard rule: family, mask, set, counter and verdict. */
interface RuleShape {
  counter: boolean
  family: string
  mask: string | undefined
  set: string | undefined
  verdict: string | undefined
}

/** The shape of a rule as init() writes it (`ip6 saddr & MASK == @SET drop`). */
function shapeOfRuleText(rule: string): RuleShape {
  return {
    counter: / counter( |$)/.test(rule),
    family: rule.split(' ')[0]!,
    mask: / & (\S+) /.exec(rule)?.[1],
    set: /@(\S+)/.exec(rule)?.[1],
    verdict: rule.split(' ').at(-1),
  }
}

/** The shape of a rule of libnftables JSON (its `expr` array); unknown parts leave fields undefined. */
function shapeOfJsonRule(expr: unknown): RuleShape {
  const shape: RuleShape = {counter: false, family: '', mask: undefined, set: undefined, verdict: undefined}
  let parts = 0
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) walk(item)
      return
    }

    if (typeof node === 'string') {
      if (node.startsWith('@')) shape.set = node.slice(1)
      return
    }

    if (typeof node !== 'object' || node === null) return
    for (const [key, value] of Object.entries(node)) {
      if (key === 'counter') {
        shape.counter = true
        continue
      }
      parts++
      if (key === 'accept' || key === 'drop') shape.verdict = key
      else if (key === 'payload' && typeof value === 'object' && value !== null) shape.family = String((value as {protocol?: unknown}).protocol)
      else if (key === '&' && Array.isArray(value) && typeof value[1] === 'string') {
        shape.mask = value[1]
        walk(value[0])
      } else walk(value)
    }
  }

  walk(expr)
  // A rule with more in it (a log, a limit) is not one of ours.
  if (parts > 8) shape.verdict = undefined
  return shape
}

/** Whether the listed rules are exactly `wanted` (rule texts as init() writes them), in order. */
function sameRules(listed: RuleShape[], wanted: string[]): boolean {
  return listed.length === wanted.length && wanted.every((rule, i) => {
    const a = shapeOfRuleText(rule)
    const b = listed[i]!
    return a.counter === b.counter && a.family === b.family && a.mask === b.mask && a.set === b.set && a.verdict === b.verdict
  })
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
  /** The reading prepareInit() started, and when, for the next init(). */
  private prepared: {at: number; state: ReturnType<NftBackend['listTableState']>} | undefined
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

  prepareInit(): void {
    const state = this.listTableState()
    // Read by the init() that follows; a command that stops before it must not leave a rejection unhandled.
    state.catch(() => {})
    this.prepared = {at: Date.now(), state}
  }

  async init(): Promise<InitReport> {
    const report: InitReport = {created: [], leftovers: [], migrated: []}
    // One listing of sets, chains and rules, without set elements (read already by prepareInit()).
    const prepared = this.prepared !== undefined && Date.now() - this.prepared.at <= PREPARED_INIT_MAX_AGE_MS ? this.prepared.state : undefined
    this.prepared = undefined
    const state = await (prepared ?? this.listTableState())
    const rulesetIn = state.chains.has(RULESET_CHAINS.in)
    const existing = new Map(state.sets.map((s) => [s.name, s]))
    for (const spec of this.setSpecs()) {
      const found = existing.get(spec.name)
      if (!found) {
        report.created.push(spec.name)
        continue
      }

      const flags = [found.flags ?? []].flat().sort()
      if (found.type !== spec.type || flags.join(',') !== spec.flags.join(',')) {
        throw new SetTypeMismatchError(`inet ${this.names.table} ${spec.name}`, `${found.type} flags ${flags.join(',') || 'none'}`,
          `${spec.type} flags ${spec.flags.join(',')}`)
      }
    }

    const t = this.table()
    const chain = this.names.guardChain
    const six = nftBlock6Sets(this.names)
    // A table of an older release keeps every IPv6 ban in the interval set; prefix sets of another
    // `ipv6_group_prefix` hold networks the new mask does not find. Their elements move, with their
    // remaining timeouts, in the same transaction that creates the sets and the rules that find them.
    const stale = [...existing.keys()].filter((name) => name.startsWith(`${six.other}-net`) && name !== six.net)
    const fromOld = existing.has(six.other) && (!existing.has(six.host) || (six.net !== undefined && !existing.has(six.net)))
    const moves = [...fromOld ? [six.other] : [], ...stale]
    const migration = moves.length > 0 ? await this.migrationStatements(moves) : []
    if (migration.length > 0) report.migrated.push(...moves)
    const guardRules = rulesetIn ? [] : [
      `ip saddr @${this.names.allow.v4} counter accept`,
      `ip6 saddr @${this.names.allow.v6} counter accept`,
      `ip saddr @${this.names.block.v4} counter drop`,
      ...nftBlock6Rules(this.names),
    ]
    // Every single command runs init(): where the sets and the guard chain are as they should be (all
    // but the first), the transaction below would change nothing, so it is not sent.
    const inPlace = report.created.length === 0 && moves.length === 0 && state.chains.has(chain) &&
      sameRules(state.guardRules, guardRules)
    if (inPlace) {
      this.initialized = true
      if (this.sessionFactory && this.refreshesTimeout === undefined) this.refreshesTimeout = await this.probeTimeoutRefresh()
      return report
    }

    const script = [
      `add table ${t}`,
      ...this.setSpecs().map((spec) => `add set ${t} ${spec.name} { type ${spec.type}; flags ${spec.flags.join(', ')}; }`),
      ...migration,
      `add chain ${t} ${chain} { ${NFT_GUARD_CHAIN_SPEC} }`,
      `flush chain ${t} ${chain}`,
      // While the ruleset's diswall-in exists it does this in the order of DESIGN.md (whitelist.d
      // before the block set): the guard, which runs first, stays empty then. The counters feed the
      // hourly statistics (counters.ts).
      ...guardRules.map((rule) => `add rule ${t} ${chain} ${rule}`),
      // A ruleset applied by an older release finds IPv6 bans in the interval set alone: the rules of
      // the new sets go right after that one, in the same transaction that moves the bans.
      ...(rulesetIn && moves.length > 0 ? await this.rulesetInFixes() : []),
      // A prefix set of an earlier ipv6_group_prefix, now empty, goes once no ruleset rule uses it.
      ...stale.filter((name) => !state.referenced.has(name)).map((name) => `delete set ${t} ${name}`),
    ]
    await this.run(script, migration.length > 0 ? 600_000 : 120_000)
    this.initialized = true
    // The probe costs four nft processes: a one-shot command that adds one ban does not need it.
    if (this.sessionFactory && this.refreshesTimeout === undefined) this.refreshesTimeout = await this.probeTimeoutRefresh()
    return report
  }

  /** Every set of the table: name, type and sorted flags. */
  private setSpecs(): Array<{flags: string[]; name: string; type: string}> {
    const six = nftBlock6Sets(this.names)
    // No `size`: nft hash sets grow on demand, so a full set never drops a ban. No default timeout
    // either: with one, an element without a timeout would take it, so a permanent ban (0) is
    // impossible; every ban carries its own timeout instead.
    return [
      {flags: ['timeout'], name: this.names.block.v4, type: 'ipv4_addr'},
      {flags: ['interval', 'timeout'], name: six.other, type: 'ipv6_addr'},
      {flags: ['timeout'], name: six.host, type: 'ipv6_addr'},
      ...six.net === undefined ? [] : [{flags: ['timeout'], name: six.net, type: 'ipv6_addr'}],
      {flags: ['interval', 'timeout'], name: this.names.allow.v4, type: 'ipv4_addr'},
      {flags: ['interval', 'timeout'], name: this.names.allow.v6, type: 'ipv6_addr'},
    ]
  }

  /**
   * Statements that move the IPv6 bans of `sets` (the old interval set, prefix sets of another prefix
   * length) to the set where they belong now, with their remaining timeouts: added there, then removed
   * here (added bare first, so that one that expired since the listing does not fail the transaction).
   */
  private async migrationStatements(sets: string[]): Promise<string[]> {
    const t = this.table()
    const out: string[] = []
    for (const from of sets) {
      const prefix = /-net(\d+)$/.exec(from)
      const entries = parseNftElements(await this.readSet(from)).map((e) => prefix && isAddress(e.target)
        ? {...e, target: parseNetwork(`${e.target.text}/${prefix[1]}`)}
        : e)
      const moving = entries.filter((e) => this.place('block', e.target).set !== from)
      const byTarget = new Map<string, string[]>()
      for (const e of moving) {
        const {set} = this.place('block', e.target)
        const ttl = e.ttlSec === undefined ? undefined : Math.max(1, e.ttlSec)
        if (!byTarget.has(set)) byTarget.set(set, [])
        byTarget.get(set)!.push(this.element({target: e.target, ttlSec: ttl ?? 0}, 'block'))
      }

      for (const [set, elements] of byTarget) {
        for (let i = 0; i < elements.length; i += BULK_CHUNK) out.push(`add element ${t} ${set} { ${elements.slice(i, i + BULK_CHUNK).join(', ')} }`)
      }

      const bare = moving.map((e) => prefix ? e.target.kind === 'network' ? e.target.address.text : e.target.text : e.target.text)
      for (let i = 0; i < bare.length; i += BULK_CHUNK) {
        const chunk = bare.slice(i, i + BULK_CHUNK).join(', ')
        out.push(`add element ${t} ${from} { ${chunk} }`, `delete element ${t} ${from} { ${chunk} }`)
      }
    }

    return out
  }

  /**
   * `add rule … position` statements that put the rules of the IPv6 ban sets into the ruleset's
   * `diswall-in` right after its rule of the interval set, unless it has them already.
   */
  private async rulesetInFixes(): Promise<string[]> {
    const {stdout} = await this.exec('nft', ['-a', 'list', 'chain', 'inet', this.names.table, RULESET_CHAINS.in])
    // Rules are compared without their counter: listed ones show its values (`counter packets 3 bytes
    // 180`), and a ruleset of an older release has none.
    const bare = (rule: string): string => rule.replace(/ counter( packets \d+ bytes \d+)?/, '')
    const listed = stdout.split('\n').map((line) => bare(line.trim()))
    const [first, ...rest] = nftBlock6Rules(this.names)
    const anchor = listed.find((line) => line.startsWith(`${bare(first!)} # handle `))
    if (anchor === undefined) return []
    const handle = anchor.slice(`${bare(first!)} # handle `.length)
    const missing = rest.filter((rule) => !listed.some((line) => line.startsWith(`${bare(rule)} # handle `)))
    // Each goes right after the anchor, so the last added comes first: add them in reverse.
    return missing.reverse().map((rule) => `add rule ${this.table()} ${RULESET_CHAINS.in} position ${handle} ${rule}`)
  }

  /**
   * The set and element text of a target. IPv6 bans: addresses in the address set, networks of the
   * group prefix as their network address in the prefix set, other networks in the interval set.
   */
  private place(list: ListKind, target: Target): {set: string; text: string} {
    if (list !== 'block' || target.family !== 6) return {set: setFor(this.names[list], target), text: target.text}
    const six = this.six
    if (isAddress(target)) return {set: six.host, text: target.text}
    if (target.prefix === 128) return {set: six.host, text: target.address.text}
    if (six.net !== undefined && target.prefix === six.prefix) return {set: six.net, text: target.address.text}
    return {set: six.other, text: target.text}
  }

  private get six(): NftBlock6Sets {
    return nftBlock6Sets(this.names)
  }

  /** The sets of a list, of both families or of `family`. */
  private setsOf(list: ListKind, family?: 4 | 6): string[] {
    const six = this.six
    const v6 = list === 'allow' ? [this.names.allow.v6] : [six.other, six.host, ...six.net === undefined ? [] : [six.net]]
    return [...family === 6 ? [] : [this.names[list].v4], ...family === 4 ? [] : v6]
  }

  /** Elements of the prefix set are network addresses: as entries they are the networks. */
  private entryOf(set: string, entry: ListedEntry): ListedEntry {
    const six = this.six
    if (set !== six.net || !isAddress(entry.target)) return entry
    return {...entry, target: parseNetwork(`${entry.target.text}/${six.prefix}`)}
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
    if (list === 'allow') {
      const set = setFor(this.names[list], target)
      // nft 1.0.6 `get element` fetches every set of the table first, the block sets with their
      // elements (130 s at 1M bans on a loaded 2-vCPU host); listing the small allow set alone does not.
      // As `ipset test` answers on hash:net: an address inside a listed network is in; a network is in
      // when it is an element itself.
      const entries = await this.listSet(set)
      return isAddress(target)
        ? entries.some((e) => containsAddress(toNetwork(e.target), target))
        : entries.some((e) => e.target.text === target.text)
    }

    // `create` fails on an existing element without fetching the set; paired with `delete` in one
    // transaction it changes nothing. An IPv6 address is looked up where the rules find it: in the
    // address set, as its network in the prefix set, and in the interval set, all in one transaction.
    const probes = [this.place(list, target)]
    const six = this.six
    if (list === 'block' && target.family === 6 && isAddress(target) && six.net !== undefined) {
      probes.push({set: six.net, text: groupPrefix(target, six.prefix).address.text}, {set: six.other, text: target.text})
    }

    try {
      await this.run(probes.flatMap(({set: name, text}) => {
        const element = `inet ${this.names.table} ${name} { ${text} }`
        return [`create element ${element}`, `delete element ${element}`]
      }))
      return false
    } catch (error) {
      if (!(error instanceof CommandFailedError)) throw error
      // An IPv6 address inside a banned network: blocked, though not an element of its own.
      if (/File exists|interval overlaps/.test(error.stderr)) return true
      throw error
    }
  }

  async addIfAbsent(entry: SetEntry & {target: Address}): Promise<boolean | undefined> {
    if (entry.target.family !== 4) return undefined
    // `create` fails on an existing element without fetching the set (as in has()).
    return changeOneElement(() => this.run([`create element ${this.table()} ${this.place('block', entry.target).set} { ${this.element(entry, 'block')} }`]),
      /File exists/)
  }

  async delIfPresent(target: Address): Promise<boolean | undefined> {
    if (target.family !== 4) return undefined
    // nft says the same of a missing set, but init() has just put the set in place: the element is not there.
    return changeOneElement(() => this.run([`delete element ${this.table()} ${this.place('block', target).set} { ${target.text} }`]),
      /No such file or directory/)
  }

  /** The entries of both families' sets; a set (or table) that does not exist has none. */
  async list(list: ListKind, {family, signal}: ListOptions = {}): Promise<ListedEntry[]> {
    const out: ListedEntry[] = []
    const names = this.setsOf(list, family)
    // The allow sets are small: both are read at once (a single `allow add` or never-ban check waits for
    // one process start, not two). Block sets one after the other, so that one listing is held at a time.
    const read = list === 'allow' ? await Promise.all(names.map((name) => this.listSet(name, signal))) : undefined
    for (const [i, name] of names.entries()) {
      // A loop, not push(...): spreading more than ~125k elements overflows V8's stack (RangeError).
      for (const entry of read?.[i] ?? await this.listSet(name, signal)) out.push(this.entryOf(name, entry))
    }

    // Right after a bulk insert, while the kernel resizes the set, a listing can repeat elements.
    const seen = new Set<string>()
    return out.filter((e) => !seen.has(e.target.text) && seen.add(e.target.text))
  }

  async forEachEntry(list: ListKind, visit: (entry: ListedEntry) => void, {signal}: ListOptions = {}): Promise<void> {
    // No de-duplication (list() has it): a repeated element of a set being resized is added twice, to the same state.
    for (const name of this.setsOf(list)) forEachNftElement(await this.readSet(name, signal), (entry) => visit(this.entryOf(name, entry)))
  }

  /** The elements of one set of our table; a set (or table) that does not exist has none. */
  private async listSet(name: string, signal?: AbortSignal): Promise<ListedEntry[]> {
    return parseNftElements(await this.readSet(name, signal))
  }

  /**
   * `nft -j list set` of one set of our table; a set (or table) that does not exist gives an empty listing.
   * `signal` kills nft (the daemon's stop does not wait for a periodic snapshot's listing).
   */
  private async readSet(name: string, signal?: AbortSignal): Promise<string> {
    let stdout: string
    try {
      // nft 1.0.6: listing a large set is slow (~70 s for 1M elements): the kernel's hash-set dump
      // (nft_rhash_walk) restarts from the first element for every netlink message, so a dump is
      // quadratic in the set size. Never list a block set on the hot path.
      stdout = (await this.exec('nft', ['-j', 'list', 'set', 'inet', this.names.table, name], {...(signal ? {signal} : {}), timeoutMs: 300_000})).stdout
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

  /**
   * One transaction fed through `nft -f -` stdin as the entries come: both sets of the list are
   * flushed and refilled in chunks of {@link BULK_CHUNK} elements; nft commits it when its input ends.
   * A stream that throws kills nft before its stdin closes, so nothing is committed and the sets stay
   * exactly as they were.
   */
  async replace(list: ListKind, entries: SetEntrySource): Promise<void> {
    const t = this.table()
    const sets = this.setsOf(list)
    const element = (entry: SetEntry): string => this.element(entry, list)
    const setOf = (entry: SetEntry): string => this.place(list, entry.target).set
    async function* script(): AsyncGenerator<string> {
      // One file is one transaction: the sets are flushed and refilled atomically.
      yield sets.map((name) => `flush set ${t} ${name}\n`).join('')
      const pending = new Map<string, string[]>(sets.map((name) => [name, []]))
      const statement = (name: string): string => {
        const line = `add element ${t} ${name} { ${pending.get(name)!.join(', ')} }\n`
        pending.set(name, [])
        return line
      }
      const ready: string[] = []
      for await (const item of entries) {
        forEachOf(item, (entry) => {
          const name = setOf(entry)
          const elements = pending.get(name)!
          elements.push(element(entry))
          if (elements.length >= BULK_CHUNK) ready.push(statement(name))
        })
        while (ready.length > 0) yield ready.shift()!
      }
      for (const name of sets) if (pending.get(name)!.length > 0) yield statement(name)
    }
    await this.exec('nft', ['-f', '-'], {inputStream: script(), timeoutMs: 600_000})
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

  private element({comment, target, ttlSec}: SetEntry, list: ListKind): string {
    const ttl = ttlSec ?? (list === 'block' ? this.limits.blockTimeoutSec : 0)
    const note = list === 'allow' && comment ? ` comment "${comment}"` : ''
    return `${this.place(list, target).text}${ttl > 0 ? ` timeout ${Math.floor(ttl)}s` : ''}${note}`
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
      const set = this.place(first.list, opTarget(first)).set
      const run: Op[] = []
      while (i < ops.length && run.length < BULK_CHUNK) {
        const op = ops[i]
        const opSet = this.place(op.list, opTarget(op)).set
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

      const bare = run.map((op) => this.place(op.list, opTarget(op)).text).join(', ')
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
    const {set} = this.place('block', target)
    const {stdout} = await this.exec('nft', ['-j', 'list', 'set', 'inet', this.names.table, set], {timeoutMs: 300_000})
    const inside = parseNftElements(stdout).filter((e) => e.target.text !== target.text &&
      containsAddress(target, isAddress(e.target) ? e.target : e.target.address))
    if (inside.length === 0) throw error
    const t = this.table()
    await this.run([`delete element ${t} ${set} { ${inside.map((e) => e.target.text).join(', ')} }`,
      `add element ${t} ${set} { ${this.element(op.entry, 'block')} }`])
  }

  /**
   * The sets (without elements), chains and guard-chain rules of our table, in one process. nft 1.0.6
   * fetches every element for `list table` even with -t (7 s at 300k bans); `-t list ruleset inet`
   * does not (~10 ms on a quiet host, also with 1M bans).
   */
  private async listTableState(): Promise<{chains: Set<string>; guardRules: RuleShape[]; referenced: Set<string>; sets: NftSetJson[]}> {
    const {stdout} = await this.exec('nft', ['-t', '-j', 'list', 'ruleset', 'inet'])
    const doc = JSON.parse(stdout) as {nftables?: Array<{chain?: {name: string; table: string}; rule?: {chain: string; expr?: unknown; table: string}}>}
    const items = doc.nftables ?? []
    const ours = <T extends {table: string}>(x: T | undefined): x is T => x?.table === this.names.table
    return {
      chains: new Set(items.map((i) => i.chain).filter(ours).map((c) => c.name)),
      guardRules: items.map((i) => i.rule).filter(ours).filter((r) => r.chain === this.names.guardChain).map((r) => shapeOfJsonRule(r.expr)),
      // Sets used by rules outside the guard chain (the ruleset's), which init() must not delete.
      referenced: new Set(items.map((i) => i.rule).filter(ours).filter((r) => r.chain !== this.names.guardChain)
        .flatMap((r) => JSON.stringify(r.expr ?? null).match(/"@[^"]+"/g) ?? []).map((ref) => ref.slice(2, -1))),
      sets: parseNftSets(stdout).filter((set) => set.table === this.names.table),
    }
  }

  private async run(lines: string[], timeoutMs = 120_000): Promise<void> {
    await this.exec('nft', ['-f', '-'], {input: lines.join('\n') + '\n', timeoutMs})
  }
}
