/**
 * A snapshot of real kernel sets, both backends: 50,000 bans (IPv4 addresses, IPv6 /64 networks,
 * IPv6 addresses, a few other IPv6 lengths) and allow entries with comments are saved, the sets are
 * emptied, and the restore puts back exactly the same entries with their remaining timeouts. On
 * nftables the IPv6 bans come from and go back to three sets (prefix, address, interval). And a
 * snapshot folded from the last one, a copy of the block list swapped in since and the journal
 * (compactSnapshot()) holds what reading the sets gives.
 */
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'

import {compactSnapshot, ListCopyFile, loadSnapshot, restoreSnapshotFile, saveSnapshot, SetJournal} from '../../src/lib/daemon/index.js'
import {CoalescingWriter, createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {ListedEntry, SetEntry} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, createNetns, distinctIpv4, makeTempDir} from '../../src/lib/lab/index.js'
import {parseAddress, parseNetwork, parseTarget} from '../../src/lib/net/index.js'
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

    it('a snapshot folded from the last one, a copy of the block list and the journal holds what reading the sets gives', {timeout: 120_000}, async () => {
      const ns = await createNetns()
      const dir = makeTempDir('dw-snapshot-fold-')
      try {
        const fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
        await fw.init()
        const journal = await SetJournal.open(dir.path, 0, {defaultBlockTtlSec: 86_400})
        const writer = new CoalescingWriter(fw, {journal, windowMs: 0})
        const ban = (target: string, ttlSec: number) => writer.add('block', {target: parseTarget(target), ttlSec})
        await Promise.all([ban('203.0.113.1', 600), ban('203.0.113.2', 600), ban('2001:db8:1::/64', 0), ban('2001:db8:ff::7', 900)])
        await writer.add('allow', {comment: 'office', target: parseNetwork('198.51.100.0/24')})
        await writer.add('allow', {target: parseAddress('192.0.2.10'), ttlSec: 3000})
        const path = join(dir.path, 'sets.snapshot')
        const first = await journal.rotate()
        await saveSnapshot(path, fw, {journalSeq: first})
        await writer.del('block', parseAddress('203.0.113.1'))
        await writer.del('allow', parseAddress('192.0.2.10'))
        // A copy of the block list, as the daemon loads one: to its file as it streams, a journal segment at the swap.
        const copy = await ListCopyFile.create(dir.path, 'block', {defaultBlockTtlSec: 86_400})
        const copied: SetEntry[] = [{target: parseAddress('203.0.113.2'), ttlSec: 5000}, {target: parseAddress('203.0.113.60')},
          {target: parseNetwork('2001:db8:60::/64'), ttlSec: 0}, {target: parseAddress('2001:db8:ff::60'), ttlSec: 400}]
        await copy.add(copied)
        await fw.replace('block', copied)
        const swapped = journal.rotate()
        const copyFrom = journal.seq
        await swapped
        const blockCopy = await copy.finish(copyFrom)
        await Promise.all([ban('203.0.113.2', 7200), ban('203.0.113.3', 300), ban('2001:db8:2::/64', 1200), ban('203.0.113.4', 0)])
        await ban('203.0.113.5', 2)
        await new Promise((resolve) => setTimeout(resolve, 3000)) // .5 is over, in the kernel too
        const second = await journal.rotate()
        await journal.close()
        const folded = await compactSnapshot(path, dir.path, {copies: {block: blockCopy}, fromSeq: first, savedAtMs: Date.now(), toSeq: second})
        assert.ok('saved' in folded, JSON.stringify(folded))
        const listed = join(dir.path, 'listed')
        await saveSnapshot(listed, fw)
        // Expiry times: the kernel keeps milliseconds, the journal whole seconds rounded up: at most 2 s apart.
        const read = async (file: string) => new Map((await loadSnapshot(file)).entries.map(({entry, list}) => [`${list} ${entry.target.text}`, entry]))
        const [fromJournal, fromSets] = [await read(path), await read(listed)]
        assert.deepEqual([...fromJournal.keys()].sort(), [...fromSets.keys()].sort())
        // The copy replaced 2001:db8:1::/64 and 2001:db8:ff::7 of the snapshot.
        assert.deepEqual([...fromJournal.keys()].sort(), ['allow 198.51.100.0/24', 'block 2001:db8:2::/64', 'block 2001:db8:60::/64',
          'block 2001:db8:ff::60', 'block 203.0.113.2', 'block 203.0.113.3', 'block 203.0.113.4', 'block 203.0.113.60'])
        for (const [key, entry] of fromJournal) {
          const kernel = fromSets.get(key)!
          assert.equal(entry.comment, kernel.comment, key)
          assert.equal(entry.ttlSec === 0 || entry.ttlSec === undefined, kernel.ttlSec === 0 || kernel.ttlSec === undefined, `${key}: permanent in one only`)
          assert.ok(Math.abs((entry.ttlSec ?? 0) - (kernel.ttlSec ?? 0)) <= 2, `${key}: ${entry.ttlSec} s folded, ${kernel.ttlSec} s in the kernel`)
        }
        await fw.destroy()
        await fw.close()
      } finally {
        dir.remove()
        await ns.remove()
      }
    })
  })
}
