/**
 * P1 of DESIGN.md: probe packet → address blocked locally, through the real `diswall daemon` (started
 * from the TypeScript sources; kmsg or nflog source; ipset or nftables backend) inside a victim namespace whose
 * ruleset (applied with `diswall firewall apply`) logs and drops what nothing allowed.
 *
 * How "blocked" is seen from outside, with one clock: the attacker namespace has `PROBES` addresses
 * (198.19.0.0/16, routed over the veth). For each, one process there
 * 1. checks that the victim's UDP echo port answers it (so it is not blocked yet),
 * 2. sends one UDP datagram to the closed port 23 (the probe; logged by the ruleset), at t0,
 * 3. right after, sends numbered datagrams to the echo port every ~0.2 ms for `WINDOW_MS`,
 * 4. collects the echoes: the first datagram whose echo never came marks the block. The sample is
 *    that datagram's send time − t0: an upper bound, ~0.2 ms coarse.
 * Sends on connected UDP sockets go out synchronously, so the pacing (Atomics.wait) costs no CPU.
 * Probes are paced at ~8/s (a scan, each probe from its own address, inside the window where the kmsg
 * reader polls for 1 s after each record) or 1.3 s apart (each the first packet after a quiet spell,
 * when a blocking /dev/kmsg read waits for the kernel's next timer tick).
 */
import {appendFileSync, createWriteStream, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {finished} from 'node:stream/promises'

import {queryDaemon, traceStages} from '../../src/lib/daemon/index.js'
import type {DaemonStatus, TraceDump} from '../../src/lib/daemon/index.js'
import {enableNetnsLogging, makeTempDir, nthIpv4, startUdpEchoServer, uniqueLogPrefix, waitFor} from '../../src/lib/lab/index.js'
import {assertFreshBuild, RUN_CLI} from '../lib/build.js'
import {withFleet} from '../lib/fleet.js'
import {type BenchResult, result, summarizeLatency, TARGETS} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, secondsSince, type SuiteContext} from '../lib/suite.js'

const PROBES = 250
/** ≥ 200 as P1 asks, at 1.3 s each. */
const QUIET_PROBES = 200
const WINDOW_MS = 40
const ECHO_PORT = 9000
const PROBE_PORT = 23

/** The attacker's measuring script (CommonJS, `node -e`); argv[1] = JSON options; prints JSON samples. */
const PROBE_SCRIPT = String.raw`
const dgram = require('node:dgram')
const {victim, echoPort, probePort, sources, windowMs, paceMs, logFile, logLine} = JSON.parse(process.argv[1])
const {appendFileSync} = require('node:fs')
const pause = new Int32Array(new SharedArrayBuffer(4))
const now = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const open = (from, port) => new Promise((resolve, reject) => {
  const s = dgram.createSocket('udp4')
  s.on('error', reject)
  s.bind({address: from}, () => s.connect(port, victim, () => resolve(s)))
})
async function one(from) {
  const echo = await open(from, echoPort)
  const probe = await open(from, probePort)
  const seen = new Set()
  echo.on('message', (m) => seen.add(Number(String(m))))
  // 1. Not blocked yet: the echo port answers this address.
  echo.send('-1')
  const ready = now()
  while (!seen.has(-1) && now() - ready < 500) await sleep(1)
  if (!seen.has(-1)) return {error: 'the echo port did not answer before the probe'}
  // 2. + 3. The probe, then datagrams every ~0.2 ms (sent synchronously; the loop never yields).
  const sent = []
  // The trigger: the probe datagram, or (P1-log) one failed login line appended to the log file.
  const line = logFile === undefined ? '' : logLine.replace('__IP__', from)
  const t0 = now()
  const at = performance.timeOrigin + performance.now()
  if (logFile === undefined) probe.send('probe')
  else appendFileSync(logFile, line)
  while (now() - t0 < windowMs) {
    echo.send(String(sent.length))
    sent.push(now())
    Atomics.wait(pause, 0, 0, 0.1)
  }
  // 4. Collect the echoes.
  await sleep(50)
  echo.close()
  probe.close()
  const firstLost = sent.findIndex((_, i) => !seen.has(i))
  if (firstLost === -1) return {error: 'not blocked within ' + windowMs + ' ms'}
  for (let i = firstLost; i < sent.length; i++) if (seen.has(i)) return {error: 'an echo came back after the block'}
  return {at, from, ms: sent[firstLost] - t0, sent: sent.length}
}
;(async () => {
  const out = []
  for (const from of sources) {
    const started = now()
    out.push(await one(from))
    const rest = paceMs - (now() - started)
    if (rest > 0) await sleep(rest)
  }
  console.log(JSON.stringify(out))
})()
`

/** One P1 row: backend, packet source, and how far apart the probes are. */
interface LatencyCase {
  id: string
  backend: 'ipset' | 'nftables'
  source: 'kmsg' | 'nflog'
  /** `scan`: 125 ms apart (the kmsg reader polls for 1 s after a record); `quiet`: 1.3 s apart, each the first after a pause. */
  pace: 'quiet' | 'scan'
  /**
   * What bans: `probe`, a datagram to a closed port (P1); `log`, one failed sshd login line appended to
   * an auth.log file the daemon follows, threshold 1 (P1-log, the sshguard comparison of DESIGN.md).
   */
  trigger?: 'log' | 'probe'
}

const CASES: readonly LatencyCase[] = [
  {backend: 'ipset', id: 'p1.ipset.kmsg.scan', pace: 'scan', source: 'kmsg'},
  {backend: 'ipset', id: 'p1.ipset.kmsg.quiet', pace: 'quiet', source: 'kmsg'},
  {backend: 'ipset', id: 'p1.ipset.nflog', pace: 'quiet', source: 'nflog'},
  {backend: 'nftables', id: 'p1.nftables.kmsg.scan', pace: 'scan', source: 'kmsg'},
  {backend: 'nftables', id: 'p1.nftables.nflog', pace: 'quiet', source: 'nflog'},
  {backend: 'ipset', id: 'p1-log.ipset', pace: 'scan', source: 'kmsg', trigger: 'log'},
  {backend: 'nftables', id: 'p1-log.nftables', pace: 'scan', source: 'kmsg', trigger: 'log'},
]

/** The failed login of P1-log, as sshd writes it through syslog; `__IP__` is the attacker's address. */
const AUTH_LOG_LINE = 'Dec  7 06:00:00 victim sshd[4242]: Failed password for root from __IP__ port 40022 ssh2\n'
/** The pattern file of P1-log: that line bans at once (threshold 1, as sshguard was measured). */
const AUTH_LOG_PATTERN = String.raw`sshd\[\d+\]: Failed password for \S+ from __IP__ port \d+ ssh2$`

/** The P1 suite: probe → blocked for each case of {@link CASES}. */
export const daemonSuite: BenchSuite = {
  description: 'P1 probe packet → blocked, through diswall daemon in namespaces (kmsg or nflog source; ipset or nftables); P6 daemon memory',
  name: 'daemon',
  async run(ctx) {
    const out: BenchResult[] = []
    for (const c of CASES) {
      if (ctx.wants(c.id)) out.push(...(await attempt(ctx, c.id, () => measureLatency(ctx, c))))
    }
    if (ctx.wants(MEMORY_ID)) out.push(...(await attempt(ctx, MEMORY_ID, () => measureMemory(ctx))))
    return out
  },
}

async function measureLatency(ctx: SuiteContext, {backend, id, pace, source, trigger = 'probe'}: LatencyCase): Promise<BenchResult> {
  assertFreshBuild('P1 measures the daemon as installed')
  const count = scaled(pace === 'scan' ? PROBES : QUIET_PROBES, ctx.scale, 20)
  const paceMs = pace === 'scan' ? SCAN_PACE_MS : QUIET_PACE_MS
  await enableNetnsLogging()
  return withFleet({hosts: ['victim', 'attacker'], links: [['victim', 'attacker']]}, async (fleet) => {
    const victim = fleet.host('victim')
    const attacker = fleet.host('attacker')
    const link = fleet.link('victim', 'attacker')
    const sources = Array.from({length: count}, (_, i) => `198.19.${(i + 1) >> 8}.${(i + 1) & 255}`)
    await attacker.run('ip', ['-batch', '-'], {input: sources.map((a) => `addr add ${a}/32 dev ${link.b.ifname}`).join('\n') + '\n'})
    await victim.run('ip', ['route', 'add', '198.19.0.0/16', 'via', link.b.ipv4])
    await startUdpEchoServer(victim, ECHO_PORT)

    const temp = makeTempDir('diswall-bench-p1-')
    const base = temp.path
    try {
      const config = writeSetup(base, backend, source)
      const authLog = join(base, 'auth.log')
      if (trigger === 'log') {
        writeFileSync(authLog, '')
        writeFileSync(join(base, 'firewall', 'patterns.d', 'sshd.patterns'), [
          `file = ${authLog}`, 'ports = 22', 'tag = ssh', 'threshold = 1', 'window = 1h', AUTH_LOG_PATTERN, ''].join('\n'))
      }
      const diswall = async (args: string[]): Promise<void> => {
        await victim.run(process.execPath, [RUN_CLI, ...args, '-c', config], {timeoutMs: 120_000})
      }
      await diswall(['firewall', 'apply'])
      // DISWALL_BENCH_TRACE=1: the daemon records the stages of each ban (src/lib/daemon/trace.ts), shown in the notes.
      const traceFile = process.env.DISWALL_BENCH_TRACE === '1' ? join(base, 'trace.json') : undefined
      const daemon = victim.spawn(process.execPath, [RUN_CLI, 'daemon', '--local-only', '-c', config],
        traceFile === undefined ? {} : {env: {DISWALL_LATENCY_TRACE: traceFile}})
      let samples: ProbeSample[] = []
      try {
        await waitFor(() => {
          if (daemon.exitStatus) throw new Error(`the daemon exited: ${daemon.output().stdout}${daemon.output().stderr}`)
          return / ready: /.test(daemon.output().stdout)
        }, {timeoutMs: 60_000, what: 'the daemon to be ready'})
        ctx.log(`${id}: ${count} probes, one every ${paceMs} ms`)
        const started = performance.now()
        const stdout = await attacker.run(process.execPath, ['-e', PROBE_SCRIPT, JSON.stringify({
          echoPort: ECHO_PORT, paceMs, probePort: PROBE_PORT, sources, victim: link.a.ipv4, windowMs: WINDOW_MS,
          ...(trigger === 'log' ? {logFile: authLog, logLine: AUTH_LOG_LINE} : {}),
        })], {timeoutMs: count * (paceMs + 1000) + 30_000})
        const seconds = secondsSince(started)
        samples = JSON.parse(stdout.trim()) as ProbeSample[]
        const errors = samples.filter((s) => s.error !== undefined)
        const ms = samples.flatMap((s) => (s.ms === undefined ? [] : [s.ms]))
        if (ms.length === 0) throw new Error(`no probe was blocked: ${errors[0]?.error}`)
        const latencyMs = summarizeLatency(ms)
        const failed = errors.length === 0 ? [] : [`${errors.length} probes without a sample (first: ${errors[0]!.error}); they count as misses`]
        // A probe that was not blocked within the window is a miss at the window's length.
        const all = [...ms, ...errors.map(() => WINDOW_MS)]
        return result({
          count: ms.length,
          id,
          latencyMs: summarizeLatency(all),
          notes: [
            `min ${latencyMs.min.toFixed(2)} ms, p50 ${latencyMs.p50.toFixed(2)}, p90 ${latencyMs.p90.toFixed(2)}, p99 ${latencyMs.p99.toFixed(2)}, max ${latencyMs.max.toFixed(2)} ms over the blocked probes`,
            `upper bounds: the first lost echo datagram after the ${trigger === 'log' ? 'write of the log line' : 'probe'} (sent every ~0.2 ms)`,
            ...failed,
          ],
          seconds,
          target: trigger === 'log' ? TARGETS.P1_LOG : TARGETS.P1,
          what: trigger === 'log'
            ? `log line → blocked, daemon (auth.log file, lines ${paceMs} ms apart, threshold 1) + ${backend}`
            : `probe → blocked, daemon (${source}, ${pace === 'scan' ? `probes ${paceMs} ms apart` : `each after ${paceMs / 1000} s quiet`}) + ${backend}`,
        })
      } finally {
        await daemon.stop(10_000)
        if (traceFile !== undefined) for (const line of traceNotes(traceFile, samples)) ctx.log(`${id}: ${line}`)
      }
    } finally {
      temp.remove()
    }
  })
}

/** One sample of the measuring script: `at` (wall clock of the trigger) and `ms`, or an error. */
interface ProbeSample {
  error?: string
  ms?: number
  at?: number
  from?: string
}

/**
 * The daemon's trace beside the samples: per stage (trigger → line at the agent, engine, kernel write,
 * commit → first lost echo) p50/p99/max, the slowest samples with their stages and the GC time in them,
 * and the event-loop delay.
 */
function traceNotes(file: string, samples: readonly ProbeSample[]): string[] {
  let dump: TraceDump
  try {
    dump = JSON.parse(readFileSync(file, 'utf8')) as TraceDump
  } catch (error) {
    return [`no latency trace: ${String(error)}`]
  }
  const byTarget = new Map(traceStages(dump).map((b) => [b.target, b]))
  const rows = samples.flatMap((s) => {
    const ban = s.from === undefined ? undefined : byTarget.get(s.from)
    if (ban === undefined || s.at === undefined || s.ms === undefined) return []
    const blocked = s.at + s.ms
    return [{engine: ban.engineMs, gc: ban.gcMs, source: ban.received - s.at, tail: blocked - ban.committed, total: s.ms, write: ban.writeMs}]
  })
  if (rows.length === 0) return ['latency trace: no sample matched a traced ban']
  const stat = (key: 'engine' | 'gc' | 'source' | 'tail' | 'write'): string => {
    const l = summarizeLatency(rows.map((r) => r[key]))
    return `${key} ${l.p50.toFixed(2)}/${l.p99.toFixed(2)}/${l.max.toFixed(2)}`
  }
  const slowest = [...rows].sort((a, b) => b.total - a.total).slice(0, 5)
  const {loopDelayMs: loop} = dump
  return [
    `trace of ${rows.length} samples, ms p50/p99/max: ${(['source', 'engine', 'write', 'tail', 'gc'] as const).map((k) => stat(k)).join(', ')}`,
    `slowest: ${slowest.map((r) => `${r.total.toFixed(1)} = source ${r.source.toFixed(1)} + engine ${r.engine.toFixed(2)} + write ${r.write.toFixed(1)} + ` +
      `after ${r.tail.toFixed(1)} (GC ${r.gc.toFixed(1)})`).join('; ')}`,
    `GCs ${dump.gcs.length} (longest ${Math.max(0, ...dump.gcs.map((g) => g.ms)).toFixed(1)} ms); event-loop delay p50 ${loop.p50.toFixed(1)}, ` +
      `p99 ${loop.p99.toFixed(1)}, max ${loop.max.toFixed(1)} ms`,
  ]
}

/** Probes of a scan: 8/s, inside the kmsg reader's 1 s polling window. */
const SCAN_PACE_MS = 125
/** Probes after a quiet spell: longer apart than the kmsg reader's polling window. */
const QUIET_PACE_MS = 1300

/** The config and firewall directory of the victim; returns the config file's path. */
function writeSetup(base: string, backend: 'ipset' | 'nftables', source: 'kmsg' | 'nflog'): string {
  const dir = join(base, 'firewall')
  for (const [file, text] of Object.entries({
    'incoming.d/00-established': '',
    'incoming.d/05-essential-icmpv6': '',
    [`incoming.d/10-${ECHO_PORT}.udp`]: '',
    'incoming.d/90-log': '',
    'incoming.d/99-drop': '',
    'outgoing.d/00-accept': '',
  })) {
    mkdirSync(join(dir, file, '..'), {recursive: true})
    writeFileSync(join(dir, file), text)
  }
  mkdirSync(join(dir, 'patterns.d'))
  const config = join(base, 'diswall.conf')
  writeFileSync(config, [
    'local_only = true',
    '[firewall]',
    `backend = "${backend}"`,
    `dir = "${dir}"`,
    '[detect]',
    `source = "${source}"`,
    `log_prefix = "${uniqueLogPrefix('p1')}"`,
    '[daemon]',
    `state_dir = "${join(base, 'state')}"`,
    `socket = "${join(base, 'diswall.sock')}"`,
    'snapshot_interval = "0s"',
    '',
  ].join('\n'))
  return config
}

const MEMORY_ID = 'p6.daemon.memory'
/** Bans in the kernel, restored from the snapshot at start (what a restart or a bulk init leaves). */
const MEMORY_BANS = 1_000_000
/** Distinct addresses the engine counts, each below its threshold. */
const MEMORY_TRACKED = 100_000

/**
 * P6: the daemon (from dist/, as installed; ipset, kmsg source) starts with a snapshot of
 * `MEMORY_BANS` bans, which it restores into the kernel, then reads one failed login from each of
 * `MEMORY_TRACKED` distinct addresses (threshold 5: none is banned, all are counted). Its VmRSS and
 * VmHWM (the peak) are read from /proc once the engine counts every address.
 */
async function measureMemory(ctx: SuiteContext): Promise<BenchResult> {
  assertFreshBuild('P6 measures the daemon as installed')
  const bans = scaled(MEMORY_BANS, ctx.scale, 1000)
  const tracked = scaled(MEMORY_TRACKED, ctx.scale, 100)
  return withFleet({hosts: ['victim'], links: []}, async (fleet) => {
    const victim = fleet.host('victim')
    const temp = makeTempDir('diswall-bench-p6-')
    try {
      const base = temp.path
      const config = writeSetup(base, 'ipset', 'kmsg')
      const authLog = join(base, 'auth.log')
      writeFileSync(authLog, '')
      writeFileSync(join(base, 'firewall', 'patterns.d', 'sshd.patterns'), [
        `file = ${authLog}`, 'ports = 22', 'tag = ssh', 'threshold = 5', 'window = 1h',
        String.raw`^Failed password for \S+ from __IP__ port \d+ ssh2$`, ''].join('\n'))
      await writeBanSnapshot(join(base, 'state', 'sets.snapshot'), bans)
      ctx.log(`${MEMORY_ID}: snapshot of ${bans} bans written; starting the daemon`)
      const diswall = async (args: string[]): Promise<void> => {
        await victim.run(process.execPath, [RUN_CLI, ...args, '-c', config], {timeoutMs: 120_000})
      }
      await diswall(['firewall', 'apply'])
      const started = performance.now()
      const daemon = victim.spawn(process.execPath, [RUN_CLI, 'daemon', '--local-only', '-c', config])
      try {
        await waitFor(() => {
          if (daemon.exitStatus) throw new Error(`the daemon exited: ${daemon.output().stdout}${daemon.output().stderr}`)
          return / ready: /.test(daemon.output().stdout)
        }, {timeoutMs: 300_000, what: 'the daemon to be ready'})
        const readySec = secondsSince(started)
        const socket = join(base, 'diswall.sock')
        const status = (): Promise<DaemonStatus> => queryDaemon<DaemonStatus>(socket, 'status', {timeoutMs: 30_000})
        const restored = (await status()).snapshot.loaded
        if (restored < bans) throw new Error(`the daemon restored ${restored} of ${bans} bans from the snapshot`)
        const idle = readMemory(daemon.pid)
        ctx.log(`${MEMORY_ID}: ${bans} bans restored in ${readySec.toFixed(1)} s; feeding ${tracked} addresses`)
        // In chunks, as a log grows: the source reads what was appended.
        const chunk = 10_000
        for (let i = 0; i < tracked; i += chunk) {
          const lines: string[] = []
          for (let j = i; j < Math.min(tracked, i + chunk); j++) lines.push(`Failed password for root from ${nthIpv4(j, 60)} port 22 ssh2`)
          appendFileSync(authLog, lines.join('\n') + '\n')
        }
        let last: DaemonStatus | undefined
        await waitFor(async () => {
          last = await status()
          return last.detect.counterKeys >= tracked
        }, {intervalMs: 500, timeoutMs: 120_000, what: 'the engine to count every address'}).catch((error: unknown) => {
          const {detect, patterns, sources} = last ?? {}
          throw new Error(`${String(error)}; engine ${JSON.stringify(detect)}, patterns ${JSON.stringify(patterns)}, sources ${JSON.stringify(sources)}`)
        })
        const final = await status()
        const memory = readMemory(daemon.pid)
        return result({
          count: bans,
          id: MEMORY_ID,
          memoryMb: {peak: memory.hwm, rss: memory.rss},
          notes: [
            `VmRSS ${memory.rss.toFixed(0)} MB (anonymous ${memory.anon.toFixed(0)} MB), VmHWM (peak) ${memory.hwm.toFixed(0)} MB with ${bans} bans restored and ${final.detect.counterKeys} addresses counted`,
            `after the restore, before the feed: VmRSS ${idle.rss.toFixed(0)} MB (anonymous ${idle.anon.toFixed(0)} MB), VmHWM ${idle.hwm.toFixed(0)} MB; ready after ${readySec.toFixed(1)} s`,
            `bans ${final.bans.total} (expected 0: every address stays below its threshold)`,
          ],
          seconds: readySec,
          target: TARGETS.P6,
          what: `daemon memory: ${bans} bans (snapshot), ${tracked} addresses counted; RSS ${memory.rss.toFixed(0)} MB`,
        })
      } finally {
        await daemon.stop(10_000)
      }
    } finally {
      temp.remove()
    }
  })
}

/** VmRSS and VmHWM of a process, and the anonymous part of its RSS (heaps, not the mapped node binary), MB. */
function readMemory(pid: number): {rss: number; hwm: number; anon: number} {
  const mb = (text: string, key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN) / 1024
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return {anon: mb(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), 'Anonymous'), hwm: mb(status, 'VmHWM'), rss: mb(status, 'VmRSS')}
}

/** A snapshot file of `count` distinct IPv4 bans (11.0.0.0 upwards), a day to go, streamed. */
async function writeBanSnapshot(path: string, count: number): Promise<void> {
  mkdirSync(join(path, '..'), {recursive: true})
  const out = createWriteStream(path)
  const expires = Math.floor(Date.now() / 1000) + 86_400
  out.write(`# diswall snapshot v1 saved ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}\n`)
  for (let i = 0; i < count; i += 10_000) {
    let chunk = ''
    for (let j = i; j < Math.min(count, i + 10_000); j++) chunk += `block ${nthIpv4(j)} expires ${expires}\n`
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()))
  }
  out.end(`# end ${count} entries\n`)
  await finished(out)
}

