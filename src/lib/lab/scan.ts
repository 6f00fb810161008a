/**
 * A wide scan for tests and benchmarks: many source addresses on one veth of an attacker namespace,
 * each sending one TCP SYN to a port of a victim inside the test's own namespaces, spread evenly over
 * a time window. One `node -e` process sends them all (no process per address).
 */
import type {Netns} from './netns.js'

/**
 * The `index`-th scan source: 198.19.128.0/17 (the upper half of the benchmarking range of RFC 2544,
 * which the bench's veth links leave alone), from 198.19.128.1 on, skipping .0 and .255 of every /24.
 * Distinct for indexes below {@link MAX_SCAN_SOURCES}. Pure.
 */
export function scanSource(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= MAX_SCAN_SOURCES) throw new RangeError(`scan source ${index} is out of range`)
  return `198.19.${128 + Math.floor(index / 254)}.${(index % 254) + 1}`
}

/** How many distinct scan sources there are. */
export const MAX_SCAN_SOURCES = 128 * 254

/** The network all scan sources are in (for a route on the victim). */
export const SCAN_SOURCES_NETWORK = '198.19.128.0/17'

/**
 * argv[1] = JSON {host, port, sources, spreadMs}: one connect() per source (bound to it) at its slot of
 * the window; the kernel sends the SYN inside connect(), so the socket is closed 100 ms later without
 * waiting for an answer (a SYN_SENT socket closes silently). Prints JSON {sent, firstMs, lastMs} with
 * the wall-clock times (Date.now()) of the first and last connect(), and the errors seen.
 */
const SYN_SCAN_SCRIPT = `
const net = require('node:net')
const {host, port, sources, spreadMs} = JSON.parse(process.argv[1])
const start = Date.now()
let sent = 0, firstMs = 0, lastMs = 0
const errors = {}
const tick = () => {
  const due = spreadMs <= 0 ? sources.length : Math.min(sources.length, Math.floor(((Date.now() - start) / spreadMs) * sources.length) + 1)
  while (sent < due) {
    const socket = net.connect({host, port, localAddress: sources[sent]})
    socket.on('error', (e) => { errors[e.code] = (errors[e.code] || 0) + 1 })
    setTimeout(() => socket.destroy(), 100)
    if (sent === 0) firstMs = Date.now()
    lastMs = Date.now()
    sent++
  }
  if (sent < sources.length) setImmediate(tick)
  else setTimeout(() => console.log(JSON.stringify({errors, firstMs, lastMs, sent})), 200)
}
tick()
`

/** What {@link synScan} did: how many SYNs, and the wall-clock times (ms since the epoch) of the first and last. */
export interface ScanReport {
  sent: number
  firstMs: number
  lastMs: number
  /** Socket errors by code (a REJECT answers ECONNREFUSED; a DROP gives none before the close). */
  errors: Record<string, number>
}

/**
 * Puts `count` scan sources ({@link scanSource}) on the interface `ifname` of `attacker`, in one
 * `ip -batch`. The victim needs a route to {@link SCAN_SOURCES_NETWORK} through the attacker.
 * @returns the addresses, in order.
 */
export async function addScanSources(attacker: Netns, ifname: string, count: number): Promise<string[]> {
  const sources = Array.from({length: count}, (_, i) => scanSource(i))
  await attacker.run('ip', ['-batch', '-'], {input: sources.map((a) => `addr add ${a}/32 dev ${ifname}`).join('\n') + '\n'})
  return sources
}

/**
 * From `attacker`, one SYN from each of `sources` to `host`:`port`, spread evenly over `spreadMs`
 * (0 = as fast as possible).
 */
export async function synScan(attacker: Netns, {host, port, sources, spreadMs}: {
  host: string; port: number; sources: readonly string[]; spreadMs: number
}): Promise<ScanReport> {
  const stdout = await attacker.run(process.execPath, ['-e', SYN_SCAN_SCRIPT, JSON.stringify({host, port, sources, spreadMs})],
    {timeoutMs: spreadMs + 60_000})
  return JSON.parse(stdout.trim()) as ScanReport
}
