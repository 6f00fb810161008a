import assert from 'node:assert/strict'
import {test} from 'node:test'

import {parseAddress} from '../../../src/lib/net/index.js'
import {FakeTransport} from '../../../src/lib/transport/index.js'
import type {TransportEvent, TransportSink, WireEntry, WireList} from '../../../src/lib/transport/index.js'

/** A sink that records what the transport delivers (copies read to their end). */
function recordingSink() {
  const got: Array<{op: string; list: WireList; targets: string[]}> = []
  const sink: TransportSink = {
    add: async (list, entry) => void got.push({list, op: 'add', targets: [entry.target.text]}),
    del: async (list, entry) => void got.push({list, op: 'del', targets: [entry.target.text]}),
    replace: async (list, entries) => {
      const targets: string[] = []
      for await (const batch of entries) for (const entry of batch) targets.push(entry.target.text)
      got.push({list, op: 'replace', targets})
    },
  }
  return {got, sink}
}

const entry = (text: string): WireEntry => ({target: parseAddress(text)})

test('FakeTransport - records publications and delivers adds, deletes and list copies to the sink', async () => {
  const transport = new FakeTransport()
  await assert.rejects(transport.deliverAdd('block', entry('203.0.113.1')), /not started/)
  const {got, sink} = recordingSink()
  await transport.start(sink)
  transport.publishAdd('block', {tag: 'ssh', target: parseAddress('203.0.113.7'), ttlSec: 60})
  transport.publishDel('allow', entry('198.51.100.1'))
  assert.deepEqual(transport.published.map((p) => [p.op, p.list, p.entry.target.text]), [['add', 'block', '203.0.113.7'], ['del', 'allow', '198.51.100.1']])
  await transport.deliverAdd('block', entry('203.0.113.1'))
  await transport.deliverDel('allow', entry('198.51.100.2'))
  await transport.deliverCopy('block', [entry('203.0.113.2'), entry('203.0.113.3')])
  assert.deepEqual(got, [
    {list: 'block', op: 'add', targets: ['203.0.113.1']},
    {list: 'allow', op: 'del', targets: ['198.51.100.2']},
    {list: 'block', op: 'replace', targets: ['203.0.113.2', '203.0.113.3']},
  ])
})

test('FakeTransport - status yields events until the end; closed() settles with the error it gave up with', async () => {
  const transport = new FakeTransport()
  await transport.start(recordingSink().sink)
  const seen: TransportEvent['type'][] = []
  const reading = (async () => {
    for await (const event of transport.status()) seen.push(event.type)
  })()
  transport.emit({type: 'disconnected'})
  transport.emit({type: 'reconnecting'})
  const error = new Error('no servers left')
  transport.fail(error)
  await reading
  assert.deepEqual(seen, ['connected', 'disconnected', 'reconnecting', 'error'])
  assert.equal(await transport.closed(), error)
})

test('FakeTransport - close() ends the status stream and closed() settles without an error', async () => {
  const transport = new FakeTransport()
  await transport.start(recordingSink().sink)
  const reading = (async () => {
    let n = 0
    for await (const _ of transport.status()) n++
    return n
  })()
  await transport.close()
  await transport.close()
  assert.equal(await reading, 1)
  assert.equal(await transport.closed(), undefined)
})
