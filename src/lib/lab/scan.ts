/**
 * A wide scan for tests and benchmarks: many source addresses on one veth of an attacker namespace,
 * each sending one TCP SYN to a port of a victim inside the test's own namespaces, spread evenly over
 * a time window. One `node -e` process sends them all (no process per address). And the whole run
 * against `diswall daemon` that the integration test and the bench (P10) share: {@link scanLabDaemon}.
 */
import {setTimeout as sleep} from 'node:timers/promises'

import {DEFAULT_NAMES} from '../firewall/sets/index.js'
import {applyLabFirewall, type LabCli, startLabDaemon, writeLabHost} from './daemon.js'
import {countKernelSet, readKernelSet, type SetBackendKind} from './kernel-sets.js'
import type {Netns, VethPair} from './netns.js'

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

/** Options of {@link scanLabDaemon}. */
export interface DaemonScanOptions {
  victim: Netns
  attacker: Netns
  /** The veth between them: end `a` in the victim, `b` in the attacker (the scan sources go on `b`). */
  link: VethPair
  cli: LabCli
  /** Where the victim's firewall directory, config and state go. */
  dir: string
  backend: SetBackendKind
  source: 'kmsg' | 'nflog'
  logPrefix: string
  /** How many scan sources, each sending one SYN. */
  count: number
  /** The window the SYNs are spread over, ms. */
  spreadMs: number
  /** A closed port of the victim. */
  port: number
  /** How long after the last SYN to wait for every ban, ms. */
  giveUpMs: number
  /** Also read how many log records the source lost (`diswall status`) before the daemon stops. */
  countLost?: boolean
}

/** What {@link scanLabDaemon} saw. */
export interface DaemonScanResult {
  scan: ScanReport
  sources: string[]
  /** Entries of the block set when the wait ended: all `count`, or fewer at `giveUpMs`. */
  banned: number
  /** When the wait ended (Date.now()): the poll that saw every source banned, or the give-up time. */
  doneMs: number
  /** Scan sources not in the block set at the end, and every entry of the set that is not a scan source. */
  missing: string[]
  others: string[]
  /** Log records the source lost, summed over its health (with `countLost`; undefined when not reported). */
  lost?: number
  /** The end of the daemon's output, for failure messages. */
  output: string
}

/**
 * A SYN scan against `diswall daemon`: puts the scan sources on the attacker and a route to them on
 * the victim, writes the victim's files (the ruleset logs with the `log` template what nothing allowed
 * and drops it; no pattern files; no snapshots), applies the ruleset, starts the daemon
 * (`--local-only`), scans, and counts the IPv4 block set every ~50 ms until every source is banned or
 * `giveUpMs` after the last SYN. The daemon is stopped before it returns.
 */
export async function scanLabDaemon(options: DaemonScanOptions): Promise<DaemonScanResult> {
  const {attacker, backend, cli, count, link, victim} = options
  const sources = await addScanSources(attacker, link.b.ifname, count)
  await victim.run('ip', ['route', 'add', SCAN_SOURCES_NETWORK, 'via', link.b.ipv4])
  const host = writeLabHost({
    config: {
      local_only: true,
      firewall: {backend},
      detect: {log_prefix: options.logPrefix, nflog_group: 7, source: options.source},
      daemon: {snapshot_interval: '0s'},
    },
    dir: options.dir,
    firewall: ['incoming.d/00-established', 'incoming.d/90-log', 'incoming.d/99-drop', 'outgoing.d/00-accept', 'patterns.d/'],
  })
  await applyLabFirewall(victim, cli, host.config)
  const daemon = await startLabDaemon({args: ['--local-only'], cli, config: host.config, netns: victim, timeoutMs: 60_000})
  try {
    const set = DEFAULT_NAMES.block.v4
    const scan = await synScan(attacker, {host: link.a.ipv4, port: options.port, sources, spreadMs: options.spreadMs})
    let banned = 0
    while ((banned = await countKernelSet(victim, backend, set)) < count && Date.now() < scan.lastMs + options.giveUpMs) await sleep(50)
    const doneMs = Date.now()
    const inSet = await readKernelSet(victim, backend, set)
    const scanned = new Set(sources)
    const lost = options.countLost ? await countLostRecords(victim, cli, host.config) : undefined
    const {stderr, stdout} = daemon.output()
    return {
      banned,
      doneMs,
      missing: sources.filter((a) => !inSet.has(a)),
      others: [...inSet.keys()].filter((a) => !scanned.has(a)),
      output: `${stdout.slice(-2000)}${stderr.slice(-2000)}`,
      scan,
      sources,
      ...(lost === undefined ? {} : {lost}),
    }
  } finally {
    await daemon.stop(10_000)
  }
}

/** Log records the daemon's sources lost (the kmsg ring overwritten before they were read), from `diswall status`. */
async function countLostRecords(victim: Netns, cli: LabCli, config: string): Promise<number | undefined> {
  const status = await victim.run(process.execPath, [...cli, 'status', '--json', '-c', config], {env: {NO_COLOR: '1'}, timeoutMs: 60_000}).catch(() => '')
  const counts = [...status.matchAll(/"lost":\s*(\d+)/g)].map((m) => Number(m[1]))
  return counts.length === 0 ? undefined : counts.reduce((a, b) => a + b, 0)
}
