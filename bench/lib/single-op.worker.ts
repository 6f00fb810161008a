/**
 * Single operations as the commands do them, run inside a benchmark namespace by the kernel-sets suite
 * (`ip netns exec NS node --import tsx single-op.worker.ts KIND COUNT OFFSET`), so that every program
 * starts as on a host, without an `ip netns exec` of its own: for COUNT addresses of 12.0.0.0/8 from
 * OFFSET on, one `block add` (blockAdd()), one test (backend.has()) and one `block del` (listDel()),
 * each with a new backend, as a new `diswall` process has. Prints {"add", "test", "del"} (ms per
 * operation) as JSON; exits 1 at the first operation that does not do what it should.
 */
import {defaultConfig} from '../../src/lib/config/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES, type Firewall} from '../../src/lib/firewall/sets/index.js'
import {distinctIpv4} from '../../src/lib/lab/index.js'
import {blockAdd, listDel} from '../../src/lib/ops/index.js'

const [kind, countText, offsetText] = process.argv.slice(2)
const count = Number(countText)
const offset = Number(offsetText ?? 0)
if ((kind !== 'ipset' && kind !== 'nftables') || !Number.isInteger(count) || count < 1 || !Number.isInteger(offset)) {
  process.stderr.write('usage: single-op.worker.ts ipset|nftables COUNT [OFFSET]\n')
  process.exit(2)
}

const config = defaultConfig()
const ms = {add: [] as number[], del: [] as number[], test: [] as number[]}
/** A backend as one command process makes it; closed after `body`. */
const withBackend = async <T>(body: (fw: Firewall) => Promise<T>): Promise<T> => {
  const backend = createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS)
  try {
    return await body({backend, choice: {backend: kind, reason: 'bench'}})
  } finally {
    await backend.close()
  }
}
const timed = async <T>(into: number[], body: () => Promise<T>): Promise<T> => {
  const started = performance.now()
  const value = await body()
  into.push(performance.now() - started)
  return value
}

// 12.0.0.0/8: outside the loaded bans (11.0.0.0/8) and not a protected range.
for (const addr of distinctIpv4(count, {first: 12, offset})) {
  const added = await timed(ms.add, () => withBackend((fw) => blockAdd(config, fw, [addr.text])))
  const present = await timed(ms.test, () => withBackend((fw) => fw.backend.has('block', addr)))
  const removed = await timed(ms.del, () => withBackend((fw) => listDel(fw, 'block', [addr.text])))
  if (!added.changed || !present || !removed.changed) {
    process.stderr.write(`${kind}: ${addr.text} was not added, found and removed\n`)
    process.exit(1)
  }
}

process.stdout.write(JSON.stringify(ms) + '\n')
