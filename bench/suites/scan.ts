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

import {enableNetnsLogging, makeTempDir, scanLabDaemon, uniqueLogPrefix} from '../../src/lib/lab/index.js'
import {assertFreshBuild, RUN_CLI} from '../lib/build.js'
import {withFleet} from '../lib/fleet.js'
import {type BenchResult, result, TARGETS} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, type SuiteContext} from '../lib/suite.js'

const SOURCES = 2000
const SCAN_MS = 500
const CLOSED_PORT = 23
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
  assertFreshBuild('P10 runs the daemon as installed')
  const count = scaled(SOURCES, ctx.scale, 20)
  await enableNetnsLogging()
  return withFleet({hosts: ['victim', 'attacker'], links: [['victim', 'attacker']]}, async (fleet) => {
    const temp = makeTempDir('diswall-bench-p10-')
    try {
      ctx.log(`${id}: ${count} sources, one SYN each over ${SCAN_MS} ms`)
      const run = await scanLabDaemon({
        attacker: fleet.host('attacker'), backend, cli: [RUN_CLI], count, dir: temp.path, giveUpMs: GIVE_UP_MS,
        link: fleet.link('victim', 'attacker'), logPrefix: uniqueLogPrefix('p10'), port: CLOSED_PORT, source, spreadMs: SCAN_MS,
        victim: fleet.host('victim'),
      })
      const {scan} = run
      if (scan.sent !== count) throw new Error(`only ${scan.sent} of ${count} SYNs were sent`)
      if (run.banned < count) {
        throw new Error(`${run.banned} of ${count} sources banned ${GIVE_UP_MS / 1000} s after the scan (missing: ${
          run.missing.slice(0, 5).join(', ')}); daemon output:\n${run.output}`)
      }
      return result({
        count,
        id,
        notes: [
          `the ${count} SYNs took ${scan.lastMs - scan.firstMs} ms to send; the time is from the last SYN to the last ban (polled every ~50 ms)`,
        ],
        seconds: (run.doneMs - scan.lastMs) / 1000,
        target: TARGETS.P10,
        what: `scan of ${count} sources → all banned, daemon (${source}) + ${backend}`,
      })
    } finally {
      temp.remove()
    }
  })
}
