import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {LockBusyError, withLock} from '../../../src/lib/system/index.js'

function lockPath(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-lock-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return join(dir, 'sub', 'firewall.lock')
}

test('withLock - runs one holder at a time and removes the lock afterwards', async (t) => {
  const path = lockPath(t)
  const order: string[] = []
  const slow = withLock(path, async () => {
    order.push('a start')
    await new Promise((resolve) => setTimeout(resolve, 150))
    order.push('a end')
  })
  await new Promise((resolve) => setTimeout(resolve, 20))
  await withLock(path, async () => void order.push('b'))
  await slow
  assert.deepEqual(order, ['a start', 'a end', 'b'])
  assert.equal(existsSync(path), false)
})

test('withLock - takes over a lock whose process is gone', async (t) => {
  const path = lockPath(t)
  await withLock(path, async () => {}) // creates the directory
  writeFileSync(path, '2147483646\n') // no such PID
  assert.equal(await withLock(path, async () => 42), 42)
})

test('withLock - gives up on a live holder after waitMs with E_BUSY naming the PID', async (t) => {
  const path = lockPath(t)
  await withLock(path, async () => {
    await assert.rejects(withLock(path, async () => {}, {waitMs: 100}), (error: unknown) =>
      error instanceof LockBusyError && error.code === 'E_BUSY' && error.message.includes(String(process.pid)))
  })
})

test('withLock - releases the lock when the holder throws', async (t) => {
  const path = lockPath(t)
  await assert.rejects(withLock(path, async () => {
    throw new Error('boom')
  }), /boom/)
  assert.equal(existsSync(path), false)
})
