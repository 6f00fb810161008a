/**
 * A wide scan against `diswall daemon` (the built CLI): 2,000 distinct source addresses each send one
 * TCP SYN to a closed port within one second, and every one of them is banned. The victim's ruleset
 * (`firewall apply`) logs what nothing allowed with the `log` template, limited per source address, and
 * drops it; the daemon reads the log from /dev/kmsg or NFLOG, with the ipset or the nftables backend.
 * The time from the last SYN to the last ban is printed; timing targets are in the bench (P10).
 * Every firewall program runs inside the victim namespace only.
 */
import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import {
  addScanSources,
  cleanupAll,
  connectNetns,
  countKernelSet,
  createNetns,
  enableNetnsLogging,
  makeTempDir,
  readKernelSet,
  SCAN_SOURCES_NETWORK,
  synScan,
  uniqueLogPrefix,
  waitFor,
} from '../../src/lib/lab/index.js'
import {CLI, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-restore', 'nft', 'tcpdump']})

const VICTIM = '198.51.100.1'
const LINK_ATTACKER = '198.51.100.2'
const SOURCES = 2000
/** The SYNs are spread over half a second: Node needs ~0.5 ms per connect on a busy machine, so they all go within the second. */
const SCAN_MS = 500
const CLOSED_PORT = 23
const NFLOG_GROUP = 7
/** Generous: the bench's target (P10) is 2 s after the scan. */
const BANNED_WITHIN_MS = 30_000

after(async () => {
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const) {
  for (const source of ['kmsg', 'nflog'] as const) {
    describe(`diswall daemon - a scan from ${SOURCES} addresses (${backend}, ${source})`, {skip, timeout: 240_000}, () => {
      it(`daemon (${backend}, ${source}) - ${SOURCES} sources each sending one SYN within one second are all banned`, async () => {
        await enableNetnsLogging()
        const victim = await createNetns()
        const attacker = await createNetns()
        const temp = makeTempDir('diswall-scan-it-')
        try {
          const veth = await connectNetns(victim, attacker, {ipv4: [VICTIM, LINK_ATTACKER]})
          const sources = await addScanSources(attacker, veth.b.ifname, SOURCES)
          await victim.run('ip', ['route', 'add', SCAN_SOURCES_NETWORK, 'via', LINK_ATTACKER])
          const config = writeSetup(temp.path, backend, source)
          const applied = await runCli(['firewall', 'apply', '-c', config, '--json'], {wrap: ['ip', 'netns', 'exec', victim.name]})
          assert.equal(applied.code, 0, applied.stdout + applied.stderr)

          const daemon = victim.spawn(process.execPath, [CLI, 'daemon', '-c', config, '--local-only'], {env: {NO_COLOR: '1'}})
          try {
            await waitFor(() => {
              if (daemon.exitStatus) throw new Error(`the daemon exited: ${daemon.output().stdout}${daemon.output().stderr}`)
              return / ready: /.test(daemon.output().stdout)
            }, {timeoutMs: 60_000, what: 'the daemon to be ready'})

            const set = DEFAULT_NAMES.block.v4
            assert.equal(await countKernelSet(victim, backend, set), 0)
            const scan = await synScan(attacker, {host: VICTIM, port: CLOSED_PORT, sources, spreadMs: SCAN_MS})
            assert.equal(scan.sent, SOURCES)
            let count = 0
            const deadline = scan.lastMs + BANNED_WITHIN_MS
            while ((count = await countKernelSet(victim, backend, set)) < SOURCES && Date.now() < deadline) await sleep(50)
            const doneMs = Date.now()
            const banned = await readKernelSet(victim, backend, set)
            const missing = sources.filter((a) => !banned.has(a))
            // Records the log source lost (the kmsg ring overwritten before the daemon read them), from its health.
            const status = await runCli(['status', '--json', '-c', config], {wrap: ['ip', 'netns', 'exec', victim.name]})
            const counts = [...status.stdout.matchAll(/"lost":\s*(\d+)/g)].map((m) => Number(m[1]))
            const lost = counts.length === 0 ? 'not reported' : counts.reduce((a, b) => a + b, 0)
            console.log(`# ${backend}/${source}: ${SOURCES} SYNs over ${scan.lastMs - scan.firstMs} ms; ${count} banned, the last ${
              doneMs - scan.lastMs} ms after the last SYN (polled every ~50 ms); log records lost: ${lost}`)
            assert.deepEqual(missing.slice(0, 10), [], `${missing.length} of ${SOURCES} sources not banned within ${BANNED_WITHIN_MS / 1000} s of the scan; daemon output:\n${
              daemon.output().stdout.slice(-2000)}${daemon.output().stderr.slice(-2000)}`)
            assert.equal(banned.size, SOURCES, 'nothing but the scan sources is banned')
          } finally {
            await daemon.stop(10_000)
          }
        } finally {
          await victim.remove()
          await attacker.remove()
          temp.remove()
        }
      })
    })
  }
}

/** The config and firewall directory of the victim (log, then drop, what nothing allowed); returns the config path. */
function writeSetup(base: string, backend: 'ipset' | 'nftables', source: 'kmsg' | 'nflog'): string {
  const dir = join(base, 'firewall')
  for (const file of ['incoming.d/00-established', 'incoming.d/90-log', 'incoming.d/99-drop', 'outgoing.d/00-accept']) {
    mkdirSync(join(dir, file, '..'), {recursive: true})
    writeFileSync(join(dir, file), '')
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
    `log_prefix = "${uniqueLogPrefix('scan')}"`,
    `nflog_group = ${NFLOG_GROUP}`,
    '[daemon]',
    `state_dir = "${join(base, 'state')}"`,
    `socket = "${join(base, 'diswall.sock')}"`,
    'snapshot_interval = "0s"',
    '',
  ].join('\n'))
  return config
}
