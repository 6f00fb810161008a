import assert from 'node:assert/strict'
import {test} from 'node:test'

import {EventQueue} from '../../../src/lib/transport/index.js'

test('EventQueue - the reader gets queued events in order, waits for new ones, and ends after the last one once ended', async () => {
  const queue = new EventQueue<string>()
  queue.push('connected')
  const seen: string[] = []
  const reading = (async () => {
    for await (const event of queue.read()) seen.push(event)
  })()
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(seen, ['connected'], 'what was queued before reading')
  queue.push('disconnected')
  queue.push('reconnecting')
  queue.end()
  queue.push('error') // pushed before the reader woke: still read
  await reading
  assert.deepEqual(seen, ['connected', 'disconnected', 'reconnecting', 'error'])
})

test('EventQueue - an ended queue ends a new reader at once; an unread queue keeps only the newest max events', async () => {
  const ended = new EventQueue<number>()
  ended.end()
  const none: number[] = []
  for await (const event of ended.read()) none.push(event)
  assert.deepEqual(none, [])

  const bounded = new EventQueue<number>(3)
  for (let i = 1; i <= 5; i++) bounded.push(i)
  bounded.end()
  const kept: number[] = []
  for await (const event of bounded.read()) kept.push(event)
  assert.deepEqual(kept, [3, 4, 5])
})
