/**
 * Packet and byte counters of the rules that make the sets effective: what the block sets dropped and
 * what the allow sets accepted, summed over both families, over the guard chain (`diswall-sets`) and the
 * ruleset's input chain (`diswall-in`), as the kernel counted them since those rules were made. Read
 * for the hourly statistics, never on the ban path.
 */
import {CommandFailedError} from '../../errors.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import {nftBlock6Sets, RULESET_CHAINS} from './names.js'
import type {KernelNames} from './names.js'

/** Cumulative counters of the set rules. */
export interface SetCounters {
  packetsDropped: number
  bytesDropped: number
  packetsAccepted: number
  bytesAccepted: number
}

/**
 * How iptables says a chain is missing: iptables-legacy "No chain/target/match by that name"; iptables-nft
 * 1.8.9 "chain `X' in table `filter' is incompatible, use 'nft' tool" (also for a chain that is absent).
 */
const IPTABLES_NO_CHAIN = /No chain\/target\/match|does not exist|is incompatible/

/** No packets counted. */
export const ZERO_COUNTERS: SetCounters = {bytesAccepted: 0, bytesDropped: 0, packetsAccepted: 0, packetsDropped: 0}

/**
 * nft 1.0.6 fetches every set element for any listing of a chain or counter (seconds at 200k bans),
 * so the hourly read gets a long time limit; it runs in its own process, beside the daemon.
 */
const READ_TIMEOUT_MS = 300_000

/**
 * Reads the counters of the set rules: `iptables -nvxL CHAIN` and `ip6tables …` (ipset backend; every
 * iptables rule counts), or `nft -t -j list chain` (nftables; the rules carry a `counter`). A chain that
 * does not exist counts nothing. Throws CommandFailedError when a program fails otherwise.
 */
export async function readSetCounters(backend: 'ipset' | 'nftables', names: KernelNames, exec: Exec = defaultExec): Promise<SetCounters> {
  const total = {...ZERO_COUNTERS}
  const chains = [names.guardChain, RULESET_CHAINS.in]
  for (const chain of chains) {
    const parts = backend === 'ipset'
      ? await Promise.all(['iptables', 'ip6tables'].map(async (tool) => parseIptablesCounters(await readMissingAsEmpty(exec, tool,
        ['-w', '-n', '-v', '-x', '-L', chain], IPTABLES_NO_CHAIN), names)))
      : [parseNftCounters(await readMissingAsEmpty(exec, 'nft', ['-t', '-j', 'list', 'chain', 'inet', names.table, chain],
        /No such file or directory/), names)]
    for (const part of parts) addCounters(total, part)
  }
  return total
}

async function readMissingAsEmpty(exec: Exec, program: string, args: string[], missing: RegExp): Promise<string> {
  try {
    return (await exec(program, args, {timeoutMs: READ_TIMEOUT_MS})).stdout
  } catch (error) {
    if (error instanceof CommandFailedError && missing.test(error.stderr)) return ''
    throw error
  }
}

function addCounters(into: SetCounters, more: SetCounters): void {
  into.packetsDropped += more.packetsDropped
  into.bytesDropped += more.bytesDropped
  into.packetsAccepted += more.packetsAccepted
  into.bytesAccepted += more.bytesAccepted
}

/**
 * Sums `iptables -n -v -x -L CHAIN` output (pure): DROP rules matching a block set by source, ACCEPT
 * rules matching an allow set by source. Lines look like
 * `      5      300 DROP       0    --  *      *       0.0.0.0/0   0.0.0.0/0   match-set diswall-bl src`.
 */
export function parseIptablesCounters(text: string, names: KernelNames): SetCounters {
  const total = {...ZERO_COUNTERS}
  const block = new Set([names.block.v4, names.block.v6])
  const allow = new Set([names.allow.v4, names.allow.v6])
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(DROP|ACCEPT)\s.*\smatch-set (\S+) src(?:\s|$)/.exec(line)
    if (m === null) continue
    const [, packets, bytes, target, set] = m
    if (target === 'DROP' && block.has(set!)) {
      total.packetsDropped += Number(packets)
      total.bytesDropped += Number(bytes)
    } else if (target === 'ACCEPT' && allow.has(set!)) {
      total.packetsAccepted += Number(packets)
      total.bytesAccepted += Number(bytes)
    }
  }
  return total
}

interface NftPayload {
  payload?: {field?: string}
}

/** A match's left side: `ip6 saddr & MASK == @SET` (the IPv6 prefix set) has the payload inside a binary `&`. */
type NftLeft = NftPayload & {'&'?: [NftPayload, unknown]}

interface NftExpr {
  match?: {left?: NftLeft; right?: unknown}
  counter?: {packets?: number; bytes?: number}
  drop?: null
  accept?: null
}

/**
 * Sums the counters of `nft -j list chain` output (pure): rules `ip[6] saddr @BLOCKSET counter drop` and
 * `… @ALLOWSET counter accept`. Rules without a counter count nothing.
 */
export function parseNftCounters(json: string, names: KernelNames): SetCounters {
  const total = {...ZERO_COUNTERS}
  if (json.trim() === '') return total
  const doc = JSON.parse(json) as {nftables?: Array<{rule?: {expr?: NftExpr[]}}>}
  const six = nftBlock6Sets(names)
  const block = new Set([names.block.v4, six.other, six.host, ...six.net === undefined ? [] : [six.net]].map((name) => `@${name}`))
  const allow = new Set([`@${names.allow.v4}`, `@${names.allow.v6}`])
  const isSaddr = (left: NftLeft | undefined): boolean =>
    (left?.payload ?? left?.['&']?.[0]?.payload)?.field === 'saddr'
  for (const item of doc.nftables ?? []) {
    const expr = item.rule?.expr ?? []
    const set = expr.find((e) => isSaddr(e.match?.left) && typeof e.match?.right === 'string')?.match?.right as string | undefined
    const counter = expr.find((e) => e.counter !== undefined)?.counter
    if (set === undefined || counter === undefined) continue
    if (block.has(set) && expr.some((e) => 'drop' in e)) {
      total.packetsDropped += counter.packets ?? 0
      total.bytesDropped += counter.bytes ?? 0
    } else if (allow.has(set) && expr.some((e) => 'accept' in e)) {
      total.packetsAccepted += counter.packets ?? 0
      total.bytesAccepted += counter.bytes ?? 0
    }
  }
  return total
}
