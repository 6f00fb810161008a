/**
 * A snapshot of real kernel sets, both backends: 50,000 bans (IPv4 addresses, IPv6 /64 networks,
 * IPv6 addresses, a few other IPv6 lengths) and allow entries with comments are saved, the sets are
 * emptied, and the restore puts back exactly the same entries with their remaining timeouts. On
 * nftables the IPv6 bans come from and go back to three sets (prefix, address, interval).
 */
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'

import {restoreSnapshotFile, saveSnapshot} from '../../src/lib/daemon/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {ListedEntry, SetEntry} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, createNetns, distinctIpv4, makeTempDir} from '../../src/lib/lab/index.js'
import {parseAddress, parseNetwork} from '../../src/lib/net/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft']})

const V4 = 40_000
const V6_NETS = 8000
const V6_ADDRS = 1990
const hex = (n: number): string => n.toString(16)

after(async () => {
  await cleanupAll()
})

function bans(): SetEntry[] {
  return [
    ...distinctIpv4(V4).map((target, i) => ({target, ttlSec: 3600 + (i % 1000)})),
    ...Array.from({length: V6_NETS}, (_, i) => ({target: parseNetwork(`2001:db8:${hex(i >> 16)}:${hex(i & 0xffff)}::/64`), ttlSec: 7200})),
    ...Array.from({length: V6_ADDRS}, (_, i) => ({target: parseAddress(`2001:db8:ff00::${hex(i + 1)}`), ttlSec: 600})),
    ...Array.from({length: 10}, (_, i) => ({target: parseNetwork(`2001:db8:f${i}00::/40`), ttlSec: 900})),
  ]
}

/** target → remaining ttl, of a listing. */
const byTarget = (entries: ListedEntry[]): Map<string, number | undefined> => new Map(entries.map((e) => [e.target.text, e.ttlSec]))

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`snapshot round trip (${backend})`, {skip}, () => {
    it('50,000 bans and the allow list come back as they were, with their remaining timeouts', {timeout: 600_000}, async () => {
      const ns = await createNetns()
      const dir = makeTempDir('dw-snapshot-rt-')
      try {
        const fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
        await fw.init()
        const entries = bans()
        await fw.replace('block', entries)
        await fw.replace('allow', [{comment: 'office', target: parseNetwork('198.51.100.0/24')}, {target: parseNetwork('2001:db8:aa::/48'), ttlSec: 5000}])
        // nft lists a set inconsistently while the kernel still resizes it after a bulk insert.
        let before = byTarget(await fw.list('block'))
        for (let i = 0; i < 40 && before.size !== entries.length; i++) {
          await new Promise((resolve) => setTimeout(resolve, 500))
          before = byTarget(await fw.list('block'))
        }

        assert.equal(before.size, entries.length)
        const path = join(dir.path, 'sets.snapshot')
        const saved = await saveSnapshot(path, fw)
        assert.deepEqual([saved.block, saved.allow], [entries.length, 2])

        await fw.replace('block', [])
        await fw.replace('allow', [])
        assert.equal((await fw.list('block')).length, 0)
        const restored = await restoreSnapshotFile(fw, path)
        assert.deepEqual([restored.added, restored.skipped, restored.problems], [entries.length + 2, 0, []])

        let after = byTarget(await fw.list('block'))
        for (let i = 0; i < 40 && after.size !== entries.length; i++) {
          await new Promise((resolve) => setTimeout(resolve, 500))
          after = byTarget(await fw.list('block'))
        }

        assert.equal(after.size, entries.length)
        for (const entry of entries) {
          const ttl = after.get(entry.target.text)
          assert.ok(ttl !== undefined, `${entry.target.text} is back`)
          // Remaining time: never more than it had, and not much less (the round trip takes seconds).
          assert.ok(ttl <= entry.ttlSec! && ttl > entry.ttlSec! - 240, `${entry.target.text}: ttl ${ttl} of ${entry.ttlSec}`)
        }

        const allow = await fw.list('allow')
        assert.deepEqual(allow.map((e) => [e.target.text, e.comment ?? null]).sort(), [['198.51.100.0/24', 'office'], ['2001:db8:aa::/48', null]])
        await fw.destroy()
        await fw.close()
      } finally {
        dir.remove()
        await ns.remove()
      }
    })
  })
}
