/**
 * `diswall why ADDR` next to a full block set: the answer must not depend on the set's size, because it
 * asks the kernel about the one address (`ipset test`, nft's element lookup) and never lists the set.
 *
 * - `why.ipset`, `why.nftables`: whyAddress() (the whole lookup of the command: two set tests, the allow
 *   set, `ip -j addr`, `ss`, the firewall directory, the state files) for banned and unknown addresses,
 *   with 1,000,000 entries in the block set; latency per call.
 */
import {join} from 'node:path'

import {parseConfig} from '../../src/lib/config/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES, type SetEntry} from '../../src/lib/firewall/sets/index.js'
import {whyAddress} from '../../src/lib/install/index.js'
import {makeTempDir, nthIpv4} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import {withFleet} from '../lib/fleet.js'
import {type BenchResult, formatInt, result, summarizeLatency} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, type SuiteContext} from '../lib/suite.js'

const SET_SIZE = 1_000_000
const QUERIES = 40

export const whySuite: BenchSuite = {
  description: '`why ADDR` latency next to a block set of 1M entries (ipset and nftables)',
  name: 'why',
  async run(ctx) {
    const out: BenchResult[] = []
    for (const kind of ['ipset', 'nftables'] as const) {
      if (ctx.wants(`why.${kind}`)) out.push(...await attempt(ctx, `why.${kind}`, () => whyCase(ctx, kind)))
    }
    return out
  },
}

async function whyCase(ctx: SuiteContext, kind: 'ipset' | 'nftables'): Promise<BenchResult> {
  const count = scaled(SET_SIZE, ctx.scale, 1000)
  const temp = makeTempDir('dw-bench-why-')
  try {
    return await withFleet({hosts: ['why']}, async (fleet) => {
      const ns = fleet.host('why')
      const fw = createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
      try {
        await fw.init()
        ctx.log(`why.${kind}: loading ${formatInt(count)} bans`)
        const entries: SetEntry[] = Array.from({length: count}, (_, i) => ({target: parseAddress(nthIpv4(i))}))
        await fw.replace('block', entries)
      } finally {
        await fw.close()
      }
      const config = parseConfig(`[firewall]\nbackend = "${kind}"\ndir = "${join(temp.path, 'firewall')}"\n`
        + `[daemon]\nstate_dir = "${temp.path}"\nsocket = "${join(temp.path, 'none.sock')}"\n`, 'bench.conf').config
      const status = async (): Promise<never> => {
        throw new Error('no daemon in the bench')
      }
      const samples: number[] = []
      for (let i = 0; i < QUERIES; i++) {
        // Every other query a banned address, else one that is in no set.
        const addr = i % 2 === 0 ? nthIpv4(Math.floor((i / QUERIES) * count)) : nthIpv4(count + i)
        const started = performance.now()
        const report = await whyAddress(config, addr, {exec: ns.exec, status})
        samples.push(performance.now() - started)
        if ((report.verdict === 'blocked') !== (i % 2 === 0)) throw new Error(`why ${addr}: verdict ${report.verdict}`)
      }
      const seconds = samples.reduce((a, b) => a + b, 0) / 1000
      return result({count: QUERIES, id: `why.${kind}`, latencyMs: summarizeLatency(samples),
        notes: [`block set of ${formatInt(count)} entries; each call runs its programs inside the namespace (ip netns exec)`],
        seconds, what: `why ADDR next to ${formatInt(count)} bans (${kind})`})
    })
  } finally {
    temp.remove()
  }
}
