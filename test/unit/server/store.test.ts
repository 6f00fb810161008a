import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {openSqliteStore, SCHEMA_VERSION} from '../../../src/lib/server/index.js'
import type {StoredEntry} from '../../../src/lib/server/index.js'

function entry(target: string, over: Partial<StoredEntry> = {}): StoredEntry {
  return {account: 'acme', bans: 1, expiresAt: 2000, firstSeen: 1000, lastSeen: 1000, list: 'block', note: '', reporter: 'h', target, ...over}
}

function tempDir(t: {after(fn: () => void): void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-store-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

test('store - unique per account, list and address: a second put replaces', (t) => {
  const store = openSqliteStore(':memory:')
  t.after(() => store.close())
  store.put(entry('203.0.113.1'))
  store.put(entry('203.0.113.1', {bans: 2, reporter: 'h2'}))
  store.put(entry('203.0.113.1', {list: 'allow'}))
  store.put(entry('203.0.113.1', {account: 'globex'}))
  assert.equal(store.get('acme', 'block', '203.0.113.1')?.bans, 2)
  assert.deepEqual(store.counts(), [
    {account: 'acme', entries: 1, list: 'block'}, {account: 'acme', entries: 1, list: 'allow'}, {account: 'globex', entries: 1, list: 'block'},
  ])
})

test('store - lists stream page by page in address order, expired rows left out', (t) => {
  const store = openSqliteStore(':memory:')
  t.after(() => store.close())
  for (let i = 0; i < 25; i++) store.put(entry(`203.0.113.${100 + i}`, {expiresAt: i === 3 ? 500 : 2000}))
  const got = [...store.activeEntries('acme', 'block', 1000, {pageSize: 4})].map((e) => e.target)
  assert.equal(got.length, 24)
  assert.ok(!got.includes('203.0.113.103'))
  assert.deepEqual(got, [...got].sort())
})

test('store - writes are committed in batches: a reader of the file sees them after the commit interval', async (t) => {
  const path = join(tempDir(t), 'db', 'server.db')
  const store = openSqliteStore(path, {commitIntervalMs: 30})
  t.after(() => store.close())
  store.put(entry('203.0.113.1'))
  assert.equal(store.info().pending, 1)
  const reader = openSqliteStore(path)
  try {
    assert.equal(reader.get('acme', 'block', '203.0.113.1'), undefined)
    await new Promise((resolve) => setTimeout(resolve, 100))
    assert.equal(reader.get('acme', 'block', '203.0.113.1')?.target, '203.0.113.1')
  } finally {
    reader.close()
  }
  assert.equal(store.info().pending, 0)
  assert.ok(store.info().commits >= 1)
})

test('store - reopening keeps committed rows; the schema version is recorded', (t) => {
  const path = join(tempDir(t), 'server.db')
  const first = openSqliteStore(path)
  first.put(entry('203.0.113.1'))
  first.putStats({account: 'acme', banned: 1, bytesAccepted: 0, bytesDropped: 0, host: 'h', hour: 3600, packetsAccepted: 0, packetsDropped: 0})
  first.close()
  const second = openSqliteStore(path)
  t.after(() => second.close())
  assert.equal(second.get('acme', 'block', '203.0.113.1')?.target, '203.0.113.1')
  assert.equal(second.statsSince(0).length, 1)
  assert.equal(second.info().schemaVersion, SCHEMA_VERSION)
})

test('store - a file that is not a diswall store, or a newer one, is refused with E_STORE', (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'text.db'), 'not a database at all, just text '.repeat(100))
  assert.throws(() => openSqliteStore(join(dir, 'text.db')), (e: Error & {code?: string}) => e.code === 'E_STORE')
  const newer = openSqliteStore(join(dir, 'newer.db'))
  newer.close()
  // bump the version as a later diswall would have
  const raw = openSqliteStore(join(dir, 'newer.db')) as unknown as {db: {pragma(s: string): unknown}}
  raw.db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  ;(raw as unknown as {close(): void}).close()
  assert.throws(() => openSqliteStore(join(dir, 'newer.db')), /schema version/)
})

test('store - sweep removes expired entries, keeps the ban count of block entries until the window has passed', (t) => {
  const store = openSqliteStore(':memory:')
  t.after(() => store.close())
  store.put(entry('203.0.113.1', {bans: 3, expiresAt: 100}))
  store.put(entry('203.0.113.2', {expiresAt: 100, list: 'allow'}))
  store.put(entry('203.0.113.3', {expiresAt: null, list: 'allow'}))
  assert.deepEqual(store.sweep(120, {forgetAfterSec: 50}).sort((a, b) => a.list.localeCompare(b.list)), [
    {account: 'acme', entries: 1, list: 'allow'}, {account: 'acme', entries: 1, list: 'block'},
  ])
  assert.deepEqual(store.getOffender('acme', '203.0.113.1'), {bannedUntil: 100, bans: 3})
  assert.equal(store.getOffender('acme', '203.0.113.2'), undefined, 'allow entries leave no memory')
  store.sweep(151, {forgetAfterSec: 50})
  assert.equal(store.getOffender('acme', '203.0.113.1'), undefined)
  assert.equal(store.get('acme', 'allow', '203.0.113.3')?.expiresAt, null)
  // a ban that ended longer ago than the window leaves nothing
  store.put(entry('203.0.113.4', {expiresAt: 100}))
  store.sweep(500, {forgetAfterSec: 50})
  assert.equal(store.getOffender('acme', '203.0.113.4'), undefined)
})

test('store - blockState: every account\'s block entry of the address, expired or not, queued writes included, and the reporter\'s offender memory', (t) => {
  const store = openSqliteStore(':memory:')
  t.after(() => store.close())
  assert.deepEqual(store.blockState('acme', '203.0.113.1'), {entries: []})
  store.put(entry('203.0.113.1', {bans: 3, firstSeen: 900, note: 'ssh'}))
  store.put(entry('203.0.113.1', {account: 'globex', expiresAt: 500}))
  store.put(entry('203.0.113.1', {account: ''}))
  store.put(entry('203.0.113.1', {account: 'initech', list: 'allow'}))
  store.put(entry('203.0.113.2', {account: 'initech'}))
  const state = store.blockState('acme', '203.0.113.1')
  assert.equal(state.offender, undefined)
  assert.deepEqual([...state.entries].sort((a, b) => (a.account < b.account ? -1 : 1)), [
    {account: '', bans: 1, expiresAt: 2000, firstSeen: 1000, note: ''},
    {account: 'acme', bans: 3, expiresAt: 2000, firstSeen: 900, note: 'ssh'},
    {account: 'globex', bans: 1, expiresAt: 500, firstSeen: 1000, note: ''},
  ])
  // the offender memory of the reporting account only
  store.put(entry('198.51.100.7', {expiresAt: 100}))
  store.put(entry('198.51.100.7', {account: 'globex', expiresAt: 100}))
  store.sweep(1000, {forgetAfterSec: 10_000})
  assert.deepEqual(store.blockState('acme', '198.51.100.7'), {entries: [], offender: {bannedUntil: 100, bans: 1}})
  store.forgetOffender('acme', '198.51.100.7')
  assert.deepEqual(store.blockState('acme', '198.51.100.7'), {entries: []})
  assert.deepEqual(store.blockState('globex', '198.51.100.7').offender, {bannedUntil: 100, bans: 1})
})
