import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {FileWriteError, writeFileAtomic} from '../../../src/lib/system/index.js'

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-files-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

test('writeFileAtomic - writes a string with mode 0600 and leaves only the target', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'state')
  await writeFileAtomic(path, 'hello\n')
  assert.equal(readFileSync(path, 'utf8'), 'hello\n')
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.deepEqual(readdirSync(dir), ['state'])
})

test('writeFileAtomic - applies the mode exactly, whatever the umask', async (t) => {
  const dir = tempDir(t)
  const old = process.umask(0o077)
  t.after(() => process.umask(old))
  await writeFileAtomic(join(dir, 'a'), 'x', {mode: 0o644})
  assert.equal(statSync(join(dir, 'a')).mode & 0o777, 0o644)
})

test('writeFileAtomic - replaces an existing file', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'state')
  writeFileSync(path, 'old content that is longer than the new one\n', {mode: 0o644})
  await writeFileAtomic(path, 'new\n')
  assert.equal(readFileSync(path, 'utf8'), 'new\n')
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.deepEqual(readdirSync(dir), ['state'])
})

test('writeFileAtomic - streams sync and async iterables larger than one write batch', async (t) => {
  const dir = tempDir(t)
  const lines = Array.from({length: 120_000}, (_, i) => `block 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} expires never\n`)
  const expected = lines.join('')
  assert.ok(expected.length > 2 * (1 << 20)) // more than two batches of 1 Mi characters

  await writeFileAtomic(join(dir, 'sync'), lines)
  assert.equal(readFileSync(join(dir, 'sync'), 'utf8'), expected)

  async function* produce(): AsyncGenerator<string> {
    for (const line of lines) yield line
  }
  await writeFileAtomic(join(dir, 'async'), produce())
  assert.equal(readFileSync(join(dir, 'async'), 'utf8'), expected)
  assert.deepEqual(readdirSync(dir).sort(), ['async', 'sync'])
})

test('writeFileAtomic - keeps multi-byte text intact across batch boundaries', async (t) => {
  const dir = tempDir(t)
  // The emoji's surrogate pair is split between two chunks, right at the first batch boundary.
  const filler = 'a'.repeat((1 << 20) - 1)
  const chunks = [filler + '\ud83d', '\ude00 bürö\n']
  await writeFileAtomic(join(dir, 'u'), chunks)
  assert.equal(readFileSync(join(dir, 'u'), 'utf8'), `${filler}😀 bürö\n`)
})

test('writeFileAtomic - a failing iterable leaves the old file and no temporary file', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'state')
  writeFileSync(path, 'old\n')
  const boom = new Error('producer failed')
  function* failing(): Generator<string> {
    yield 'x'.repeat(3 << 20) // several writes reach the temporary file first
    throw boom
  }

  await assert.rejects(writeFileAtomic(path, failing()), (error) => error === boom)
  assert.equal(readFileSync(path, 'utf8'), 'old\n')
  assert.deepEqual(readdirSync(dir), ['state'])

  async function* failingAsync(): AsyncGenerator<string> {
    yield 'y'
    throw boom
  }
  await assert.rejects(writeFileAtomic(path, failingAsync()), (error) => error === boom)
  assert.equal(readFileSync(path, 'utf8'), 'old\n')
  assert.deepEqual(readdirSync(dir), ['state'])
})

test('writeFileAtomic - a failing rename removes the temporary file and throws E_FILE_WRITE', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'taken')
  mkdirSync(path) // rename(2) of a file over a directory fails with EISDIR
  await assert.rejects(writeFileAtomic(path, 'data'), (error) =>
    error instanceof FileWriteError && error.code === 'E_FILE_WRITE' && error.message.includes(path) &&
    error.message.includes('EISDIR'))
  assert.deepEqual(readdirSync(dir), ['taken'])
  assert.ok(statSync(path).isDirectory())
})

test('writeFileAtomic - a missing directory is an error, and nothing is created', async (t) => {
  const dir = tempDir(t)
  await assert.rejects(writeFileAtomic(join(dir, 'missing', 'state'), 'data'), (error) =>
    error instanceof FileWriteError && error.message.includes('ENOENT') && error.hint !== undefined)
  assert.deepEqual(readdirSync(dir), [])
})

test('writeFileAtomic - concurrent writers each replace the whole file', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'state')
  const contents = Array.from({length: 8}, (_, i) => `${String(i).repeat(100_000)}\n`)
  await Promise.all(contents.map((c) => writeFileAtomic(path, [c.slice(0, 50_000), c.slice(50_000)])))
  assert.ok(contents.includes(readFileSync(path, 'utf8')))
  assert.deepEqual(readdirSync(dir), ['state'])
})
