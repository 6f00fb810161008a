/**
 * The peer sets of a ruleset in the kernel (see PEER_SET_THRESHOLD in normalise.ts): ipset `hash:net`
 * sets created before the iptables transactions that use them, and the removal of the ones no rule
 * needs any more, for both backends (the nft file declares its own sets, see render-nft.ts).
 *
 * A set's name is derived from its content, so a set that exists already holds the right networks and
 * is never changed while rules use it. An apply creates the sets it lacks (each filled under a staging
 * name and renamed, so it never exists half-filled), loads the rules, and afterwards removes the peer
 * sets that neither the new rules nor the saved previous rules use: a rollback, now or by
 * `apply --confirm`, finds the sets of the rules it puts back.
 */
import type {Exec} from '../../system/index.js'
import {IPSET_MAX_NAME} from '../sets/index.js'
import {PEER_SET_PREFIX} from './normalise.js'
import type {PeerSet} from './normalise.js'
import type {RulesetBackend, SavedState} from './state.js'

/** Timeout of one ipset or nft run, in milliseconds (100,000 networks load in ~2 s). */
const PEER_SET_TIMEOUT_MS = 120_000

/** Suffix of a peer set while it is filled (`ipset rename` makes it visible whole). */
const FILLING_SUFFIX = '-t'

/** Sizes of a `hash:net` set: at least the ipset default, and room for every network. */
const IPSET_MIN_MAXELEM = 65_536

/**
 * The `ipset restore` script that creates the sets of `sets` that are not in `existing` (names of
 * `ipset list -n`): a leftover staging set is destroyed, the set is created under its staging name,
 * filled, and renamed. Empty when every set exists. Pure.
 */
export function planIpsetPeerSets(sets: readonly PeerSet[], existing: ReadonlySet<string>): string {
  const lines: string[] = []
  for (const set of sets) {
    if (existing.has(set.name)) continue
    const staging = `${set.name}${FILLING_SUFFIX}`
    if (staging.length > IPSET_MAX_NAME) throw new Error(`peer set name ${staging} is longer than ${IPSET_MAX_NAME} characters`)
    if (existing.has(staging)) lines.push(`destroy ${staging}`)
    lines.push(`create ${staging} hash:net family ${set.family === 4 ? 'inet' : 'inet6'} maxelem ${Math.max(IPSET_MIN_MAXELEM, set.networks.length)}`)
    for (const net of set.networks) lines.push(`add ${staging} ${net}`)
    lines.push(`rename ${staging} ${set.name}`)
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n'
}

/** Creates the ipset peer sets that do not exist yet, in one `ipset restore`. */
export async function createIpsetPeerSets(sets: readonly PeerSet[], exec: Exec): Promise<void> {
  if (sets.length === 0) return
  const script = planIpsetPeerSets(sets, await listPeerSets('ipset', '', exec))
  if (script !== '') await exec('ipset', ['restore'], {input: script, timeoutMs: PEER_SET_TIMEOUT_MS})
}

/** The peer set names (and staging names) that exist: `ipset list -n`, or the sets of the nft table. */
export async function listPeerSets(backend: RulesetBackend, table: string, exec: Exec): Promise<Set<string>> {
  if (backend === 'ipset') {
    const out = (await exec('ipset', ['list', '-n'], {timeoutMs: PEER_SET_TIMEOUT_MS})).stdout
    return new Set(out.split('\n').map((l) => l.trim()).filter((n) => n.startsWith(PEER_SET_PREFIX)))
  }
  // `-t list sets`, not `list table`: nft 1.0.6 fetches every element of every set of a listed table,
  // even with -t, and the block sets may hold a million.
  const out = (await exec('nft', ['-t', 'list', 'sets', 'inet'], {timeoutMs: PEER_SET_TIMEOUT_MS})).stdout
  return new Set(nftSetNames(out, table).filter((n) => n.startsWith(PEER_SET_PREFIX)))
}

/** The names of the sets of table `inet TABLE` in the output of `nft -t list sets inet`. Pure. */
export function nftSetNames(listing: string, table: string): string[] {
  const names: string[] = []
  let current: string | undefined
  for (const line of listing.split('\n')) {
    const tableLine = /^table inet (\S+) \{/.exec(line)
    if (tableLine) current = tableLine[1].replace(/^"(.*)"$/, '$1')
    const setLine = /^\s+set (\S+) \{/.exec(line)
    if (setLine && current === table) names.push(setLine[1].replace(/^"(.*)"$/, '$1'))
  }
  return names
}

/** The peer sets the rules of a saved state use (`--match-set NAME`, `@NAME`). Pure. */
export function peerSetsInState(state: SavedState): Set<string> {
  const text = state.backend === 'ipset' ? `${state.v4}\n${state.v6}` : state.chains.flatMap((c) => c.rules).join('\n')
  const re = new RegExp(`(?:--match-set |@)(${PEER_SET_PREFIX}[0-9a-f-]+)`, 'g')
  return new Set([...text.matchAll(re)].map((m) => m[1]))
}

/**
 * Removes the peer sets (and leftover staging sets) that are not in `keep`: one `ipset restore` of
 * `destroy` lines, or one `nft -f` of `delete set`. Returns the names removed. A set some other rule
 * still uses makes the tool fail (CommandFailedError), and nothing is removed.
 */
export async function removePeerSets(backend: RulesetBackend, table: string, keep: ReadonlySet<string>, exec: Exec): Promise<string[]> {
  const unused = [...await listPeerSets(backend, table, exec)].filter((name) => !keep.has(name)).sort()
  if (unused.length === 0) return []
  if (backend === 'ipset') {
    await exec('ipset', ['restore'], {input: unused.map((n) => `destroy ${n}`).join('\n') + '\n', timeoutMs: PEER_SET_TIMEOUT_MS})
  } else {
    await exec('nft', ['-f', '-'], {input: unused.map((n) => `delete set inet ${table} ${n}`).join('\n') + '\n', timeoutMs: PEER_SET_TIMEOUT_MS})
  }
  return unused
}
