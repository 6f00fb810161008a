import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {appendFileSync, closeSync, mkdirSync, openSync, readdirSync, readlinkSync, renameSync, truncateSync, writeFileSync, writeSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, test} from 'node:test'
import {fileURLToPath} from 'node:url'

import {FileSource} from '../../../../src/lib/detect/sources/index.js'
import {Puller, until} from './collect.js'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, {force: true, recursive: true})
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dw-file-'))
  dirs.push(dir)
  return dir
}

/** A source with a short stat fallback, so the tests do not depend on fs.watch alone. */
function follow(path: string, options: {fromStart?: boolean; maxLineBytes?: number} = {}): {source: FileSource; puller: Puller<{text: string}>} {
  const source = new FileSource(path, {pollIntervalMs: 50, ...options})
  return {puller: new Puller(source.start()), source}
}

async function texts(puller: Puller<{text: string}>, count: number): Promise<string[]> {
  return (await puller.take(count)).map((l) => l.text)
}

test('file source - reads from the start when asked, then follows appended lines', async () => {
  const path = join(await tempDir(), 'auth.log')
  writeFileSync(path, 'one\ntwo\r\n')
  const {puller, source} = follow(path, {fromStart: true})
  try {
    assert.deepEqual(await texts(puller, 2), ['one', 'two'])
    appendFileSync(path, 'three\n')
    const [line] = await puller.take(1)
    assert.deepEqual(line, {source: `file:${path}`, text: 'three'})
    assert.equal(source.health().state, 'running')
    assert.equal(source.health().lines, 3)
  } finally {
    await source.close()
  }
  assert.equal(await puller.end(), undefined)
  assert.equal(source.health().state, 'stopped')
})

test('file source - starts at the end by default, skipping a line that is still being written', async () => {
  const path = join(await tempDir(), 'auth.log')
  writeFileSync(path, 'old 1\nold 2\nhalf of a li')
  const {puller, source} = follow(path)
  try {
    assert.equal(await puller.nothingWithin(150), 'nothing')
    await until(() => source.health().state === 'running', 'running')
    appendFileSync(path, 'ne from 203.0.113.74\nnew 1\n')
    assert.deepEqual(await texts(puller, 1), ['new 1'])
  } finally {
    await source.close()
  }
})

test('file source - a partial line is held until its newline arrives', async () => {
  const path = join(await tempDir(), 'auth.log')
  writeFileSync(path, '')
  const {puller, source} = follow(path, {fromStart: true})
  try {
    await until(() => source.health().state === 'running', 'running')
    appendFileSync(path, 'Failed password for root from 203.0.')
    assert.equal(await puller.nothingWithin(150), 'nothing')
    appendFileSync(path, '113.7 port 22\n')
    assert.deepEqual(await texts(puller, 1), ['Failed password for root from 203.0.113.7 port 22'])
  } finally {
    await source.close()
  }
})

test('file source - rotation: the rest of the old file first, then the new file from its start', async () => {
  const path = join(await tempDir(), 'auth.log')
  const writer = openSync(path, 'a')
  writeSync(writer, 'before rotation\n')
  const {puller, source} = follow(path, {fromStart: true})
  try {
    assert.deepEqual(await texts(puller, 1), ['before rotation'])
    // logrotate's default: rename, then the daemon writes on to its open file until it reopens.
    renameSync(path, `${path}.1`)
    writeSync(writer, 'late line in the old file\n')
    writeFileSync(path, 'new 1\nnew 2\n')
    assert.deepEqual(await texts(puller, 3), ['late line in the old file', 'new 1', 'new 2'])
    appendFileSync(path, 'new 3\n')
    assert.deepEqual(await texts(puller, 1), ['new 3'])
  } finally {
    closeSync(writer)
    await source.close()
  }
})

test('file source - truncation (copytruncate) starts over at the beginning', async () => {
  const path = join(await tempDir(), 'auth.log')
  writeFileSync(path, 'first 1\nfirst 2\n')
  const {puller, source} = follow(path, {fromStart: true})
  try {
    assert.deepEqual(await texts(puller, 2), ['first 1', 'first 2'])
    truncateSync(path, 0)
    appendFileSync(path, 'after\n')
    assert.deepEqual(await texts(puller, 1), ['after'])
  } finally {
    await source.close()
  }
})

test('file source - a file created later is read from its start (directory created later too)', async () => {
  const dir = join(await tempDir(), 'nginx')
  const path = join(dir, 'error.log')
  const {puller, source} = follow(path)
  try {
    await until(() => source.health().state === 'running', 'running while waiting for the file')
    assert.equal(await puller.nothingWithin(100), 'nothing')
    mkdirSync(dir)
    writeFileSync(path, 'appeared 1\nappeared 2\n')
    assert.deepEqual(await texts(puller, 2), ['appeared 1', 'appeared 2'])
  } finally {
    await source.close()
  }
})

test('file source - an over-long line is dropped whole and counted, the next line passes', async () => {
  const path = join(await tempDir(), 'auth.log')
  writeFileSync(path, '')
  const {puller, source} = follow(path, {fromStart: true, maxLineBytes: 16})
  try {
    await until(() => source.health().state === 'running', 'running')
    appendFileSync(path, `${'x'.repeat(40)}`)
    appendFileSync(path, `${'y'.repeat(40)}\nshort\n`)
    assert.deepEqual(await texts(puller, 1), ['short'])
    assert.equal(source.health().lost, 1)
  } finally {
    await source.close()
  }
})

test('file source - idle following costs next to no CPU', async () => {
  const path = join(await tempDir(), 'auth.log')
  writeFileSync(path, '')
  // In a process of its own: the test process runs other test files (and compiles them) meanwhile.
  const source = fileURLToPath(new URL('../../../../src/lib/detect/sources/index.ts', import.meta.url))
  const script = `import {FileSource} from ${JSON.stringify(source)}
const source = new FileSource(${JSON.stringify(path)}) // default 1 s stat fallback
const lines = source.start()[Symbol.asyncIterator]()
void lines.next()
await new Promise((r) => setTimeout(r, 300))
const before = process.cpuUsage()
await new Promise((r) => setTimeout(r, 1000))
const used = process.cpuUsage(before)
await source.close()
console.log(JSON.stringify(used))`
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {stdio: ['ignore', 'pipe', 'inherit']})
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d))
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  assert.equal(code, 0, out)
  const used = JSON.parse(out.trim().split('\n').at(-1)!) as {user: number; system: number}
  assert.ok(used.user + used.system < 50_000, `${(used.user + used.system) / 1000} ms CPU in 1 s of idle following`)
})

test('file source - close() releases the file even when the consumer stopped pulling', async () => {
  const path = join(await tempDir(), 'auth.log')
  writeFileSync(path, 'one\ntwo\n')
  const source = new FileSource(path, {fromStart: true})
  const puller = new Puller(source.start())
  await puller.take(1) // the run now waits at a yield, holding the file open
  const openFds = (): number => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`) === path
    } catch {
      return false
    }
  }).length
  assert.equal(openFds(), 1)
  await source.close()
  assert.equal(openFds(), 0)
})
