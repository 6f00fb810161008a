/**
 * `diswall daemon` (the built CLI) and its packet sources at the edges of its life: a probe sent the
 * moment `ready` is printed, probes sent while the daemon was down (kmsg), and a restart after
 * `kill -9` (nflog). The victim namespace has a ruleset that
 * logs and rejects what nothing allowed; the attacker namespace runs one long-lived sender that sends
 * a UDP datagram from a fresh offender address as soon as the test drops a trigger file (inotify), so
 * that no process start stands between `ready` and the probe. Every firewall program runs inside the
 * victim namespace only.
 */
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {
  applyLabFirewall, cleanupAll, connectNetns, createNetns, enableNetnsLogging, makeTempDir, type Netns, readKernelSet, type SpawnedProcess, spawnLabDaemon,
  startLabDaemon, uniqueLogPrefix, waitFor, writeLabHost,
} from '../../src/lib/lab/index.js'
import {CLI} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-restore', 'nft', 'ss', 'conntrack', 'tcpdump', 'setpriv']})

const VICTIM = '198.51.100.1'
const LINK_ATTACKER = '198.51.100.2'
/** Offender n (1–150) sends the n-th probe: every probe comes from an address not banned yet. */
const OFFENDER = (n: number): string => `203.0.113.${n}`
const OFFENDERS = 40
const NFLOG_GROUP = 7
const PROBE_PORT = 23

/**
 * The sender, run in the attacker namespace: for every file `N` created in argv[1], one UDP datagram
 * from 203.0.113.N to argv[2]:argv[3]; prints `sent N` after each.
 */
const SENDER_SCRIPT = `
const fs = require('node:fs')
const dgram = require('node:dgram')
const [dir, host, port] = [process.argv[1], process.argv[2], Number(process.argv[3])]
const done = new Set()
const send = (n) => {
  const socket = dgram.createSocket('udp4')
  socket.on('error', (e) => { console.log('error ' + n + ' ' + e.message); socket.close() })
  socket.bind({address: '203.0.113.' + n}, () => socket.send('probe', port, host, () => { console.log('sent ' + n); socket.close() }))
}
const scan = () => {
  for (const name of fs.readdirSync(dir)) if (/^\\d+$/.test(name) && !done.has(name)) { done.add(name); send(Number(name)) }
}
fs.watch(dir, scan)
setInterval(scan, 200)
console.log('watching')
`

after(async () => {
  await cleanupAll()
})

for (const source of ['kmsg', 'nflog'] as const) {
  describe(`diswall daemon - ${source} source at start and after kill -9`, {skip}, () => {
    let victim: Netns
    let attacker: Netns
    let base: string
    let triggers: string
    let configFile: string
    let sender: SpawnedProcess
    let daemon: SpawnedProcess | undefined
    let removeBase = (): void => {}
    let probes = 0
    const logPrefix = uniqueLogPrefix('src')

    const blocked = async (): Promise<string[]> => [...(await readKernelSet(victim, 'ipset', 'diswall-bl')).keys()]

    /** Sends the next probe from a fresh offender at once; returns its address. */
    const probe = (): string => {
      const n = ++probes
      writeFileSync(join(triggers, String(n)), '')
      return OFFENDER(n)
    }

    /** Starts the daemon and, the moment it prints `ready`, sends a probe. */
    const startAndProbe = async (): Promise<{proc: SpawnedProcess; offender: string}> => {
      // Its output looked at every millisecond rather than at waitFor's interval: the probe must follow `ready` closely.
      const proc = await startLabDaemon({args: ['--local-only'], cli: [CLI], config: configFile, intervalMs: 1, netns: victim})
      daemon = proc
      return {offender: probe(), proc}
    }

    const waitBanned = async (offender: string, proc: SpawnedProcess): Promise<void> => {
      await waitFor(async () => (await blocked()).includes(offender), {
        timeoutMs: 10_000,
        what: `the ban of ${offender}; daemon output:\n${proc.output().stdout}${proc.output().stderr}`,
      })
    }

    /** PIDs of the tcpdump processes in the victim namespace. */
    const tcpdumps = async (): Promise<number[]> => {
      const pids = await victim.pids()
      return pids.filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'tcpdump' && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')
        } catch {
          return false
        }
      })
    }

    before(async () => {
      await enableNetnsLogging()
      victim = await createNetns()
      attacker = await createNetns()
      const veth = await connectNetns(victim, attacker, {ipv4: [VICTIM, LINK_ATTACKER]})
      for (let n = 1; n <= OFFENDERS; n++) await attacker.run('ip', ['addr', 'add', `${OFFENDER(n)}/32`, 'dev', veth.b.ifname])
      await victim.run('ip', ['route', 'add', '203.0.113.0/24', 'via', LINK_ATTACKER])

      const temp = makeTempDir('diswall-sources-it-')
      base = temp.path
      removeBase = () => temp.remove()
      triggers = join(base, 'triggers')
      mkdirSync(triggers)
      configFile = writeLabHost({
        config: {
          local_only: true,
          firewall: {backend: 'ipset'},
          detect: {log_prefix: logPrefix, nflog_group: NFLOG_GROUP, source},
        },
        dir: base,
        firewall: ['incoming.d/00-established', 'incoming.d/90-log', 'incoming.d/99-reject', 'outgoing.d/00-accept', 'patterns.d/'],
      }).config
      await applyLabFirewall(victim, [CLI], configFile)

      sender = attacker.spawn(process.execPath, ['-e', SENDER_SCRIPT, triggers, VICTIM, String(PROBE_PORT)])
      await waitFor(() => sender.output().stdout.includes('watching'), {what: 'the sender'})
    })

    after(async () => {
      await daemon?.stop()
      await sender?.stop()
      await victim?.remove()
      await attacker?.remove()
      removeBase()
    })

    it(`daemon (${source}) - a probe sent the moment ready is printed is always banned`, async () => {
      for (let i = 0; i < 8; i++) {
        const {offender, proc} = await startAndProbe()
        try {
          await waitBanned(offender, proc)
        } finally {
          await proc.stop(10_000)
        }
        // A short pause between daemons (the log rule limits per address: 2 packets/s, burst 5).
        await sleep(150)
      }
    })

    if (source === 'kmsg') {
      it('daemon (kmsg) - probes logged while the daemon was down (stopped, or killed with SIGKILL) are banned when it starts', async () => {
        for (const how of ['SIGTERM', 'SIGKILL'] as const) {
          const first = await startAndProbe()
          await waitBanned(first.offender, first.proc)
          // The position is written at most a second after a record; SIGTERM writes it at once.
          if (how === 'SIGKILL') await sleep(1500)
          process.kill(first.proc.pid, how)
          await first.proc.exited
          await sleep(150)
          const offender = probe()
          await waitFor(() => sender.output().stdout.includes(`sent ${probes}\n`), {what: 'the probe to be sent'})
          const again = await startAndProbe()
          try {
            await waitBanned(offender, again.proc)
            await waitBanned(again.offender, again.proc)
          } finally {
            await again.proc.stop(10_000)
          }
          await sleep(150)
        }
      })
    }

    if (source === 'nflog') {
      it('daemon (nflog) - after kill -9 its tcpdump is gone, and a new daemon reads on its first run and bans', async () => {
        const {offender, proc} = await startAndProbe()
        await waitBanned(offender, proc)
        assert.equal((await tcpdumps()).length, 1, 'one tcpdump while the daemon runs')
        // The daemon alone, not its process group (which would take tcpdump with it).
        process.kill(proc.pid, 'SIGKILL')
        await proc.exited
        await waitFor(async () => (await tcpdumps()).length === 0, {timeoutMs: 5000, what: 'tcpdump to die with the daemon'})

        const again = await startAndProbe()
        try {
          await waitBanned(again.offender, again.proc)
          const out = again.proc.output().stdout
          assert.match(out, /source nflog reads\n/, out)
          assert.doesNotMatch(out, /source nflog (stopped|is not reading)/, out)
        } finally {
          await again.proc.stop(10_000)
        }
      })

      it('daemon (nflog) - a group held by another program is reported with its PID; the source reads once it is free', async () => {
        const holder = victim.spawn('tcpdump', ['-l', '-n', '-i', `nflog:${NFLOG_GROUP}`])
        await waitFor(() => holder.output().stderr.includes('listening on'), {what: 'the other tcpdump'})
        const proc = spawnLabDaemon({args: ['--local-only'], cli: [CLI], config: configFile, netns: victim})
        daemon = proc
        try {
          await waitFor(() => proc.output().stdout.includes(`NFLOG group ${NFLOG_GROUP} is taken by PID ${holder.pid} (tcpdump`), {
            timeoutMs: 15_000, what: `the report of PID ${holder.pid}: ${proc.output().stdout}`})
          await holder.stop()
          await waitFor(() => /source nflog reads \(run \d+\)/.test(proc.output().stdout), {timeoutMs: 30_000, what: 'the source to read'})
          await waitFor(() => / ready: /.test(proc.output().stdout), {timeoutMs: 15_000, what: 'ready'})
          const offender = probe()
          await waitBanned(offender, proc)
        } finally {
          await holder.stop()
          await proc.stop(10_000)
        }
      })
    }
  })
}
