import assert from 'node:assert/strict'
import {test} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {CoalescingWriter, MemoryBackend} from '../../../../src/lib/firewall/sets/index.js'
import type {CommitReport} from '../../../../src/lib/firewall/sets/index.js'
import {parseAddress} from '../../../../src/lib/net/index.js'

/**
 * A MemoryBackend whose commits can be held open (like a slow `ipset restore`) and made to fail.
 * Like the real backends, it takes the queued operations when commit() is called, then waits.
 */
class ControlledBackend extends MemoryBackend {
  /** Number of commit() calls. */
  calls = 0
  /** While true, each commit waits for release(). */
  hold = false
  /** Error thrown by the commit call of that index (0-based). */
  readonly failures: Array<Error | undefined> = []
  private releases: Array<() => void> = []
  private startWaiters: Array<() => void> = []

  override async commit(): Promise<CommitReport> {
    const index = this.calls++
    const report = await super.commit()
    for (const notify of this.startWaiters.splice(0)) notify()
    if (this.hold) await new Promise<void>((resolve) => this.releases.push(resolve))
    const error = this.failures[index]
    if (error) throw error
    return report
  }

  /** Resolves when the next commit has taken its batch. */
  nextCommit(): Promise<void> {
    return new Promise((resolve) => this.startWaiters.push(resolve))
  }

  release(): void {
    for (const release of this.releases.splice(0)) release()
  }
}

const addr = (n: number) => parseAddress(`198.51.100.${n}`)
const texts = (batch: {adds: Array<{target: {text: string}}>}) => batch.adds.map((e) => e.target.text)

test('writer - many add() calls within the window become one commit', async () => {
  const backend = new MemoryBackend()
  const writer = new CoalescingWriter(backend, {windowMs: 5})
  const done = Array.from({length: 100}, (_, i) => writer.add('block', {target: parseAddress(`203.0.113.${i}`), ttlSec: 60}))
  done.push(writer.del('block', addr(9)))
  assert.equal(backend.commits.length, 0) // nothing goes out before the window closes
  await Promise.all(done)
  assert.equal(backend.commits.length, 1)
  assert.equal(backend.commits[0].adds.length, 100)
  assert.deepEqual(backend.commits[0].dels.map((t) => t.text), ['198.51.100.9'])
  assert.deepEqual(writer.stats, {added: 100, batches: 1, failedBatches: 0, removed: 1})
  assert.equal(await backend.count('block'), 100)
})

test('writer - entries that arrive during a commit go to the next batch', async () => {
  const backend = new ControlledBackend()
  backend.hold = true
  const writer = new CoalescingWriter(backend, {windowMs: 1})
  let firstDone = false
  const first = writer.add('block', {target: addr(1)}).then(() => {
    firstDone = true
  })
  await backend.nextCommit()
  const second = [writer.add('block', {target: addr(2)}), writer.add('block', {target: addr(3)})]
  await sleep(20) // well past the window: still only one commit at a time
  assert.equal(backend.calls, 1)
  assert.equal(firstDone, false) // settles only when its batch is in the kernel

  backend.hold = false
  backend.release()
  await Promise.all([first, ...second])
  assert.equal(backend.calls, 2)
  assert.deepEqual(backend.commits.map(texts), [['198.51.100.1'], ['198.51.100.2', '198.51.100.3']])
  assert.deepEqual(writer.stats, {added: 3, batches: 2, failedBatches: 0, removed: 0})
})

test('writer - flush() commits what is pending without waiting for the window', async () => {
  const backend = new MemoryBackend()
  const writer = new CoalescingWriter(backend, {windowMs: 60_000})
  const done = [writer.add('allow', {comment: 'office', target: addr(1)}), writer.del('allow', addr(2))]
  assert.equal(backend.commits.length, 0)
  await writer.flush()
  assert.equal(backend.commits.length, 1)
  assert.deepEqual(texts(backend.commits[0]), ['198.51.100.1'])
  assert.deepEqual(backend.commits[0].dels.map((t) => t.text), ['198.51.100.2'])
  await Promise.all(done) // already settled by flush()
  assert.deepEqual(writer.stats, {added: 1, batches: 1, failedBatches: 0, removed: 1})
})

test('writer - flush() with nothing queued commits nothing', async () => {
  const backend = new ControlledBackend()
  const writer = new CoalescingWriter(backend)
  await writer.flush()
  assert.equal(backend.calls, 0)
  assert.deepEqual(writer.stats, {added: 0, batches: 0, failedBatches: 0, removed: 0})
})

test('writer - flush() waits for the running commit and the batch queued behind it', async () => {
  const backend = new ControlledBackend()
  backend.hold = true
  const writer = new CoalescingWriter(backend, {windowMs: 1})
  const first = writer.add('block', {target: addr(1)})
  await backend.nextCommit()
  const second = writer.add('block', {target: addr(2)})
  let flushed = false
  const flushing = writer.flush().then(() => {
    flushed = true
  })
  await sleep(5)
  assert.equal(flushed, false)
  backend.hold = false
  backend.release()
  await flushing
  assert.equal(backend.calls, 2)
  assert.equal(backend.pending, 0)
  await Promise.all([first, second])
  assert.deepEqual(backend.commits.map(texts), [['198.51.100.1'], ['198.51.100.2']])
})

test('writer - a failing commit rejects the waiters of that batch only', async () => {
  const backend = new ControlledBackend()
  const boom = new Error('ipset restore failed')
  backend.failures[0] = boom
  backend.hold = true
  const writer = new CoalescingWriter(backend, {windowMs: 1})
  const failed = [writer.add('block', {target: addr(1)}), writer.add('block', {target: addr(2)})]
  const failedSettled = Promise.allSettled(failed)
  await backend.nextCommit()
  const next = writer.add('block', {target: addr(3)})
  backend.hold = false
  backend.release()

  assert.deepEqual(await failedSettled, [{reason: boom, status: 'rejected'}, {reason: boom, status: 'rejected'}])
  await next // the batch after the failure goes through
  assert.equal(backend.calls, 2)
  assert.deepEqual(writer.stats, {added: 1, batches: 1, failedBatches: 1, removed: 0})
})

test('writer - a failed batch does not stop later batches', async () => {
  const backend = new ControlledBackend()
  backend.failures[0] = new Error('nft failed')
  const writer = new CoalescingWriter(backend, {windowMs: 1})
  await assert.rejects(writer.add('block', {target: addr(1)}), {message: 'nft failed'})
  await writer.add('block', {target: addr(2)})
  assert.equal(backend.calls, 2)
  assert.deepEqual(writer.stats, {added: 1, batches: 1, failedBatches: 1, removed: 0})
})

test('writer - reaching maxBatch commits at once, without waiting for the window', async () => {
  const backend = new MemoryBackend()
  const writer = new CoalescingWriter(backend, {maxBatch: 3, windowMs: 60_000})
  const done = [writer.add('block', {target: addr(1)}), writer.add('block', {target: addr(2)})]
  assert.equal(backend.commits.length, 0)
  done.push(writer.add('block', {target: addr(3)}))
  assert.equal(backend.commits.length, 1) // started synchronously by the third add
  assert.deepEqual(texts(backend.commits[0]), ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
  await Promise.all(done)

  const late = writer.add('block', {target: addr(4)}) // below maxBatch: waits for the window again
  await sleep(5)
  assert.equal(backend.commits.length, 1)
  await writer.flush()
  await late
  assert.deepEqual(backend.commits.map(texts), [['198.51.100.1', '198.51.100.2', '198.51.100.3'], ['198.51.100.4']])
})
