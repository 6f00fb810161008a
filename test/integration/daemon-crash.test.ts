/**
 * A crash of `diswall daemon` loses at most the last second of bans: the built CLI runs in a namespace
 * with the pipe source (lines written into its FIFO, as rsyslog does), bans 200 addresses, is killed
 * with SIGKILL 1.5 s after the first line (no stop, so no snapshot: the snapshot interval is 10 min),
 * the kernel sets are flushed as by a reboot, and a new daemon must have every ban back in the kernel
 * when it prints `ready`. Every firewall program runs inside the test's namespace only.
 */
import assert from 'node:assert/strict'
import {closeSync, constants, existsSync, mkdirSync, openSync, writeFileSync, writeSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {cleanupAll, createNetns, type Netns, readKernelSet, type SetBackendKind, type SpawnedProcess, waitFor, makeTempDir} from '../../src/lib/lab/index.js'
import {CLI} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'mkfifo']})

const BANS = 200
/** 200 offenders: 203.0.113.1–.100 and 198.51.100.1–.100 (documentation ranges, never protected). */
const OFFENDERS = Array.from({length: BANS}, (_, i) => (i < 100 ? `203.0.113.${i + 1}` : `198.51.100.${i - 99}`))

after(async () => {
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const satisfies readonly SetBackendKind[]) {
  describe(`diswall daemon crash (pipe source, ${backend})`, {skip}, () => {
    let victim: Netns
    let base: string
    let configFile: string
    let pipePath: string
    let daemon: SpawnedProcess | undefined
    let removeBase = (): void => {}

    const blocked = async (): Promise<string[]> => [...(await readKernelSet(victim, backend, 'diswall-bl')).keys()].sort()

    const startDaemon = async (): Promise<{proc: SpawnedProcess; atReady: string[]}> => {
      const proc = victim.spawn(process.execPath, [CLI, 'daemon', '-c', configFile, '--local-only'], {env: {NO_COLOR: '1'}})
      await waitFor(() => {
        if (proc.exitStatus) throw new Error(`the daemon exited ${JSON.stringify(proc.exitStatus)}: ${proc.output().stdout}${proc.output().stderr}`)
        return / ready: /.test(proc.output().stdout)
      }, {intervalMs: 5, timeoutMs: 30_000, what: 'the daemon to be ready'})
      // Read right after `ready`: whatever is missing now was not restored before the daemon said so.
      return {atReady: await blocked(), proc}
    }

    before(async () => {
      victim = await createNetns()
      const temp = makeTempDir('diswall-crash-it-')
      base = temp.path
      removeBase = () => temp.remove()
      const dir = join(base, 'firewall')
      mkdirSync(join(dir, 'patterns.d'), {recursive: true}) // no pattern files: packets only
      pipePath = join(base, 'pipe', 'diswall.pipe')
      configFile = join(base, 'diswall.conf')
      writeFileSync(configFile, [
        'local_only = true',
        '[firewall]',
        `backend = "${backend}"`,
        `dir = "${dir}"`,
        'kill_connections = false',
        '[detect]',
        'source = "pipe"',
        `pipe_path = "${pipePath}"`,
        '[daemon]',
        `state_dir = "${join(base, 'state')}"`,
        `socket = "${join(base, 'diswall.sock')}"`,
        'snapshot_interval = "10m"',
        '',
      ].join('\n'))
    })

    after(async () => {
      await daemon?.stop()
      await victim?.remove()
      removeBase()
    })

    it(`daemon - kill -9 1.5 s after ${BANS} bans, sets flushed as by a reboot: every ban is back when it reports ready`, async () => {
      daemon = (await startDaemon()).proc
      assert.deepEqual(await blocked(), [])
      // `ready` comes before the source has opened its FIFO (a known start-up gap): wait for a reader.
      let fd = -1
      await waitFor(() => {
        try {
          fd = openSync(pipePath, constants.O_WRONLY | constants.O_NONBLOCK)
          return true
        } catch {
          return false
        }
      }, {timeoutMs: 10_000, what: 'the daemon\'s FIFO'})
      const firstLine = Date.now()
      try {
        // The original rsyslog template: `IP PROTO PORT`; a probe of port 23 bans on the first packet.
        for (const address of OFFENDERS) writeSync(fd, `${address} TCP 23\n`)
      } finally {
        closeSync(fd)
      }
      await waitFor(async () => (await blocked()).length === BANS, {timeoutMs: 10_000, what: `${BANS} bans in the kernel`})
      await sleep(Math.max(0, firstLine + 1500 - Date.now()))
      daemon.signal('SIGKILL')
      const exit = await daemon.exited
      assert.equal(exit.signal, 'SIGKILL')
      daemon = undefined
      assert.ok(!existsSync(join(base, 'state', 'sets.snapshot')), 'a snapshot was saved: the crash must leave none')

      if (backend === 'ipset') {
        for (const set of ['diswall-bl', 'diswall-bl6']) await victim.run('ipset', ['flush', set])
      } else {
        for (const set of ['diswall-bl', 'diswall-bl6', 'diswall-bl6-addr', 'diswall-bl6-net64']) await victim.run('nft', ['flush', 'set', 'inet', 'diswall', set])
      }
      assert.deepEqual(await blocked(), [])

      const restarted = await startDaemon()
      daemon = restarted.proc
      assert.deepEqual(restarted.atReady, [...OFFENDERS].sort(), restarted.proc.output().stdout)
      assert.match(restarted.proc.output().stdout, new RegExp(`replayed the journal \\(segments 0\\): ${BANS} entries added`))
    })
  })
}
