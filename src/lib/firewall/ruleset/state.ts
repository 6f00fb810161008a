/**
 * Capturing and restoring the firewall as it was before an apply: with the ipset backend, full
 * `iptables-save` / `ip6tables-save` dumps, of which a restore puts back only diswall's chains and the
 * jumps to them (rules other software added meanwhile stay); with nftables, the ruleset chains of
 * diswall's own table (never the sets). Parsing and script building are pure functions; captureState and
 * restoreState run the programs through `exec`.
 */
import {CommandFailedError, DiswallError, ExitCode} from '../../errors.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import type {KernelNames} from '../sets/index.js'
import {RULESET_CHAIN_NAMES} from './normalise.js'

/** Which kernel backend a ruleset is applied with: ipset sets with iptables rules, or nftables. */
export type RulesetBackend = 'ipset' | 'nftables'

/** The iptables side of the firewall: one full dump per family. */
export interface SavedIptablesState {
  backend: 'ipset'
  /** `iptables-save` output. */
  v4: string
  /** `ip6tables-save` output. */
  v6: string
  /**
   * diswall's chains in the filter table (ruleset chains and the guard chain): what a restore puts back.
   * Absent in rollback files written before it was recorded; the default names are used then.
   */
  chains?: string[]
}

/** One chain of diswall's nft table as it was. */
export interface SavedNftChain {
  name: string
  /** Hook spec of a base chain (`type filter hook input priority filter; policy accept;`); absent for a regular chain. */
  spec?: string
  /** Rules as `nft list chain` prints them. */
  rules: string[]
}

/** The nft side of the firewall: the ruleset chains that existed (absent ones are deleted on restore). */
export interface SavedNftState {
  backend: 'nftables'
  /** Table name (family inet). */
  table: string
  chains: SavedNftChain[]
}

/** What an apply saved before changing anything; JSON-serialisable (the --confirm rollback file holds it). */
export type SavedState = SavedIptablesState | SavedNftState

/** Timeout of one save or restore process, in milliseconds. */
const STATE_TIMEOUT_MS = 120_000

/** The firewall holds something the tools cannot save faithfully, so diswall refuses to change it. */
export class StateCaptureError extends DiswallError {
  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, 'E_STATE_CAPTURE', ExitCode.COMMAND_FAILED, hint, options)
  }
}

/**
 * Reads the current state (no change): `iptables-save` and `ip6tables-save` for the ipset backend, or
 * `nft list chain inet <table> <chain>` for each ruleset chain and the guard chain (absent chains are left out).
 * @throws StateCaptureError when iptables-save reports a table it cannot express (rules written with nft
 * directly), since restoring that dump would lose them; CommandFailedError or MissingDependencyError
 * from the tools.
 */
export async function captureState(backend: RulesetBackend, names: Pick<KernelNames, 'guardChain' | 'table'>,
  exec: Exec = defaultExec): Promise<SavedState> {
  if (backend === 'ipset') {
    const v4 = (await exec('iptables-save', [], {timeoutMs: STATE_TIMEOUT_MS})).stdout
    const v6 = (await exec('ip6tables-save', [], {timeoutMs: STATE_TIMEOUT_MS})).stdout
    for (const [program, dump] of [['iptables-save', v4], ['ip6tables-save', v6]] as const) {
      const table = incompatibleTable(dump)
      if (table !== undefined) {
        throw new StateCaptureError(`${program} cannot save table ${table}: it holds rules written with nft, which a restore would lose`,
          'Use the nftables backend ([firewall] backend = "nftables"), or remove the nft-only rules from that table.')
      }
    }
    return {backend, chains: [...RULESET_CHAIN_NAMES, names.guardChain], v4, v6}
  }

  const chains: SavedNftChain[] = []
  // The guard chain too: loading the ruleset empties it, so a rollback must fill it again.
  for (const name of [...RULESET_CHAIN_NAMES, names.guardChain]) {
    const text = await listNftChain(exec, names.table, name)
    if (text === undefined) continue
    const chain = parseNftChainListing(text)
    if (chain !== undefined) chains.push(chain)
  }
  return {backend, chains, table: names.table}
}

/** The guard chain's name when a saved state does not record its chains (the default of firewall/sets). */
const DEFAULT_GUARD_CHAIN = 'diswall-sets'

/**
 * Puts the saved state back. ipset backend, per family: the current filter table is read again and one
 * `iptables-restore --noflush` transaction puts diswall's chains back as saved, removes the ones that did
 * not exist, and puts the jumps to them back where they were relative to the other rules; chains, rules and
 * tables of other software (fail2ban, Docker, …), including those added since the save, stay as they are.
 * nftables: one `nft -f` transaction that re-creates the saved chains with their rules and deletes the
 * ruleset chains that did not exist; sets are never touched.
 * @throws CommandFailedError when a save or restore program fails.
 */
export async function restoreState(state: SavedState, exec: Exec = defaultExec): Promise<void> {
  if (state.backend === 'ipset') {
    const ours = state.chains ?? [...RULESET_CHAIN_NAMES, DEFAULT_GUARD_CHAIN]
    for (const family of [4, 6] as const) {
      const tool = family === 4 ? 'iptables' : 'ip6tables'
      const current = (await exec(`${tool}-save`, [], {timeoutMs: STATE_TIMEOUT_MS})).stdout
      const saved = parseIptablesSave(family === 4 ? state.v4 : state.v6).get('filter')
      const lines = planIptablesRestore(saved, parseIptablesSave(current).get('filter'), ours)
      if (lines.length === 0) continue
      await exec(`${tool}-restore`, ['--noflush'], {input: ['*filter', ...lines, 'COMMIT', ''].join('\n'), timeoutMs: STATE_TIMEOUT_MS})
    }
    return
  }
  await exec('nft', ['-f', '-'], {input: renderNftRestore(state), timeoutMs: STATE_TIMEOUT_MS})
}

/** `nft list chain inet TABLE NAME`, or undefined when the chain (or the table) does not exist. */
export async function listNftChain(exec: Exec, table: string, name: string): Promise<string | undefined> {
  try {
    return (await exec('nft', ['list', 'chain', 'inet', table, name], {timeoutMs: STATE_TIMEOUT_MS})).stdout
  } catch (error) {
    if (error instanceof CommandFailedError && /No such file or directory/.test(error.stderr)) return undefined
    throw error
  }
}

// ---- pure helpers ----

/** One table of an iptables-save dump. */
export interface IptablesTable {
  name: string
  /** Chains in dump order, with their policy (`-` for user chains). */
  chains: Map<string, string>
  /** `-A` lines in order, split into chain and specification. */
  rules: Array<{chain: string; spec: string}>
}

/** Parses `iptables-save` (or `iptables -S`-like `-A` lines inside `*table … COMMIT`) output. Pure. */
export function parseIptablesSave(text: string): Map<string, IptablesTable> {
  const tables = new Map<string, IptablesTable>()
  let current: IptablesTable | undefined
  for (const raw of text.split('\n')) {
    const line = raw.trimEnd()
    if (line === '' || line.startsWith('#')) continue
    if (line.startsWith('*')) {
      current = {chains: new Map(), name: line.slice(1), rules: []}
      tables.set(current.name, current)
      continue
    }
    if (current === undefined) continue
    if (line === 'COMMIT') {
      current = undefined
      continue
    }
    const chain = line.match(/^:(\S+) (\S+)/)
    if (chain) {
      current.chains.set(chain[1], chain[2])
      continue
    }
    const rule = line.match(/^-A (\S+)(?: (.*))?$/)
    if (rule) current.rules.push({chain: rule[1], spec: rule[2] ?? ''})
  }
  return tables
}

/** The table iptables-save marks as incompatible (`# Table `filter' is incompatible, use 'nft' tool.`), if any. */
export function incompatibleTable(dump: string): string | undefined {
  return dump.match(/^# Table `([^']+)' is incompatible/m)?.[1]
}

/** Whether an iptables rule specification jumps (`-j`) or goes (`-g`) to one of `chains`. */
export function isJumpTo(spec: string, chains: ReadonlySet<string>): boolean {
  const match = /(?:^| )-[jg] (\S+)(?: |$)/.exec(spec)
  return match !== null && chains.has(match[1])
}

/**
 * The `iptables-restore --noflush` lines (table filter) that turn the `current` filter table back into
 * `saved` for diswall's chains (`ours`) only. Pure. In order:
 * 1. every rule of another chain that jumps to one of ours is deleted (`-D`);
 * 2. each of ours that was saved is declared, which in --noflush mode creates or flushes it;
 * 3. each of ours that exists now but was not saved is flushed and deleted (nothing jumps to it any more);
 * 4. the saved rules of ours are appended;
 * 5. the saved jumps from other chains are inserted back at their place among the rules that were around
 *    them then and still exist (a rule added since, such as a fail2ban jump, keeps its place too).
 * Rules of other chains that do not jump to ours are never touched.
 */
export function planIptablesRestore(saved: IptablesTable | undefined, current: IptablesTable | undefined,
  ours: readonly string[]): string[] {
  const mine = new Set(ours)
  const lines: string[] = []
  const foreign = (table: IptablesTable | undefined) => (table?.rules ?? []).filter((r) => !mine.has(r.chain))
  for (const {chain, spec} of foreign(current)) if (isJumpTo(spec, mine)) lines.push(`-D ${chain} ${spec}`)
  const savedChains = ours.filter((name) => saved?.chains.has(name))
  for (const name of savedChains) lines.push(`:${name} - [0:0]`)
  for (const name of ours) {
    if (current?.chains.has(name) && !saved?.chains.has(name)) lines.push(`-F ${name}`, `-X ${name}`)
  }
  for (const {chain, spec} of saved?.rules ?? []) if (mine.has(chain)) lines.push(`-A ${chain} ${spec}`)

  // Per chain: walk the saved rules; `kept` is the chain as it is after step 1 (other software's rules).
  const hooks = new Set(foreign(saved).filter((r) => isJumpTo(r.spec, mine)).map((r) => r.chain))
  for (const hook of hooks) {
    const kept = foreign(current).filter((r) => r.chain === hook && !isJumpTo(r.spec, mine)).map((r) => r.spec)
    let cursor = 0
    for (const {chain, spec} of foreign(saved)) {
      if (chain !== hook) continue
      if (isJumpTo(spec, mine)) {
        kept.splice(cursor, 0, spec)
        cursor++
        lines.push(`-I ${hook} ${cursor} ${spec}`)
        continue
      }
      const at = kept.indexOf(spec, cursor)
      if (at !== -1) cursor = at + 1
    }
  }
  return lines
}

/**
 * Parses the output of `nft list chain inet T NAME` into the chain's hook spec and rules. A rule that nft
 * prints over several lines (an open `{`) is joined into one. Returns undefined when there is no chain.
 * Pure.
 */
export function parseNftChainListing(text: string): SavedNftChain | undefined {
  const lines = text.split('\n')
  const start = lines.findIndex((l) => /^\s*chain \S+ \{\s*$/.test(l))
  if (start === -1) return undefined
  const name = lines[start].trim().split(/\s+/)[1].replace(/^"(.*)"$/, '$1')
  const chain: SavedNftChain = {name, rules: []}
  let pending = ''
  for (const raw of lines.slice(start + 1)) {
    const line = raw.trim()
    if (pending === '' && line === '}') break
    if (pending === '' && (line === '' || line.startsWith('#'))) continue
    pending = pending === '' ? line : `${pending} ${line}`
    if (braceDepth(pending) > 0) continue
    if (chain.spec === undefined && chain.rules.length === 0 && /^type \S+ hook /.test(pending)) chain.spec = pending
    // A rule's counter values are state, not rule: `counter packets 5 bytes 300` is the rendered `counter`.
    else chain.rules.push(pending.replaceAll(/\bcounter packets \d+ bytes \d+/g, 'counter'))
    pending = ''
  }
  return chain
}

/** `{` minus `}` outside double-quoted strings. */
function braceDepth(text: string): number {
  let depth = 0
  let quoted = false
  for (const c of text) {
    if (c === '"') quoted = !quoted
    else if (!quoted && c === '{') depth++
    else if (!quoted && c === '}') depth--
  }
  return depth
}

/**
 * The `nft -f` transaction that puts the saved ruleset chains back: every ruleset chain is declared (saved
 * base chains with their hook spec) and flushed, chains that were not saved are deleted (after the flush,
 * so no jump refers to them any more), and the saved rules are added again. Sets stay as they are. Pure.
 */
export function renderNftRestore(state: SavedNftState, chainNames: readonly string[] = RULESET_CHAIN_NAMES): string {
  const t = `inet ${state.table}`
  const saved = new Map(state.chains.map((c) => [c.name, c]))
  const names = [...new Set([...chainNames, ...saved.keys()])]
  const out = [`add table ${t}`]
  for (const name of names) {
    const spec = saved.get(name)?.spec
    out.push(spec === undefined ? `add chain ${t} ${name}` : `add chain ${t} ${name} { ${spec} }`)
  }
  for (const name of names) out.push(`flush chain ${t} ${name}`)
  for (const name of names) if (!saved.has(name)) out.push(`delete chain ${t} ${name}`)
  for (const chain of state.chains) for (const rule of chain.rules) out.push(`add rule ${t} ${chain.name} ${rule}`)
  return out.join('\n') + '\n'
}
