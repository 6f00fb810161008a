/**
 * P10 of DESIGN.md: a scan from 2,000 distinct sources within 1 s → all banned within 2 s, through the
 * real `diswall daemon` (started from the TypeScript sources; kmsg or nflog source; ipset or nftables
 * backend) in a victim namespace whose ruleset (`diswall firewall apply`) logs what nothing allowed
 * with the `log` template (limited per source address) and drops it.
 *
 * The attacker namespace holds the 2,000 addresses (src/lib/lab/scan.ts) and one process sends one TCP
 * SYN from each to a closed port, spread over the first half of the second (Node needs ~0.5 ms per
 * connect on a busy machine). The victim's block set is counted every ~50 ms; the row's time is from
 * the last SYN to the poll that saw all 2,000 banned (an upper bound, ~50 ms coarse, plus the count).
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {setTimeout as sleep} from 'node:timers/promises'
import {fileURLToPath} from 'node:url'

import {DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import {
  addScanSources,
  countKernelSet,
  enableNetnsLogging,
  makeTempDir,
  readKernelSet,
  SCAN_SOURCES_NETWORK,
  synScan,
  uniqueLogPrefix,
  waitFor,
} from '../../src/lib/lab/index.js'
import {withFleet} from '../lib/fleet.js'
import {type BenchResult, result, TARGETS} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, type SuiteContext} from '../lib/suite.js'

const DEV_CLI = fileURLToPath(new URL('../../bin/dev.js', import.meta.url))
const SOURCES = 2000
const SCAN_MS = 500
const CLOSED_PORT = 23
const NFLOG_GROUP = 7
/** How long to wait for the last ban before the row fails. */
const GIVE_UP_MS = 30_000

interface ScanCase {
  id: string
  backend: 'ipset' | 'nftables'
  source: 'kmsg' | 'nflog'
}

const CASES: readonly ScanCase[] = [
  {backend: 'ipset', id: 'p10.ipset.kmsg', source: 'kmsg'},
  {backend: 'ipset', id: 'p10.ipset.nflog', source: 'nflog'},
  {backend: 'nftables', id: 'p10.nftables.kmsg', source: 'kmsg'},
  {backend: 'nftables', id: 'p10.nftables.nflog', source: 'nflog'},
]

/** The P10 suite: a wide scan → every source banned, for each case of {@link CASES}. */
export const scanSuite: BenchSuite = {
  description: 'P10 a SYN scan from 2,000 addresses within 1 s → all banned, through diswall daemon in namespaces (kmsg or nflog; ipset or nftables)',
  name: 'scan',
  async run(ctx) {
    const out: BenchResult[] = []
    for (const c of CASES) {
      if (ctx.wants(c.id)) out.push(...(await attempt(ctx, c.id, () => measureScan(ctx, c))))
    }
    return out
  },
}

async function measureScan(ctx: SuiteContext, {backend, id, source}: ScanCase): Promise<BenchResult> {
  const count = scaled(SOURCES, ctx.scale, 20)
  await enableNetnsLogging()
  return withFleet({hosts: ['victim', 'attacker'], links: [['victim', 'attacker']]}, async (fleet) => {
    const victim = fleet.host('victim')
    const attacker = fleet.host('attacker')
    const link = fleet.link('victim', 'attacker')
    const sources = await addScanSources(attacker, link.b.ifname, count)
    await victim.run('ip', ['route', 'add', SCAN_SOURCES_NETWORK, 'via', link.b.ipv4])

    const temp = makeTempDir('diswall-bench-p10-')
    try {
      const config = writeSetup(temp.path, backend, source)
      await victim.run(process.execPath, ['--import', 'tsx', DEV_CLI, 'firewall', 'apply', '-c', config], {timeoutMs: 120_000})
      const daemon = victim.spawn(process.execPath, ['--import', 'tsx', DEV_CLI, 'daemon', '--local-only', '-c', config])
      try {
        await waitFor(() => {
          if (daemon.exitStatus) throw new Error(`the daemon exited: ${daemon.output().stdout}${daemon.output().stderr}`)
          return / ready: /.test(daemon.output().stdout)
        }, {timeoutMs: 60_000, what: 'the daemon to be ready'})
        const set = DEFAULT_NAMES.block.v4
        ctx.log(`${id}: ${count} sources, one SYN each over ${SCAN_MS} ms`)
        const scan = await synScan(attacker, {host: link.a.ipv4, port: CLOSED_PORT, sources, spreadMs: SCAN_MS})
        if (scan.sent !== count) throw new Error(`only ${scan.sent} of ${count} SYNs were sent`)
        let banned = 0
        while ((banned = await countKernelSet(victim, backend, set)) < count && Date.now() < scan.lastMs + GIVE_UP_MS) await sleep(50)
        const seconds = (Date.now() - scan.lastMs) / 1000
        if (banned < count) {
          const inSet = await readKernelSet(victim, backend, set)
          const missing = sources.filter((a) => !inSet.has(a))
          throw new Error(`${banned} of ${count} sources banned ${GIVE_UP_MS / 1000} s after the scan (missing: ${missing.slice(0, 5).join(', ')}); daemon output:\n${
            daemon.output().stdout.slice(-1500)}${daemon.output().stderr.slice(-1500)}`)
        }
        return result({
          count,
          id,
          notes: [
            `the ${count} SYNs took ${scan.lastMs - scan.firstMs} ms to send; the time is from the last SYN to the last ban (polled every ~50 ms)`,
          ],
          seconds,
          target: TARGETS.P10,
          what: `scan of ${count} sources → all banned, daemon (${source}) + ${backend}`,
        })
      } finally {
        await daemon.stop(10_000)
      }
    } finally {
      temp.remove()
    }
  })
}

/** The config and firewall directory of the victim; returns the config file's path. */
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
    `log_prefix = "${uniqueLogPrefix('p10')}"`,
    `nflog_group = ${NFLOG_GROUP}`,
    '[daemon]',
    `state_dir = "${join(base, 'state')}"`,
    `socket = "${join(base, 'diswall.sock')}"`,
    'snapshot_interval = "0s"',
    '',
  ].join('\n'))
  return config
}
