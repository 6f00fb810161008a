/**
 * The central server (`diswall server`, from dist/ as installed) with its store on disk, behind a
 * real nats-server on loopback that runs the permissions of `diswall server nats-config`:
 *
 * - `p8.server.ingest` (P8): block reports from 4 accounts, distinct addresses, each account keeping
 *   up to 5,000 reports in flight (a request every 5,000 waits for the server); timed from the first publication until the server has handled every report
 *   and committed it (its status: every report counted, nothing pending). The account rate limit is
 *   raised for the run, so every report is stored (checked against the entry count).
 * - `p4.server.init` (P4, server side): a streamed init reply of 1,000,000 block entries (written
 *   into the store before the server starts), requested by a client of the account and decoded line
 *   by line with the hosts' codec; timed from the request to the end-of-stream message. The kernel
 *   load on a host is not part of it (see the next row).
 * - `p4.e2e.ipset`, `p4.e2e.nftables` (P4, end to end): the same 1,000,000 entries in the server's
 *   store on disk, a real nats-server and `diswall server`, and `diswall sync init` (the built CLI, as
 *   an operator runs it), all in one throwaway namespace; timed from the command's start to its exit
 *   with the entries in the kernel set, verified by counting the set afterwards. The answer streams
 *   from the NATS messages through the codec and the never-ban check into one `ipset restore` (staging
 *   set + swap) or one `nft -f -` transaction; the CLI's peak RSS (VmHWM, sampled) shows that the list
 *   is never held whole.
 * - `stop.after-copy.ipset`, `stop.after-copy.nftables`: the same set-up with `diswall daemon` (as
 *   installed) instead of the command: it connects, loads the 1,000,000-entry copy of the block list, and
 *   gets SIGTERM as soon as it logs the copy loaded; timed from the signal to its exit. The stop must put
 *   the copy in a snapshot (the daemon folds it from the copy's file; reading the sets back takes ~70 s
 *   on nftables); the row fails when the daemon read the sets instead, or when the next start of the
 *   daemon (counted too) does not restore all entries.
 */
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {countKernelSet, createNetns, makeTempDir, type Netns, spawnProcess, type SpawnedProcess, startNatsServer, uniqueLogPrefix, waitFor} from '../../src/lib/lab/index.js'
import {buildNatsConfig, openSqliteStore, queryServer, type ServerStatus} from '../../src/lib/server/index.js'
import {connectBus, decodeInitChunk, initRequestHeaders, listSubject, streamCount} from '../../src/lib/transport/index.js'
import {assertFreshBuild, RUN_CLI} from '../lib/build.js'
import {type BenchResult, formatInt, result, type Target, TARGETS} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, secondsSince, type SuiteContext} from '../lib/suite.js'

/** Server ingesting reports (DESIGN.md P8). */
export const P8_TARGET: Target = {id: 'P8', kind: 'min-rate', perSecond: 50_000}
const REPORTS = 300_000
const INIT_ENTRIES = 1_000_000
const ACCOUNTS = ['bench1', 'bench2', 'bench3', 'bench4', 'big'] as const
/** Reports in flight per account at most (see ingest()). */
const WINDOW = 5000

/** The server suite: `p8.server.ingest` and `p4.server.init` (see the top of this file). */
export const serverSuite: BenchSuite = {
  description: 'P8 reports/s into the server (SQLite on disk) through NATS; P4 server side: a 1,000,000-entry init reply; '
    + 'P4 end to end: `diswall sync init` of 1,000,000 entries, server → kernel (ipset and nftables)',
  name: 'server',
  async run(ctx) {
    const out: BenchResult[] = []
    if (ctx.wants('p8.server.ingest')) out.push(...await attempt(ctx, 'p8.server.ingest', () => ingest(ctx)))
    if (ctx.wants('p4.server.init')) out.push(...await attempt(ctx, 'p4.server.init', () => initReply(ctx)))
    for (const kind of ['ipset', 'nftables'] as const) {
      if (ctx.wants(`p4.e2e.${kind}`)) out.push(...await attempt(ctx, `p4.e2e.${kind}`, () => initEndToEnd(ctx, kind)))
    }
    for (const kind of ['ipset', 'nftables'] as const) {
      if (ctx.wants(`stop.after-copy.${kind}`)) out.push(...await attempt(ctx, `stop.after-copy.${kind}`, () => stopAfterCopy(ctx, kind)))
    }
    return out
  },
}

interface BenchServer {
  natsUrl: string
  passwords: Map<string, string>
  socket: string
  db: string
  start(): Promise<SpawnedProcess>
  close(): Promise<void>
}

/** nats-server and `diswall server` on loopback: the machine's, or that of `netns` (whose processes reach it there). */
async function openBenchServer(prefix: string, netns?: Netns): Promise<BenchServer> {
  assertFreshBuild('the server rows run `diswall server` as installed')
  const temp = makeTempDir(prefix)
  const {text, users} = buildNatsConfig({accounts: ACCOUNTS.map((name) => ({name})), server: {user: 'diswall-server'}})
  const passwords = new Map(users.map((u) => [u.user, u.password]))
  const nats = await startNatsServer({extraConfig: text, ...(netns === undefined ? {} : {netns})})
  const db = join(temp.path, 'server.db')
  const socket = join(temp.path, 'server.sock')
  const config = join(temp.path, 'diswall.conf')
  writeFileSync(config, [
    '[nats]', 'server = "127.0.0.1"', `port = ${nats.port}`, 'client_name = "diswall-server"', `client_pass = "${passwords.get('diswall-server')}"`,
    '[server]', `db = "${db}"`, `socket = "${socket}"`, 'account_rate_limit = 1000000', '',
  ].join('\n'), {mode: 0o600})
  let server: SpawnedProcess | undefined
  return {
    async close() {
      await server?.stop()
      await nats.stop()
      temp.remove()
    },
    db,
    natsUrl: nats.url,
    passwords,
    socket,
    async start() {
      // DISWALL_BENCH_CPU_PROF=DIR: the server writes a V8 CPU profile into DIR when it stops.
      const profile = process.env.DISWALL_BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.DISWALL_BENCH_CPU_PROF}`] : []
      server = spawnProcess(process.execPath, [...profile, RUN_CLI, 'server', '-c', config],
        {env: {NO_COLOR: '1'}, ...(netns === undefined ? {} : {netns: netns.name})})
      const proc = server
      await waitFor(() => {
        if (proc.exitStatus) throw new Error(`the server exited ${JSON.stringify(proc.exitStatus)}: ${proc.output().stdout}${proc.output().stderr}`)
        return / ready: /.test(proc.output().stdout)
      }, {intervalMs: 20, timeoutMs: 60_000, what: 'the server to be ready'})
      return proc
    },

  }
}

async function ingest(ctx: SuiteContext): Promise<BenchResult> {
  const count = scaled(REPORTS, ctx.scale, 10_000)
  const bench = await openBenchServer('diswall-bench-p8-')
  try {
    const server = await bench.start()
    const accounts = ACCOUNTS.slice(0, 4)
    const clients = await Promise.all(accounts.map((user) => connectBus({
      inboxPrefix: `_INBOX.${user}`, pass: bench.passwords.get(user), reconnect: false, servers: bench.natsUrl, user,
    })))
    ctx.log(`p8.server.ingest: ${formatInt(count)} reports from ${clients.length} accounts`)
    let barriers = 0
    const cpuBefore = cpuSeconds(server.pid)
    const started = performance.now()
    await Promise.all(clients.map(async (bus, c) => {
      const account = accounts[c]!
      const subject = listSubject('block', 'add', account, 'host1')
      let sent = 0
      for (let i = c; i < count; i += clients.length) {
        // distinct global unicast addresses: 11.0.0.0 onwards (no special range)
        const n = 0x0b00_0000 + i
        bus.publish(subject, `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}|port-scan`)
        if (++sent % WINDOW === 0) {
          // At most WINDOW reports in flight per account: the server answers this request after the
          // reports before it (one connection, in order). Without a window the publishers outrun the
          // server, which drops the excess at its pending limits (counted as a slow consumer).
          await bus.request(listSubject('block', 'del', account, 'host1'), '192.0.2.254', {timeoutMs: 60_000})
          barriers++
        }
      }
      await bus.flush()
    }))
    const published = secondsSince(started)
    const status = await waitFor(async () => {
      const s = await queryServer<ServerStatus>(bench.socket, 'status')
      return s.reports.total >= count + barriers && s.store.pending === 0 ? s : undefined
    }, {intervalMs: 10, timeoutMs: 300_000, what: 'the server to handle and commit every report'})
    const seconds = secondsSince(started)
    const cpu = cpuSeconds(server.pid) - cpuBefore
    const stored = status.entries.filter((e) => e.list === 'block').reduce((n, e) => n + e.entries, 0)
    for (const bus of clients) await bus.close()
    if (stored !== count) throw new Error(`the server stored ${stored} of ${count} reports (${status.pending.dropped} dropped at its pending limits)`)
    return result({
      count, id: 'p8.server.ingest', notes: [
        `published in ${published.toFixed(2)} s; ${status.store.commits} commits, db ${(status.store.bytes / 2 ** 20).toFixed(0)} MiB on disk; `
          + `all ${formatInt(stored)} stored`,
        `the server process used ${cpu.toFixed(1)} s of CPU: ${formatInt(count / cpu)} reports per CPU-second (independent of other load on the machine)`,
      ], seconds, target: P8_TARGET, what: 'block reports → server (NATS, SQLite on disk, committed)',
    })
  } finally {
    await bench.close()
  }
}

/** User + system CPU seconds of a process so far (/proc/PID/stat, clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

async function initReply(ctx: SuiteContext): Promise<BenchResult> {
  const count = scaled(INIT_ENTRIES, ctx.scale, 10_000)
  const bench = await openBenchServer('diswall-bench-p4s-')
  try {
    ctx.log(`p4.server.init: writing ${formatInt(count)} bans into the store`)
    fillStore(bench.db, count)
    await bench.start()
    const bus = await connectBus({inboxPrefix: '_INBOX.big', pass: bench.passwords.get('big'), reconnect: false, servers: bench.natsUrl, user: 'big'})
    ctx.log('p4.server.init: requesting the list')
    const started = performance.now()
    let entries = 0
    let refused = 0
    let messages = 0
    let announced: number | undefined
    for await (const msg of bus.requestMany(listSubject('block', 'init', 'big', 'host1'), '', {
      headers: initRequestHeaders(true), isLast: (m) => m.data.byteLength === 0, timeoutMs: 30_000,
    })) {
      messages++
      if (msg.data.byteLength === 0) announced = streamCount(msg.headers)
      for (const line of decodeInitChunk('block', msg.data)) {
        if (line.ok) entries++
        else refused++
      }
    }
    const seconds = secondsSince(started)
    await bus.close()
    if (entries !== count || refused > 0 || announced !== count) {
      throw new Error(`init delivered ${entries} entries (${refused} refused, end says ${announced}) of ${count}`)
    }
    return result({
      count, id: 'p4.server.init', notes: [
        `${messages} messages below the 1 MiB max payload, every line decoded and validated by the hosts' codec`,
        'server → client only: loading the kernel set on a host is measured by the host side',
      ], seconds, target: TARGETS.P4, what: 'init reply of the block list, server → client decode (streamed)',
    })
  } finally {
    await bench.close()
  }
}

/** Writes `count` block entries of account `big` (11.0.0.0 onwards, a day to live) straight into the store. */
function fillStore(db: string, count: number): void {
  const store = openSqliteStore(db)
  const now = Math.floor(Date.now() / 1000)
  for (let i = 0; i < count; i++) {
    const n = 0x0b00_0000 + i
    store.put({account: 'big', bans: 1, expiresAt: now + 86_400, firstSeen: now, lastSeen: now, list: 'block', note: 'port-scan',
      reporter: 'host1', target: `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`})
  }
  store.close()
}

/** VmHWM of a process in MiB, or undefined once it is gone. */
function peakRssMb(pid: number): number | undefined {
  try {
    const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return kb === undefined ? undefined : Number(kb) / 1024
  } catch {
    return undefined
  }
}

async function initEndToEnd(ctx: SuiteContext, kind: 'ipset' | 'nftables'): Promise<BenchResult> {
  assertFreshBuild('P4 runs `diswall sync init` as installed')
  const count = scaled(INIT_ENTRIES, ctx.scale, 10_000)
  const ns = await createNetns()
  const bench = await openBenchServer(`diswall-bench-p4e-${kind}-`, ns)
  const temp = makeTempDir('diswall-bench-p4e-host-')
  try {
    ctx.log(`p4.e2e.${kind}: writing ${formatInt(count)} bans into the store`)
    fillStore(bench.db, count)
    await bench.start()
    const config = join(temp.path, 'diswall.conf')
    writeFileSync(config, [
      '[nats]', 'server = "127.0.0.1"', `port = ${new URL(bench.natsUrl).port}`, 'client_name = "big"', `client_pass = "${bench.passwords.get('big')}"`,
      'hostname = "host1"', 'request_timeout = 30', '[firewall]', `backend = "${kind}"`, '',
    ].join('\n'), {mode: 0o600})
    ctx.log(`p4.e2e.${kind}: diswall sync init`)
    const started = performance.now()
    const cli = spawnProcess(process.execPath, [RUN_CLI, 'sync', 'init', '-c', config, '--json'], {env: {NO_COLOR: '1'}, netns: ns.name})
    let peak = 0
    const sampler = setInterval(() => (peak = Math.max(peak, peakRssMb(cli.pid) ?? 0)), 50)
    const exit = await cli.exited
    const seconds = secondsSince(started)
    clearInterval(sampler)
    const {stderr, stdout} = cli.output()
    if (exit.code !== 0) throw new Error(`diswall sync init exited ${JSON.stringify(exit)}: ${stdout}${stderr}`)
    const answer = JSON.parse(stdout) as {result: {lists: {block: {loaded: number; ms: number; received: number}}}}
    const inKernel = await countBlockSet(ns, kind)
    if (inKernel !== count || answer.result.lists.block.loaded !== count) {
      throw new Error(`sync init loaded ${answer.result.lists.block.loaded} entries, the kernel set holds ${inKernel}, of ${count}`)
    }
    return result({
      count, id: `p4.e2e.${kind}`, memoryMb: {peak, rss: peak}, notes: [
        `the command's whole run (node start, NATS connect, both lists requested, streamed through the codec and the never-ban check into ${
          kind === 'ipset' ? 'one ipset restore: staging set + swap' : 'one nft -f - transaction'}, exit); block list alone ${
          (answer.result.lists.block.ms / 1000).toFixed(2)} s`,
        `kernel set counted afterwards: ${formatInt(inKernel)} entries; peak RSS of the CLI (VmHWM, sampled every 50 ms) ${peak.toFixed(0)} MiB`,
      ], seconds, target: TARGETS.P4, what: `diswall sync init, server store → kernel (${kind}), end to end`,
    })
  } finally {
    await bench.close()
    temp.remove()
    await ns.remove()
  }
}

/** The daemon's config beside the bench server (see stopAfterCopy()); returns its path. */
function writeDaemonSetup(base: string, kind: 'ipset' | 'nftables', natsUrl: string, password: string): string {
  const dir = join(base, 'firewall')
  for (const file of ['incoming.d/00-established', 'incoming.d/99-drop', 'outgoing.d/00-accept']) {
    mkdirSync(join(dir, file, '..'), {recursive: true})
    writeFileSync(join(dir, file), '')
  }
  mkdirSync(join(dir, 'patterns.d'))
  const config = join(base, 'diswall.conf')
  writeFileSync(config, [
    'local_only = false', 'send_statistics = false',
    '[firewall]', `backend = "${kind}"`, `dir = "${dir}"`,
    '[detect]', 'source = "kmsg"', `log_prefix = "${uniqueLogPrefix('copystop')}"`,
    '[daemon]', `state_dir = "${join(base, 'state')}"`, `socket = "${join(base, 'diswall.sock')}"`,
    '[nats]', 'server = "127.0.0.1"', `port = ${new URL(natsUrl).port}`, 'client_name = "big"', `client_pass = "${password}"`,
    'hostname = "host1"', 'request_timeout = "30s"', '',
  ].join('\n'), {mode: 0o600})
  return config
}

/** `stop.after-copy.*`: see the top of this file. */
async function stopAfterCopy(ctx: SuiteContext, kind: 'ipset' | 'nftables'): Promise<BenchResult> {
  assertFreshBuild('the stop rows run `diswall daemon` as installed')
  const count = scaled(INIT_ENTRIES, ctx.scale, 10_000)
  const id = `stop.after-copy.${kind}`
  const ns = await createNetns()
  const bench = await openBenchServer(`diswall-bench-stop-${kind}-`, ns)
  const temp = makeTempDir('diswall-bench-stop-host-')
  let daemon: SpawnedProcess | undefined
  try {
    ctx.log(`${id}: writing ${formatInt(count)} bans into the store`)
    fillStore(bench.db, count)
    await bench.start()
    const config = writeDaemonSetup(temp.path, kind, bench.natsUrl, bench.passwords.get('big')!)
    await ns.run(process.execPath, [RUN_CLI, 'firewall', 'apply', '-c', config], {env: {NO_COLOR: '1'}, timeoutMs: 120_000})
    const spawnDaemon = (): SpawnedProcess => spawnProcess(process.execPath, [RUN_CLI, 'daemon', '-c', config], {env: {NO_COLOR: '1'}, netns: ns.name})
    const output = (proc: SpawnedProcess): string => `${proc.output().stdout}${proc.output().stderr}`
    ctx.log(`${id}: the daemon loads the copy, then gets SIGTERM`)
    const first = spawnDaemon()
    daemon = first
    const loaded = new RegExp(`loaded ${count} entries into the block list`)
    await waitFor(() => {
      if (first.exitStatus) throw new Error(`the daemon exited ${JSON.stringify(first.exitStatus)}: ${output(first)}`)
      return loaded.test(first.output().stdout)
    }, {intervalMs: 5, timeoutMs: 120_000, what: 'the daemon to load the copy'})
    const started = performance.now()
    const exit = await first.stop(600_000)
    const seconds = secondsSince(started)
    daemon = undefined
    const log = output(first)
    if (exit.code !== 0) throw new Error(`the daemon exited ${JSON.stringify(exit)} at stop: ${log}`)
    const saved = /saved (\d+) entries to \S+, (.*)$/m.exec(log.slice(log.search(loaded)))
    if (saved === null || !saved[2]!.startsWith('folded')) throw new Error(`the stop did not fold the copy into the snapshot: ${saved?.[0] ?? log}`)
    if (Number(saved[1]) !== count) throw new Error(`the snapshot holds ${saved[1]} entries, not ${count}`)
    // The next start restores them (from the snapshot) before it is ready.
    const second = spawnDaemon()
    daemon = second
    await waitFor(() => {
      if (second.exitStatus) throw new Error(`the daemon exited ${JSON.stringify(second.exitStatus)}: ${output(second)}`)
      return / ready: /.test(second.output().stdout)
    }, {timeoutMs: 300_000, what: 'the daemon to start again'})
    const restored = /restored (\d+) entries from /.exec(second.output().stdout)
    if (Number(restored?.[1]) < count) throw new Error(`the next start restored ${restored?.[1] ?? 'no'} entries of ${count}: ${output(second)}`)
    return result({
      count, id, notes: [
        `SIGTERM as the daemon logged the copy loaded → exit: ${seconds.toFixed(2)} s; ${saved[0]}`,
        `the next start restored ${restored![1]} entries from that snapshot`,
      ], seconds, target: TARGETS.STOP, what: `daemon stop right after loading a ${formatInt(count)}-entry list copy from the server (${kind})`,
    })
  } finally {
    await daemon?.stop(600_000)
    await bench.close()
    temp.remove()
    await ns.remove()
  }
}

/**
 * Entries of the IPv4 block set. nft 1.0.6 lists 1M elements in ~70 s on a quiet machine (far longer on
 * a busy one), so the plain listing is read with a long timeout and its `expires` counted.
 */
async function countBlockSet(ns: Netns, kind: 'ipset' | 'nftables'): Promise<number> {
  if (kind === 'ipset') return countKernelSet(ns, kind, 'diswall-bl')
  const text = await ns.run('nft', ['list', 'set', 'inet', 'diswall', 'diswall-bl'], {timeoutMs: 1_800_000})
  return text.split(' expires ').length - 1
}
