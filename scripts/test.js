#!/usr/bin/env node
// Runs the test suite with node's test runner (TypeScript through tsx) and closes with one line
// "tests: N passed, N failed, N skipped" (CI parses it). Arguments pick folders under test/
// (default: all), in this order: unit, commands, integration, e2e.
//
// unit and commands run in a few processes side by side: their files are split into shards, and one
// node process imports all files of a shard. A tsx start costs ~0.7 s of CPU, so one process per
// file spent ~40 of the ~50 s the unit tier took on 2 cores; the tests themselves need ~10 s of CPU
// and partly wait (timers, child processes), so two shards per core keep both cores busy. More
// shards made timing-sensitive tests (a coprocess's 1 s grace, a 5 s restart wait) fail on a busy
// machine. The commands tier starts a CLI process per call and runs tests of a file side by side,
// so one shard per core is enough there.
// Files of one shard share a process: a test that changes process-wide state (umask, env, cwd)
// restores it in t.after(), as the tests that do so already do.
//
// integration and e2e run one file at a time, one process per file: they share /dev/kmsg and
// sysctls (nf_log_all_netns) and measure latencies that a busy CPU would distort.
import {spawn} from 'node:child_process'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {availableParallelism, tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {fileURLToPath, pathToFileURL} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const TIERS = ['unit', 'commands', 'integration', 'e2e']

/**
 * How each tier runs. timeoutMs bounds each process of the runner: node 20 reads `--test-timeout` in
 * the runner only, which applies it to each test file's process as a whole (the tests inside get no
 * default), so a hang fails the run instead of blocking CI. For unit and commands that process is a shard (a few minutes of
 * tests under load at most); an integration or e2e file runs tests with their own timeouts of up to
 * 180 s (a full ipset), several per file.
 */
const PLANS = {
  unit: {shardsPerCore: 2, timeoutMs: 120_000},
  commands: {shardsPerCore: 1, timeoutMs: 300_000},
  integration: {shardsPerCore: 0, timeoutMs: 1_800_000},
  e2e: {shardsPerCore: 0, timeoutMs: 1_800_000},
}

function findTests(dir) {
  let out = []
  let names
  try {
    names = readdirSync(dir).sort()
  } catch {
    return out
  }
  for (const name of names) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out = out.concat(findTests(path))
    else if (name.endsWith('.test.ts')) out.push(relative(root, path))
  }
  return out
}

/**
 * Writes shard modules that import the given test files; a file that fails to load becomes one
 * failing test naming it, and the other files of the shard still run.
 */
function writeShards(dir, tier, files, count) {
  const shards = Array.from({length: Math.min(count, files.length)}, () => [])
  // Round robin over the sorted list spreads the slow folders (detect/sources, system) over shards.
  files.forEach((file, i) => shards[i % shards.length].push(file))
  return shards.map((shardFiles, i) => {
    const path = join(dir, `${tier}-${i + 1}.mjs`)
    const lines = [
      "import {test} from 'node:test'",
      ...shardFiles.map((file) => {
        const url = pathToFileURL(join(root, file)).href
        return `try { await import(${JSON.stringify(url)}) } catch (error) { test(${JSON.stringify(`load ${file}`)}, () => { throw error }) }`
      }),
    ]
    writeFileSync(path, lines.join('\n') + '\n')
    return path
  })
}

/** Runs node's test runner once; resolves to its exit code and the counts of its summary line. */
function runNodeTests(entries, {concurrency, timeoutMs}, summaryFile) {
  const args = [
    '--import', 'tsx',
    '--test',
    `--test-concurrency=${concurrency}`,
    `--test-timeout=${timeoutMs}`,
    '--test-reporter=spec', '--test-reporter-destination=stdout',
    '--test-reporter=./scripts/summary-reporter.js', `--test-reporter-destination=${summaryFile}`,
    ...entries,
  ]
  const child = spawn(process.execPath, args, {cwd: root, stdio: 'inherit'})
  current = child
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      current = undefined
      let counts = {failed: 0, passed: 0, skipped: 0}
      const skips = []
      try {
        const text = readFileSync(summaryFile, 'utf8')
        const m = /tests: (\d+) passed, (\d+) failed, (\d+) skipped/.exec(text)
        if (m) counts = {failed: Number(m[2]), passed: Number(m[1]), skipped: Number(m[3])}
        for (const [, name, reason] of text.matchAll(/^skipped: ([^\t\n]*)\t(.*)$/gm)) skips.push({name, reason})
      } catch {
        // No summary: the runner died before its reporter finished; the exit code says so.
      }
      resolve({code: code ?? (signal ? 1 : 0), counts, skips})
    })
  })
}

const folders = process.argv.slice(2).length > 0 ? process.argv.slice(2) : TIERS
const unknown = folders.filter((f) => !TIERS.includes(f))
if (unknown.length > 0) {
  console.error(`unknown test folder: ${unknown.join(', ')} (known: ${TIERS.join(', ')})`)
  process.exit(1)
}

const tiers = TIERS.filter((t) => folders.includes(t)).map((tier) => ({files: findTests(join(root, 'test', tier)), tier}))
if (tiers.every((t) => t.files.length === 0)) {
  console.error(`no test files found under test/{${folders.join(',')}}`)
  process.exit(1)
}

let current
// Forward interrupts so the tests' cleanup hooks (namespaces, nats-server) still run.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => current?.kill(signal))

const work = mkdtempSync(join(tmpdir(), 'diswall-test-'))
const total = {failed: 0, passed: 0, skipped: 0}
const allSkips = []
let exitCode = 0
try {
  for (const {files, tier} of tiers) {
    if (files.length === 0) continue
    const plan = PLANS[tier]
    const shardCount = plan.shardsPerCore * availableParallelism()
    const run = shardCount > 0
      ? {concurrency: Math.min(shardCount, files.length), entries: writeShards(work, tier, files, shardCount)}
      : {concurrency: 1, entries: files}
    const {code, counts, skips} = await runNodeTests(run.entries, {concurrency: run.concurrency, timeoutMs: plan.timeoutMs},
      join(work, `${tier}.summary`))
    allSkips.push(...skips)
    total.passed += counts.passed
    total.failed += counts.failed
    total.skipped += counts.skipped
    if (code !== 0 && counts.failed === 0) console.error(`${tier}: the test runner exited with ${code} without a failed test`)
    if (code !== 0 && exitCode === 0) exitCode = code
  }
} finally {
  rmSync(work, {force: true, recursive: true})
}

if (allSkips.length > 0) {
  console.log('\nskipped:')
  for (const {name, reason} of allSkips) console.log(`  ${name}${reason ? ` (${reason})` : ''}`)
}
// In CI every skip must be allowed by name, with its reason, in .ci/allowed-skips.
if (process.env.DISWALL_REQUIRE_INTEGRATION === '1') {
  const allowed = readAllowedSkips(join(root, '.ci', 'allowed-skips'))
  const unexpected = allSkips.filter(({name}) => !allowed.has(name))
  if (unexpected.length > 0) {
    console.error(`\n${unexpected.length} skipped tests are not allowed in .ci/allowed-skips: ${unexpected.map((s) => JSON.stringify(s.name)).join(', ')}`)
    if (exitCode === 0) exitCode = 1
  }
}

console.log(`\ntests: ${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`)
process.exit(exitCode)

/** Test names CI may skip: one per line, `NAME<TAB>REASON`; `#` comments. A line without a reason is refused. */
function readAllowedSkips(path) {
  let text = ''
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return new Map()
  }
  const out = new Map()
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return
    const [name, reason] = line.split('\t')
    if (!reason?.trim()) {
      console.error(`${path}:${i + 1}: give the reason after a tab: NAME<TAB>REASON`)
      process.exit(1)
    }
    out.set(name, reason.trim())
  })
  return out
}
