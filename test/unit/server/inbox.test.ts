import assert from 'node:assert/strict'
import {test} from 'node:test'

import {Inbox, INBOX_SLICE, pendingStatus} from '../../../src/lib/server/index.js'

/** An inbox whose slices run when the test says so, with a clock of its own. */
function setup(limits = {bytes: 1000, messages: 10}) {
  const clock = {ms: 1_700_000_000_000}
  const queued: Array<() => void> = []
  const handled: string[] = []
  const events: unknown[] = []
  const inbox = new Inbox<string>({
    handle: (item) => handled.push(item), limits, now: () => clock.ms, onSlow: (e) => events.push(e),
    schedule: (fn) => queued.push(fn), size: (item) => item.length,
  })
  const turn = (): void => queued.shift()?.()
  return {clock, events, handled, inbox, queued, turn}
}

test('inbox - messages are handled in arrival order, later, in slices', () => {
  const {handled, inbox, queued, turn} = setup({bytes: 1 << 30, messages: 1 << 20})
  for (let i = 0; i < INBOX_SLICE + 5; i++) assert.equal(inbox.push(`m${i}`), true)
  assert.equal(handled.length, 0, 'nothing is handled inside the NATS callback')
  assert.equal(queued.length, 1, 'one slice scheduled, not one per message')
  turn()
  assert.equal(handled.length, INBOX_SLICE)
  assert.equal(inbox.counters.pending, 5)
  turn()
  assert.deepEqual(handled.slice(0, 3), ['m0', 'm1', 'm2'])
  assert.equal(handled.at(-1), `m${INBOX_SLICE + 4}`)
  assert.equal(inbox.counters.pending, 0)
  assert.equal(inbox.counters.pendingBytes, 0)
  assert.equal(queued.length, 0)
  assert.equal(inbox.counters.dropped, 0)
})

test('inbox - past the message limit a message is dropped and counted; one episode until it catches up', () => {
  const {clock, events, handled, inbox, turn} = setup()
  for (let i = 0; i < 25; i++) inbox.push(`m${i}`)
  assert.equal(inbox.counters.pending, 10)
  assert.equal(inbox.counters.dropped, 15)
  assert.equal(inbox.counters.events, 1)
  assert.deepEqual(events, [{kind: 'begin'}])
  assert.equal(pendingStatus(inbox.counters, {bytes: 1000, messages: 10}).slowSince, new Date(clock.ms).toISOString())
  clock.ms += 2500
  turn()
  assert.deepEqual(handled, ['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7', 'm8', 'm9'], 'the first ten, in order; the rest were dropped')
  assert.deepEqual(events, [{kind: 'begin'}, {dropped: 15, durationMs: 2500, kind: 'end'}])
  assert.equal(inbox.counters.slowSinceMs, undefined)
  // a second flood is a second episode; the totals go on
  for (let i = 0; i < 12; i++) inbox.push(`n${i}`)
  assert.equal(inbox.counters.events, 2)
  assert.equal(inbox.counters.dropped, 17)
  assert.equal(inbox.counters.highWater, 10)
  const status = pendingStatus(inbox.counters, {bytes: 1000, messages: 10})
  assert.equal(status.dropped, 17)
  assert.equal(status.slowConsumerEvents, 2)
  assert.equal(status.messages, 10)
})

test('inbox - the byte limit counts too: one large message cannot fill memory', () => {
  const {inbox} = setup({bytes: 100, messages: 1000})
  assert.equal(inbox.push('x'.repeat(60)), true)
  assert.equal(inbox.push('y'.repeat(60)), false)
  assert.equal(inbox.push('z'.repeat(40)), true)
  assert.equal(inbox.counters.pendingBytes, 100)
  assert.equal(inbox.counters.dropped, 1)
})

test('inbox - drainAll handles everything waiting at once (stop)', () => {
  const {handled, inbox} = setup({bytes: 1 << 30, messages: 1 << 20})
  for (let i = 0; i < 3 * INBOX_SLICE; i++) inbox.push(`m${i}`)
  inbox.drainAll()
  assert.equal(handled.length, 3 * INBOX_SLICE)
  assert.equal(inbox.counters.pending, 0)
})
