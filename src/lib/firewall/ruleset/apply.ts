/**
 * Applying a ruleset model to the kernel atomically, with rollback: render (fails before any change),
 * make sure the sets exist (FirewallBackend.init(), entries kept), save the current state, load one
 * transaction per family (`iptables-restore --noflush` / `ip6tables-restore --noflush`) or one `nft -f`,
 * run local.d, and on any failure put the saved state back and throw. Also the read-only diff against
 * the kernel and the flush of the ruleset chains.
 */
import {CommandFailedError, DiswallError, ExitCode, InterruptedError} from '../../errors.js'
import type {Family} from '../../net/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec, ExecResult} from '../../system/index.js'
import type {KernelNames,FirewallBackend, InitReport} from '../sets/index.js'
import type {LocalScript, RulesetModel} from './model.js'
import {RULESET_CHAIN_NAMES, RULESET_CHAINS} from './normalise.js'
import type {PeerSet, RenderedChain} from './normalise.js'
import {createIpsetPeerSets, listPeerSets, peerSetsInState, removePeerSets} from './peer-sets.js'
import {renderIptablesRuleset} from './render-iptables.js'
import {renderNftRuleset} from './render-nft.js'
import {captureState, listNftChain, parseIptablesSave, restoreState} from './state.js'
import type {IptablesTable, RulesetBackend, SavedState} from './state.js'

/** How long one local.d script may run, in milliseconds, unless the caller says otherwise. */
export const LOCAL_SCRIPT_TIMEOUT_MS = 60_000

/** How long one restore transaction may take, in milliseconds (5,000 list entries load in ~1 s). */
const TRANSACTION_TIMEOUT_MS = 120_000

/** What rendering, diffing and flushing need. */
export interface RulesetTarget {
  backend: RulesetBackend
  names: KernelNames
  /** Runs the programs; the real exec by default (tests pass a namespace's or a recording one). */
  exec?: Exec
}

/** Options of {@link applyRuleset}. */
export interface ApplyOptions extends RulesetTarget {
  /** Prefix of the LOG lines of the `log` verdict (config `log_prefix`). */
  logPrefix: string
  /** NFLOG group of the `log` verdict when the daemon reads NFLOG (config `nflog_group`); kernel log if undefined. */
  nflogGroup?: number
  /** The kernel sets; init() runs first so the sets the rules reference exist (their entries are kept). */
  fwBackend: FirewallBackend
  /**
   * Runs one local.d script; by default `exec(script.path)` in its own process group (`processGroup`),
   * with {@link LOCAL_SCRIPT_TIMEOUT_MS} and the environment DISWALL_BACKEND, DISWALL_NFT_TABLE,
   * DISWALL_CHAIN_IN, DISWALL_CHAIN_OUT. Throwing fails the apply.
   */
  runLocal?: (script: LocalScript) => Promise<Partial<ExecResult> | void>
  /** Timeout of each local.d script with the default runner, in milliseconds. */
  localTimeoutMs?: number
  /**
   * Stops the apply (SIGINT/SIGTERM): the running transaction or local.d script (with its process group)
   * is stopped, the saved state restored, and the apply throws ApplyFailedError with the abort reason's
   * exit code when it is an InterruptedError (E_INTERRUPTED, 130 or 143).
   */
  signal?: AbortSignal
}

/** One transaction of a rendered ruleset: the program, its arguments and its stdin. */
export interface RulesetTransaction {
  /** 4 or 6 for iptables; undefined for nft (one transaction for both families). */
  family?: Family
  program: 'ip6tables-restore' | 'iptables-restore' | 'nft'
  args: string[]
  input: string
  /** The chains the transaction fills, with their rules as the kernel lists them. */
  chains: RenderedChain[]
}

/** The ruleset as it would be loaded (for `--dry-run`): one transaction per family, or one nft file. */
export interface RenderedRuleset {
  backend: RulesetBackend
  transactions: RulesetTransaction[]
  /**
   * The peer sets the rules match (files with more than PEER_SET_THRESHOLD addresses of a family): ipset
   * sets created before the transactions, or sets the nft file declares itself.
   */
  sets: PeerSet[]
}

/** What differs in one chain between the kernel and the rendered ruleset. */
export interface ChainDiff {
  /** 4 or 6 for iptables chains; undefined for nft. */
  family?: Family
  chain: string
  /** Whether the chain exists in the kernel now. */
  exists: boolean
  /** Rules the apply adds (in order). */
  added: string[]
  /** Rules the apply removes. */
  removed: string[]
}

/** The difference between the kernel and a ruleset; only chains with a difference are listed. */
export interface RulesetDiff {
  backend: RulesetBackend
  changed: boolean
  chains: ChainDiff[]
}

/** What one local.d script printed. */
export interface LocalScriptRun {
  name: string
  path: string
  stdout: string
  stderr: string
  /** PIDs the script left running in the background when it exited; the apply did not wait for them. */
  background: number[]
}

/** Result of {@link applyRuleset}. */
export interface ApplyReport {
  backend: RulesetBackend
  /** False when the firewall directory has a `disabled` file: nothing was touched. */
  applied: boolean
  disabled: boolean
  /** Whether the kernel's ruleset differed from the model before the apply. */
  changed: boolean
  diff: RulesetDiff
  /** What FirewallBackend.init() did. */
  init?: InitReport
  /** The state before the apply (for `apply --confirm`, see confirm.ts). */
  previous?: SavedState
  /** The local.d scripts that ran, in order, with their output. */
  local: LocalScriptRun[]
  /** Peer sets removed after the apply because no rule uses them any more (neither new nor previous rules). */
  removedSets?: string[]
}

/** Result of {@link flushRuleset}. */
export interface FlushReport {
  backend: RulesetBackend
  changed: boolean
  /** Chains deleted (`IPv4 diswall-in` for iptables, `diswall-in` for nft). */
  removedChains: string[]
  /** Rules that jumped to them and were deleted (`IPv4 INPUT -j diswall-in`). */
  removedJumps: string[]
  /** Peer sets of large address files, removed after the chains. */
  removedSets?: string[]
}

/**
 * An apply failed. `restored` tells whether the previous firewall was put back (code E_APPLY_FAILED) or
 * restoring failed too (E_ROLLBACK_FAILED). Exit code 5. An apply stopped by a signal (`interrupted`)
 * and rolled back is E_INTERRUPTED with exit 130 (SIGINT) or 143 (SIGTERM), as a shell reports it;
 * when its rollback failed, E_ROLLBACK_FAILED and 5 still win: the firewall needs a look.
 */
export class ApplyFailedError extends DiswallError {
  constructor(
    /** What failed: `iptables-restore (IPv4)`, `nft -f`, `local.d/50-vpn`, … */
    readonly step: string,
    /** stderr of the failed program, when there was one. */
    readonly stderr: string,
    readonly restored: boolean,
    message: string,
    hint: string,
    options?: ErrorOptions & {interrupted?: InterruptedError},
  ) {
    const interrupted = restored ? options?.interrupted : undefined
    super(message, interrupted?.code ?? (restored ? 'E_APPLY_FAILED' : 'E_ROLLBACK_FAILED'),
      interrupted?.exitCode ?? ExitCode.COMMAND_FAILED, hint, options)
    this.interrupted = options?.interrupted
  }

  /** Set when a signal stopped the apply (then the error's cause too). */
  readonly interrupted?: InterruptedError
}

/**
 * The transactions that load the model (pure): iptables-restore and ip6tables-restore scripts (ipset
 * backend) or one nft file. The INPUT/OUTPUT jumps are not in them (see {@link applyRuleset}).
 * @throws RulesetError for a rule no firewall can express; InvalidValueError for a bad log prefix.
 */
export function renderRuleset(model: RulesetModel,
  opts: Pick<ApplyOptions, 'backend' | 'logPrefix' | 'names' | 'nflogGroup'>): RenderedRuleset {
  const render = {logPrefix: opts.logPrefix, names: opts.names, nflogGroup: opts.nflogGroup}
  if (opts.backend === 'nftables') {
    const {chains, script, sets} = renderNftRuleset(model, render)
    return {backend: 'nftables', sets, transactions: [{args: ['-f', '-'], chains, input: script, program: 'nft'}]}
  }
  const families = ([4, 6] as const).map((family) => ({family, ...renderIptablesRuleset(model, family, render)}))
  return {
    backend: 'ipset',
    sets: families.flatMap((f) => f.sets),
    transactions: families.map(({chains, family, script}) => ({
      args: ['--noflush'],
      chains,
      family,
      input: script,
      program: family === 4 ? 'iptables-restore' : 'ip6tables-restore',
    })),
  }
}

/**
 * Applies the model atomically: nothing when `model.disabled` (reported as not applied). Otherwise, in
 * order: render (a bad rule throws before any change); `fwBackend.init()` (the sets exist, entries kept);
 * save the current state; load the ruleset, one transaction per family (`iptables-restore --noflush`,
 * then `ip6tables-restore --noflush`) or one `nft -f -`; run the local.d scripts in order.
 *
 * With iptables the same transaction also adds the jumps that are missing, computed from the saved dump:
 * INPUT = `-j diswall-sets` (guard, kept first by init) → `-j diswall-in` → other rules (Docker's,
 * fail2ban's…); OUTPUT = `-j diswall-out` first. Jumps that exist are left alone, extra copies removed.
 * With nftables `diswall-in`/`diswall-out` are base chains of diswall's table (priority filter, after the
 * guard at filter - 10), so no jump is needed.
 *
 * local.d scripts run after every apply, which has just flushed the ruleset chains: a script that
 * inserts into `diswall-in` (DISWALL_CHAIN_IN) is idempotent; one that inserts into INPUT is not.
 * @throws ApplyFailedError (exit 5) when a transaction or a local.d script fails, after the saved state
 * was restored (code E_APPLY_FAILED), or E_ROLLBACK_FAILED when restoring failed too. RulesetError,
 * InvalidValueError from rendering; errors of init() and of saving the state, before any change.
 */
export async function applyRuleset(model: RulesetModel, opts: ApplyOptions): Promise<ApplyReport> {
  const {backend, names, signal} = opts
  const exec = opts.exec ?? defaultExec
  signal?.throwIfAborted()
  if (model.disabled) {
    return {applied: false, backend, changed: false, diff: {backend, changed: false, chains: []}, disabled: true, local: []}
  }

  const rendered = renderRuleset(model, opts)
  const init = await opts.fwBackend.init()
  const previous = await captureState(backend, names, exec)
  const diff = diffState(rendered, previous, names)
  const transactions = withJumps(rendered, previous, names)

  const attempt = async <T>(step: string, run: () => Promise<T>): Promise<T> => {
    try {
      signal?.throwIfAborted()
      return await run()
    } catch (error) {
      // A step that failed because the apply was stopped reports the stop, not its own error.
      const failed = await failAndRestore(step, signal?.aborted ? signal.reason : error, previous, exec)
      // The peer sets this apply created go too, once the previous rules are back (best effort: an
      // unused set left behind changes nothing, and the next apply or flush removes it).
      if (failed.restored && rendered.sets.length > 0) {
        await removePeerSets(backend, names.table, peerSetsInState(previous), exec).catch(() => [])
      }
      throw failed
    }
  }

  // The ipset peer sets first: the rules that match them cannot load without them. A failure here
  // restores the previous state like a failed transaction (sets created so far stay until the next apply).
  if (backend === 'ipset' && rendered.sets.length > 0) {
    await attempt('ipset restore (peer sets)', () => createIpsetPeerSets(rendered.sets, exec))
  }

  // Stopping a transaction is safe: each one is a single atomic commit in the kernel (iptables-restore
  // COMMIT, one nft batch), so it lands whole or not at all, and the restore below follows either way.
  for (const tx of transactions) {
    await attempt(transactionStep(tx), () => exec(tx.program, tx.args, {input: tx.input, signal, timeoutMs: TRANSACTION_TIMEOUT_MS}))
  }

  // A script runs in its own process group: the apply ends when the script exits, even if something it
  // started in the background keeps its stdout open, and a timeout kills the script with all it started.
  // A background process of a script that succeeded is left running, as a shell leaves `cmd &` running.
  const runLocal = opts.runLocal ?? ((script: LocalScript) => exec(script.path, [], {
    env: {
      DISWALL_BACKEND: backend,
      DISWALL_CHAIN_IN: RULESET_CHAINS.in,
      DISWALL_CHAIN_OUT: RULESET_CHAINS.out,
      DISWALL_NFT_TABLE: names.table,
    },
    processGroup: true,
    signal,
    timeoutMs: opts.localTimeoutMs ?? LOCAL_SCRIPT_TIMEOUT_MS,
  }))
  const local: LocalScriptRun[] = []
  for (const script of model.local) {
    const out = await attempt(`local.d/${script.name}`, () => runLocal(script))
    local.push({background: out?.background ?? [], name: script.name, path: script.path, stderr: out?.stderr ?? '', stdout: out?.stdout ?? ''})
  }

  // Peer sets neither the new rules nor the previous ones use (a rollback needs the latter). Failing to
  // remove them leaves unused sets behind, which the next apply or flush removes: the apply stands.
  // Without a peer set before or now there is nothing to look for (a failed apply's leftovers go at the next flush).
  const keep = new Set([...rendered.sets.map((set) => set.name), ...peerSetsInState(previous)])
  const removedSets = keep.size === 0 ? [] : await removePeerSets(backend, names.table, keep, exec).catch((error: unknown) => {
    if (error instanceof CommandFailedError) return []
    throw error
  })

  return {applied: true, backend, changed: diff.changed, diff, disabled: false, init, local, previous, removedSets}
}

/**
 * What {@link applyRuleset} would change, read from the kernel without changing it: per ruleset chain
 * the rules to add and to remove (and, with iptables, the INPUT/OUTPUT jumps). A disabled model changes
 * nothing.
 * @throws RulesetError, InvalidValueError from rendering; CommandFailedError from the tools.
 */
export async function diffRuleset(model: RulesetModel,
  opts: RulesetTarget & Pick<ApplyOptions, 'logPrefix' | 'nflogGroup'>): Promise<RulesetDiff> {
  if (model.disabled) return {backend: opts.backend, changed: false, chains: []}
  const rendered = renderRuleset(model, opts)
  return diffState(rendered, await captureState(opts.backend, opts.names, opts.exec ?? defaultExec), opts.names)
}

/**
 * Removes the ruleset: with iptables every rule jumping to a ruleset chain (INPUT, OUTPUT, or wherever),
 * then the chains, one `iptables-restore --noflush` per family; with nftables the ruleset chains of the
 * table, in one `nft -f`. The sets and their entries stay; FirewallBackend.init() afterwards lets the
 * guard chain make them effective again (the ruleset had taken its place).
 * Works whether or not the firewall directory is disabled. Idempotent.
 * @throws CommandFailedError from the tools.
 */
export async function flushRuleset(opts: RulesetTarget): Promise<FlushReport> {
  const exec = opts.exec ?? defaultExec
  const report: FlushReport = {backend: opts.backend, changed: false, removedChains: [], removedJumps: []}
  if (opts.backend === 'nftables') {
    const t = `inet ${opts.names.table}`
    const existing: string[] = []
    for (const name of RULESET_CHAIN_NAMES) if (await listNftChain(exec, opts.names.table, name) !== undefined) existing.push(name)
    const sets = [...await listPeerSets('nftables', opts.names.table, exec)].sort()
    if (existing.length === 0 && sets.length === 0) return report
    // Flush all first: a chain can be deleted only when no rule jumps to it any more, a set only when no rule uses it.
    const script = [
      ...existing.map((n) => `flush chain ${t} ${n}`),
      ...existing.map((n) => `delete chain ${t} ${n}`),
      ...sets.map((n) => `delete set ${t} ${n}`),
    ]
    await exec('nft', ['-f', '-'], {input: script.join('\n') + '\n', timeoutMs: TRANSACTION_TIMEOUT_MS})
    return {...report, changed: true, removedChains: existing, ...(sets.length > 0 ? {removedSets: sets} : {})}
  }

  for (const family of [4, 6] as const) {
    const tool = family === 4 ? 'iptables' : 'ip6tables'
    const dump = (await exec(`${tool}-save`, [], {timeoutMs: TRANSACTION_TIMEOUT_MS})).stdout
    const plan = planIptablesFlush(parseIptablesSave(dump).get('filter'))
    if (plan.lines.length === 0) continue
    await exec(`${tool}-restore`, ['--noflush'], {input: ['*filter', ...plan.lines, 'COMMIT', ''].join('\n'), timeoutMs: TRANSACTION_TIMEOUT_MS})
    report.changed = true
    report.removedChains.push(...plan.chains.map((c) => `IPv${family} ${c}`))
    report.removedJumps.push(...plan.jumps.map((j) => `IPv${family} ${j}`))
  }
  const removedSets = await removePeerSets('ipset', opts.names.table, new Set(), exec)
  if (removedSets.length > 0) return {...report, changed: true, removedSets}
  return report
}

// ---- pure helpers ----

/**
 * The restore lines that remove the ruleset from a filter table: `-D` of every rule in another chain that
 * jumps (`-j`/`-g`) to a ruleset chain, then `-F` and `-X` of the ruleset chains that exist. Pure.
 */
export function planIptablesFlush(filter: IptablesTable | undefined): {lines: string[]; chains: string[]; jumps: string[]} {
  if (filter === undefined) return {chains: [], jumps: [], lines: []}
  const ours = new Set(RULESET_CHAIN_NAMES)
  const chains = RULESET_CHAIN_NAMES.filter((name) => filter.chains.has(name))
  const jumps = filter.rules
    .filter(({chain, spec}) => !ours.has(chain) && RULESET_CHAIN_NAMES.some((name) => new RegExp(`(?:^| )-[jg] ${escapeRegExp(name)}(?: |$)`).test(spec)))
    .map(({chain, spec}) => `${chain} ${spec}`)
  return {
    chains,
    jumps,
    lines: [...jumps.map((j) => `-D ${j}`), ...chains.map((c) => `-F ${c}`), ...chains.map((c) => `-X ${c}`)],
  }
}

/** One change to the jumps from INPUT/OUTPUT to the ruleset chains. */
export interface JumpFix {
  hook: 'INPUT' | 'OUTPUT'
  chain: string
  /** Insert the missing jump at `position` (1-based), or delete an extra copy. */
  op: 'delete' | 'insert'
  position?: number
}

/**
 * What makes INPUT jump to `diswall-in` and OUTPUT to `diswall-out` exactly once, first, given the
 * filter table as it is. INPUT's jumps to the guard chain go: `diswall-in` does all the guard does, in
 * the order of DESIGN.md (allow set, whitelist.d, block set, …), and a guard in front of it would drop a
 * banned address before whitelist.d could let it in. Extra copies are deleted. Pure.
 */
export function planJumps(filter: IptablesTable | undefined, guardChain: string): JumpFix[] {
  const fixes: JumpFix[] = []
  const input = (filter?.rules ?? []).filter((r) => r.chain === 'INPUT')
  for (const _ of input.filter((r) => r.spec === `-j ${guardChain}`)) fixes.push({chain: guardChain, hook: 'INPUT', op: 'delete'})
  for (const [hook, chain] of [['INPUT', RULESET_CHAINS.in], ['OUTPUT', RULESET_CHAINS.out]] as const) {
    const count = (filter?.rules ?? []).filter((r) => r.chain === hook && r.spec === `-j ${chain}`).length
    if (count === 0) fixes.push({chain, hook, op: 'insert', position: 1})
    for (let i = 1; i < count; i++) fixes.push({chain, hook, op: 'delete'})
  }
  return fixes
}

/** The restore line of a jump fix (`-I INPUT 2 -j diswall-in`, `-D OUTPUT -j diswall-out`). */
export function jumpLine(fix: JumpFix): string {
  return fix.op === 'insert' ? `-I ${fix.hook} ${fix.position ?? 1} -j ${fix.chain}` : `-D ${fix.hook} -j ${fix.chain}`
}

/** The rendered transactions with the missing jumps added to each iptables transaction (before COMMIT). */
function withJumps(rendered: RenderedRuleset, previous: SavedState, names: KernelNames): RulesetTransaction[] {
  if (previous.backend !== 'ipset') return rendered.transactions
  return rendered.transactions.map((tx) => {
    const dump = tx.family === 6 ? previous.v6 : previous.v4
    const lines = planJumps(parseIptablesSave(dump).get('filter'), names.guardChain).map((fix) => jumpLine(fix))
    if (lines.length === 0) return tx
    return {...tx, input: tx.input.replace(/^COMMIT\n$/m, `${lines.join('\n')}\nCOMMIT\n`)}
  })
}

/**
 * The difference between a saved state and a rendered ruleset, per chain (and, with iptables, the
 * INPUT/OUTPUT jumps). Pure.
 */
export function diffState(rendered: RenderedRuleset, state: SavedState, names: Pick<KernelNames, 'guardChain'>): RulesetDiff {
  const chains: ChainDiff[] = []
  const push = (diff: ChainDiff): void => {
    if (diff.added.length > 0 || diff.removed.length > 0 || !diff.exists) chains.push(diff)
  }
  for (const tx of rendered.transactions) {
    if (state.backend === 'ipset') {
      const filter = parseIptablesSave(tx.family === 6 ? state.v6 : state.v4).get('filter')
      for (const chain of tx.chains) {
        const current = (filter?.rules ?? []).filter((r) => r.chain === chain.name).map((r) => r.spec)
        push({chain: chain.name, exists: filter?.chains.has(chain.name) ?? false, family: tx.family, ...diffLines(current, chain.rules)})
      }
      for (const fix of planJumps(filter, names.guardChain)) {
        const spec = [`-j ${fix.chain}`]
        push({added: fix.op === 'insert' ? spec : [], chain: fix.hook, exists: true, family: tx.family, removed: fix.op === 'delete' ? spec : []})
      }
      continue
    }
    for (const chain of tx.chains) {
      const saved = state.backend === 'nftables' ? state.chains.find((c) => c.name === chain.name) : undefined
      push({chain: chain.name, exists: saved !== undefined, ...diffLines(saved?.rules ?? [], chain.rules)})
    }

    // Loading the ruleset empties the guard chain (diswall-in takes over its rules, in order).
    const guard = state.backend === 'nftables' ? state.chains.find((c) => c.name === names.guardChain) : undefined
    if (guard) push({added: [], chain: guard.name, exists: true, removed: guard.rules})
  }
  return {backend: rendered.backend, changed: chains.length > 0, chains}
}

/** Largest table the exact (LCS) diff builds; beyond it the differing middle is reported as a whole. */
const MAX_LCS_CELLS = 4_000_000

/**
 * Lines to remove from `current` and to add to reach `wanted`, in order (a longest-common-subsequence
 * diff after trimming the common beginning and end). Pure.
 */
export function diffLines(current: readonly string[], wanted: readonly string[]): {added: string[]; removed: string[]} {
  let start = 0
  while (start < current.length && start < wanted.length && current[start] === wanted[start]) start++
  let endC = current.length
  let endW = wanted.length
  while (endC > start && endW > start && current[endC - 1] === wanted[endW - 1]) {
    endC--
    endW--
  }
  const a = current.slice(start, endC)
  const b = wanted.slice(start, endW)
  if (a.length === 0 || b.length === 0 || a.length * b.length > MAX_LCS_CELLS) return {added: b, removed: a}

  // lcs[i][j] = length of the LCS of a[i..] and b[j..], in one flat array.
  const width = b.length + 1
  const lcs = new Uint32Array((a.length + 1) * width)
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i * width + j] = a[i] === b[j] ? lcs[(i + 1) * width + j + 1] + 1 : Math.max(lcs[(i + 1) * width + j], lcs[i * width + j + 1])
    }
  }
  const added: string[] = []
  const removed: string[] = []
  let i = 0
  let j = 0
  while (i < a.length && j < b.length) {
    if (a[i] === b[j]) {
      i++
      j++
    } else if (lcs[(i + 1) * width + j] >= lcs[i * width + j + 1]) {
      removed.push(a[i++])
    } else {
      added.push(b[j++])
    }
  }
  removed.push(...a.slice(i))
  added.push(...b.slice(j))
  return {added, removed}
}

function transactionStep(tx: RulesetTransaction): string {
  if (tx.program === 'nft') return 'nft -f'
  return `${tx.program} (IPv${tx.family})`
}

/** Restores the saved state after `error` at `step`, and returns the error to throw. */
async function failAndRestore(step: string, error: unknown, previous: SavedState, exec: Exec): Promise<ApplyFailedError> {
  const stderr = error instanceof CommandFailedError ? error.stderr.trim() : ''
  const what = error instanceof Error ? error.message : String(error)
  const interrupted = error instanceof InterruptedError ? error : undefined
  try {
    // Never with the apply's AbortSignal: the restore must run to its end, also when a signal stopped the apply.
    await restoreState(previous, exec)
  } catch (restoreError) {
    const why = restoreError instanceof Error ? restoreError.message : String(restoreError)
    return new ApplyFailedError(step, stderr, false,
      `firewall apply ${interrupted ? 'was interrupted' : 'failed'} at ${step}: ${what}; restoring the previous firewall failed too: ${why}`,
      'The firewall may be half-applied: inspect it (iptables-save, or nft list table inet <table>), then apply again or run `diswall firewall flush`.',
      {cause: error, interrupted})
  }
  if (interrupted) {
    return new ApplyFailedError(step, '', true,
      `firewall apply was ${what} at ${step}; the previous firewall was restored`,
      'Nothing was changed; run the apply again to load the ruleset.', {cause: error, interrupted})
  }
  const timedOut = error instanceof CommandFailedError && error.timedOut
  const hint = timedOut && step.startsWith('local.d/')
    ? `${step} and everything it started were killed; make it finish sooner (start long-running programs as services, e.g. systemd-run) or raise --local-timeout, then apply again; the firewall is as it was before.`
    : step.startsWith('local.d/')
      ? `Fix ${step} (or remove it), then apply again; the firewall is as it was before.`
      : 'Fix the rule the error names, then apply again; the firewall is as it was before.'
  return new ApplyFailedError(step, stderr, true, `firewall apply failed at ${step}: ${what}; the previous firewall was restored`, hint,
    {cause: error})
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}
