/**
 * The CLI as scripts and Ansible run it, each case in its own throwaway namespace, through the built
 * `bin/run.js` (run `npm run build` first):
 *
 * - `p9.block-add.ipset`, `p9.block-add.nftables`: P9, `diswall block add ADDR` of one address, the
 *   whole process (`ip netns exec NS node bin/run.js …`), against `ip netns exec NS node -e 0` started
 *   the same way, alternating, 30 runs each; the ratio of the median wall times is judged, the ratio
 *   of the median CPU times (user + system, children included, from bash's `time`) is in the notes;
 * - `p9.status.json`: `diswall status --json` against a socket where no daemon listens (it exits 4,
 *   E_DAEMON_NOT_RUNNING, at once): the start-up of a status query, against `node -e 0` the same way;
 * - `list-file.block-add.ipset`, `list-file.block-add.nftables`: `block add --file FILE` of 100,000
 *   addresses (one kernel batch), checked against the kernel's count afterwards.
 */
import {spawn} from 'node:child_process'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'

import {DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import {distinctIpv4, makeTempDir, type Netns, waitForKernelSetCount} from '../../src/lib/lab/index.js'
import {assertFreshBuild, RUN_CLI} from '../lib/build.js'
import {withFleet} from '../lib/fleet.js'
import {type BenchResult, formatInt, result, TARGETS} from '../lib/report.js'
import {attempt, type BenchSuite, scaled, type SuiteContext} from '../lib/suite.js'

type Kind = 'ipset' | 'nftables'

/** Runs of each command in the P9 cases (at least 5 whatever the scale). */
const P9_RUNS = 30
/** Addresses of the list-file cases. */
const LIST_FILE_COUNT = 100_000

export const cliSuite: BenchSuite = {
  description: 'P9 start-up of `diswall block add` and `diswall status --json` against `node -e 0`; `block add --file` of 100,000 addresses (ipset and nftables)',
  name: 'cli',
  async run(ctx) {
    const ids = ['ipset', 'nftables'].flatMap((kind) => [`p9.block-add.${kind}`, `list-file.block-add.${kind}`]).concat('p9.status.json')
    if (ids.some((id) => ctx.wants(id))) assertFreshBuild('P9 times the CLI as installed')
    const out: BenchResult[] = []
    for (const kind of ['ipset', 'nftables'] as const) {
      if (ctx.wants(`p9.block-add.${kind}`)) out.push(...await attempt(ctx, `p9.block-add.${kind}`, () => startupCase(ctx, kind)))
    }

    if (ctx.wants('p9.status.json')) out.push(...await attempt(ctx, 'p9.status.json', () => statusCase(ctx)))

    for (const kind of ['ipset', 'nftables'] as const) {
      if (ctx.wants(`list-file.block-add.${kind}`)) {
        out.push(...await attempt(ctx, `list-file.block-add.${kind}`, () => listFileCase(ctx, kind)))
      }
    }

    return out
  },
}

/** Wall and CPU seconds (user + system, children included) of one program run inside `ns`. */
interface Timing {
  wallSec: number
  cpuSec: number
}

/**
 * Runs `argv` inside the namespace under bash's `time` keyword (its CPU figures include every child:
 * ipset, nft, iptables), the arguments passed as "$@", never as shell text. Throws on an exit code
 * other than `expectCode` (0 by default).
 */
async function timed(ns: Netns, argv: readonly string[], expectCode = 0): Promise<Timing> {
  const child = spawn('bash', ['-c', 'TIMEFORMAT="%R %U %S"; time "$@" >/dev/null 2>&1; echo "exit $?" >&2', 'bench', 'ip', 'netns', 'exec', ns.name, ...argv],
    {env: {...process.env, LC_ALL: 'C'}, stdio: ['ignore', 'ignore', 'pipe']})
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c) => resolve(c ?? 1))
  })
  const m = /(\d+\.\d+) (\d+\.\d+) (\d+\.\d+)\s*exit (\d+)\s*$/.exec(stderr)
  if (code !== 0 || !m || Number(m[4]) !== expectCode) throw new Error(`${argv.join(' ')} failed (exit ${code}): ${stderr.trim()}`)
  return {cpuSec: Number(m[2]) + Number(m[3]), wallSec: Number(m[1])}
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

function writeConfig(dir: string, kind: Kind): string {
  const path = join(dir, 'diswall.conf')
  writeFileSync(path, `local_only = true\n[firewall]\nbackend = "${kind}"\n`)
  return path
}

async function startupCase(ctx: SuiteContext, kind: Kind): Promise<BenchResult> {
  const runs = scaled(P9_RUNS, ctx.scale, 5)
  return withFleet({hosts: ['cli']}, async (fleet) => {
    const ns = fleet.host('cli')
    const temp = makeTempDir('diswall-bench-p9-')
    try {
      const config = writeConfig(temp.path, kind)
      const addrs = distinctIpv4(runs + 1).map((a) => a.text)
      // One run first: it creates the sets and rules, as the first `block add` on a host does.
      await timed(ns, [process.execPath, RUN_CLI, 'block', 'add', addrs[runs]!, '-c', config])
      const node: Timing[] = []
      const cli: Timing[] = []
      for (let i = 0; i < runs; i++) {
        node.push(await timed(ns, [process.execPath, '-e', '0']))
        cli.push(await timed(ns, [process.execPath, RUN_CLI, 'block', 'add', addrs[i]!, '-c', config]))
      }

      await waitForKernelSetCount(ns, kind, DEFAULT_NAMES.block.v4, runs + 1)
      const wall = {cli: median(cli.map((t) => t.wallSec)), node: median(node.map((t) => t.wallSec))}
      const cpu = {cli: median(cli.map((t) => t.cpuSec)), node: median(node.map((t) => t.cpuSec))}
      const ratio = wall.cli / wall.node
      ctx.log(`p9 ${kind}: block add ${(wall.cli * 1000).toFixed(0)} ms wall, ${(cpu.cli * 1000).toFixed(0)} ms CPU; node -e 0 ${
        (wall.node * 1000).toFixed(0)} ms, ${(cpu.node * 1000).toFixed(0)} ms; ratio ${ratio.toFixed(2)}`)
      return result({
        count: runs,
        id: `p9.block-add.${kind}`,
        notes: [
          `median wall: block add ${(wall.cli * 1000).toFixed(0)} ms, node -e 0 ${(wall.node * 1000).toFixed(0)} ms: ${ratio.toFixed(2)}×`,
          `median CPU (children included): block add ${(cpu.cli * 1000).toFixed(0)} ms, node -e 0 ${(cpu.node * 1000).toFixed(0)} ms: ${
            (cpu.cli / cpu.node).toFixed(2)}×`,
          'verified: every address in the kernel set',
        ],
        ratio,
        seconds: wall.cli,
        target: TARGETS.P9,
        what: `block add, one address, whole process (${kind}); seconds = median`,
      })
    } finally {
      temp.remove()
    }
  })
}

async function statusCase(ctx: SuiteContext): Promise<BenchResult> {
  const runs = scaled(P9_RUNS, ctx.scale, 5)
  return withFleet({hosts: ['cli']}, async (fleet) => {
    const ns = fleet.host('cli')
    const temp = makeTempDir('diswall-bench-p9-status-')
    try {
      const argv = [process.execPath, RUN_CLI, 'status', '--json', '--socket', join(temp.path, 'none.sock')]
      const node: Timing[] = []
      const cli: Timing[] = []
      for (let i = 0; i < runs; i++) {
        node.push(await timed(ns, [process.execPath, '-e', '0']))
        // Exit 4 (E_DAEMON_NOT_RUNNING): nothing listens on the socket.
        cli.push(await timed(ns, argv, 4))
      }

      const wall = {cli: median(cli.map((t) => t.wallSec)), node: median(node.map((t) => t.wallSec))}
      const cpu = {cli: median(cli.map((t) => t.cpuSec)), node: median(node.map((t) => t.cpuSec))}
      const ratio = wall.cli / wall.node
      ctx.log(`p9 status: ${(wall.cli * 1000).toFixed(0)} ms wall, ${(cpu.cli * 1000).toFixed(0)} ms CPU; node -e 0 ${
        (wall.node * 1000).toFixed(0)} ms, ${(cpu.node * 1000).toFixed(0)} ms; ratio ${ratio.toFixed(2)}`)
      return result({
        count: runs,
        id: 'p9.status.json',
        notes: [
          `median wall: status --json ${(wall.cli * 1000).toFixed(0)} ms, node -e 0 ${(wall.node * 1000).toFixed(0)} ms: ${ratio.toFixed(2)}×`,
          `median CPU: status --json ${(cpu.cli * 1000).toFixed(0)} ms, node -e 0 ${(cpu.node * 1000).toFixed(0)} ms: ${(cpu.cli / cpu.node).toFixed(2)}×`,
          'no daemon on the socket: every run exited 4 (E_DAEMON_NOT_RUNNING), checked',
        ],
        ratio,
        seconds: wall.cli,
        target: TARGETS.P9,
        what: 'status --json start-up (no daemon: exit 4), whole process; seconds = median',
      })
    } finally {
      temp.remove()
    }
  })
}

async function listFileCase(ctx: SuiteContext, kind: Kind): Promise<BenchResult> {
  const count = scaled(LIST_FILE_COUNT, ctx.scale, 1000)
  return withFleet({hosts: ['cli']}, async (fleet) => {
    const ns = fleet.host('cli')
    const temp = makeTempDir('diswall-bench-list-file-')
    try {
      const config = writeConfig(temp.path, kind)
      const file = join(temp.path, 'feed.txt')
      writeFileSync(file, distinctIpv4(count).map((a, i) => (i % 4 === 0 ? `${a.text} # scanner` : a.text)).join('\n') + '\n')
      const {cpuSec, wallSec} = await timed(ns, [process.execPath, RUN_CLI, 'block', 'add', '--file', file, '-c', config, '--json'])
      await waitForKernelSetCount(ns, kind, DEFAULT_NAMES.block.v4, count, {timeoutMs: 300_000})
      ctx.log(`list-file ${kind}: ${formatInt(count)} addresses in ${wallSec.toFixed(2)} s (${cpuSec.toFixed(2)} s CPU)`)
      return result({
        count,
        id: `list-file.block-add.${kind}`,
        notes: [`whole process, fresh sets (created by the run); ${cpuSec.toFixed(2)} s CPU with children`, 'verified: kernel set count'],
        seconds: wallSec,
        target: TARGETS.LIST_FILE,
        what: `block add --file, ${formatInt(count)} addresses (${kind})`,
      })
    } finally {
      temp.remove()
    }
  })
}
