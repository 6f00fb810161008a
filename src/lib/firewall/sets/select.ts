import {CommandFailedError, MissingDependencyError} from '../../errors.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import type {IpsetSessionFactory} from './ipset-session.js'
import {IpsetBackend} from './ipset.js'
import type {SetLimits} from './ipset.js'
import type {KernelNames} from './names.js'
import type {NftSessionFactory} from './nft-session.js'
import {NftBackend} from './nftables.js'
import type {FirewallBackend} from './types.js'

export type BackendSetting = 'auto' | 'ipset' | 'nftables'

/** The backend that `auto` picked, and why (shown by status and --json). */
export interface BackendChoice {
  backend: 'ipset' | 'nftables'
  reason: string
}

/** Tables that iptables-nft creates; a host with only these is an iptables host. */
const IPTABLES_NFT_TABLES = new Set(['filter', 'nat', 'mangle', 'raw', 'security'])

/**
 * Decides `auto` from what the host runs (pure): nftables when the host has nftables tables of its
 * own (not iptables-nft's, not ours), or when ipset/iptables are missing; ipset + iptables otherwise,
 * as the original DisWall did.
 */
export function chooseBackend(facts: {
  hasIpset: boolean; hasIptables: boolean; hasNft: boolean; nftTables: Array<{family: string; name: string}>; ownTable: string
}): BackendChoice {
  if (!facts.hasNft) return {backend: 'ipset', reason: 'nft is not installed'}
  if (!facts.hasIpset || !facts.hasIptables) return {backend: 'nftables', reason: 'ipset or iptables is not installed'}
  const native = facts.nftTables.filter((t) =>
    !(t.family === 'inet' && t.name === facts.ownTable) &&
    !((t.family === 'ip' || t.family === 'ip6') && IPTABLES_NFT_TABLES.has(t.name)))
  if (native.length > 0) {
    return {backend: 'nftables', reason: `the host uses nftables (table ${native[0].family} ${native[0].name})`}
  }

  return {backend: 'ipset', reason: 'no native nftables ruleset found'}
}

/** Looks at the host (through `exec`) and resolves the `[firewall] backend` setting. */
export async function resolveBackend(setting: BackendSetting, ownTable: string, exec: Exec = defaultExec): Promise<BackendChoice> {
  if (setting !== 'auto') return {backend: setting, reason: 'set in the config'}
  const works = async (program: string, args: string[]): Promise<string | undefined> => {
    try {
      return (await exec(program, args)).stdout
    } catch (error) {
      if (error instanceof MissingDependencyError || error instanceof CommandFailedError) return undefined
      throw error
    }
  }

  // Tables are read from their chains: nft 1.0.6 `list tables` fetches every set element first
  // (6 s at 300k bans); `-t list chains` does not. A table without chains filters nothing anyway.
  const chains = await works('nft', ['-t', '-j', 'list', 'chains'])
  const nftTables = chains === undefined ? [] : tablesOfChains(chains)
  return chooseBackend({
    hasIpset: (await works('ipset', ['version'])) !== undefined,
    hasIptables: (await works('iptables', ['--version'])) !== undefined,
    hasNft: chains !== undefined,
    nftTables,
    ownTable,
  })
}

/** Session factories per backend, for processes that must run elsewhere (tests, benchmarks in a namespace). */
export interface SessionFactories {
  ipset?: IpsetSessionFactory
  nftables?: NftSessionFactory
}

/** Options of {@link createBackend}. */
export interface BackendOptions {
  /**
   * Small commits through a persistent process: `ipset -exist -` (see IpsetBackendOptions) or `nft -i`
   * (see NftBackendOptions). `true` runs it in this network namespace (default exec only); factories
   * make it elsewhere, the one of the backend created is used (none given: no session). Off by default.
   */
  session?: boolean | SessionFactories
}

/**
 * Creates the backend object (no kernel change until init()/commit()). Call close() when done if
 * `options.session` is on. Throws TypeError for `session: true` with a custom exec.
 */
export function createBackend(kind: 'ipset' | 'nftables', names: KernelNames, limits: SetLimits, exec: Exec = defaultExec,
  {session = false}: BackendOptions = {}): FirewallBackend {
  if (kind === 'ipset') return new IpsetBackend(names, limits, exec, {session: typeof session === 'boolean' ? session : session.ipset ?? false})
  return new NftBackend(names, limits, exec, {session: typeof session === 'boolean' ? session : session.nftables ?? false})
}

/** Distinct (family, table) pairs of `nft -t -j list chains` output (pure). */
export function tablesOfChains(json: string): Array<{family: string; name: string}> {
  const seen = new Map<string, {family: string; name: string}>()
  for (const item of (JSON.parse(json) as {nftables?: Array<{chain?: {family: string; table: string}}>}).nftables ?? []) {
    if (item.chain) seen.set(`${item.chain.family} ${item.chain.table}`, {family: item.chain.family, name: item.chain.table})
  }

  return [...seen.values()]
}
