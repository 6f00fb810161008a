/**
 * `npm run bench`: runs the benchmark suites in throwaway network namespaces, prints one table
 * (what, count, seconds, per second, target, result) and writes the run to bench/results/latest.json.
 *
 *   npm run bench -- [--only PREFIX,…] [--scale N] [--out FILE] [--strict]
 *
 * --only   suites or case ids to run, by prefix (`kernel-sets`, `p3`, `p4.replace.ipset`)
 * --scale  multiplies the item counts (0.1 for a quick check; the targets are meant for 1)
 * --out    where the JSON goes (default bench/results/latest.json)
 * --strict exit 1 when a row misses its target
 *
 * Needs root, ip, ipset, iptables and nft. Every firewall program runs inside namespaces the bench
 * creates; they are removed at the end, on failure and on Ctrl-C.
 */
import {cpus, loadavg, release, totalmem} from 'node:os'
import {fileURLToPath} from 'node:url'
import {parseArgs} from 'node:util'

import {collectGarbage} from '../src/lib/daemon/index.js'
import {labRequirementsProblem} from '../src/lib/lab/index.js'
import {removeLeftovers, withFleet} from './lib/fleet.js'
import {type BenchResult, renderTable, writeResults} from './lib/report.js'
import type {BenchSuite, SuiteContext} from './lib/suite.js'
import {cliSuite} from './suites/cli.js'
import {daemonSuite} from './suites/daemon.js'
import {fleetSuite} from './suites/fleet.js'
import {kernelSetsSuite} from './suites/kernel-sets.js'
import {patternsSuite} from './suites/patterns.js'
import {scanSuite} from './suites/scan.js'
import {serverSuite} from './suites/server.js'
import {whySuite} from './suites/why.js'

/** Every suite, in the order they run. */
const SUITES: readonly BenchSuite[] = [kernelSetsSuite, patternsSuite, daemonSuite, scanSuite, cliSuite, whySuite, fleetSuite, serverSuite]

const DEFAULT_OUT = fileURLToPath(new URL('./results/latest.json', import.meta.url))

async function main(): Promise<number> {
  const {values} = parseArgs({
    options: {
      help: {short: 'h', type: 'boolean'},
      only: {type: 'string'},
      out: {type: 'string'},
      scale: {type: 'string'},
      strict: {type: 'boolean'},
    },
  })
  if (values.help) {
    process.stdout.write(`usage: npm run bench -- [--only PREFIX,…] [--scale N] [--out FILE] [--strict]\n\nsuites:\n${
      SUITES.map((s) => `  ${s.name.padEnd(14)} ${s.description}`).join('\n')}\n`)
    return 0
  }

  const scale = values.scale === undefined ? 1 : Number(values.scale)
  if (!(scale > 0)) throw new Error(`--scale must be a positive number, got ${values.scale}`)
  const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? []
  const out = values.out ?? DEFAULT_OUT

  const missing = labRequirementsProblem({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft']})
  if (missing) {
    process.stderr.write(`bench: cannot run: ${missing}\n`)
    return 4
  }

  const machine = await describeMachine()
  log(`machine: ${machine.cpus} CPUs, load ${machine.loadBefore.join(' ')}, kernel ${machine.kernel}, node ${machine.node}`)
  if (scale !== 1) log(`note: --scale ${scale}: the targets are set for the full counts, so the verdicts are only indicative`)
  if (machine.loadBefore[0]! > machine.cpus) {
    log(`warning: the machine is busy (load ${machine.loadBefore[0]} > ${machine.cpus} CPUs): the numbers are pessimistic`)
  }

  const startedAt = new Date().toISOString()
  const results: BenchResult[] = []
  const errors: Array<{suite: string; case: string; error: string}> = []
  for (const suite of SUITES) {
    // A prefix names a suite (run it whole) or case ids (run the suites and let them pick).
    const whole = only.length === 0 || only.some((p) => suite.name.startsWith(p))
    const casePrefixes = only.filter((p) => !SUITES.some((s) => s.name.startsWith(p)))
    if (!whole && casePrefixes.length === 0) continue
    const ctx: SuiteContext = {
      fail(caseId, error) {
        errors.push({case: caseId, error: describeError(error, true), suite: suite.name})
        log(`[${suite.name}] ${caseId} failed: ${describeError(error, false)}`)
      },
      log: (message) => log(`[${suite.name}] ${message}`),
      scale,
      // `p.startsWith(id)`: a group id ("p4") is wanted when a case inside it ("p4.replace.ipset") is.
      wants: (id) => whole || casePrefixes.some((p) => id.startsWith(p) || p.startsWith(id)),
    }
    // What the suites before left behind (1M-entry lists) must not slow this one's collections: the
    // pattern rows measure one core's throughput in this process, and ran 2.6× slower after the kernel-set rows.
    collectGarbage()
    try {
      results.push(...(await suite.run(ctx)))
    } catch (error) {
      ctx.fail('(suite)', error)
    }
  }

  await removeLeftovers()
  process.stdout.write(`\n${renderTable(results)}\n`)
  const run = {
    args: {only, scale},
    errors,
    finishedAt: new Date().toISOString(),
    machine: {...machine, loadAfter: loadavg().map((n) => Number(n.toFixed(2)))},
    results,
    startedAt,
  }
  await writeResults(out, run)
  log(`results written to ${out}`)
  if (errors.length > 0) return 1
  if (values.strict && results.some((r) => r.verdict === 'miss')) return 1
  return 0
}

async function describeMachine() {
  const loadBefore = loadavg().map((n) => Number(n.toFixed(2)))
  // Even version queries run in a throwaway namespace: `ipset version` asks the kernel.
  const tools = await withFleet({hosts: ['facts']}, async (fleet) => {
    const ns = fleet.host('facts')
    const version = async (program: string, args: string[]): Promise<string> => {
      try {
        return (await ns.run(program, args)).trim()
      } catch {
        return 'unknown'
      }
    }

    return {ipset: await version('ipset', ['version']), iptables: await version('iptables', ['--version']), nft: await version('nft', ['--version'])}
  })
  return {
    cpuModel: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    kernel: release(),
    loadBefore,
    memoryMb: Math.round(totalmem() / 2 ** 20),
    node: process.version,
    tools,
  }
}

function describeError(error: unknown, withStack: boolean): string {
  if (!(error instanceof Error)) return String(error)
  return withStack ? (error.stack ?? error.message) : error.message
}

function log(message: string): void {
  process.stderr.write(`${message}\n`)
}

try {
  process.exitCode = await main()
} catch (error) {
  await removeLeftovers().catch(() => {})
  process.stderr.write(`bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`)
  process.exitCode = 1
}
