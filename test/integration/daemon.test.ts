/**
 * `diswall daemon` as systemd runs it (the built CLI, in the foreground), inside a victim namespace whose
 * ruleset logs what nothing allowed, with an attacker namespace sending real packets over a veth pair.
 * Variants: kmsg source with ipset; pipe source (the test forwards the kernel's lines in rsyslog's
 * `IP PROTO PORT` form, as the original rsyslog config does) with nftables; NFLOG (the ruleset's log
 * rule sends to a group, read with tcpdump) with nftables. Every firewall program runs
 * inside the victim namespace only.
 *
 * The attacker has further addresses in other networks, routed over the veth: 203.0.113.0/24 and
 * 2001:db8:c::/64 (offenders) and 2001:db8:d::/64 (protected ones), so that each case uses a fresh offender and an IPv6 ban covers a whole /64 that is
 * not the link's own.
 */
import assert from 'node:assert/strict'
import {appendFileSync, openSync, renameSync, writeFileSync, writeSync, closeSync, constants} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {KmsgSource,parseKernelLog} from '../../src/lib/detect/index.js'
import {
  applyLabFirewall, cleanupAll, connectNetns, createNetns, enableNetnsLogging, makeTempDir, type Netns, type Probe, probeMany, type ProbeOutcome, readKernelSet,
  type SetBackendKind, type SpawnedProcess, startEchoServer, startLabDaemon, uniqueLogPrefix, waitFor, writeLabHost,
} from '../../src/lib/lab/index.js'
import {CLI, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-restore', 'nft', 'ss', 'conntrack', 'mkfifo', 'tcpdump']})

const VICTIM = {v4: '198.51.100.1', v6: '2001:db8:a::1'} as const
const LINK_ATTACKER = {v4: '198.51.100.2', v6: '2001:db8:a::2'} as const
/** Offender addresses on the attacker, one pair per case. */
const OFFENDER = (n: number) => ({v4: `203.0.113.${n}`, v6: `2001:db8:c::${n.toString(16)}`})
/** Protected addresses live in a /64 of their own: a protected address inside the offenders' /64 would keep it from being banned whole. */
const ALLOWED = {v4: '203.0.113.200', v6: '2001:db8:d::200'} // in the allow set: the firewall accepts it before anything is logged
const IGNORED = {v4: '203.0.113.201', v6: '2001:db8:d::201'} // in ignore_ips: logged, and the daemon never bans it
const OPEN_PROBER = {v4: '203.0.113.202', v6: '2001:db8:d::202'} // probes the open port only
const OPEN_PORT = 8080 // listening, but not opened by the ruleset: logged, and still never a reason to ban
const HTTP = 80 // opened by the ruleset
/** Each namespace has NFLOG groups of its own, so a fixed group cannot collide with other tests. */
const NFLOG_GROUP = 7

after(async () => {
  await cleanupAll()
})

for (const variant of [
  {backend: 'ipset', source: 'kmsg'},
  {backend: 'nftables', source: 'pipe'},
  {backend: 'nftables', source: 'nflog'},
] as const) {
  describe(`diswall daemon (${variant.source} source, ${variant.backend})`, {skip}, () => {
    let victim: Netns
    let attacker: Netns
    let base: string
    let configFile: string
    let authLog: string
    let daemon: SpawnedProcess | undefined
    let forwarder: {close(): Promise<void>} | undefined
    let removeBase = (): void => {}
    const logPrefix = uniqueLogPrefix('dmn')
    const backend: SetBackendKind = variant.backend
    const blockSets = {v4: 'diswall-bl', v6: 'diswall-bl6'}

    const blocked = async (): Promise<string[]> => [
      ...(await readKernelSet(victim, backend, blockSets.v4)).keys(),
      ...(await readKernelSet(victim, backend, blockSets.v6)).keys(),
    ].sort()
    const probe = (probes: Probe[], timeoutMs = 1500): Promise<ProbeOutcome[]> => probeMany(attacker, probes, timeoutMs)
    const outcome = (o: ProbeOutcome): string => (o.ok ? 'ok' : o.code)

    const startDaemon = (): Promise<SpawnedProcess> => startLabDaemon({args: ['--local-only'], cli: [CLI], config: configFile, netns: victim, timeoutMs: 20_000})

    before(async () => {
      await enableNetnsLogging()
      victim = await createNetns()
      attacker = await createNetns()
      const veth = await connectNetns(victim, attacker, {ipv4: [VICTIM.v4, LINK_ATTACKER.v4], ipv6: [VICTIM.v6, LINK_ATTACKER.v6]})
      for (const {v4, v6} of [...[1, 2, 4, 5, 6, 8, 9].map(OFFENDER), ALLOWED, IGNORED, OPEN_PROBER]) {
        await attacker.run('ip', ['addr', 'add', `${v4}/32`, 'dev', veth.b.ifname])
        await attacker.run('ip', ['-6', 'addr', 'add', `${v6}/128`, 'dev', veth.b.ifname, 'nodad'])
      }
      await victim.run('ip', ['route', 'add', '203.0.113.0/24', 'via', LINK_ATTACKER.v4])
      await victim.run('ip', ['-6', 'route', 'add', '2001:db8:c::/63', 'via', LINK_ATTACKER.v6]) // c::/64 and d::/64
      await startEchoServer(victim, HTTP)
      await startEchoServer(victim, OPEN_PORT)

      const temp = makeTempDir('diswall-daemon-it-')
      base = temp.path
      removeBase = () => temp.remove()
      authLog = join(base, 'auth.log')
      writeFileSync(authLog, '')
      configFile = writeLabHost({
        config: {
          ignore_ips: [IGNORED.v4, IGNORED.v6],
          local_only: true,
          firewall: {backend},
          detect: {log_prefix: logPrefix, nflog_group: NFLOG_GROUP, pipe_path: join(base, 'pipe', 'diswall.pipe'), source: variant.source},
        },
        dir: base,
        firewall: {
          'incoming.d/00-established': '',
          'incoming.d/00-related': '',
          'incoming.d/05-essential-icmpv6': '',
          'incoming.d/10-http': '',
          'incoming.d/90-log': '',
          'incoming.d/99-reject': '',
          'outgoing.d/00-accept': '',
          'patterns.d/ssh.patterns': [
            `file = ${authLog}`,
            'ports = 22',
            'tag = ssh',
            'threshold = 3',
            'window = 10m',
            String.raw`^Failed password for \S+ from __IP__ port \d+ ssh2$`,
            '',
          ].join('\n'),
        },
      }).config
      await applyLabFirewall(victim, [CLI], configFile)
      daemon = await startDaemon()
      if (variant.source === 'pipe') forwarder = await forwardToPipe(join(base, 'pipe', 'diswall.pipe'), logPrefix)
    })

    after(async () => {
      await forwarder?.close()
      await daemon?.stop()
      await victim?.remove()
      await attacker?.remove()
      removeBase()
    })

    it('daemon - a SYN to a closed port gets the prober blocked (IPv4 and IPv6 /64); its connection to an open port then fails', async () => {
      const offender = OFFENDER(1)
      // Before: http is open to everybody.
      assert.deepEqual((await probe([{from: offender.v4, host: VICTIM.v4, port: HTTP, proto: 'tcp'}, {from: offender.v6, host: VICTIM.v6, port: HTTP, proto: 'tcp'}])).map(outcome), ['ok', 'ok'])
      await probe([{from: offender.v4, host: VICTIM.v4, port: 23, proto: 'tcp'}, {from: offender.v6, host: VICTIM.v6, port: 23, proto: 'tcp'}], 300)
      await waitFor(async () => (await blocked()).length === 2, {what: 'both bans in the kernel sets', timeoutMs: 10_000})
      assert.deepEqual(await blocked(), ['2001:db8:c::/64', offender.v4])
      const after = await probe([
        {from: offender.v4, host: VICTIM.v4, port: HTTP, proto: 'tcp'},
        {from: offender.v6, host: VICTIM.v6, port: HTTP, proto: 'tcp'},
        {from: OFFENDER(2).v6, host: VICTIM.v6, port: HTTP, proto: 'tcp'}, // same /64
        {from: OFFENDER(2).v4, host: VICTIM.v4, port: HTTP, proto: 'tcp'}, // not banned
      ], 800)
      assert.deepEqual(after.map(outcome), ['ETIMEDOUT', 'ETIMEDOUT', 'ETIMEDOUT', 'ok'])
    })

    it('daemon - a packet to an open (listening) port does not ban; allow-listed and ignored probers are not banned', async () => {
      const allowed = await runCli(['allow', 'add', ALLOWED.v4, ALLOWED.v6, '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', victim.name]})
      assert.equal(allowed.code, 0, allowed.stdout + allowed.stderr)
      const before = await blocked()
      // The log rule limits per address (2 packets/s, burst 5): pause so that every probe is logged.
      await sleep(600)
      await probe([
        {from: OPEN_PROBER.v4, host: VICTIM.v4, port: OPEN_PORT, proto: 'tcp'},
        {from: OPEN_PROBER.v6, host: VICTIM.v6, port: OPEN_PORT, proto: 'tcp'},
        {from: ALLOWED.v4, host: VICTIM.v4, port: 23, proto: 'tcp'},
        {from: ALLOWED.v6, host: VICTIM.v6, port: 23, proto: 'tcp'},
        {from: IGNORED.v4, host: VICTIM.v4, port: 23, proto: 'tcp'},
        {from: IGNORED.v6, host: VICTIM.v6, port: 23, proto: 'tcp'},
      ], 300)
      // A later probe that does ban shows that the lines before it were handled.
      await sleep(600)
      await probe([{from: OFFENDER(4).v4, host: VICTIM.v4, port: 25, proto: 'tcp'}], 300)
      await waitFor(async () => (await blocked()).includes(OFFENDER(4).v4), {what: 'the marker ban', timeoutMs: 10_000})
      assert.deepEqual((await blocked()).filter((t) => !before.includes(t)), [OFFENDER(4).v4])
      const status = await runCli(['status', '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', victim.name]})
      assert.equal(status.code, 0, status.stdout + status.stderr)
      const result = status.json.result
      assert.ok(result.detect.openPorts >= 2, JSON.stringify(result.detect))
      assert.ok(result.detect.protected >= 2, JSON.stringify(result.detect))
      assert.equal(result.backend.name, backend)
      assert.ok(result.sources.some((s: {name: string; state: string}) => s.name === variant.source && s.state === 'running'), JSON.stringify(result.sources))
    })

    if (variant.source === 'kmsg') {
      it('daemon - auth.log lines ban at the threshold and not before, across a rotation', async () => {
        const offender = OFFENDER(5).v4
        const fail = (port: number) => `Failed password for root from ${offender} port ${port} ssh2\n`
        appendFileSync(authLog, fail(1) + fail(2))
        await waitFor(async () => {
          const s = await runCli(['status', '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', victim.name]})
          return s.json?.result?.detect?.matches >= 2
        }, {what: 'the two matches', timeoutMs: 10_000})
        assert.ok(!(await blocked()).includes(offender), 'banned before the threshold')
        renameSync(authLog, `${authLog}.1`) // logrotate: the old file moves away, a new one appears
        writeFileSync(authLog, fail(3))
        await waitFor(async () => (await blocked()).includes(offender), {what: 'the ban at the third line', timeoutMs: 10_000})
      })

      it('daemon - SIGHUP reads a new pattern file; its log is followed without a restart', async () => {
        const appLog = join(base, 'app.log')
        writeFileSync(join(base, 'firewall', 'patterns.d', 'app.patterns'),
          `file = ${appLog}\nports = all\ntag = app\nthreshold = 1\n^bad login from __IP__$\n`)
        process.kill(daemon!.pid, 'SIGHUP')
        await waitFor(() => /reloaded: 2 pattern files/.test(daemon!.output().stdout), {what: 'the reload', timeoutMs: 10_000})
        const offender = OFFENDER(7).v4
        // A follower starts at the end of its file: append only once it runs.
        await waitFor(async () => {
          const status = await runCli(['status', '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', victim.name]})
          return status.json?.result?.sources?.some((s: {name: string; state: string}) => s.name === `file:${appLog}` && s.state === 'running')
        }, {what: 'the new follower to run', timeoutMs: 10_000})
        appendFileSync(appLog, `bad login from ${offender}\n`)
        await waitFor(async () => (await blocked()).includes(offender), {what: 'the ban from the new pattern file', timeoutMs: 10_000})
        assert.match(daemon!.output().stdout, new RegExp(`ban ${offender.replaceAll('.', '\\.')}: app `))
      })
    }

    /** Stops the daemon (exit 0) and returns its stdout. */
    const stopDaemon = async (): Promise<string> => {
      const exit = await daemon!.stop(10_000)
      const {stderr, stdout} = daemon!.output()
      assert.deepEqual(exit, {code: 0, signal: null}, stdout + stderr)
      daemon = undefined
      return stdout
    }
    /** Empties the block sets, as a reboot does. */
    const flushBlockSets = async (): Promise<void> => {
      if (backend === 'ipset') {
        for (const set of Object.values(blockSets)) await victim.run('ipset', ['flush', set])
      } else {
        // On nftables the IPv6 block list also has its address and /64 sets.
        for (const set of [...Object.values(blockSets), `${blockSets.v6}-addr`, `${blockSets.v6}-net64`]) {
          await victim.run('nft', ['flush', 'set', 'inet', 'diswall', set])
        }
      }
      assert.deepEqual(await blocked(), [])
    }

    it('daemon - restart after a `block del` made while it ran: stop saves the snapshot; after a reboot the bans are back, the deleted one not', async () => {
      const offender = OFFENDER(6)
      await probe([{from: offender.v4, host: VICTIM.v4, port: 23, proto: 'tcp'}], 300)
      await waitFor(async () => (await blocked()).includes(offender.v4), {what: 'the ban', timeoutMs: 10_000})
      // The daemon journaled the ban; the command removes it behind the daemon's back.
      const del = await runCli(['block', 'del', offender.v4, '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', victim.name]})
      assert.equal(del.code, 0, del.stdout + del.stderr)
      assert.equal(del.json.result.removed, 1, del.stdout)
      const banned = await blocked()
      assert.ok(!banned.includes(offender.v4))
      await sleep(1100) // the marker is then older than the snapshot the stop saves by more than the coarse-clock margin
      const stdout = await stopDaemon()
      assert.match(stdout, /saving the snapshot at stop: a command changed the sets at \S+ \(sets\.changed\)/)
      assert.match(stdout, /saved \d+ entries/)
      await flushBlockSets()
      daemon = await startDaemon()
      assert.deepEqual(await blocked(), banned)
      assert.match(daemon.output().stdout, /restored \d+ entries/)
      // And it still detects.
      await probe([{from: OFFENDER(8).v4, host: VICTIM.v4, port: 23, proto: 'tcp'}], 300)
      await waitFor(async () => (await blocked()).includes(OFFENDER(8).v4), {what: 'a ban after the restart', timeoutMs: 10_000})
    })

    it('daemon - restart with nothing changed behind the daemon: stop keeps the journal (no snapshot); after a reboot the bans are back', async () => {
      const offender = OFFENDER(9)
      await probe([{from: offender.v4, host: VICTIM.v4, port: 23, proto: 'tcp'}], 300)
      await waitFor(async () => (await blocked()).includes(offender.v4), {what: 'the ban', timeoutMs: 10_000})
      const banned = await blocked()
      const stdout = await stopDaemon()
      assert.match(stdout, /journal closed: \d+ changes since the snapshot of \S+ kept for the next start/)
      assert.doesNotMatch(stdout, /saving the snapshot at stop|saved \d+ entries/)
      await flushBlockSets()
      daemon = await startDaemon()
      assert.deepEqual(await blocked(), banned)
      assert.match(daemon.output().stdout, /restored \d+ entries/)
      assert.match(daemon.output().stdout, /replayed the journal \(segments [\d, ]+\): [1-9]\d* entries added/)
      const status = await runCli(['status', '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', victim.name]})
      assert.equal(status.code, 0, status.stdout + status.stderr)
      assert.ok(status.json.result.snapshot.replayed >= 1, JSON.stringify(status.json.result.snapshot))
    })
  })
}

/**
 * What rsyslog does with the original DisWall config: kernel lines with the prefix go to the FIFO in the
 * `IP PROTO PORT` form. Reads /dev/kmsg (this test's prefix only) and writes each line into the FIFO.
 */
async function forwardToPipe(path: string, prefix: string): Promise<{close(): Promise<void>}> {
  const source = new KmsgSource({match: [prefix], name: 'forwarder'})
  const loop = (async () => {
    await waitFor(() => {
      try {
        closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK))
        return true
      } catch {
        return false
      }
    }, {what: 'the daemon\'s FIFO'})
    const fd = openSync(path, constants.O_WRONLY)
    try {
      for await (const line of source.start()) {
        const packet = parseKernelLog(line.text, prefix)
        if (packet) writeSync(fd, `${packet.src.text} ${packet.proto.toUpperCase()} ${packet.dpt ?? ''}\n`)
      }
    } finally {
      closeSync(fd)
    }
  })()
  await waitFor(() => source.health().state === 'running', {what: 'the forwarder to read /dev/kmsg'})
  return {
    async close() {
      await source.close()
      await loop.catch(() => {})
    },
  }
}
