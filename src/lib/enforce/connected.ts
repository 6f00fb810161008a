/**
 * Which banned addresses have anything to cut: a flow in the conntrack table, or a TCP socket in the
 * socket tables of /proc/net. Most bans (a scanner's SYN to a closed port here, any ban another host
 * reports) have neither, and then the connection kill needs no process at all: `ss -K` and two
 * `conntrack -D` per address cost ~3 ms of CPU each to start, which on a 2-vCPU host running 16
 * daemons delayed the next kernel write of every other ban.
 */
import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'

import type {Address} from '../net/index.js'
import {parseProcNetEndpoint, PROC_NET_TABLES, procNetSockets, TCP_LISTEN} from './host-facts.js'

/** The conntrack table of the reading process's network namespace (CONFIG_NF_CONNTRACK_PROCFS). */
export const PROC_CONNTRACK = '/proc/net/nf_conntrack'
/** Its number of flows: read first, so that a huge table is never read for a kill. */
export const PROC_CONNTRACK_COUNT = '/proc/sys/net/netfilter/nf_conntrack_count'
/**
 * Largest conntrack table read to look for flows (~150 bytes a flow: 3 MB). Past it the kill runs
 * `conntrack -D` for the addresses as before: one read of a gateway's 500k flows would cost more.
 */
export const CONNTRACK_READ_MAX_FLOWS = 20_000

/** What the tables say about a batch of addresses (address texts). */
export interface ConnectedReport {
  /** Addresses with a TCP socket (any state but LISTEN) whose peer they are. */
  sockets: Set<string>
  /** Addresses with a conntrack flow in either direction; undefined when the table was not read. */
  flows: Set<string> | undefined
}

/**
 * Reads a file; undefined when it does not exist (no IPv6, no conntrack). `small`: a sysctl of a few
 * bytes, read at once on the main thread instead of in four thread-pool steps. The tables are read on
 * the thread pool: the kernel writes them anew for every read, walking the whole table (nf_conntrack:
 * every hash bucket, ~0.7 ms for 262,144 of them, empty or not).
 */
export type ReadOptional = (path: string, small?: boolean) => string | undefined | Promise<string | undefined>

const absent = (error: unknown): undefined => {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT' || code === 'EACCES') return undefined
  throw error
}

const readOptional: ReadOptional = (path, small = false) => {
  if (!small) return readFile(path, 'utf8').catch(absent)
  try {
    return readFileSync(path, 'utf8')
  } catch (error) {
    return absent(error)
  }
}

/**
 * A {@link ReadOptional} that reads the tables with `readText` (the daemon's helper thread, which
 * reads one in a single step: exec-thread.ts) and the small files at once.
 */
export function readTablesWith(readText: (path: string) => Promise<string | undefined>): ReadOptional {
  return (path, small = false) => (small ? readOptional(path, true) : readText(path))
}

/**
 * Looks `addrs` up in the kernel's tables (file reads off the event loop: libuv's thread pool, or the
 * daemon's helper thread through {@link readTablesWith}; no process).
 *
 * Where conntrack tracks flows in this namespace (its count is above 0, as soon as a rule such as the
 * `established` template uses it), every TCP connection has a flow, so the conntrack table answers for
 * sockets too: reading it costs ~0.05 ms, while /proc/net/tcp and tcp6 walk the kernel's whole
 * (machine-wide) socket hash, ~6 ms of system time each on a 2-vCPU VM, which at one read per ban was
 * most of a remote ban's CPU. Where conntrack tracks nothing, or holds more than
 * {@link CONNTRACK_READ_MAX_FLOWS} flows, the socket tables are read; flows are then none (count 0) or
 * unknown (a large table: `conntrack -D` runs as before). A flow deleted by hand or a connection
 * exempted with NOTRACK is missed. Throws what reading a table throws (the caller then cuts as if all were connected).
 */
export async function findConnected(addrs: readonly Address[], read: ReadOptional = readOptional): Promise<ConnectedReport> {
  const count = Number((await read(PROC_CONNTRACK_COUNT, true))?.trim() ?? Number.NaN)
  if (Number.isInteger(count) && count > 0 && count <= CONNTRACK_READ_MAX_FLOWS) {
    const table = await read(PROC_CONNTRACK)
    if (table !== undefined) {
      const flows = conntrackAddresses(table, addrs)
      return {flows, sockets: flows}
    }
  }
  const wanted = new Set(addrs.map((a) => a.text))
  const sockets = new Set<string>()
  for (const path of PROC_NET_TABLES.tcp) {
    const text = await read(path)
    if (text !== undefined) for (const peer of tcpPeers(text)) if (wanted.has(peer)) sockets.add(peer)
  }
  return {flows: count === 0 ? new Set() : undefined, sockets}
}

/** Peer addresses of the TCP sockets of one /proc/net table (LISTEN sockets have none); IPv4-mapped peers as IPv4. */
export function tcpPeers(text: string): string[] {
  const out: string[] = []
  for (const {remote, state} of procNetSockets(text)) {
    if (state === TCP_LISTEN) continue
    const peer = parseProcNetEndpoint(remote)?.address
    if (peer === undefined) continue
    const mapped = peer.family === 6 ? /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(peer.text)?.[1] : undefined
    out.push(mapped ?? peer.text)
  }
  return out
}

/**
 * The addresses of `addrs` that appear as `src=` or `dst=` in /proc/net/nf_conntrack text (pure). The
 * kernel prints IPv6 addresses in full (%pI6: eight groups of four hex digits).
 */
export function conntrackAddresses(text: string, addrs: readonly Address[]): Set<string> {
  const found = new Set<string>()
  for (const addr of addrs) {
    // An IPv6 text with an embedded IPv4 part is not expanded here: counted as connected, so it is still cut.
    if (addr.text.includes('.') && addr.family === 6) {
      found.add(addr.text)
      continue
    }
    const printed = addr.family === 4 ? addr.text : expandIpv6(addr.text)
    if (text.includes(`src=${printed} `) || text.includes(`dst=${printed} `)) found.add(addr.text)
  }
  return found
}

/** `2001:db8::7` → `2001:0db8:0000:0000:0000:0000:0000:0007` (the address is canonical already). */
function expandIpv6(text: string): string {
  const [head = '', tail] = text.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const groups = tail === undefined ? left : [...left, ...Array.from({length: 8 - left.length - right.length}, () => '0'), ...right]
  return groups.map((g) => g.padStart(4, '0')).join(':')
}
