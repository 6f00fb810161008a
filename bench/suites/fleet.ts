/**
 * P2 of DESIGN.md: a probe on one host → blocked in the kernel of every other host, through real
 * `diswall daemon`s (ipset, kmsg) in namespaces, one nats-server in a hub namespace linked to each host,
 * and an attacker namespace linked to each host. Plus: reports/s one host can publish, and the time
 * from a NATS server restart to a daemon's block set reconciled with a 100k-entry init answer.
 *
 * How "blocked everywhere" is seen, with one clock: for each probe the attacker (one process) checks
 * that every other host's UDP echo port answers the probe's source address, sends one datagram to the
 * closed port 23 of host 0 at t0, then sends numbered datagrams to every other host's echo port in
 * turn (one round every ~0.2 ms) for WINDOW_MS. Per host, the first datagram whose echo never came
 * marks the block there; the sample is the latest of those over the other hosts (an upper bound).
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {defaultConfig} from '../../src/lib/config/index.js'
import {
  enableNetnsLogging, makeTempDir, type NatsServer, type Netns, type SpawnedProcess, startNatsServer, startUdpEchoServer, uniqueLogPrefix,
  waitFor,
} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import {NatsTransport} from '../../src/lib/transport/index.js'
import {withFleet} from '../lib/fleet.js'
import {type BenchResult, result, summarizeLatency, type Target} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, secondsSince, type SuiteContext} from '../lib/suite.js'

const DEV_CLI = fileURLToPath(new URL('../../bin/dev.js', import.meta.url))
const PROBES = 200
const WINDOW_MS = 60
const ECHO_PORT = 9000
const PROBE_PORT = 23
const NATS_PORT = 4222
/** Probes 125 ms apart: 8/s, under the log rule's 10 packets/s. */
const PACE_MS = 125

const P2 = {
  hosts4: {id: 'P2', kind: 'max-latency', p50Ms: 5, p99Ms: 15},
  hosts16: {id: 'P2', kind: 'max-latency', p50Ms: 25, p99Ms: 25},
} as const satisfies Record<string, Target>

/** The attacker's measuring script (CommonJS); argv[1] = JSON options; prints JSON samples. */
const PROBE_SCRIPT = String.raw`
const dgram = require('node:dgram')
const {target, others, echoPort, probePort, sources, windowMs, paceMs} = JSON.parse(process.argv[1])
const pause = new Int32Array(new SharedArrayBuffer(4))
const now = () => Number(process.hrtime.bigint()) / 1e6
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const open = (from, host, port) => new Promise((resolve, reject) => {
  const s = dgram.createSocket('udp4')
  s.on('error', reject)
  s.bind({address: from}, () => s.connect(port, host, () => resolve(s)))
})
async function one(from) {
  const echoes = []
  for (const host of others) {
    const s = await open(from, host, echoPort)
    const seen = new Set()
    s.on('message', (m) => seen.add(Number(String(m))))
    echoes.push({s, seen, sent: []})
  }
  const probe = await open(from, target, probePort)
  for (const e of echoes) e.s.send('-1')
  const ready = now()
  while (!echoes.every((e) => e.seen.has(-1)) && now() - ready < 1000) await sleep(1)
  if (!echoes.every((e) => e.seen.has(-1))) {
    for (const e of echoes) e.s.close()
    probe.close()
    return {error: 'an echo port did not answer before the probe'}
  }
  const t0 = now()
  probe.send('probe')
  let n = 0
  while (now() - t0 < windowMs) {
    for (const e of echoes) {
      e.s.send(String(n))
      e.sent.push(now())
    }
    n++
    Atomics.wait(pause, 0, 0, 0.2)
  }
  await sleep(60)
  probe.close()
  for (const e of echoes) e.s.close()
  let worst = 0
  for (const e of echoes) {
    const firstLost = e.sent.findIndex((_, i) => !e.seen.has(i))
    if (firstLost === -1) return {error: 'not blocked on every host within ' + windowMs + ' ms'}
    worst = Math.max(worst, e.sent[firstLost] - t0)
  }
  return {ms: worst}
}
;(async () => {
  const out = []
  for (const from of sources) {
    const started = now()
    out.push(await one(from))
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
    for (const hosts of [4, 16] as const) {
      const id = `p2.fanout.${hosts}`
      if (ctx.wants(id)) out.push(...(await attempt(ctx, id, () => measureFanout(ctx, id, hosts))))
    }
    if (ctx.wants('p2.reconcile')) out.push(...(await attempt(ctx, 'p2.reconcile', () => measureReconcile(ctx))))
    return out
  },
}

/** The config and firewall directory of one host; returns the config file's path. */
function writeHost(base: string, name: string, natsAddress: string): string {
  const dir = join(base, name, 'firewall')
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
  const config = join(base, name, 'diswall.conf')
  writeFileSync(config, [
    'local_only = false',
    'send_statistics = false',
    '[firewall]',
    'backend = "ipset"',
    `dir = "${dir}"`,
    '[detect]',
    'source = "kmsg"',
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
  const daemons: SpawnedProcess[] = []
  for (const h of hosts) {
    await h.ns.run(process.execPath, ['--import', 'tsx', DEV_CLI, 'firewall', 'apply', '-c', h.config], {timeoutMs: 120_000})
    daemons.push(h.ns.spawn(process.execPath, ['--import', 'tsx', DEV_CLI, 'daemon', '-c', h.config]))
  }
  for (const [i, d] of daemons.entries()) {
    await waitFor(() => {
      if (d.exitStatus) throw new Error(`daemon ${hosts[i]!.name} exited: ${d.output().stdout}${d.output().stderr}`)
      return / ready: /.test(d.output().stdout) && /nats: .*init|transport connected/.test(d.output().stdout)
    }, {timeoutMs: 180_000, what: `daemon ${hosts[i]!.name} to be ready and connected`})
  }
  return daemons
}

async function measureFanout(ctx: SuiteContext, id: string, count: number): Promise<BenchResult> {
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
        await startUdpEchoServer(ns, ECHO_PORT)
        hosts.push({config: writeHost(temp.path, name, fleet.link('hub', name).a.ipv4), name, ns})
      }
      ctx.log(`${id}: starting ${count} daemons`)
      daemons = await startDaemons(hosts)
      ctx.log(`${id}: ${probes} probes on h0, one every ${PACE_MS} ms, watched on ${count - 1} hosts`)
      const started = performance.now()
      const prober = attacker.spawn(process.execPath, ['-e', PROBE_SCRIPT, JSON.stringify({
        echoPort: ECHO_PORT, others: names.slice(1).map((n) => fleet.link('attacker', n).b.ipv4), paceMs: PACE_MS, probePort: PROBE_PORT,
        sources, target: first.b.ipv4, windowMs: WINDOW_MS,
      })])
      await waitFor(() => prober.exitStatus !== undefined, {intervalMs: 50, timeoutMs: probes * (PACE_MS + 2000) + 60_000, what: 'the probes'})
      const {stderr, stdout} = prober.output()
      if (prober.exitStatus?.code !== 0) throw new Error(`the probe process ended ${JSON.stringify(prober.exitStatus)}: ${stderr.slice(-800)}`)
      const seconds = secondsSince(started)
      const samples = JSON.parse(stdout.trim()) as Array<{error?: string; ms?: number}>
      const errors = samples.filter((s) => s.error !== undefined)
      const ms = samples.flatMap((s) => (s.ms === undefined ? [] : [s.ms]))
      if (ms.length === 0) throw new Error(`no probe was blocked everywhere: ${errors[0]?.error}`)
      const blockedOnly = summarizeLatency(ms)
      return result({
        count: ms.length,
        id,
        latencyMs: summarizeLatency([...ms, ...errors.map(() => WINDOW_MS)]),
        notes: [
          `min ${blockedOnly.min.toFixed(2)} ms, p50 ${blockedOnly.p50.toFixed(2)}, p90 ${blockedOnly.p90.toFixed(2)}, p99 ${blockedOnly.p99.toFixed(2)}, ` +
            `max ${blockedOnly.max.toFixed(2)} ms over the probes blocked on every other host`,
          'per probe: the latest, over the other hosts, of the first lost echo after the probe (upper bounds)',
          ...(errors.length === 0 ? [] : [`${errors.length} probes not blocked everywhere within ${WINDOW_MS} ms (first: ${errors[0]!.error}); counted at ${WINDOW_MS} ms`]),
        ],
        seconds,
        target: count === 4 ? P2.hosts4 : P2.hosts16,
        what: `probe on 1 host → blocked on the ${count - 1} others (${count} daemons, ipset, kmsg, one nats-server)`,
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
