import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {watchDirectory} from '../../../../src/lib/firewall/ruleset/watch.js'

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-watch-'))
  mkdirSync(join(dir, 'incoming.d'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(what: string, predicate: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

test('watchDirectory - a burst of writes in a subdirectory is one run, naming the files', async (t) => {
  const dir = tempDir(t)
  const runs: string[][] = []
  const w = watchDirectory(dir, {debounceMs: 100, onChange: async (files) => void runs.push(files)})
  t.after(() => w.close())
  for (const name of ['10-ssh', '20-http', '30-smtp']) writeFileSync(join(dir, 'incoming.d', name), '')
  await until('the first run', () => runs.length > 0)
  await sleep(250)
  assert.equal(runs.length, 1)
  assert.deepEqual(runs[0], ['incoming.d/10-ssh', 'incoming.d/20-http', 'incoming.d/30-smtp'])
})

test('watchDirectory - editor backups and hidden files do not trigger a run', async (t) => {
  const dir = tempDir(t)
  let runs = 0
  const w = watchDirectory(dir, {debounceMs: 50, onChange: async () => void runs++})
  t.after(() => w.close())
  writeFileSync(join(dir, 'incoming.d', '10-ssh~'), '')
  writeFileSync(join(dir, 'incoming.d', '.10-ssh.swp'), '')
  writeFileSync(join(dir, 'incoming.d', '10-ssh.dpkg-new'), '')
  await sleep(300)
  assert.equal(runs, 0)
})

test('watchDirectory - changes during a run lead to exactly one more run, never to overlapping runs', async (t) => {
  const dir = tempDir(t)
  let active = 0
  let maxActive = 0
  let runs = 0
  const w = watchDirectory(dir, {debounceMs: 30, onChange: async () => {
    active++
    maxActive = Math.max(maxActive, active)
    runs++
    await sleep(runs === 1 ? 600 : 50)
    active--
  }})
  t.after(() => w.close())
  writeFileSync(join(dir, 'incoming.d', '10-ssh'), '')
  await until('the first run', () => runs === 1)
  // Five changes while the first run (600 ms) is still busy, some of them after their debounce ran out.
  for (let i = 0; i < 5; i++) {
    writeFileSync(join(dir, 'incoming.d', `2${i}-x`), '')
    await sleep(40)
  }

  await until('the second run', () => runs === 2)
  await w.idle()
  assert.equal(runs, 2)
  assert.equal(maxActive, 1)
})

test('watchDirectory - a failing run is reported and the watch goes on', async (t) => {
  const dir = tempDir(t)
  const errors: string[] = []
  let runs = 0
  const w = watchDirectory(dir, {debounceMs: 30, onChange: async () => {
    runs++
    if (runs === 1) throw new Error('broken edit')
  }, onError: (e) => errors.push(e.message)})
  t.after(() => w.close())
  writeFileSync(join(dir, 'incoming.d', '10-ssh'), 'not an address')
  await until('the failed run', () => errors.length === 1)
  writeFileSync(join(dir, 'incoming.d', '10-ssh'), '')
  await until('the next run', () => runs === 2)
  assert.deepEqual(errors, ['broken edit'])
})
