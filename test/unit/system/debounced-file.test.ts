import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {DebouncedFileWriter} from '../../../src/lib/system/index.js'

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-debounced-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000
  while (!check()) {
    assert.ok(Date.now() < deadline, `${what} did not happen within 5 s`)
    await sleep(10)
  }
}

test('DebouncedFileWriter - many changes within the delay make one write of the latest state', async (t) => {
  const path = join(tempDir(t), 'state')
  let value = 0
  let renders = 0
  const writer = new DebouncedFileWriter(path, () => {
    renders++
    return `value ${value}\n`
  }, {delayMs: 50})
  for (value = 1; value <= 100; value++) writer.touch()
  value = 100
  assert.equal(renders, 0, 'touch() does not serialise')
  await until(() => existsSync(path), 'the write')
  assert.equal(readFileSync(path, 'utf8'), 'value 100\n')
  assert.equal(renders, 1)
  // Nothing changed since: flush() does not write again.
  await writer.flush()
  assert.equal(renders, 1)
})

test('DebouncedFileWriter - nothing is written before the delay; flush() writes at once (stop)', async (t) => {
  const path = join(tempDir(t), 'state')
  const writer = new DebouncedFileWriter(path, () => 'now\n', {delayMs: 60_000})
  writer.touch()
  await sleep(50)
  assert.equal(existsSync(path), false)
  await writer.flush()
  assert.equal(readFileSync(path, 'utf8'), 'now\n')
})

test('DebouncedFileWriter - writes run one after the other: a change during a write is written after it', async (t) => {
  const path = join(tempDir(t), 'state')
  let value = 1
  const onDiskAtRender: Array<string | undefined> = []
  const flushes: Array<Promise<void>> = []
  const writer = new DebouncedFileWriter(path, () => {
    onDiskAtRender.push(existsSync(path) ? readFileSync(path, 'utf8') : undefined)
    const text = `${value}\n`
    // The next change and flush come while this write is still on its way (mkdir, write, fsync, rename).
    if (value < 4) {
      setImmediate(() => {
        value++
        writer.touch()
        flushes.push(writer.flush())
      })
    }
    return text
  }, {delayMs: 60_000})
  writer.touch()
  await writer.flush()
  await until(() => flushes.length === 3, 'the three changes during writes')
  await Promise.all(flushes)
  // Each write starts (renders) only once the one before it is complete on disk.
  assert.deepEqual(onDiskAtRender, [undefined, '1\n', '2\n', '3\n'])
  assert.equal(readFileSync(path, 'utf8'), '4\n')
})

test('DebouncedFileWriter - replaces the file atomically with the mode asked, in a directory it creates', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'state', 'kmsg.position')
  let text = 'first\n'
  const writer = new DebouncedFileWriter(path, () => text, {delayMs: 60_000, mode: 0o640})
  writer.touch()
  await writer.flush()
  assert.equal(statSync(join(dir, 'state')).mode & 0o777, 0o700)
  text = 'second, longer than the first\n'
  writer.touch()
  await writer.flush()
  assert.equal(readFileSync(path, 'utf8'), 'second, longer than the first\n')
  assert.equal(statSync(path).mode & 0o777, 0o640)
  assert.deepEqual(readdirSync(join(dir, 'state')), ['kmsg.position'], 'no temporary file is left')
})

test('DebouncedFileWriter - undefined writes nothing; with removeWhenEmpty an empty state removes the file', async (t) => {
  const dir = tempDir(t)
  let state: string | undefined
  const nothing = new DebouncedFileWriter(join(dir, 'a'), () => state, {delayMs: 60_000})
  nothing.touch()
  await nothing.flush()
  assert.equal(existsSync(join(dir, 'a')), false)

  const path = join(dir, 'queue')
  state = 'one report\n'
  const queue = new DebouncedFileWriter(path, () => state, {delayMs: 60_000, removeWhenEmpty: true})
  queue.touch()
  await queue.flush()
  assert.equal(readFileSync(path, 'utf8'), 'one report\n')
  state = ''
  queue.touch()
  await queue.flush()
  assert.equal(existsSync(path), false)
})

test('DebouncedFileWriter - a failed write is reported, never thrown, and tried again by the next flush', async (t) => {
  const dir = tempDir(t)
  writeFileSync(join(dir, 'blocker'), '') // a file where the directory should be
  const path = join(dir, 'blocker', 'state')
  const errors: unknown[] = []
  const writer = new DebouncedFileWriter(path, () => 'kept\n', {delayMs: 60_000, onError: (error) => errors.push(error)})
  writer.touch()
  await writer.flush()
  assert.equal(errors.length, 1)
  assert.match(String(errors[0]), /ENOTDIR|EEXIST/)
  // Also from the timer: no unhandled rejection, the error goes to onError.
  const timed = new DebouncedFileWriter(path, () => 'x\n', {delayMs: 10, onError: (error) => errors.push(error)})
  timed.touch()
  await until(() => errors.length === 2, 'the timed write to fail')

  rmSync(join(dir, 'blocker'))
  await writer.flush()
  assert.equal(readFileSync(path, 'utf8'), 'kept\n')
  assert.equal(errors.length, 2)
})
