/**
 * P2 of DESIGN.md: a probe on one host → blocked in the kernel of every other host, through real
 * `diswall daemon`s (ipset; kmsg, the default source, or nflog) in namespaces, one nats-server in a hub namespace linked to each host,
 * and an attacker namespace linked to each host. Plus: reports/s one host can publish, and the time
 * from a NATS server restart to a daemon's block set reconciled with a 100k-entry init answer.
 *
 * How "blocked everywhere" is seen, without load of its own: the attacker (one process) sends one
 * datagram from each probe address to the closed port 23 of host 0, 125 ms apart, noting the send time
 * on CLOCK_MONOTONIC. The daemons run with `-d`, which logs each ban's stage times on the same clock
 * (agent.ts `timing local|remote …`): detected and published on host 0; received from NATS and
 * committed to the kernel (the writer's batch answered by the ipset session) on every other host. The
 * sample is the latest commit over the other hosts minus the send time. After the run each host's
 * block set is read once to check that every logged commit is in the kernel.
 */
import {mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'

import {defaultConfig} from '../../src/lib/config/index.js'
import {
  enableNetnsLogging, makeTempDir, type NatsServer, type Netns, type SpawnedProcess, startNatsServer, uniqueLogPrefix,
  waitFor,
} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import {NatsTransport} from '../../src/lib/transport/index.js'
import {assertFreshBuild, RUN_CLI} from '../lib/build.js'
import {withFleet} from '../lib/fleet.js'
import {type BenchResult, result, summarizeLatency, type Target} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, secondsSince, type SuiteContext} from '../lib/suite.js'

const PROBES = 200
const PROBE_PORT = 23
const NATS_PORT = 4222
/** How long the daemons' idle CPU is measured before the probes, ms. */
const IDLE_MS = 2000
/** Probes 125 ms apart: 8/s, under the log rule's 10 packets/s. */
const PACE_MS = 125

const P2 = {
  hosts4: {id: 'P2', kind: 'max-latency', p50Ms: 5, p99Ms: 15},
  hosts16: {id: 'P2', kind: 'max-latency', p50Ms: 25, p99Ms: 25},
} as const satisfies Record<string, Target>

/** The attacker's script (CommonJS); argv[1] = JSON options; prints [{from, t0}] (t0: CLOCK_MONOTONIC ms at the send). */
const PROBE_SCRIPT = String.raw`
const dgram = require('node:dgram')
const {target, probePort, sources, paceMs} = JSON.parse(process.argv[1])
const now = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const open = (from) => new Promise((resolve, reject) => {
  const s = dgram.createSocket('udp4')
  s.on('error', reject)
  s.bind({address: from}, () => s.connect(probePort, target, () => resolve(s)))
})
;(async () => {
  const out = []
  for (const from of sources) {
    const s = await open(from)
    const started = now()
    const t0 = now()
    await new Promise((resolve, reject) => s.send('probe', (error) => (error ? reject(error) : resolve())))
    out.push({from, t0})
    s.close()
    const rest = paceMs - (now() - started)
    if (rest > 0) await sleep(rest)
  }
  process.stdout.write(JSON.stringify(out) + '\n', () => process.exit(0))
})()
`

/** The P2 suite. */
export const fleetSuite: BenchSuite = {
  description: 'P2 probe on one host → blocked on every other host (4 and 16 daemons, one nats-server); reports/s; reconnect → reconciled',
  name: 'fleet',
  async run(ctx) {
    const out: BenchResult[] = []
    if (ctx.wants('p2.publish')) out.push(...(await attempt(ctx, 'p2.publish', () => measurePublish(ctx))))
    for (const source of ['kmsg', 'nflog'] as const) {
      for (const hosts of [4, 16] as const) {
        const id = `p2.fanout.${hosts}${source === 'kmsg' ? '' : `.${source}`}`
        if (ctx.wants(id)) out.push(...(await attempt(ctx, id, () => measureFanout(ctx, id, hosts, source))))
      }
    }
    if (ctx.wants('p2.reconcile')) out.push(...(await attempt(ctx, 'p2.reconcile', () => measureReconcile(ctx))))
    return out
  },
}

/** The config and firewall directory of one host; returns the config file's path. */
function writeHost(base: string, name: string, natsAddress: string, source: DetectSource = 'kmsg'): string {
  const dir = join(base, name, 'firewall')
  for (const [file, text] of Object.entries({
    'incoming.d/00-established': '',
    'incoming.d/05-essential-icmpv6': '',
    'incoming.d/90-log': '',
    'incoming.d/99-drop': '',
    'outgoing.d/00-accept': '',
  })) {
    mkdirSync(join(dir, file, '..'), {recursive: true})
    writeFileSync(join(dir, file), text)
  }
  mkdirSync(join(dir, 'patterns.d'))
  const config = join(base, name, 'diswall.conf')
  writeFileSync(config, [
    'local_only = false',
    'send_statistics = false',
    '[firewall]',
    'backend = "ipset"',
    `dir = "${dir}"`,
    '[detect]',
    `source = "${source}"`,
    `log_prefix = "${uniqueLogPrefix(`p2${name}`)}"`,
    '[daemon]',
    `state_dir = "${join(base, name, 'state')}"`,
    `socket = "${join(base, name, 'diswall.sock')}"`,
    'snapshot_interval = "0s"',
    '[nats]',
    `server = "${natsAddress}"`,
    `port = ${NATS_PORT}`,
    'client_name = "bench"',
    'client_pass = "pw"',
    `hostname = "${name}"`,
    'connect_timeout = "5s"',
    'request_timeout = "30s"',
    '',
  ].join('\n'))
  return config
}


async function startDaemons(hosts: Array<{ns: Netns; config: string; name: string}>): Promise<SpawnedProcess[]> {
  assertFreshBuild('the fleet rows run the daemon as installed')
  const daemons: SpawnedProcess[] = []
  for (const h of hosts) {
    await h.ns.run(process.execPath, [RUN_CLI, 'firewall', 'apply', '-c', h.config], {timeoutMs: 120_000})
    // -d: the stage times of every ban (agent.ts `timing …` lines) are what the fan-out rows measure.
    // DISWALL_BENCH_CPU_PROF=DIR: every daemon writes a V8 CPU profile into DIR when it stops.
    const profile = process.env.DISWALL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.DISWALL_BENCH_CPU_PROF}`] : []
    daemons.push(h.ns.spawn(process.execPath, [...profile, RUN_CLI, 'daemon', '-d', '-c', h.config]))
  }
  for (const [i, d] of daemons.entries()) {
    await waitFor(() => {
      if (d.exitStatus) throw new Error(`daemon ${hosts[i]!.name} exited: ${d.output().stdout}${d.output().stderr}`)
      return / ready: /.test(d.output().stdout) && /nats: .*init|transport connected/.test(d.output().stdout)
    }, {timeoutMs: 180_000, what: `daemon ${hosts[i]!.name} to be ready and connected`})
  }
  return daemons
}

/** The stage times one daemon logged (`timing …` lines of agent.ts), by banned address. */
interface HostTimings {
  local: Map<string, {detected: number; published: number; committed: number}>
  remote: Map<string, {received: number; committed: number; result: string}>
}

/** Parses the `timing local|remote …` debug lines of a daemon's log (CLOCK_MONOTONIC ms). */
function parseTimings(log: string): HostTimings {
  const out: HostTimings = {local: new Map(), remote: new Map()}
  for (const m of log.matchAll(/timing local (\S+) detected=([\d.]+) published=([\d.]+) committed=([\d.]+) (\w+)/g)) {
    out.local.set(m[1]!, {committed: Number(m[4]), detected: Number(m[2]), published: Number(m[3])})
  }
  for (const m of log.matchAll(/timing remote (\S+) from \S+ received=([\d.]+) committed=([\d.]+) (\w+)/g)) {
    out.remote.set(m[1]!, {committed: Number(m[3]), received: Number(m[2]), result: m[4]!})
  }
  return out
}

/**
 * CPU time of a process and its live descendants, by thread (`node(main)`, `node#TID`, `ipset(main)` …):
 * every thread's run time from /proc/PID/task/TID/schedstat, in ns: exact, unlike the tick-sampled
 * utime; and `reaped`, the user and system time of the children it reaped, ms.
 */
function cpuByThread(pid: number): {threads: Map<string, number>; reaped: number} {
  const tick = 1000 / 100 // USER_HZ: 100 on Linux
  const threads = new Map<string, number>()
  let reaped = 0
  const visit = (p: number): void => {
    let tasks: string[]
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      // Fields 16–17 of proc(5) (cutime cstime) are 13–14 here, after pid and comm.
      reaped += (Number(fields[13]) + Number(fields[14])) * tick
      tasks = readdirSync(`/proc/${p}/task`)
    } catch {
      return
    }
    for (const task of tasks) {
      try {
        const comm = readFileSync(`/proc/${p}/task/${task}/comm`, 'utf8').trim()
        const name = task === String(p) ? `${comm}(main)` : `${comm}#${task}`
        const ms = Number(readFileSync(`/proc/${p}/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6
        threads.set(name, (threads.get(name) ?? 0) + ms)
        for (const child of readFileSync(`/proc/${p}/task/${task}/children`, 'utf8').split(' ').filter(Boolean)) visit(Number(child))
      } catch {
        // The task ended meanwhile.
      }
    }
  }
  visit(pid)
  return {reaped, threads}
}

/** CPU time of a process and its descendants, live and reaped, ms. */
function treeCpuMs(pid: number): number {
  const {reaped, threads} = cpuByThread(pid)
  return reaped + [...threads.values()].reduce((x, y) => x + y, 0)
}

const fmt = (l: {p50: number; p90: number; p99: number; max: number}): string =>
  `p50 ${l.p50.toFixed(2)} / p90 ${l.p90.toFixed(2)} / p99 ${l.p99.toFixed(2)} / max ${l.max.toFixed(2)} ms`

/** The detection sources the fan-out rows run with: kmsg, the default, and nflog (no polling, no shared kernel log). */
type DetectSource = 'kmsg' | 'nflog'

async function measureFanout(ctx: SuiteContext, id: string, count: number, detect: DetectSource): Promise<BenchResult> {
  const probes = scaled(PROBES, ctx.scale, 20)
  await enableNetnsLogging()
  const names = Array.from({length: count}, (_, i) => `h${i}`)
  const links: Array<[string, string]> = names.flatMap((n): Array<[string, string]> => [['hub', n], ['attacker', n]])
  return withFleet({hosts: ['hub', 'attacker', ...names], links}, async (fleet) => {
    const hub = fleet.host('hub')
    const attacker = fleet.host('attacker')
    const sources = Array.from({length: probes}, (_, i) => `198.19.${(i + 1) >> 8}.${(i + 1) & 255}`)
    const first = fleet.link('attacker', names[0]!)
    await attacker.run('ip', ['-batch', '-'], {input: sources.map((a) => `addr add ${a}/32 dev ${first.a.ifname}`).join('\n') + '\n'})
    const temp = makeTempDir('diswall-bench-p2-')
    let nats: NatsServer | undefined
    let daemons: SpawnedProcess[] = []
    try {
      nats = await startNatsServer({listen: `0.0.0.0:${NATS_PORT}`, netns: hub, users: [{password: 'pw', user: 'bench'}]})
      const hosts = []
      for (const name of names) {
        const ns = fleet.host(name)
        const toAttacker = fleet.link(name, 'attacker')
        await ns.run('ip', ['route', 'add', '198.19.0.0/16', 'via', toAttacker.b.ipv4])
        hosts.push({config: writeHost(temp.path, name, fleet.link('hub', name).a.ipv4, detect), name, ns})
      }
      ctx.log(`${id}: starting ${count} daemons`)
      daemons = await startDaemons(hosts)
      ctx.log(`${id}: ${probes} probes on h0, one every ${PACE_MS} ms, watched on ${count - 1} hosts`)
      // The daemons' CPU while nothing happens, to tell it from what the probes cost.
      const idleStart = daemons.map((d) => treeCpuMs(d.pid))
      const idleFrom = performance.now()
      await new Promise((resolve) => setTimeout(resolve, IDLE_MS))
      const cpuBefore = daemons.map((d) => treeCpuMs(d.pid))
      const threadsBefore = cpuByThread(daemons[1]!.pid)
      const idlePerMs = cpuBefore.map((c, i) => (c - idleStart[i]!) / (performance.now() - idleFrom))
      const harnessBefore = process.cpuUsage()
      const started = performance.now()
      const prober = attacker.spawn(process.execPath, ['-e', PROBE_SCRIPT, JSON.stringify({
        paceMs: PACE_MS, probePort: PROBE_PORT, sources, target: first.b.ipv4,
      })])
      await waitFor(() => prober.exitStatus !== undefined, {intervalMs: 50, timeoutMs: probes * (PACE_MS + 2000) + 60_000, what: 'the probes'})
      const {stderr, stdout} = prober.output()
      if (prober.exitStatus?.code !== 0) throw new Error(`the probe process ended ${JSON.stringify(prober.exitStatus)}: ${stderr.slice(-800)}`)
      const sent = JSON.parse(stdout.trim()) as Array<{from: string; t0: number}>
      const last = sources.at(-1)!
      // The last probe's commits, or 5 s: what has not arrived by then counts as not blocked everywhere.
      await waitFor(() => daemons.slice(1).every((d) => d.output().stdout.includes(`timing remote ${last} `)), {timeoutMs: 5000, what: 'the last probe everywhere'})
        .catch(() => {})
      const seconds = secondsSince(started)
      const busyMs = performance.now() - started
      const cpuMs = daemons.map((d, i) => Math.max(0, treeCpuMs(d.pid) - cpuBefore[i]! - idlePerMs[i]! * busyMs))
      const harness = process.cpuUsage(harnessBefore)
      const threadsAfter = cpuByThread(daemons[1]!.pid)
      const byThread = [...threadsAfter.threads].map(([name, ms]) => [name, (ms - (threadsBefore.threads.get(name) ?? 0)) / sent.length] as const)
        .filter(([, ms]) => ms >= 0.01).sort((a, b) => b[1] - a[1]).map(([name, ms]) => `${name} ${ms.toFixed(2)}`).join(', ')
      const timings = daemons.map((d) => parseTimings(d.output().stdout))
      const [source, ...others] = timings as [HostTimings, ...HostTimings[]]

      const endToEnd: number[] = []
      const stages = {commit: [] as number[], detect: [] as number[], nats: [] as number[], publish: [] as number[], spread: [] as number[]}
      let missing = 0
      for (const {from, t0} of sent) {
        const local = source.local.get(from)
        const remote = others.map((o) => o.remote.get(from))
        if (local === undefined || remote.some((r) => r === undefined || r.result !== 'banned')) {
          missing++
          continue
        }
        const commits = remote.map((r) => r!.committed)
        endToEnd.push(Math.max(...commits) - t0)
        stages.detect.push(local.detected - t0)
        stages.publish.push(local.published - local.detected)
        stages.spread.push(Math.max(...commits) - Math.min(...commits))
        for (const r of remote) {
          stages.nats.push(r!.received - local.published)
          stages.commit.push(r!.committed - r!.received)
        }
      }
      if (endToEnd.length === 0) throw new Error(`no probe was logged as committed on every other host (${missing} missing)`)
      // Every logged commit must be in the kernel: one read of each host's block set.
      let absent = 0
      for (const [i, name] of names.entries()) {
        if (i === 0) continue
        const saved = await fleet.host(name).run('ipset', ['save', 'diswall-bl'])
        for (const from of timings[i]!.remote.keys()) if (!saved.includes(` ${from} `)) absent++
      }
      if (absent > 0) throw new Error(`${absent} logged commits are not in the kernel sets`)
      const perBan = (ms: number) => (ms / sent.length).toFixed(2)
      const remoteCpu = cpuMs.slice(1)
      return result({
        count: endToEnd.length,
        id,
        latencyMs: summarizeLatency([...endToEnd, ...Array.from({length: missing}, () => 5000)]),
        notes: [
          'per probe: the latest commit over the other hosts, minus the probe\'s send time (CLOCK_MONOTONIC, daemons with -d)',
          `stage detect (probe sent → detected on h0: kernel log, ${detect}, engine): ${fmt(summarizeLatency(stages.detect))}`,
          `stage publish (detected → handed to NATS on h0): ${fmt(summarizeLatency(stages.publish))}`,
          `stage nats (handed to NATS → received on another host, via the hub): ${fmt(summarizeLatency(stages.nats))}`,
          `stage commit (received → in the kernel set of that host): ${fmt(summarizeLatency(stages.commit))}`,
          `spread (first to last host's commit of one probe): ${fmt(summarizeLatency(stages.spread))}`,
          `CPU per probe: h0 ${perBan(cpuMs[0]!)} ms; each other daemon p50 ${perBan(summarizeLatency(remoteCpu).p50)} ms, ` +
            `max ${perBan(summarizeLatency(remoteCpu).max)} ms (daemon, its ipset session and kill processes; the idle rate, ` +
            `${(summarizeLatency(idlePerMs.slice(1)).p50 * 100).toFixed(1)} % of a CPU on the others and ${(idlePerMs[0]! * 100).toFixed(1)} % on h0, taken out)`,
          `CPU per probe of the bench process: ${((harness.user + harness.system) / 1000 / sent.length).toFixed(2)} ms`,
          `CPU per probe of h1 by thread and child program, idle included, ms: ${byThread}`,
          `every logged commit checked in the kernel set of its host (ipset save after the run)`,
          ...(missing === 0 ? [] : [`${missing} probes not committed on every other host within 5 s of the last probe; counted at 5000 ms`]),
        ],
        seconds,
        target: count === 4 ? P2.hosts4 : P2.hosts16,
        what: `probe on 1 host → in the kernel set of the ${count - 1} others (${count} daemons, ipset, ${detect}, one nats-server)`,
      })
    } finally {
      for (const d of daemons) await d.stop(10_000)
      await nats?.stop()
      temp.remove()
    }
  })
}

/** Reports/s one host publishes: a NatsTransport on loopback, every report received by a listener. */
async function measurePublish(ctx: SuiteContext): Promise<BenchResult> {
  const count = scaled(200_000, ctx.scale, 1000)
  const nats = await startNatsServer({users: [{password: 'pw', user: 'bench'}]})
  try {
    const config = {...defaultConfig().nats, client_name: 'bench', client_pass: 'pw', port: nats.port, server: '127.0.0.1'}
    const sink = {add: async () => true, del: async () => true, replace: async () => {}}
    const listener = new NatsTransport({host: 'listener', nats: config})
    let received = 0
    await listener.start({...sink, add: async () => ((received++), true)})
    const publisher = new NatsTransport({host: 'publisher', nats: config, role: 'publisher'})
    await publisher.connectOnce()
    const entries = Array.from({length: 1000}, (_, i) => ({tag: 'port-scan 23/tcp', target: parseAddress(`198.18.${i >> 8}.${i & 255}`), ttlSec: 900}))
    ctx.log(`p2.publish: ${count} reports`)
    const started = performance.now()
    for (let i = 0; i < count; i++) publisher.publishAdd('block', entries[i % 1000]!)
    await publisher.flush(60_000)
    await waitFor(() => received >= count, {timeoutMs: 120_000, what: 'every report at the listener'})
    const seconds = secondsSince(started)
    await publisher.close()
    await listener.close()
    return result({count, id: 'p2.publish', notes: ['IP|TAG payload with timeout, reason and origin headers; decoded and validated by a second transport'],
      seconds, what: 'reports published by one host, received and validated by another (loopback nats-server)'})
  } finally {
    await nats.stop()
  }
}

/** A responder answering init with `count` block entries, streamed (a stand-in for `diswall server`). */
function responderScript(count: number): string {
  const natsMain = createRequire(import.meta.url).resolve('nats')
  return String.raw`
const {connect, headers} = require(${JSON.stringify(natsMain)})
;(async () => {
  const nc = await connect({port: ${NATS_PORT}, user: 'bench', pass: 'pw'})
  const max = nc.info.max_payload - 1024
  nc.subscribe('diswall.*.*.init.*', {callback: (_e, msg) => {
    const stream = headers(); stream.set('Diswall-Stream', '1')
    const end = headers()
    if (msg.subject.startsWith('diswall.whitelist')) {
      end.set('Diswall-Count', '0'); msg.respond(new Uint8Array(), {headers: end}); return
    }
    let chunk = ''
    for (let i = 0; i < ${Math.min(count, 130_000)}; i++) {
      const n = 1024 + i // 198.18.4.0 onwards: clear of the links' 198.18.0.0/24 (the NATS server is never banned)
      chunk += '198.' + (18 + (n >> 16)) + '.' + ((n >> 8) & 255) + '.' + (n & 255) + ' timeout 3600\n'
      if (chunk.length > max) { nc.publish(msg.reply, chunk, {headers: stream}); chunk = '' }
    }
    if (chunk) nc.publish(msg.reply, chunk, {headers: stream})
    end.set('Diswall-Count', String(${count}))
    nc.publish(msg.reply, new Uint8Array(), {headers: end})
  }})
  console.log('ready')
})()
`
}

/** From a NATS server restart to the daemon's block set reconciled with a `count`-entry init answer. */
async function measureReconcile(ctx: SuiteContext): Promise<BenchResult> {
  const count = scaled(100_000, ctx.scale, 1000)
  return withFleet({hosts: ['hub', 'h0'], links: [['hub', 'h0']]}, async (fleet) => {
    const hub = fleet.host('hub')
    const h0 = fleet.host('h0')
    const temp = makeTempDir('diswall-bench-p2r-')
    const script = join(temp.path, 'responder.cjs')
    writeFileSync(script, responderScript(count))
    const users = [{password: 'pw', user: 'bench'}]
    let nats: NatsServer | undefined = await startNatsServer({listen: `0.0.0.0:${NATS_PORT}`, netns: hub, users})
    let daemons: SpawnedProcess[] = []
    let responder: SpawnedProcess | undefined
    try {
      const config = writeHost(temp.path, 'h0', fleet.link('hub', 'h0').a.ipv4)
      daemons = await startDaemons([{config, name: 'h0', ns: h0}])
      await nats.stop()
      nats = undefined
      await waitFor(() => /transport disconnected|reconnecting/.test(daemons[0]!.output().stdout), {timeoutMs: 30_000, what: 'the daemon to notice'})
      const mark = daemons[0]!.output().stdout.length
      ctx.log(`p2.reconcile: NATS back, answering init with ${count} entries`)
      const started = performance.now()
      nats = await startNatsServer({listen: `0.0.0.0:${NATS_PORT}`, netns: hub, users})
      responder = hub.spawn(process.execPath, [script])
      await waitFor(() => new RegExp(`init block: ${count} entries`).test(daemons[0]!.output().stdout.slice(mark)),
        {intervalMs: 5, timeoutMs: 300_000, what: 'the block set reconciled'})
      const seconds = secondsSince(started)
      const n = Number((await h0.run('ipset', ['list', '-t', 'diswall-bl'])).match(/Number of entries: (\d+)/)?.[1] ?? -1)
      if (n !== count) throw new Error(`the block set holds ${n} entries, expected ${count}`)
      return result({count, id: 'p2.reconcile', notes: [
        'from the nats-server restart (reconnect back-off ~1 s included) to the block set replaced in the kernel',
        'init answered by a small in-bench responder (streamed, like diswall server), not by diswall server',
      ], seconds, what: `NATS back → block set reconciled with a ${count}-entry init answer (one daemon, ipset)`})
    } finally {
      await responder?.stop()
      for (const d of daemons) await d.stop(10_000)
      await nats?.stop()
      temp.remove()
    }
  })
}
