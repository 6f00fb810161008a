/**
 * `diswall demo`: a small fleet in throwaway network namespaces, driven end to end. A hub holds the
 * nats-server (with the permissions `diswall server nats-config` generates) and `diswall server`;
 * hosts of one account and a honeypot host of a honeypot account run the default ruleset and
 * `diswall daemon`; two attackers probe. It measures what an operator wants to see: the probe banned
 * on the probed host, the ban arriving on every other host, the attacker's connections to open ports
 * failing everywhere, and a honeypot's ban reaching every host through the server's broadcast.
 *
 * Everything runs inside namespaces the lab creates and is removed at the end, on failure and on
 * Ctrl-C (the cleanup registry); the machine's own firewall is never touched.
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {buildNatsConfig, generatePassword} from '../server/index.js'
import {type BanWatch, watchSetAdditions} from './ban-watch.js'
import {cleanupAll} from './cleanup.js'
import {applyLabFirewall, startLabDaemon, waitForReady, writeLabHost} from './daemon.js'
import {LabError} from './errors.js'
import {type NatsServer, startNatsServer} from './nats.js'
import {enableNetnsLogging, listNetns, type Netns, uniqueLogPrefix} from './netns.js'
import type {SpawnedProcess} from './process.js'
import {labRequirementsProblem} from './requirements.js'
import {openStarNetwork, type StarMember, type StarNetwork} from './star.js'
import {probeTcp, startEchoServer} from './tcp.js'
import {makeTempDir} from './temp-dir.js'
import {waitFor} from './wait.js'

/** What happened, as it happens (the command renders these live). */
export type DemoEvent =
  | {type: 'step'; text: string}
  | {type: 'probe'; from: string; address: string; host: string; port: number}
  | {type: 'banned'; host: string; address: string; ms: number; after: 'probe'}
  | {type: 'missed'; host: string; address: string; timeoutMs: number}
  | {type: 'connect'; from: string; host: string; port: number; ok: boolean; code?: string}

/** Options of {@link runDemo}. */
export interface DemoOptions {
  /** The CLI entry point (`bin/run.js`) the daemons and the server run from. */
  cli: string
  /** Hosts of the fleet's account, 2 to 16 (3 by default). */
  hosts?: number
  /**
   * Leave everything running: the outcome's `keep` says how to look around. The lab's cleanup registry
   * removes it all when the process is interrupted (Ctrl-C, SIGTERM) or exits.
   */
  keep?: boolean
  /** How long to wait for a ban to arrive on a host, ms (5000 by default). */
  banTimeoutMs?: number
  onEvent?: (event: DemoEvent) => void
}

/** When a ban arrived on one host; `ms` is null when it did not arrive in time. */
export interface DemoArrival {
  host: string
  ms: number | null
}

/** The measured outcome (`diswall demo --json`). */
export interface DemoOutcome {
  /** True when every check below passed. */
  ok: boolean
  account: string
  honeypotAccount: string
  hosts: Array<{name: string; address: string}>
  nats: string
  attacker: {
    address: string
    probed: {host: string; port: number}
    /** Probe sent → banned in the probed host's kernel set, ms. */
    localMs: number | null
    /** Probe sent → banned on each other host, ms. */
    arrivals: DemoArrival[]
    /** Open port 80 of each host from the attacker, after the ban: false = the connection failed. */
    openPortReachable: Array<{host: string; ok: boolean}>
  }
  honeypot: {
    address: string
    /** Probe sent → banned on the honeypot host, ms. */
    localMs: number | null
    /** Probe of the honeypot sent → banned on each host of the account (through the server's broadcast), ms. */
    arrivals: DemoArrival[]
  }
  /** What failed, in words; empty when ok. */
  problems: string[]
  /** With --keep: the namespaces and commands to look around; undefined otherwise. */
  keep?: {namespaces: Record<string, string>; commands: string[]}
  /** Every namespace and process of the demo is gone (false with --keep). */
  cleanedUp: boolean
  durationMs: number
}

const ACCOUNT = 'demo'
const HONEYPOT_ACCOUNT = 'honeypot'
const CLOSED_PORT = 23
const OPEN_PORT = 80
const BLOCK_SET = 'diswall-bl'

/** A host of the demo: its namespace on the star, its files and its daemon. */
interface DemoHost {
  member: StarMember
  account: string
  config: string
  daemon?: SpawnedProcess
  watch?: BanWatch
}

/**
 * Runs the demo. Resolves with the outcome (ok or not); throws LabError only when the fleet cannot be
 * built at all (not root, a program missing, a daemon that does not start).
 */
export async function runDemo(options: DemoOptions): Promise<DemoOutcome> {
  const started = Date.now()
  const created: string[] = []
  let outcome: DemoOutcome | undefined
  try {
    outcome = await buildAndProbe(options, created)
  } finally {
    if (!options.keep || outcome === undefined) await cleanupAll().catch(() => {})
  }

  outcome.durationMs = Date.now() - started
  if (options.keep) return outcome
  const left = await leftoverNamespaces(created)
  if (left.length > 0) outcome.problems.push(`namespaces left behind: ${left.join(', ')}`)
  outcome.cleanedUp = left.length === 0
  outcome.ok = outcome.problems.length === 0
  return outcome
}

async function buildAndProbe(options: DemoOptions, created: string[]): Promise<DemoOutcome> {
  const count = options.hosts ?? 3
  if (!Number.isInteger(count) || count < 2 || count > 16) throw new LabError(`hosts must be 2 to 16, got ${count}`)
  const problem = labRequirementsProblem({programs: ['ip', 'nft', 'nats-server']})
  if (problem) throw new LabError(`the demo cannot run here: ${problem}`)
  const emit = options.onEvent ?? (() => {})
  const banTimeoutMs = options.banTimeoutMs ?? 5000
  const problems: string[] = []
  let star: StarNetwork | undefined

  try {
    emit({text: 'building the network: a hub (nats-server, diswall server), hosts, a honeypot and two attackers', type: 'step'})
    await enableNetnsLogging()
    const hostNames = Array.from({length: count}, (_, i) => `host${i + 1}`)
    star = await openStarNetwork({members: [...hostNames, 'honeypot', 'attacker', 'attacker2']})
    created.push(star.hub.name, ...star.members.map((m) => m.netns.name))
    const temp = makeTempDir('diswall-demo-')

    const passwords = {[ACCOUNT]: generatePassword(), [HONEYPOT_ACCOUNT]: generatePassword(), server: generatePassword()}
    const nats = await startFleetNats(star, passwords)
    emit({text: `nats-server listens on ${star.hubIpv4}:${nats.port}`, type: 'step'})
    await startServer(star, nats, temp.path, passwords.server, options.cli)
    emit({text: 'diswall server is ready', type: 'step'})

    const hosts: DemoHost[] = [
      ...hostNames.map((name) => ({account: ACCOUNT, config: '', member: star!.member(name)})),
      {account: HONEYPOT_ACCOUNT, config: '', member: star.member('honeypot')},
    ]
    for (const host of hosts) {
      host.config = writeHostFiles(join(temp.path, host.member.name), host, nats, star, passwords[host.account as 'demo'])
      await startEchoServer(host.member.netns, OPEN_PORT)
    }

    await Promise.all(hosts.map(async (host) => {
      await applyLabFirewall(host.member.netns, [options.cli], host.config, {timeoutMs: 60_000})
      host.watch = await watchSetAdditions(host.member.netns)
      host.daemon = await startDaemon(host, options.cli)
    }))
    emit({text: `${hosts.length} daemons are ready (ruleset applied, kernel sets in place, connected to NATS)`, type: 'step'})

    const attacker = star.member('attacker')
    const fleet = hosts.filter((h) => h.account === ACCOUNT)
    const probed = fleet[0]!
    for (const host of fleet) {
      const before = await probeTcp(attacker.netns, host.member.ipv4, OPEN_PORT)
      if (!before.ok) problems.push(`${host.member.name}:${OPEN_PORT} was not reachable before the ban (${before.code})`)
    }

    // The attacker probes one closed port of one host.
    emit({address: attacker.ipv4, from: 'attacker', host: probed.member.name, port: CLOSED_PORT, type: 'probe'})
    const sentAt = await sendSyn(attacker.netns, probed.member.ipv4, CLOSED_PORT)
    const attackerResult = await followBan(hosts.filter((h) => h.account === ACCOUNT), probed, attacker.ipv4, sentAt, banTimeoutMs, emit)
    const openPortReachable: Array<{host: string; ok: boolean}> = []
    for (const host of fleet) {
      const after = await probeTcp(attacker.netns, host.member.ipv4, OPEN_PORT, 1000)
      openPortReachable.push({host: host.member.name, ok: after.ok})
      emit({code: after.ok ? undefined : after.code, from: 'attacker', host: host.member.name, ok: after.ok, port: OPEN_PORT, type: 'connect'})
      if (after.ok) problems.push(`the attacker still reaches ${host.member.name}:${OPEN_PORT}`)
    }

    // A second attacker probes the honeypot; its account is trusted, so the server tells everybody.
    const attacker2 = star.member('attacker2')
    const honeypot = hosts.find((h) => h.account === HONEYPOT_ACCOUNT)!
    emit({address: attacker2.ipv4, from: 'attacker2', host: 'honeypot', port: CLOSED_PORT, type: 'probe'})
    const sentAt2 = await sendSyn(attacker2.netns, honeypot.member.ipv4, CLOSED_PORT)
    const honeypotResult = await followBan([honeypot, ...fleet], honeypot, attacker2.ipv4, sentAt2, banTimeoutMs, emit)

    for (const [what, result] of [['the attacker', attackerResult], ['the honeypot report', honeypotResult]] as const) {
      if (result.localMs === null) problems.push(`${what} was not banned on the probed host`)
      for (const arrival of result.arrivals) if (arrival.ms === null) problems.push(`${what} did not reach ${arrival.host}`)
    }

    const outcome: DemoOutcome = {
      account: ACCOUNT,
      attacker: {
        address: attacker.ipv4,
        arrivals: attackerResult.arrivals,
        localMs: attackerResult.localMs,
        openPortReachable,
        probed: {host: probed.member.name, port: CLOSED_PORT},
      },
      cleanedUp: false,
      durationMs: 0,
      honeypot: {address: attacker2.ipv4, arrivals: honeypotResult.arrivals.filter((a) => a.host !== 'honeypot'), localMs: honeypotResult.localMs},
      honeypotAccount: HONEYPOT_ACCOUNT,
      hosts: fleet.map((h) => ({address: h.member.ipv4, name: h.member.name})),
      nats: `nats://${star.hubIpv4}:${nats.port}`,
      ok: problems.length === 0,
      problems,
    }

    for (const host of hosts) await host.watch?.stop()
    if (options.keep) outcome.keep = keepInstructions(star, hosts)
    return outcome
  } finally {
    if (!options.keep) await star?.close().catch(() => {})
  }
}

/** Which of `names` still exist. */
async function leftoverNamespaces(names: readonly string[]): Promise<string[]> {
  const left = new Set(await listNetns())
  return names.filter((n) => left.has(n))
}

/** nats-server in the hub, with the permissions `diswall server nats-config` prints for these accounts. */
async function startFleetNats(star: StarNetwork, passwords: Record<string, string>): Promise<NatsServer> {
  const {text} = buildNatsConfig({
    accounts: [ACCOUNT, HONEYPOT_ACCOUNT].map((name) => ({name, password: passwords[name]!})),
    server: {password: passwords.server!, user: 'server'},
  })
  return startNatsServer({extraConfig: text, listen: `${star.hubIpv4}:4222`, netns: star.hub})
}

async function startServer(star: StarNetwork, nats: NatsServer, dir: string, password: string, cli: string): Promise<SpawnedProcess> {
  const config = join(dir, 'server.conf')
  mkdirSync(dir, {recursive: true})
  writeFileSync(config, [
    'server_mode = true',
    '[nats]',
    `server = "${star.hubIpv4}"`,
    `port = ${nats.port}`,
    'client_name = "server"',
    `client_pass = "${password}"`,
    `honeypots = ["${HONEYPOT_ACCOUNT}"]`,
    '[server]',
    `db = "${join(dir, 'server.db')}"`,
    '[daemon]',
    `state_dir = "${join(dir, 'server-state')}"`,
    `socket = "${join(dir, 'server.sock')}"`,
    '',
  ].join('\n'), {mode: 0o600})
  const proc = star.hub.spawn(process.execPath, [cli, 'server', '-c', config], {env: {NO_COLOR: '1'}})
  await waitForReady(proc, 'diswall server')
  return proc
}

function writeHostFiles(dir: string, host: DemoHost, nats: NatsServer, star: StarNetwork, password: string): string {
  return writeLabHost({
    config: {
      local_only: false,
      send_statistics: false,
      nats: {
        client_name: host.account,
        client_pass: password,
        hostname: host.member.name,
        port: nats.port,
        server: star.hubIpv4,
      },
      firewall: {backend: 'nftables'},
      detect: {log_prefix: uniqueLogPrefix('demo'), service_logs: 'files'},
    },
    dir,
    firewall: ['incoming.d/00-established', 'incoming.d/00-related', 'incoming.d/05-essential-icmpv6', `incoming.d/20-${OPEN_PORT}`,
      'incoming.d/90-log', 'incoming.d/99-reject', 'outgoing.d/00-accept'],
  }).config
}

async function runCli(netns: Netns, cli: string, args: readonly string[]): Promise<string> {
  return netns.run(process.execPath, [cli, ...args], {env: {NO_COLOR: '1'}, timeoutMs: 60_000})
}

/** Starts the daemon and waits until it is ready, connected to NATS and has loaded both lists from the server. */
async function startDaemon(host: DemoHost, cli: string): Promise<SpawnedProcess> {
  const proc = await startLabDaemon({cli: [cli], config: host.config, name: `the daemon on ${host.member.name}`, netns: host.member.netns})
  await waitFor(async () => {
    const status = await runCli(host.member.netns, cli, ['status', '-c', host.config, '--json']).catch(() => '')
    const nats = (JSON.parse(status || '{}') as {result?: {nats?: {state?: string; init?: Record<string, {at?: string}>}}}).result?.nats
    return nats?.state === 'connected' && nats.init?.block?.at !== undefined && nats.init?.allow?.at !== undefined
  }, {timeoutMs: 30_000, what: `the daemon on ${host.member.name} to connect to NATS and load both lists`})
  return proc
}

/** One SYN to host:port from inside `netns`; resolves with the wall-clock time it was sent (sub-ms). */
async function sendSyn(netns: Netns, host: string, port: number): Promise<number> {
  const script = [
    "const net = require('node:net')",
    'const at = performance.timeOrigin + performance.now()',
    'const s = net.connect({host: process.argv[1], port: Number(process.argv[2])})',
    "s.on('error', () => {})",
    'setTimeout(() => { process.stdout.write(String(at)); s.destroy() }, 300)',
  ].join('\n')
  return Number(await netns.run(process.execPath, ['-e', script, host, String(port)]))
}

/** Waits for `address` in the block set of the probed host, then of every other host, and reports the times. */
async function followBan(
  hosts: readonly DemoHost[],
  probed: DemoHost,
  address: string,
  sentAt: number,
  timeoutMs: number,
  emit: (event: DemoEvent) => void,
): Promise<{localMs: number | null; arrivals: DemoArrival[]}> {
  const first = await probed.watch!.waitFor(BLOCK_SET, address, timeoutMs).catch(() => undefined)
  const localMs = first ? round(first.at - sentAt) : null
  if (first) emit({address, after: 'probe', host: probed.member.name, ms: localMs!, type: 'banned'})
  else emit({address, host: probed.member.name, timeoutMs, type: 'missed'})
  const arrivals = await Promise.all(hosts.filter((h) => h !== probed).map(async (host): Promise<DemoArrival> => {
    const seen = await host.watch!.waitFor(BLOCK_SET, address, timeoutMs).catch(() => undefined)
    if (!seen) {
      emit({address, host: host.member.name, timeoutMs, type: 'missed'})
      return {host: host.member.name, ms: null}
    }

    // From the probe, like the probed host: a host publishes before its own kernel write, so the
    // others may well block before it does.
    const ms = round(seen.at - sentAt)
    emit({address, after: 'probe', host: host.member.name, ms, type: 'banned'})
    return {host: host.member.name, ms}
  }))
  return {arrivals, localMs}
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100
}

function keepInstructions(star: StarNetwork, hosts: readonly DemoHost[]): {namespaces: Record<string, string>; commands: string[]} {
  const namespaces: Record<string, string> = {hub: star.hub.name}
  for (const member of star.members) namespaces[member.name] = member.netns.name
  const first = hosts[0]!
  return {
    commands: [
      `ip netns exec ${first.member.netns.name} nft list set inet diswall ${BLOCK_SET}`,
      `ip netns exec ${first.member.netns.name} diswall status -c ${first.config}`,
      `ip netns exec ${star.member('attacker').netns.name} curl -m 2 http://${first.member.ipv4}/`,
    ],
    namespaces,
  }
}

