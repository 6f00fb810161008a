/**
 * The server's escalation reaches the kernel sets of a host: a real nats-server with the permissions of
 * `diswall server nats-config` and `diswall server` (the built CLI, escalation steps of seconds) in a hub
 * namespace, and two `diswall daemon`s of account acme (ipset and nftables) in host namespaces linked to
 * it. Another host of acme reports an address: the daemons' block sets take it with the first step; once
 * that ban has ended, a second report makes the server tell the account about the next step, and the
 * kernel entries get the longer timeout. The reporting host is a NATS client run inside the hub.
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath, pathToFileURL} from 'node:url'

import {queryDaemon} from '../../src/lib/daemon/index.js'
import type {DaemonStatus} from '../../src/lib/daemon/index.js'
import {
  cleanupAll, connectNetns, createNetns, type KernelSetEntry, makeTempDir, type NatsServer, type Netns, readKernelSet, type SetBackendKind,
  type SpawnedProcess, startLabDaemon, startNatsServer, uniqueLogPrefix, waitFor, waitForReady, writeLabHost,
} from '../../src/lib/lab/index.js'
import {buildNatsConfig} from '../../src/lib/server/index.js'
import {CLI} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-restore', 'nft', 'nats-server']})

const NATS_PORT = 4222
/** The server's escalation steps, seconds. */
const STEPS = [3, 6] as const
const OFFENDER = '203.0.113.77'
const BLOCK_SET = 'diswall-bl'

after(async () => {
  await cleanupAll()
})

interface Host {
  name: string
  backend: SetBackendKind
  ns: Netns
  socket: string
  daemon?: SpawnedProcess
}

/** What the reporting host got back from the server. */
interface ReportReply {
  /** When the reply arrived, ms since the epoch. */
  at: number
  error: string
  timeout: string
}

/**
 * A host of acme that reports one address with its own block timeout, as a daemon publishes its bans,
 * and prints the server's reply. Runs with node inside the hub (the nats-server listens there only),
 * on the built transport (the CLI under test runs the same build).
 */
const REPORTER = `
import {connectBus, encodeAdd, entryHeaders, HEADER, inboxPrefix, listSubject} from ${JSON.stringify(distUrl('lib/transport/index.js'))}
import {parseAddress} from ${JSON.stringify(distUrl('lib/net/index.js'))}

const [url, address, ttlSec] = process.argv.slice(2)
const bus = await connectBus({inboxPrefix: inboxPrefix('acme'), pass: process.env.REPORTER_PASS, reconnect: false, servers: url, user: 'acme'})
try {
  const entry = {tag: 'ssh', target: parseAddress(address), ttlSec: Number(ttlSec)}
  const reply = await bus.request(listSubject('block', 'add', 'acme', 'h9'), encodeAdd('block', entry), {headers: entryHeaders(entry), timeoutMs: 10000})
  process.stdout.write(JSON.stringify({at: Date.now(), error: reply.headers?.get(HEADER.error) ?? '', timeout: reply.headers?.get(HEADER.timeout) ?? ''}))
} finally {
  await bus.close()
}
`

function distUrl(path: string): string {
  return pathToFileURL(fileURLToPath(new URL(`../../dist/${path}`, import.meta.url))).href
}

describe('server escalation reaches the kernel sets of the account\'s hosts', {skip}, () => {
  let hub: Netns
  let nats: NatsServer | undefined
  let server: SpawnedProcess | undefined
  let base = ''
  let reporter = ''
  let reporterPass = ''
  let removeBase = (): void => {}
  const hosts: Host[] = []
  let firstReply: ReportReply

  const report = async (ttlSec: number): Promise<ReportReply> => {
    const out = await hub.run(process.execPath, [reporter, `nats://127.0.0.1:${NATS_PORT}`, OFFENDER, String(ttlSec)],
      {env: {REPORTER_PASS: reporterPass}, timeoutMs: 30_000})
    const reply = JSON.parse(out) as ReportReply
    assert.equal(reply.error, '', `the server refused the report: ${reply.error}`)
    return reply
  }

  const entryOf = async (host: Host): Promise<KernelSetEntry | undefined> => (await readKernelSet(host.ns, host.backend, BLOCK_SET)).get(OFFENDER)
  const status = (host: Host): Promise<DaemonStatus> => queryDaemon<DaemonStatus>(host.socket, 'status')

  before(async () => {
    const temp = makeTempDir('diswall-escalation-it-')
    base = temp.path
    removeBase = () => temp.remove()
    hub = await createNetns()
    const {text, users} = buildNatsConfig({accounts: [{name: 'acme'}], server: {user: 'diswall-server'}})
    const passwords = new Map(users.map((u) => [u.user, u.password]))
    reporterPass = passwords.get('acme')!
    reporter = join(base, 'report.mjs')
    writeFileSync(reporter, REPORTER)
    nats = await startNatsServer({extraConfig: text, listen: `0.0.0.0:${NATS_PORT}`, netns: hub})

    const serverConfig = join(base, 'server.conf')
    writeFileSync(serverConfig, [
      '[nats]', 'server = "127.0.0.1"', `port = ${NATS_PORT}`, 'client_name = "diswall-server"', `client_pass = "${passwords.get('diswall-server')}"`,
      '[server]', `db = "${join(base, 'server.db')}"`, `socket = "${join(base, 'server.sock')}"`,
      `escalation = [${STEPS.map((s) => `"${s}s"`).join(', ')}]`, '',
    ].join('\n'), {mode: 0o600})
    server = hub.spawn(process.execPath, [CLI, 'server', '-c', serverConfig], {env: {NO_COLOR: '1'}})
    await waitForReady(server, 'the server')

    for (const [name, backend] of [['web1', 'ipset'], ['web2', 'nftables']] as const) {
      const ns = await createNetns()
      const toHub = await connectNetns(hub, ns)
      const host = writeLabHost({
        config: {
          local_only: false,
          send_statistics: false,
          // The account's hosts ban for the first step themselves; only the server knows the later ones.
          // No connections to cut here: kill_connections off spares the test ss and conntrack.
          firewall: {backend, block_timeout: `${STEPS[0]}s`, kill_connections: false},
          detect: {log_prefix: uniqueLogPrefix(`esc${name}`), source: 'kmsg'},
          nats: {
            client_name: 'acme',
            client_pass: reporterPass,
            connect_timeout: '2s',
            hostname: name,
            port: NATS_PORT,
            request_timeout: '5s',
            server: toHub.a.ipv4,
          },
        },
        dir: join(base, name),
        firewall: ['patterns.d/'],
      })
      const entry: Host = {backend, name, ns, socket: host.socket}
      hosts.push(entry)
      entry.daemon = await startLabDaemon({cli: [CLI], config: host.config, name: `daemon ${name}`, netns: ns, timeoutMs: 60_000})
    }
    for (const host of hosts) {
      await waitFor(async () => {
        const link = (await status(host)).nats
        return link?.state === 'connected' && link.init.block.at !== undefined
      }, {timeoutMs: 30_000, what: `daemon ${host.name} connected to NATS with the block list loaded`})
    }
  })

  after(async () => {
    for (const host of hosts) await host.daemon?.stop()
    await server?.stop()
    await nats?.stop()
    for (const host of hosts) await host.ns.remove()
    await hub?.remove()
    removeBase()
  })

  it('a report from another host of the account: the address is in every host\'s block set for the first step', async () => {
    firstReply = await report(STEPS[0])
    assert.equal(firstReply.timeout, String(STEPS[0]), 'the server\'s first step')
    for (const host of hosts) {
      const entry = await waitFor(() => entryOf(host), {timeoutMs: 20_000, what: `${OFFENDER} in the block set of ${host.name} (${host.backend})`})
      assert.ok(entry.expiresSec !== undefined && entry.expiresSec >= 1 && entry.expiresSec <= STEPS[0],
        `${host.name}: the kernel entry expires in ${entry.expiresSec} s`)
    }
  })

  it('reported again after that ban ended: the server\'s next step reaches every host\'s kernel entry', async () => {
    for (const host of hosts) {
      await waitFor(async () => (await entryOf(host)) === undefined, {timeoutMs: 30_000, what: `${OFFENDER} to expire from the set of ${host.name}`})
    }
    // The server counts whole seconds: its ban ends at the latest at the start of the first-step-th
    // second after the one that held its reply. Reported earlier, the address would still be banned there.
    const serverBanEnds = (Math.floor(firstReply.at / 1000) + STEPS[0]) * 1000
    await waitFor(() => Date.now() >= serverBanEnds, {timeoutMs: 10_000, what: 'the server\'s first ban to end'})

    const second = await report(STEPS[0])
    assert.equal(second.timeout, String(STEPS[1]), 'the server\'s second step')
    for (const host of hosts) {
      // The reporter's own message (first step) reaches the host before the server's (next step), and
      // the later write sets the kernel's timeout. The entry counts down: keep the longest one read.
      let longest = 0
      await waitFor(async () => {
        longest = Math.max(longest, (await entryOf(host))?.expiresSec ?? 0)
        return longest > STEPS[0]
      }, {timeoutMs: 20_000, what: `a timeout above ${STEPS[0]} s for ${OFFENDER} in the set of ${host.name} (${host.backend})`})
      assert.ok(longest <= STEPS[1], `${host.name}: the kernel entry expires in ${longest} s`)
      const ban = (await status(host)).lastBans.find((b) => b.target === OFFENDER)
      assert.deepEqual(ban && {source: ban.source, ttlSec: ban.ttlSec}, {source: 'remote diswall-server', ttlSec: STEPS[1]},
        `${host.name}: the last ban of ${OFFENDER} came from the server with the second step`)
    }
  })
})
