/**
 * The fleet: two `diswall daemon`s (the built CLI) in namespaces A and B, a real nats-server in a hub
 * namespace linked to both, and an attacker namespace linked to both hosts. One SYN to a closed port of
 * A gets the attacker blocked on B; `block del` on A lifts it on B; `allow add` on A reaches B. Faults:
 * the NATS server stopped while A detects, a restart of A while NATS is down, hostile payloads and
 * payloads naming B's own address, the NATS server or loopback.
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {
  applyLabFirewall, cleanupAll, connectNetns, createNetns, enableNetnsLogging, makeTempDir, type NatsServer, type Netns, probeMany, readKernelSet,
  type SpawnedProcess, startEchoServer, startLabDaemon, startNatsServer, uniqueLogPrefix, waitFor, writeLabHost,
} from '../../src/lib/lab/index.js'
import {CLI, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-restore', 'ss', 'conntrack', 'nats-server']})

const NATS_PORT = 4222
const HTTP = 80
const A_LINK = {attacker: '198.51.100.2', host: '198.51.100.1'}
const B_LINK = {attacker: '192.0.2.2', host: '192.0.2.1'}
const OFFENDER = (n: number): string => `203.0.113.${n}`
const USERS = [{password: 'pw', user: 'acme'}, {password: 'pw', user: 'other'}]

after(async () => {
  await cleanupAll()
})

interface Host {
  name: 'a' | 'b'
  ns: Netns
  config: string
  natsAddress: string
  daemon?: SpawnedProcess
}

describe('fleet: two daemons share bans over a real nats-server', {skip}, () => {
  let hub: Netns
  let attacker: Netns
  let nats: NatsServer | undefined
  const hosts = {} as Record<'a' | 'b', Host>
  let removeBase = (): void => {}
  let base = ''

  const cli = (host: Host, args: string[]) => runCli([...args, '-c', host.config], {wrap: ['ip', 'netns', 'exec', host.ns.name]})
  const blocked = async (host: Host): Promise<string[]> => [...(await readKernelSet(host.ns, 'ipset', 'diswall-bl')).keys()].sort()
  const allowed = async (host: Host): Promise<string[]> => [...(await readKernelSet(host.ns, 'ipset', 'diswall-wl')).keys()].sort()
  const startNats = async (): Promise<NatsServer> => startNatsServer({listen: `0.0.0.0:${NATS_PORT}`, netns: hub, users: USERS})

  const startDaemon = (host: Host): Promise<SpawnedProcess> => startLabDaemon({cli: [CLI], config: host.config, name: `daemon ${host.name}`, netns: host.ns})

  const natsState = async (host: Host): Promise<{state: string; queued: number; refused: Record<string, number>}> => {
    const s = await cli(host, ['status', '--json'])
    assert.equal(s.code, 0, s.stdout + s.stderr)
    return s.json.result.nats
  }

  /** Publishes raw payloads on the hub's loopback, as any client of the account could. */
  const publishRaw = async (messages: Array<{subject: string; payload: string}>): Promise<void> => {
    const natsMain = createRequire(import.meta.url).resolve('nats')
    const script = join(base, 'publish.cjs')
    writeFileSync(script, `
const {connect} = require(${JSON.stringify(natsMain)})
;(async () => {
  const nc = await connect({port: ${NATS_PORT}, user: 'acme', pass: 'pw'})
  for (const m of ${JSON.stringify(messages)}) nc.publish(m.subject, m.payload)
  await nc.flush()
  await nc.close()
})()
`)
    await hub.run(process.execPath, [script])
  }

  before(async () => {
    await enableNetnsLogging()
    hub = await createNetns()
    attacker = await createNetns()
    const temp = makeTempDir('diswall-fleet-it-')
    base = temp.path
    removeBase = () => temp.remove()
    for (const [name, link] of [['a', A_LINK], ['b', B_LINK]] as const) {
      const ns = await createNetns()
      const toHub = await connectNetns(hub, ns)
      const toAttacker = await connectNetns(ns, attacker, {ipv4: [link.host, link.attacker], ipv6: [`2001:db8:${name === 'a' ? 'a' : 'b'}::1`, `2001:db8:${name === 'a' ? 'a' : 'b'}::2`]})
      await ns.run('ip', ['route', 'add', '203.0.113.0/24', 'via', link.attacker])
      if (name === 'a') {
        for (let n = 1; n <= 40; n++) await attacker.run('ip', ['addr', 'add', `${OFFENDER(n)}/32`, 'dev', toAttacker.b.ifname])
      }
      await startEchoServer(ns, HTTP)
      const {config} = writeLabHost({
        config: {
          local_only: false,
          send_statistics: false,
          firewall: {backend: 'ipset'},
          detect: {log_prefix: uniqueLogPrefix(`fl${name}`), skip_private: false, source: 'kmsg'},
          nats: {
            client_name: 'acme',
            client_pass: 'pw',
            connect_timeout: '2s',
            hostname: `host-${name}`,
            port: NATS_PORT,
            request_timeout: '2s',
            server: toHub.a.ipv4,
          },
        },
        dir: join(base, name),
        firewall: ['incoming.d/00-established', 'incoming.d/00-related', 'incoming.d/05-essential-icmpv6', 'incoming.d/10-http',
          'incoming.d/90-log', 'incoming.d/99-reject', 'outgoing.d/00-accept', 'patterns.d/'],
      })
      hosts[name] = {config, name, natsAddress: toHub.a.ipv4, ns}
      await applyLabFirewall(ns, [CLI], config)
    }
    nats = await startNats()
    hosts.a.daemon = await startDaemon(hosts.a)
    hosts.b.daemon = await startDaemon(hosts.b)
    await waitFor(async () => (await natsState(hosts.a)).state === 'connected' && (await natsState(hosts.b)).state === 'connected',
      {timeoutMs: 15_000, what: 'both daemons connected to NATS'})
  })

  after(async () => {
    await hosts.a?.daemon?.stop()
    await hosts.b?.daemon?.stop()
    await nats?.stop()
    for (const host of Object.values(hosts)) await host.ns.remove()
    await hub?.remove()
    await attacker?.remove()
    removeBase()
  })

  it('one SYN to a closed port of A gets the attacker blocked on B; its connection to B’s open port then fails', async () => {
    const offender = OFFENDER(1)
    const before = await probeMany(attacker, [{from: offender, host: B_LINK.host, port: HTTP, proto: 'tcp'}])
    assert.equal(before[0].ok, true, JSON.stringify(before))
    await probeMany(attacker, [{from: offender, host: A_LINK.host, port: 23, proto: 'tcp'}], 300)
    await waitFor(async () => (await blocked(hosts.b)).includes(offender), {timeoutMs: 10_000, what: 'the ban on B'})
    assert.ok((await blocked(hosts.a)).includes(offender))
    const afterBan = await probeMany(attacker, [{from: offender, host: B_LINK.host, port: HTTP, proto: 'tcp'}], 800)
    assert.equal(afterBan[0].ok, false)
    assert.equal(afterBan[0].ok ? '' : afterBan[0].code, 'ETIMEDOUT')
  })

  it('block del on A removes the ban on B; allow add on A reaches both hosts', async () => {
    const offender = OFFENDER(1)
    const del = await cli(hosts.a, ['block', 'del', offender, '--json'])
    assert.equal(del.code, 0, del.stdout + del.stderr)
    assert.equal(del.json.result.shared.published, true)
    await waitFor(async () => !(await blocked(hosts.b)).includes(offender), {timeoutMs: 10_000, what: 'the ban lifted on B'})
    const office = '203.0.113.250'
    const add = await cli(hosts.a, ['allow', 'add', office, '--comment', 'office', '--json'])
    assert.equal(add.code, 0, add.stdout + add.stderr)
    await waitFor(async () => (await allowed(hosts.b)).includes(office), {timeoutMs: 10_000, what: 'the allow entry on B'})
    assert.ok((await allowed(hosts.a)).includes(office))
  })

  it('payloads naming B’s own address, the NATS server or loopback, and hostile ones, are not applied on B', async () => {
    const before = await blocked(hosts.b)
    const subject = 'diswall.blacklist.acme.add.intruder'
    await publishRaw([
      {payload: B_LINK.host, subject},
      {payload: `${hosts.b.natsAddress}|ssh`, subject},
      {payload: '127.0.0.1', subject},
      {payload: '203.0.113.9; flush', subject},
      {payload: `203.0.113.9|${'x'.repeat(2000)}`, subject},
      {payload: '203.0.113.10', subject: 'diswall.blacklist.other.add.intruder'},
      {payload: OFFENDER(30), subject}, // a valid one last: when it is in, the others were handled
    ])
    await waitFor(async () => (await blocked(hosts.b)).includes(OFFENDER(30)), {timeoutMs: 10_000, what: 'the valid marker on B'})
    assert.deepEqual((await blocked(hosts.b)).filter((t) => !before.includes(t)), [OFFENDER(30)])
    const state = await natsState(hosts.b)
    assert.equal(state.refused.address, 1)
    assert.equal(state.refused.oversized, 1)
    const log = hosts.b.daemon!.output().stdout
    assert.match(log, /refused to ban .*the NATS server/)
    assert.match(log, /refused to ban .*an address of this host/)
  })

  it('NATS stopped while A detects three attackers: A blocks them at once, B gets them once NATS is back', async () => {
    await nats!.stop()
    nats = undefined
    await waitFor(async () => (await natsState(hosts.a)).state !== 'connected', {timeoutMs: 15_000, what: 'A to notice the outage'})
    const offenders = [OFFENDER(11), OFFENDER(12), OFFENDER(13)]
    for (const offender of offenders) {
      await probeMany(attacker, [{from: offender, host: A_LINK.host, port: 23, proto: 'tcp'}], 300)
      await sleep(150) // the log rule's rate limit
    }
    await waitFor(async () => (await blocked(hosts.a)).filter((t) => offenders.includes(t)).length === 3,
      {timeoutMs: 10_000, what: 'the three local bans on A'})
    assert.deepEqual((await blocked(hosts.b)).filter((t) => offenders.includes(t)), [])
    assert.equal((await natsState(hosts.a)).queued, 3)
    nats = await startNats()
    await waitFor(async () => (await blocked(hosts.b)).filter((t) => offenders.includes(t)).length === 3,
      {timeoutMs: 30_000, what: 'the queued reports on B'})
  })

  it('a daemon restarted while NATS is down still delivers its queued reports', async () => {
    await nats!.stop()
    nats = undefined
    await waitFor(async () => (await natsState(hosts.a)).state !== 'connected', {timeoutMs: 15_000, what: 'A to notice the outage'})
    const offender = OFFENDER(20)
    await probeMany(attacker, [{from: offender, host: A_LINK.host, port: 23, proto: 'tcp'}], 300)
    await waitFor(async () => (await blocked(hosts.a)).includes(offender), {timeoutMs: 10_000, what: 'the local ban on A'})
    await hosts.a.daemon!.stop()
    hosts.a.daemon = await startDaemon(hosts.a)
    assert.equal((await natsState(hosts.a)).queued, 1)
    nats = await startNats()
    await waitFor(async () => (await blocked(hosts.b)).includes(offender), {timeoutMs: 30_000, what: 'the report queued before the restart, on B'})
  })

  it('allow add while NATS cannot be reached changes the local set, says so, and exits 8', async () => {
    await nats!.stop()
    nats = undefined
    const started = Date.now()
    const add = await cli(hosts.a, ['allow', 'add', '203.0.113.251', '--json'])
    assert.equal(add.code, 8, add.stdout + add.stderr)
    assert.ok(Date.now() - started < 20_000, 'no hang')
    assert.equal(add.json.ok, true)
    assert.equal(add.json.result.shared.published, false)
    assert.match(add.json.warnings.join('\n'), /changed on this host only/)
    assert.ok((await allowed(hosts.a)).includes('203.0.113.251'))
    nats = await startNats()
  })
})
