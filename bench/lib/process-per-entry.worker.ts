/**
 * The "one process per address" baseline, run inside a benchmark namespace by the kernel-sets suite
 * (`ip netns exec NS node --import tsx process-per-entry.worker.ts SET COUNT OFFSET`): starts
 * `ipset add SET ADDR timeout 86400 -exist` once per address, one after the other, as tools that
 * shell out per ban do, and prints {"count", "seconds"} as JSON. Exits 1 at the first failure.
 */
import {spawnSync} from 'node:child_process'

import {nthIpv4} from '../../src/lib/lab/index.js'

const [set, countText, offsetText] = process.argv.slice(2)
const count = Number(countText)
const offset = Number(offsetText ?? 0)
if (!set || !Number.isInteger(count) || count < 1 || !Number.isInteger(offset)) {
  process.stderr.write('usage: process-per-entry.worker.ts SET COUNT [OFFSET]\n')
  process.exit(2)
}

const started = performance.now()
for (let i = 0; i < count; i++) {
  const addr = nthIpv4(offset + i)
  const run = spawnSync('ipset', ['add', set, addr, 'timeout', '86400', '-exist'], {stdio: ['ignore', 'ignore', 'pipe']})
  if (run.status !== 0) {
    process.stderr.write(`ipset add ${set} ${addr} failed (${run.status ?? run.signal}): ${run.stderr?.toString() ?? ''}\n`)
    process.exit(1)
  }
}

process.stdout.write(JSON.stringify({count, seconds: (performance.now() - started) / 1000}) + '\n')
