import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {test} from 'node:test'
import {fileURLToPath} from 'node:url'

/**
 * In a fresh process: hold the young generation (`--semi-space-growth-factor=1`) through setV8Flag,
 * start a worker (with or without keepV8Flags), then allocate a lot; prints the young generation's
 * size in MB. A worker start puts the flag back to its default, so only keepV8Flags keeps it small.
 */
const SYSTEM = fileURLToPath(new URL('../../../src/lib/system/index.ts', import.meta.url))
const script = (keep: boolean): string => `
const {setV8Flag, keepV8Flags} = await import(${JSON.stringify(SYSTEM)})
const {getHeapSpaceStatistics} = await import('node:v8')
const {Worker} = await import('node:worker_threads')
setV8Flag('--semi-space-growth-factor=1')
const started = new Worker('setTimeout(() => {}, 50)', {eval: true})
const worker = ${keep ? 'keepV8Flags(started)' : 'started'}
await new Promise((resolve) => worker.once('online', resolve))
await new Promise((resolve) => setImmediate(resolve))
let keep = []
for (let i = 0; i < 3e6; i++) { keep.push({a: 'x' + i, b: [i]}); if (keep.length > 100000) keep = [] }
const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size
console.log(String(young / 1e6))
await worker.terminate()
`
const youngMb = (keep: boolean): number =>
  Number(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script(keep)], {encoding: 'utf8'}).trim())

test('keepV8Flags - a flag set at run time still holds after a worker thread started', () => {
  const kept = youngMb(true)
  const lost = youngMb(false)
  // Loading the TypeScript sources may have grown it a little before the flag was set; the burst must not.
  assert.ok(lost >= 30, `without keepV8Flags the young generation stayed at ${lost} MB: the test shows nothing`)
  assert.ok(kept <= lost / 2, `the young generation grew to ${kept} MB with the flag kept (${lost} MB without)`)
})
