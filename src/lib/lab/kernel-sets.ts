/**
 * Reads diswall's kernel sets inside a lab namespace with the tools themselves (`ipset save`,
 * `ipset list -t`, `nft -j list set`), independently of the parsers under test, so integration tests
 * assert on what the kernel really holds.
 */
import {LabError} from './errors.js'
import type {Netns} from './netns.js'
import {waitFor} from './wait.js'

/** The two kernel set backends of diswall. */
export type SetBackendKind = 'ipset' | 'nftables'

/** One element of a kernel set as the tool prints it. */
export interface KernelSetEntry {
  /** Address or network as printed (`198.51.100.2`, `2001:db8::/64`). */
  target: string
  /** Remaining seconds (ipset `timeout`, nft `expires`); undefined when the element never expires. */
  expiresSec?: number
  comment?: string
}

/** The nft table diswall owns by default (family inet). */
export const DEFAULT_NFT_TABLE = 'diswall'

/**
 * The elements of one set inside `netns`, keyed by their text: `ipset save SET` for the ipset backend,
 * `nft -j list set inet TABLE SET` for nftables. On nftables the IPv6 block list is the set SET and its
 * companions `SET-addr` and `SET-net<P>` (whose elements are network addresses of length P, keyed here
 * as `ADDR/P`): reading SET reads all of them where they exist. Throws CommandFailedError when the set
 * does not exist.
 */
export async function readKernelSet(netns: Netns, backend: SetBackendKind, set: string,
  table = DEFAULT_NFT_TABLE): Promise<Map<string, KernelSetEntry>> {
  if (backend === 'ipset') {
    const entries = parseIpsetSaveLines(await netns.run('ipset', ['save', set], {timeoutMs: 120_000}), set)
    return new Map(entries.map((e) => [e.target, e]))
  }

  const listSet = async (name: string): Promise<KernelSetEntry[]> =>
    parseNftSetJson(await netns.run('nft', ['-j', 'list', 'set', 'inet', table, name], {timeoutMs: 300_000}))
  const entries = await listSet(set)
  const headers = JSON.parse(await netns.run('nft', ['-t', '-j', 'list', 'sets', 'inet'])) as {nftables: Array<{set?: {name: string; table: string}}>}
  for (const item of headers.nftables) {
    if (item.set?.table !== table) continue
    const name = item.set.name
    const prefix = name.startsWith(`${set}-net`) ? /^\d+$/.exec(name.slice(set.length + 4))?.[0] : undefined
    // Loops, not push(...): spreading ~125k elements or more overflows V8's stack.
    if (name === `${set}-addr`) for (const e of await listSet(name)) entries.push(e)
    else if (prefix !== undefined) for (const e of await listSet(name)) entries.push({...e, target: `${e.target}/${prefix}`})
  }

  return new Map(entries.map((e) => [e.target, e]))
}

/**
 * Number of elements of one set inside `netns`: the `Number of entries` header of `ipset list -t` (no
 * listing), or the distinct elements of the nft JSON listing (nft 1.0.6 has no cheaper way; ~70 s per 1M
 * elements). Right after a bulk insert an nft listing can be incomplete: see {@link waitForKernelSetCount}.
 */
export async function countKernelSet(netns: Netns, backend: SetBackendKind, set: string, table = DEFAULT_NFT_TABLE): Promise<number> {
  if (backend === 'nftables') return (await readKernelSet(netns, backend, set, table)).size
  const header = await netns.run('ipset', ['list', '-t', set])
  const m = header.match(/^Number of entries: (\d+)$/m)
  if (!m) throw new LabError(`no "Number of entries" in ipset list -t ${set}:\n${header}`)
  return Number(m[1])
}

/**
 * Polls {@link countKernelSet} until the set holds `expected` elements and returns how long that took,
 * in milliseconds. Needed for nftables after a bulk insert: while the kernel still resizes the set's
 * hash table (deferred, up to a few seconds after 100k+ inserts), a listing repeats some elements and
 * leaves out others (seen on 6.18 with nft 1.0.6: 150,000 listed, ~146,000 distinct). Throws
 * LabError naming the last count (its cause is the WaitTimeoutError).
 */
export async function waitForKernelSetCount(netns: Netns, backend: SetBackendKind, set: string, expected: number,
  {table = DEFAULT_NFT_TABLE, timeoutMs = 30_000}: {table?: string; timeoutMs?: number} = {}): Promise<number> {
  const started = performance.now()
  let last: number | undefined
  await waitFor(async () => (last = await countKernelSet(netns, backend, set, table)) === expected, {
    intervalMs: 250,
    timeoutMs,
    what: `${expected} elements in ${set} (${backend})`,
  }).catch((error: unknown) => {
    throw new LabError(`${(error as Error).message}; last count: ${last}`, {cause: error})
  })
  return performance.now() - started
}

/** `add SET ENTRY [timeout N] [… comment "TEXT"]` lines of `ipset save` (pure). */
export function parseIpsetSaveLines(text: string, set: string): KernelSetEntry[] {
  const out: KernelSetEntry[] = []
  for (const line of text.split('\n')) {
    const m = line.match(/^add (\S+) (\S+)(.*)$/)
    if (!m || m[1] !== set) continue
    const timeout = m[3]!.match(/ timeout (\d+)/)?.[1]
    const comment = m[3]!.match(/ comment "((?:[^"\\]|\\.)*)"/)?.[1]
    out.push({
      target: m[2]!,
      ...(timeout === undefined || timeout === '0' ? {} : {expiresSec: Number(timeout)}),
      ...(comment === undefined ? {} : {comment}),
    })
  }

  return out
}

type NftValue = string | {prefix: {addr: string; len: number}} | {range: [string, string]}

/** The elements of the set in `nft -j list set` output (pure). */
export function parseNftSetJson(json: string): KernelSetEntry[] {
  const doc = JSON.parse(json) as {nftables: Array<{set?: {elem?: unknown[]}}>}
  const out: KernelSetEntry[] = []
  for (const item of doc.nftables) {
    for (const raw of item.set?.elem ?? []) {
      const wrapped = typeof raw === 'object' && raw !== null && 'elem' in raw
      const elem = wrapped ? (raw as {elem: {val: NftValue; expires?: number; comment?: string}}).elem : undefined
      const val = (elem ? elem.val : raw) as NftValue
      let target: string
      if (typeof val === 'string') target = val
      else if ('prefix' in val) target = `${val.prefix.addr}/${val.prefix.len}`
      else target = `${val.range[0]}-${val.range[1]}`
      out.push({
        target,
        ...(elem?.expires === undefined ? {} : {expiresSec: elem.expires}),
        ...(elem?.comment === undefined ? {} : {comment: elem.comment}),
      })
    }
  }

  return out
}
