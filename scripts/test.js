#!/usr/bin/env node
// Runs the whole test suite with node's test runner (TypeScript through tsx) and closes with one
// line "tests: N passed, N failed, N skipped". Arguments pick folders under test/ (default: all).
import {spawn} from 'node:child_process'
import {readdirSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const folders = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['unit', 'commands', 'integration', 'e2e']

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

const files = folders.flatMap((f) => findTests(join(root, 'test', f)))
if (files.length === 0) {
  console.error(`no test files found under test/{${folders.join(',')}}`)
  process.exit(1)
}

const args = [
  '--import', 'tsx',
  '--test',
  '--test-concurrency=1',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=./scripts/summary-reporter.js', '--test-reporter-destination=stdout',
  ...files,
]
const child = spawn(process.execPath, args, {cwd: root, stdio: 'inherit'})
// Forward interrupts so the tests' cleanup hooks (namespaces, nats-server) still run.
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
