import assert from 'node:assert/strict'
import {appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {compactSnapshot, journalPath, listJournalSegments, replayJournal, SetJournal} from '../../../src/lib/daemon/journal.js'
import {ListCopyFile} from '../../../src/lib/daemon/list-copy.js'
import {loadSnapshot, restoreSnapshotFile, saveSnapshot, snapshotPath} from '../../../src/lib/daemon/snapshot.js'
import {CoalescingWriter, MemoryBackend} from '../../../src/lib/firewall/sets/index.js'
import type {ListedEntry, SetOp} from '../../../src/lib/firewall/sets/index.js'
import {parseAddress, parseTarget} from '../../../src/lib/net/index.js'

/** 2025-11-21T04:40:00Z */
const NOW = 1_763_700_000_000
const NOW_SEC = NOW / 1000
const HEADER = '# diswall journal v1 opened 2025-11-21T04:40:00Z\n' +
  '# LIST TARGET expires UNIX_SECONDS|never [comment "TEXT"], or delete LIST TARGET\n'

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-journal-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

const add = (list: 'allow' | 'block', target: string, ttlSec?: number, comment?: string): SetOp =>
  ({entry: {target: parseTarget(target), ...(ttlSec === undefined ? {} : {ttlSec}), ...(comment === undefined ? {} : {comment})}, kind: 'add', list})
const del = (list: 'allow' | 'block', target: string): SetOp => ({kind: 'del', list, target: parseTarget(target)})

const texts = (entries: ListedEntry[]): string[] => entries.map((e) => e.target.text).sort()

test('journal - batches are appended in the snapshot line format, with one "# at" line per second', async (t) => {
  const dir = tempDir(t)
  let now = NOW
  const journal = await SetJournal.open(join(dir, 'state'), 3, {defaultBlockTtlSec: 86_400, now: () => now})
  journal.record([add('block', '203.0.113.7', 600), add('block', '2001:db8::7', 0), add('block', '198.51.100.9')])
  journal.record([add('allow', '198.51.100.0/24', undefined, 'office VPN'), add('allow', '192.0.2.10', 120)])
  now += 2500
  journal.record([del('block', '203.0.113.7'), del('allow', '192.0.2.10')])
  await journal.sync()
  const path = journalPath(join(dir, 'state'), 3)
  assert.equal(readFileSync(path, 'utf8'), HEADER +
    `# at ${NOW_SEC}\n` +
    `block 203.0.113.7 expires ${NOW_SEC + 600}\n` +
    'block 2001:db8::7 expires never\n' +
    `block 198.51.100.9 expires ${NOW_SEC + 86_400}\n` + // the set's default timeout
    'allow 198.51.100.0/24 expires never comment "office VPN"\n' +
    `allow 192.0.2.10 expires ${NOW_SEC + 120}\n` +
    `# at ${NOW_SEC + 2}\n` +
    'delete block 203.0.113.7\n' +
    'delete allow 192.0.2.10\n')
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700)
  await journal.close()
})

test('journal - replay keeps the order: a delete after an add wins, an add after a delete stays', async (t) => {
  const dir = tempDir(t)
  const journal = await SetJournal.open(dir, 0, {defaultBlockTtlSec: 86_400, now: () => NOW})
  journal.record([add('block', '203.0.113.1', 600), add('block', '203.0.113.2', 600)])
  journal.record([del('block', '203.0.113.1'), del('block', '203.0.113.2')])
  journal.record([add('block', '203.0.113.2', 600), add('allow', '198.51.100.7', undefined, 'ops')])
  journal.record([del('allow', '198.51.100.7')])
  await journal.close()

  const fw = new MemoryBackend(() => NOW + 5000)
  // What the snapshot restored before: the journal's delete removes it.
  fw.add('block', {target: parseAddress('203.0.113.1'), ttlSec: 900})
  await fw.commit()
  const report = await replayJournal(fw, dir, {now: () => NOW + 5000})
  assert.deepEqual(texts(await fw.list('block')), ['203.0.113.2'])
  assert.deepEqual(await fw.list('allow'), [])
  assert.equal((await fw.list('block'))[0].ttlSec, 595)
  assert.deepEqual({...report, problems: report.problems}, {added: 4, expired: 0, problems: [], refused: 0, removed: 3, segments: [0], skipped: 0})
})

test('journal - entries expired since are skipped, and a renewal that expired ends an earlier longer one', async (t) => {
  const dir = tempDir(t)
  let now = NOW
  const journal = await SetJournal.open(dir, 0, {defaultBlockTtlSec: 86_400, now: () => now})
  journal.record([add('block', '203.0.113.1', 3600), add('block', '203.0.113.2', 60), add('block', '203.0.113.3', 3600)])
  now += 10_000
  journal.record([add('block', '203.0.113.3', 30)]) // renewed with a shorter TTL: over at NOW + 40 s
  await journal.close()

  const fw = new MemoryBackend(() => NOW + 120_000)
  const report = await replayJournal(fw, dir, {now: () => NOW + 120_000})
  assert.deepEqual(texts(await fw.list('block')), ['203.0.113.1'])
  assert.equal((await fw.list('block'))[0].ttlSec, 3600 - 120)
  assert.equal(report.expired, 2)
})

test('journal - a replayed entry never gets more time than it had when written, even with the clock behind', async (t) => {
  const dir = tempDir(t)
  writeFileSync(journalPath(dir, 0), `${HEADER}# at ${NOW_SEC}\nblock 203.0.113.1 expires ${NOW_SEC + 600}\n`)
  const fw = new MemoryBackend(() => NOW - 3_600_000)
  await replayJournal(fw, dir, {now: () => NOW - 3_600_000}) // after a reboot, the clock an hour behind
  assert.equal((await fw.list('block'))[0].ttlSec, 600)
})

test('journal - a damaged segment: the good lines are used, bad and cut-off lines reported with file:line', async (t) => {
  const dir = tempDir(t)
  const path = journalPath(dir, 4)
  writeFileSync(path, `${HEADER}# at ${NOW_SEC}\n` +
    `block 203.0.113.1 expires ${NOW_SEC + 600}\n` +
    '\u0000\u0000garbage\u0000\n' +
    `block 10.0.0.0/8 expires ${NOW_SEC + 600}\n` +
    'delete block not-an-address\n' +
    `block 203.0.113.2 expires ${NOW_SEC + 600}\n` +
    `block 203.0.113.3 expi`) // the crash cut the last line
  const fw = new MemoryBackend(() => NOW)
  const report = await replayJournal(fw, dir, {now: () => NOW})
  assert.deepEqual(texts(await fw.list('block')), ['203.0.113.1', '203.0.113.2'])
  assert.equal(report.skipped, 4)
  assert.equal(report.problems.length, 4, report.problems.join('\n'))
  assert.match(report.problems[0], new RegExp(`^${path}:5: `))
  assert.match(report.problems[1], new RegExp(`^${path}:6: IPv4 block entries must be single addresses`))
  assert.match(report.problems[2], new RegExp(`^${path}:7: `))
  assert.match(report.problems[3], new RegExp(`^${path}:9: the line is incomplete`))
})

test('journal - a segment without its header is reported and skipped; the next segments still replay', async (t) => {
  const dir = tempDir(t)
  writeFileSync(journalPath(dir, 1), 'block 203.0.113.9 expires never\n')
  writeFileSync(journalPath(dir, 2), '') // created, then the crash came before the header
  writeFileSync(journalPath(dir, 10), `${HEADER}block 203.0.113.1 expires never\n`)
  const fw = new MemoryBackend(() => NOW)
  const report = await replayJournal(fw, dir, {now: () => NOW})
  assert.deepEqual(report.segments, [1, 2, 10]) // numeric order, not the names' byte order
  assert.deepEqual(texts(await fw.list('block')), ['203.0.113.1'])
  assert.match(report.problems[0], new RegExp(`^${journalPath(dir, 1)}:1: not a diswall journal`))
  assert.match(report.problems[1], new RegExp(`^${journalPath(dir, 2)}:1: the file is empty`))
})

test('journal - admit keeps protected entries out of the replay', async (t) => {
  const dir = tempDir(t)
  writeFileSync(journalPath(dir, 0), `${HEADER}block 203.0.113.1 expires never\nblock 192.0.2.1 expires never\n`)
  const fw = new MemoryBackend(() => NOW)
  const report = await replayJournal(fw, dir, {admit: (_list, entry) => entry.target.text !== '192.0.2.1', now: () => NOW})
  assert.deepEqual(texts(await fw.list('block')), ['203.0.113.1'])
  assert.equal(report.refused, 1)
})

test('journal - compaction: rotate, a snapshot marked with the new segment, older segments removed; nothing lost or replayed twice', async (t) => {
  const dir = tempDir(t)
  const live = new MemoryBackend(() => NOW)
  const writer = new CoalescingWriter(live, {windowMs: 0})
  const journal = await SetJournal.open(dir, 0, {defaultBlockTtlSec: 86_400, now: () => NOW})
  const journaled = new CoalescingWriter(live, {journal, windowMs: 0})
  await journaled.add('block', {target: parseAddress('203.0.113.1'), ttlSec: 600})

  const seq = await journal.rotate()
  assert.equal(seq, 1)
  // Written after the rotation, before the sets are read: in the new segment and in the snapshot.
  await journaled.add('block', {target: parseAddress('203.0.113.2'), ttlSec: 600})
  await saveSnapshot(snapshotPath(dir), live, {journalSeq: seq, now: () => NOW})
  await journal.dropBefore(seq)
  assert.deepEqual(await listJournalSegments(dir), [1])
  // After the snapshot: only in the journal.
  await journaled.del('block', parseAddress('203.0.113.2'))
  await journaled.add('block', {target: parseAddress('203.0.113.3'), ttlSec: 600})
  await journal.close()
  // Removed behind the daemon's back (block del): the snapshot does not hold it, and segment 0, which
  // added it, is gone, so it does not come back.
  await writer.del('block', parseAddress('203.0.113.1'))
  await saveSnapshot(snapshotPath(dir), live, {journalSeq: seq, now: () => NOW})

  const loaded = await loadSnapshot(snapshotPath(dir), {now: () => NOW})
  assert.equal(loaded.journalSeq, 1)
  const rebooted = new MemoryBackend(() => NOW)
  const restored = await restoreSnapshotFile(rebooted, snapshotPath(dir), {now: () => NOW})
  const replay = await replayJournal(rebooted, dir, {fromSeq: restored.journalSeq, now: () => NOW})
  assert.deepEqual(replay.segments, [1])
  assert.deepEqual(texts(await rebooted.list('block')), texts(await live.list('block')))
  assert.deepEqual(texts(await rebooted.list('block')), ['203.0.113.3'])
})

test('journal - the writer journals committed batches in order, and not a batch the kernel refused', async () => {
  const recorded: SetOp[][] = []
  const fw = new MemoryBackend(() => NOW)
  const writer = new CoalescingWriter(fw, {journal: {record: (ops) => recorded.push([...ops])}, windowMs: 0})
  await Promise.all([writer.add('block', {target: parseAddress('203.0.113.1'), ttlSec: 60}), writer.del('block', parseAddress('203.0.113.1'))])
  await writer.add('allow', {target: parseTarget('198.51.100.0/24')})
  fw.commit = async () => {
    throw new Error('ipset: refused')
  }
  await assert.rejects(writer.add('block', {target: parseAddress('203.0.113.2'), ttlSec: 60}))
  assert.deepEqual(recorded.map((ops) => ops.map((op) => `${op.kind} ${op.list} ${op.kind === 'add' ? op.entry.target.text : op.target.text}`)),
    [['add block 203.0.113.1', 'del block 203.0.113.1'], ['add allow 198.51.100.0/24']])
})

test('journal - a snapshot without a journal mark, or a whole-file rejection, replays every segment', async (t) => {
  const dir = tempDir(t)
  writeFileSync(snapshotPath(dir), 'not a snapshot\n')
  writeFileSync(journalPath(dir, 5), `${HEADER}block 203.0.113.5 expires never\n`)
  appendFileSync(journalPath(dir, 5), 'block 203.0.113.6 expires never\n')
  const fw = new MemoryBackend(() => NOW)
  const restored = await restoreSnapshotFile(fw, snapshotPath(dir), {now: () => NOW})
  assert.equal(restored.journalSeq, undefined)
  await replayJournal(fw, dir, {fromSeq: restored.journalSeq, now: () => NOW})
  assert.deepEqual(texts(await fw.list('block')), ['203.0.113.5', '203.0.113.6'])
})

/** The entry lines of a snapshot file, sorted (their order is not part of the format). */
const entryLines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#')).sort()

/** Sets in memory whose writer journals to a fresh state directory; `clock.now` is the time of both. */
async function journaledSets(t: {after: (fn: () => void) => void}) {
  const dir = tempDir(t)
  const clock = {now: NOW}
  const live = new MemoryBackend(() => clock.now)
  const journal = await SetJournal.open(dir, 0, {defaultBlockTtlSec: 86_400, now: () => clock.now})
  const writer = new CoalescingWriter(live, {journal, windowMs: 0})
  const ban = (target: string, ttlSec?: number) => writer.add('block', {target: parseTarget(target), ...(ttlSec === undefined ? {} : {ttlSec})})
  return {ban, clock, dir, journal, live, writer}
}

test('journal - compactSnapshot folds the segments into the last snapshot: the same file as reading the sets', async (t) => {
  const {ban, clock, dir, journal, live, writer} = await journaledSets(t)
  await ban('203.0.113.1', 600)
  await ban('203.0.113.2', 600)
  await ban('203.0.113.3', 30)
  await ban('2001:db8:1::/64', 0)
  await writer.add('allow', {comment: 'office VPN', target: parseTarget('198.51.100.0/24')})
  await writer.add('allow', {target: parseTarget('192.0.2.10')})
  const first = await journal.rotate()
  await saveSnapshot(snapshotPath(dir), live, {journalSeq: first, now: () => clock.now})
  await journal.dropBefore(first)

  clock.now += 60_000 // 203.0.113.3 expires
  await writer.del('block', parseTarget('203.0.113.1')) // in the snapshot, deleted since
  await ban('203.0.113.2', 7200) // renewed with more time
  await ban('203.0.113.4', 300)
  await ban('203.0.113.5', 300)
  await writer.del('block', parseTarget('203.0.113.5')) // added and deleted since
  await ban('203.0.113.6', 10) // added since, expired by the compaction
  await writer.del('allow', parseTarget('192.0.2.10'))
  await writer.add('allow', {comment: 'monitoring', target: parseTarget('192.0.2.20'), ttlSec: 3600})
  const second = await journal.rotate()
  clock.now += 20_000
  await ban('203.0.113.7', 600) // after the rotation: in the next segment, not in this snapshot
  await journal.close()

  const result = await compactSnapshot(snapshotPath(dir), dir, {fromSeq: first, savedAtMs: clock.now, toSeq: second})
  assert.ok('saved' in result, JSON.stringify(result))
  assert.deepEqual([result.saved.block, result.saved.allow], [3, 2])
  const folded = entryLines(snapshotPath(dir))
  await writer.del('block', parseTarget('203.0.113.7'))
  const listed = join(dir, 'listed')
  await saveSnapshot(listed, live, {journalSeq: second, now: () => clock.now})
  assert.deepEqual(folded, entryLines(listed))
  assert.deepEqual(folded, [
    'allow 192.0.2.20 expires ' + (NOW_SEC + 60 + 3600) + ' comment "monitoring"',
    'allow 198.51.100.0/24 expires never comment "office VPN"',
    `block 2001:db8:1::/64 expires never`,
    `block 203.0.113.2 expires ${NOW_SEC + 60 + 7200}`,
    `block 203.0.113.4 expires ${NOW_SEC + 60 + 300}`,
  ].sort())
  const loaded = await loadSnapshot(snapshotPath(dir), {now: () => clock.now})
  assert.deepEqual([loaded.journalSeq, loaded.savedAt, loaded.problems], [second, new Date(clock.now).toISOString().replace('.000Z', 'Z'), []])
  // A restart restores it and replays the segments from `second` on: 203.0.113.7 comes back, nothing else changes.
  const rebooted = new MemoryBackend(() => clock.now)
  await restoreSnapshotFile(rebooted, snapshotPath(dir), {now: () => clock.now})
  await replayJournal(rebooted, dir, {fromSeq: second, now: () => clock.now})
  assert.deepEqual(texts(await rebooted.list('block')), ['2001:db8:1::/64', '203.0.113.2', '203.0.113.4', '203.0.113.7'])
})

test('journal - compactSnapshot with a list copy: its file stands for the list, changes before the swap drop out; the same as reading the sets', async (t) => {
  const {ban, clock, dir, journal, live, writer} = await journaledSets(t)
  await ban('203.0.113.1', 600)
  await writer.add('allow', {comment: 'office VPN', target: parseTarget('198.51.100.0/24')})
  const first = await journal.rotate()
  await saveSnapshot(snapshotPath(dir), live, {journalSeq: first, now: () => clock.now})

  clock.now += 10_000
  await ban('203.0.113.2', 600) // before the copy: the copy replaces it
  await writer.add('allow', {target: parseTarget('192.0.2.10')}) // the other list: kept
  // The copy of the block list, as the daemon loads it: streamed to the backend and the file, a segment at the swap.
  const copy = await ListCopyFile.create(dir, 'block', {defaultBlockTtlSec: 86_400, now: () => clock.now})
  const entries = [{target: parseTarget('203.0.113.50'), ttlSec: 3600}, {target: parseTarget('203.0.113.51')}, {target: parseTarget('2001:db8:5::/64'), ttlSec: 0}]
  await copy.add(entries.slice(0, 2))
  await copy.add(entries.slice(2))
  await live.replace('block', entries)
  const swappedAt = journal.rotate()
  const fromSeq = journal.seq
  await swappedAt
  const folded = await copy.finish(fromSeq)
  clock.now += 5000
  await writer.del('block', parseTarget('203.0.113.51')) // after the copy: applied
  await ban('203.0.113.52', 300)
  const second = await journal.rotate()
  await journal.close()

  const result = await compactSnapshot(snapshotPath(dir), dir, {copies: {block: folded}, fromSeq: first, savedAtMs: clock.now, toSeq: second})
  assert.ok('saved' in result, JSON.stringify(result))
  const listed = join(dir, 'listed')
  await saveSnapshot(listed, live, {journalSeq: second, now: () => clock.now})
  assert.deepEqual(entryLines(snapshotPath(dir)), entryLines(listed))
  assert.deepEqual(entryLines(snapshotPath(dir)), [
    'allow 192.0.2.10 expires never',
    'allow 198.51.100.0/24 expires never comment "office VPN"',
    'block 2001:db8:5::/64 expires never',
    `block 203.0.113.50 expires ${NOW_SEC + 10 + 3600}`,
    `block 203.0.113.52 expires ${NOW_SEC + 15 + 300}`,
  ].sort())

  // A copy that does not fit the segments, or whose file is not whole, is not used.
  const options = {copies: {block: folded}, fromSeq: second, savedAtMs: clock.now, toSeq: second + 1}
  assert.match(JSON.stringify(await compactSnapshot(snapshotPath(dir), dir, options)), /the copy of the block list begins at segment \d+, outside/)
  writeFileSync(folded.path, readFileSync(folded.path, 'utf8').replace(/# end \d+ entries\n$/, ''))
  const before = readFileSync(snapshotPath(dir), 'utf8')
  const atSecond = {copies: {block: {...folded, fromSeq: second}}, fromSeq: second, savedAtMs: clock.now, toSeq: second}
  const cut = await compactSnapshot(snapshotPath(dir), dir, atSecond)
  assert.match(JSON.stringify(cut), /the copy of the block list cannot be used: .*end marker/)
  writeFileSync(folded.path, `${readFileSync(folded.path, 'utf8')}allow 192.0.2.99 expires never\n# end 4 entries\n`)
  const stray = await compactSnapshot(snapshotPath(dir), dir, atSecond)
  assert.match(JSON.stringify(stray), /holds 1 entries of the other list/)
  assert.equal(readFileSync(snapshotPath(dir), 'utf8'), before)
})

test('journal - compactSnapshot writes nothing it cannot trust, and says why', async (t) => {
  const dir = tempDir(t)
  const path = snapshotPath(dir)
  const fold = (options: Partial<Parameters<typeof compactSnapshot>[2]> = {}) =>
    compactSnapshot(path, dir, {fromSeq: 1, savedAtMs: NOW, toSeq: 3, ...options})
  writeFileSync(journalPath(dir, 1), `${HEADER}block 203.0.113.5 expires never\n`)
  writeFileSync(journalPath(dir, 2), `${HEADER}block 203.0.113.6 expires never\nblock 203.0.113.7 expires never\n`)

  assert.match(JSON.stringify(await fold()), /there is no snapshot at/)
  const snapshot = '# diswall snapshot v1 saved 2025-11-21T04:00:00Z\n# journal 1\nblock 203.0.113.1 expires never\n# end 1 entries\n'
  writeFileSync(path, snapshot)
  assert.match(JSON.stringify(await fold({fromSeq: 2})), /holds the journal up to segment 1, not 2/)
  assert.match(JSON.stringify(await fold({maxChanges: 2})), /more than 2 changes/)
  writeFileSync(path, snapshot.replace('# end 1', '# end 2'))
  assert.match(JSON.stringify(await fold()), /the snapshot has problems: .*end marker counts 2/)
  writeFileSync(path, snapshot)
  appendFileSync(journalPath(dir, 2), 'block 203.0.113.8 expi')
  assert.match(JSON.stringify(await fold()), /the journal has problems: .*sets\.journal\.2:5: the line is incomplete/)
  assert.equal(readFileSync(path, 'utf8'), snapshot)

  const abort = new AbortController()
  abort.abort(new Error('stopping'))
  writeFileSync(journalPath(dir, 2), `${HEADER}block 203.0.113.6 expires never\n`)
  await assert.rejects(fold({signal: abort.signal}), /stopping/)
  assert.equal(readFileSync(path, 'utf8'), snapshot)
  const done = await fold()
  assert.ok('saved' in done)
  assert.deepEqual(entryLines(path), ['block 203.0.113.1 expires never', 'block 203.0.113.5 expires never', 'block 203.0.113.6 expires never'])
})
