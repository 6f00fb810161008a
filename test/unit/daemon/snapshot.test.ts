import assert from 'node:assert/strict'
import {mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {
  loadSnapshot,
  restoreSnapshot,
  restoreSnapshotFile,
  saveSnapshot,
  SNAPSHOT_FILE,
  snapshotPath,
} from '../../../src/lib/daemon/snapshot.js'
import {MemoryBackend} from '../../../src/lib/firewall/sets/index.js'
import type {ListedEntry, ListKind} from '../../../src/lib/firewall/sets/index.js'
import {parseAddress, parseTarget} from '../../../src/lib/net/index.js'
import {FileWriteError} from '../../../src/lib/system/index.js'

/** 2025-11-21T04:40:00Z */
const NOW = 1_763_700_000_000
const NOW_SEC = NOW / 1000
const HEADER = '# diswall snapshot v1 saved 2025-11-21T04:40:00Z\n'

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-snapshot-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

function clock(ms: number): {now: () => number} {
  return {now: () => ms}
}

/** A backend holding a bit of everything: IPv4 and IPv6, timed and permanent, comments. */
async function sampleBackend(): Promise<MemoryBackend> {
  const fw = new MemoryBackend(() => NOW)
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  fw.add('block', {target: parseAddress('2001:db8::7'), ttlSec: 86_400})
  fw.add('block', {target: parseAddress('198.51.100.9'), ttlSec: 0}) // permanent (block add --timeout 0)
  fw.add('allow', {comment: 'office VPN', target: parseTarget('198.51.100.0/24')})
  fw.add('allow', {comment: 'büro ✓', target: parseTarget('2001:db8:1::/48'), ttlSec: 120})
  fw.add('allow', {target: parseTarget('192.0.2.10')})
  await fw.commit()
  return fw
}

function sorted(entries: ListedEntry[]): ListedEntry[] {
  return [...entries].sort((a, b) => a.target.text.localeCompare(b.target.text))
}

test('snapshot - saves both lists in the documented line format, mode 0600 in a new 0700 directory', async (t) => {
  const dir = tempDir(t)
  const path = snapshotPath(join(dir, 'state'))
  assert.equal(path, join(dir, 'state', SNAPSHOT_FILE))

  const saved = await saveSnapshot(path, await sampleBackend(), clock(NOW))
  assert.deepEqual(saved, {allow: 3, block: 3, entries: 6, path, savedAt: '2025-11-21T04:40:00Z'})
  assert.equal(readFileSync(path, 'utf8'), HEADER +
    '# LIST TARGET expires UNIX_SECONDS|never [comment "TEXT"]\n' +
    `block 203.0.113.7 expires ${NOW_SEC + 600}\n` +
    `block 2001:db8::7 expires ${NOW_SEC + 86_400}\n` +
    'block 198.51.100.9 expires never\n' +
    'allow 198.51.100.0/24 expires never comment "office VPN"\n' +
    `allow 2001:db8:1::/48 expires ${NOW_SEC + 120} comment "büro ✓"\n` +
    'allow 192.0.2.10 expires never\n' +
    '# end 6 entries\n')
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700)
  assert.deepEqual(readdirSync(join(dir, 'state')), [SNAPSHOT_FILE])
})

test('snapshot - round trip: load and restore give the kernel back the same entries', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  const source = await sampleBackend()
  await saveSnapshot(path, source, clock(NOW))

  const loaded = await loadSnapshot(path, clock(NOW))
  assert.deepEqual({expired: loaded.expired, problems: loaded.problems, savedAt: loaded.savedAt, skipped: loaded.skipped},
    {expired: 0, problems: [], savedAt: '2025-11-21T04:40:00Z', skipped: 0})
  assert.deepEqual(loaded.entries, [
    {entry: {target: parseAddress('203.0.113.7'), ttlSec: 600}, list: 'block'},
    {entry: {target: parseAddress('2001:db8::7'), ttlSec: 86_400}, list: 'block'},
    {entry: {target: parseAddress('198.51.100.9'), ttlSec: 0}, list: 'block'}, // 0: permanent, as saved
    {entry: {comment: 'office VPN', target: parseTarget('198.51.100.0/24')}, list: 'allow'},
    {entry: {comment: 'büro ✓', target: parseTarget('2001:db8:1::/48'), ttlSec: 120}, list: 'allow'},
    {entry: {target: parseAddress('192.0.2.10')}, list: 'allow'},
  ])

  const target = new MemoryBackend(() => NOW)
  assert.deepEqual(await restoreSnapshot(target, loaded), {added: 6})
  assert.equal(target.commits.length, 1)
  for (const list of ['block', 'allow'] as const) {
    assert.deepEqual(sorted(await target.list(list)), sorted(await source.list(list)))
  }
})

test('snapshot - expiry is absolute: time passed while the daemon was down counts', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  const fw = new MemoryBackend(() => NOW)
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 100})
  fw.add('block', {target: parseAddress('203.0.113.8'), ttlSec: 0})
  fw.add('allow', {target: parseTarget('192.0.2.0/24'), ttlSec: 100})
  await fw.commit()
  await saveSnapshot(path, fw, clock(NOW))

  const later = await loadSnapshot(path, clock(NOW + 40_000))
  assert.deepEqual(later.entries, [
    {entry: {target: parseAddress('203.0.113.7'), ttlSec: 60}, list: 'block'},
    {entry: {target: parseAddress('203.0.113.8'), ttlSec: 0}, list: 'block'},
    {entry: {target: parseTarget('192.0.2.0/24'), ttlSec: 60}, list: 'allow'},
  ])

  const muchLater = await loadSnapshot(path, clock(NOW + 200_000))
  assert.deepEqual(muchLater.entries, [{entry: {target: parseAddress('203.0.113.8'), ttlSec: 0}, list: 'block'}])
  assert.equal(muchLater.expired, 2)
  assert.equal(muchLater.skipped, 0)
  assert.deepEqual(muchLater.problems, [])

  // Exactly at the expiry: nothing left, and a timed ban never becomes ttlSec 0 (permanent).
  const atExpiry = await loadSnapshot(path, clock(NOW + 100_000))
  assert.equal(atExpiry.expired, 2)
  assert.ok(atExpiry.entries.every((e) => e.entry.target.text === '203.0.113.8'))

  // A clock that is behind after a reboot does not stretch a ban past the TTL it had when saved.
  const behind = await loadSnapshot(path, clock(NOW - 3_600_000))
  assert.equal(behind.entries[0].entry.ttlSec, 100)
})

test('snapshot - a missing file is an empty result, not an error', async (t) => {
  const loaded = await loadSnapshot(join(tempDir(t), 'nothing-here'), clock(NOW))
  assert.deepEqual(loaded, {entries: [], expired: 0, problems: [], skipped: 0})
})

test('snapshot - damaged lines are skipped with file:line problems, good lines are kept', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  const exp = NOW_SEC + 300
  writeFileSync(path, HEADER +
    `block 203.0.113.1 expires ${exp}\n` + // 2 good
    `block 203.0.113.256 expires ${exp}\n` + // 3 bad address
    `block 198.51.100.0/24 expires ${exp}\n` + // 4 network in the block list
    `block 198.51.100.7/32 expires ${exp}\n` + // 5 a host network is the address: kept
    `allow 192.0.2.0/24 expires never comment "bad \\ comment"\n` + // 6 backslash in the comment
    `allow 192.0.2.0/24 expires never comment "${'x'.repeat(129)}"\n` + // 7 comment too long
    'block 203.0.113.2 expires 99999999999999999999\n' + // 8 huge number
    'block 203.0.113.3 expires 1e12\n' + // 9 not decimal
    `block 203.0.113.4 expires ${NOW_SEC + 3_000_000_000}\n` + // 10 too far in the future
    `ban 203.0.113.5 expires ${exp}\n` + // 11 unknown list
    `block 203.0.113.6 expires ${exp} comment "why"\n` + // 12 comment on a ban
    'block 203.0.113.7\n' + // 13 no expiry
    `block 203.0.113.8 expires ${exp} extra\n` + // 14 trailing junk
    '\n# a comment line\n' + // 15, 16 ignored
    `allow 2001:db8::/32 expires ${exp} comment "ok"\n` + // 17 good
    `block 203.0.113.9 expires ${String(exp).slice(0, 5)}`, // 18 cut short: no newline (and no end marker)
  )

  const loaded = await loadSnapshot(path, clock(NOW))
  assert.deepEqual(loaded.entries, [
    {entry: {target: parseAddress('203.0.113.1'), ttlSec: 300}, list: 'block'},
    {entry: {target: parseAddress('198.51.100.7'), ttlSec: 300}, list: 'block'},
    {entry: {comment: 'ok', target: parseTarget('2001:db8::/32'), ttlSec: 300}, list: 'allow'},
  ])
  assert.equal(loaded.skipped, 12)
  assert.equal(loaded.expired, 0)
  const lines = loaded.problems.map((p) => p.slice(path.length + 1).replace(/^(\d*):? .*/, '$1'))
  assert.deepEqual(lines, ['3', '4', '6', '7', '8', '9', '10', '11', '12', '13', '14', '18', ''])
  const problem = (line: number): string => loaded.problems.find((p) => p.startsWith(`${path}:${line}: `)) ?? ''
  assert.match(problem(3), /"203\.0\.113\.256" is not a valid IP address/)
  assert.match(problem(4), /block entries must be single addresses, not networks \(198\.51\.100\.0\/24\)/)
  assert.match(problem(6), /comment "bad \\\\ comment" cannot be stored/)
  assert.match(problem(7), /cannot be stored/)
  assert.match(problem(8), /expiry "99999999999999999999" is not a unix time/)
  assert.match(problem(10), /is not a unix time in seconds within/)
  assert.match(problem(11), /unknown list "ban"/)
  assert.match(problem(12), /block entries carry no comment/)
  assert.match(problem(13), /expected "block\|allow TARGET expires/)
  assert.match(problem(18), /incomplete \(no newline at the end\)/)
  assert.match(loaded.problems.at(-1) ?? '', new RegExp(`^${path}: the end marker .* is missing`))
})

test('snapshot - a wrong or missing header rejects the whole file', async (t) => {
  const dir = tempDir(t)
  const body = `block 203.0.113.1 expires ${NOW_SEC + 300}\n# end 1 entries\n`
  const cases: Array<[string, RegExp]> = [
    [body, /:1: not a diswall snapshot: expected "# diswall snapshot v1 saved TIME", found "block 203/],
    [`# diswall snapshot v2 saved 2025-11-21T04:40:00Z\n${body}`, /:1: snapshot format v2 is not supported/],
    [`# diswall snapshot v1 saved yesterday\n${body}`, /:1: not a diswall snapshot/],
    [`# diswall snapshot v1 saved 2025-13-45T04:40:00Z\n${body}`, /:1: the save time "2025-13-45T04:40:00Z" .* not a valid time/],
    ['', /:1: the file is empty/],
    [HEADER.trimEnd(), /:1: the snapshot header is incomplete/],
    ['\0'.repeat(10_000), /:1: not a diswall snapshot/],
  ]
  for (const [i, [text, reason]] of cases.entries()) {
    const path = join(dir, `case-${i}`)
    writeFileSync(path, text)
    const loaded = await loadSnapshot(path, clock(NOW))
    assert.deepEqual(loaded.entries, [], `case ${i}`)
    assert.equal(loaded.problems.length, 1, `case ${i}: ${loaded.problems.join('; ')}`)
    assert.match(loaded.problems[0], reason)
    assert.ok(loaded.problems[0].startsWith(`${path}:1: `))
    assert.match(loaded.problems[0], /the whole file is ignored$/)
  }
})

test('snapshot - an overlong line is skipped unread; the end marker count is checked', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  writeFileSync(path, `${HEADER}block ${'1'.repeat(3 << 20)}\nblock 203.0.113.1 expires never\n# end 3 entries\n`)
  const loaded = await loadSnapshot(path, clock(NOW))
  assert.deepEqual(loaded.entries, [{entry: {target: parseAddress('203.0.113.1'), ttlSec: 0}, list: 'block'}])
  assert.equal(loaded.skipped, 1)
  assert.deepEqual(loaded.problems, [
    `${path}:2: the line is longer than 4096 bytes`,
    `${path}: the end marker counts 3 entries, but the file holds 2`,
  ])
})

test('snapshot - a ruined file lists the first 100 problems and counts the rest', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  writeFileSync(path, `${HEADER}${'junk\n'.repeat(150)}# end 150 entries\n`)
  const loaded = await loadSnapshot(path, clock(NOW))
  assert.equal(loaded.skipped, 150)
  assert.equal(loaded.problems.length, 101)
  assert.equal(loaded.problems[0], `${path}:2: expected "block|allow TARGET expires UNIX_SECONDS|never [comment "TEXT"]"`)
  assert.equal(loaded.problems[100], `${path}: 50 more problems not listed`)
})

test('snapshot - restore merges: kernel entries stay, snapshot entries are added in one commit', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  await saveSnapshot(path, await sampleBackend(), clock(NOW))
  const kernel = new MemoryBackend(() => NOW)
  kernel.add('block', {target: parseAddress('192.0.2.99'), ttlSec: 50})
  await kernel.commit()

  const result = await restoreSnapshot(kernel, await loadSnapshot(path, clock(NOW)))
  assert.deepEqual(result, {added: 6})
  assert.equal(kernel.commits.length, 2)
  assert.equal(await kernel.count('block'), 4)
  assert.equal(await kernel.has('block', parseAddress('192.0.2.99')), true)
  assert.deepEqual(await restoreSnapshot(kernel, {entries: []}), {added: 0})
  assert.equal(kernel.commits.length, 2)
})

test('snapshot - restoreSnapshotFile streams into the backend in batches with the same result', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, SNAPSHOT_FILE)
  const source = new MemoryBackend(() => NOW)
  for (let i = 0; i < 70_000; i++) {
    source.add('block', {target: parseAddress(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`), ttlSec: 60 + (i % 1000)})
  }
  source.add('allow', {comment: 'office VPN', target: parseTarget('198.51.100.0/24')})
  await source.commit()
  await saveSnapshot(path, source, clock(NOW))

  const streamed = new MemoryBackend(() => NOW + 30_000)
  const report = await restoreSnapshotFile(streamed, path, {commitEvery: 20_000, now: () => NOW + 30_000})
  assert.deepEqual(report, {added: 70_001, expired: 0, problems: [], savedAt: '2025-11-21T04:40:00Z', skipped: 0})
  assert.ok(streamed.commits.length >= 2, `commits: ${streamed.commits.length}`)

  const whole = new MemoryBackend(() => NOW + 30_000)
  await restoreSnapshot(whole, await loadSnapshot(path, clock(NOW + 30_000)))
  for (const list of ['block', 'allow'] as ListKind[]) {
    assert.deepEqual(sorted(await streamed.list(list)), sorted(await whole.list(list)))
  }

  writeFileSync(join(dir, 'bad'), `block 203.0.113.1 expires never\n`)
  const rejected = new MemoryBackend(() => NOW)
  const bad = await restoreSnapshotFile(rejected, join(dir, 'bad'), clock(NOW))
  assert.equal(bad.added, 0)
  assert.equal(bad.problems.length, 1)
  assert.equal(rejected.commits.length, 0)
})

test('snapshot - a failed save leaves the old snapshot intact and no temporary file', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, SNAPSHOT_FILE)
  await saveSnapshot(path, await sampleBackend(), clock(NOW))
  const before = readFileSync(path, 'utf8')

  // A backend whose listing fails part-way through the write (more than 1 MiB is already in the temporary file).
  class BrokenBackend extends MemoryBackend {
    override async list(list: ListKind): Promise<ListedEntry[]> {
      if (list === 'allow') return []
      const good = Array.from({length: 40_000}, (_, i) => ({target: parseAddress(`10.0.${i >> 8}.${i & 255}`), ttlSec: 60}))
      const broken = {get target(): never {
        throw new Error('lost the kernel')
      }} as unknown as ListedEntry
      return [...good, broken]
    }
  }
  await assert.rejects(saveSnapshot(path, new BrokenBackend(() => NOW), clock(NOW)), /lost the kernel/)
  assert.equal(readFileSync(path, 'utf8'), before)
  assert.deepEqual(readdirSync(dir), [SNAPSHOT_FILE])

  // A snapshot path that cannot be replaced (a directory of the same name): E_FILE_WRITE, nothing left over.
  await assert.rejects(saveSnapshot(dir, await sampleBackend(), clock(NOW)), (error) => error instanceof FileWriteError)
  assert.deepEqual(readdirSync(dir), [SNAPSHOT_FILE])
})

test('snapshot - allow comments the format cannot hold are dropped on save, the entry is kept', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  const fw = new MemoryBackend(() => NOW)
  fw.add('allow', {comment: 'say "hi"', target: parseTarget('192.0.2.0/24')})
  await fw.commit()
  await saveSnapshot(path, fw, clock(NOW))
  const loaded = await loadSnapshot(path, clock(NOW))
  assert.deepEqual(loaded.entries, [{entry: {target: parseTarget('192.0.2.0/24')}, list: 'allow'}])
  assert.deepEqual(loaded.problems, [])
})

test('snapshot - an IPv6 network ban (a grouped offender) survives the round trip; an IPv4 network does not load', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'sets.snapshot')
  const fw = new MemoryBackend(() => NOW)
  fw.add('block', {target: parseTarget('2001:db8:5::/64'), ttlSec: 600})
  await fw.commit()
  await saveSnapshot(path, fw, clock(NOW))
  const loaded = await loadSnapshot(path, clock(NOW))
  assert.deepEqual(loaded.problems, [])
  assert.deepEqual(loaded.entries.map((e) => [e.list, e.entry.target.text, e.entry.ttlSec]), [['block', '2001:db8:5::/64', 600]])

  writeFileSync(path, readFileSync(path, 'utf8').replace('2001:db8:5::/64', '198.51.100.0/24'))
  const bad = await loadSnapshot(path, clock(NOW))
  assert.equal(bad.entries.length, 0)
  assert.match(bad.problems[0]!, /IPv4 block entries must be single addresses/)
})

test('snapshot - entries that can never be valid (the null address as a ban, a /0) are refused with file:line', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  writeFileSync(path, HEADER +
    'block 203.0.113.1 expires never\n' + // 2 good
    'block 0.0.0.0 expires never\n' + // 3
    'block :: expires never\n' + // 4
    'allow 0.0.0.0/0 expires never\n' + // 5
    'allow ::/0 expires never comment "all"\n' + // 6
    'block ::/0 expires never\n' + // 7
    'allow 0.0.0.0/1 expires never\n' + // 8 broad, but a valid kernel entry: kept here
    'allow 192.0.2.0/24 expires never\n' + // 9 good
    '# end 8 entries\n')
  const loaded = await loadSnapshot(path, clock(NOW))
  assert.deepEqual(loaded.entries.map(({entry, list}) => `${list} ${entry.target.text}`),
    ['block 203.0.113.1', 'allow 0.0.0.0/1', 'allow 192.0.2.0/24'])
  assert.equal(loaded.skipped, 5)
  assert.deepEqual(loaded.problems, [
    `${path}:3: 0.0.0.0 is the unspecified address and can never be banned`,
    `${path}:4: :: is the unspecified address and can never be banned`,
    `${path}:5: allow 0.0.0.0/0 covers every address and is never valid`,
    `${path}:6: allow ::/0 covers every address and is never valid`,
    `${path}:7: block ::/0 covers every address and is never valid`,
  ])
})

/**
 * A backend that refuses some entries as ipset restore does: the lines before and after a bad one are
 * applied, and the commit throws naming the first bad one.
 */
class RefusingBackend extends MemoryBackend {
  failedCommits = 0
  private queued: string[] = []
  override get pending(): number {
    return this.queued.length
  }

  constructor(private readonly refuses: (text: string) => boolean, now: () => number) {
    super(now)
  }

  override add(list: ListKind, entry: Parameters<MemoryBackend['add']>[1]): void {
    this.queued.push(entry.target.text)
    if (!this.refuses(entry.target.text)) super.add(list, entry)
  }

  override async commit(): Promise<{added: number; removed: number}> {
    const bad = this.queued.find((text) => this.refuses(text))
    const good = this.queued.filter((text) => !this.refuses(text)).length
    this.queued = []
    await super.commit()
    if (bad === undefined) return {added: good, removed: 0}
    this.failedCommits++
    throw new Error(`ipset restore: Error in line 2: cannot add ${bad}`)
  }
}

test('snapshot - restoreSnapshotFile skips an entry the kernel refuses, reports its line and restores the rest', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  const lines = []
  for (let i = 1; i <= 200; i++) lines.push(`block 203.0.113.${i} expires never`)
  lines.splice(99, 0, 'block 192.0.2.66 expires never') // line 101: the 100th entry
  lines.push('allow 198.51.100.0/24 expires never comment "office"')
  writeFileSync(path, HEADER + lines.join('\n') + `\n# end ${lines.length} entries\n`)

  const fw = new RefusingBackend((text) => text === '192.0.2.66', () => NOW)
  const report = await restoreSnapshotFile(fw, path, clock(NOW))
  assert.equal(report.added, 201)
  assert.equal(report.skipped, 1)
  assert.deepEqual(report.problems, [
    `${path}:101: the kernel refused block 192.0.2.66, skipped: ipset restore: Error in line 2: cannot add 192.0.2.66`,
  ])
  assert.equal(await fw.count('block'), 200)
  assert.equal(await fw.count('allow'), 1)
  assert.equal(await fw.has('block', parseAddress('192.0.2.66')), false)

  // Batches: the refused entry is found in its own batch; the others are committed once.
  const batched = new RefusingBackend((text) => text === '192.0.2.66' || text === '203.0.113.200', () => NOW)
  const again = await restoreSnapshotFile(batched, path, {commitEvery: 50, now: () => NOW})
  assert.equal(again.added, 200)
  assert.deepEqual(again.problems.map((p) => p.slice(path.length + 1).split(':')[0]), ['101', '202'])
})

test('snapshot - a kernel that refuses everything costs a bounded number of commits and never throws', async (t) => {
  const path = join(tempDir(t), SNAPSHOT_FILE)
  const lines = []
  for (let i = 0; i < 5000; i++) lines.push(`block 10.0.${i >> 8}.${i & 255} expires never`)
  writeFileSync(path, HEADER + lines.join('\n') + `\n# end ${lines.length} entries\n`)
  const fw = new RefusingBackend(() => true, () => NOW)
  const report = await restoreSnapshotFile(fw, path, clock(NOW))
  assert.equal(report.added, 0)
  assert.equal(report.skipped, 5000)
  assert.ok(fw.failedCommits <= 1 + 2 * 256, `failed commits: ${fw.failedCommits}`)
  assert.ok(report.problems.length > 0 && report.problems.length <= 2 * 256 + 1, `problems: ${report.problems.length}`)
  assert.match(report.problems.at(-1) ?? '', /the kernel refused some of the \d+ entries of lines \d+ to \d+/)
})

test('snapshot - the header keeps the milliseconds of the listing start; an aborted save stops the listing and leaves the old file', async (t) => {
  const dir = tempDir(t)
  const path = snapshotPath(dir)
  const saved = await saveSnapshot(path, await sampleBackend(), clock(NOW + 250))
  assert.equal(saved.savedAt, '2025-11-21T04:40:00.250Z')
  assert.equal((await loadSnapshot(path, clock(NOW + 1000))).savedAt, '2025-11-21T04:40:00.250Z')
  const before = readFileSync(path, 'utf8')

  const backend = await sampleBackend()
  const abort = new AbortController()
  const seen: Array<{list: ListKind; signal: AbortSignal | undefined}> = []
  backend.list = async (list, options) => {
    seen.push({list, signal: options?.signal})
    abort.abort(new Error('the daemon is stopping')) // while the first list is read
    return []
  }
  await assert.rejects(saveSnapshot(path, backend, {now: () => NOW + 5000, signal: abort.signal}), /the daemon is stopping/)
  assert.deepEqual(seen, [{list: 'block', signal: abort.signal}])
  assert.equal(readFileSync(path, 'utf8'), before)
  assert.deepEqual(readdirSync(dir), [SNAPSHOT_FILE]) // no temporary file left
})
