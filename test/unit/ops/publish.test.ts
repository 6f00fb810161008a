import assert from 'node:assert/strict'
import {test} from 'node:test'

import {defaultConfig} from '../../../src/lib/config/index.js'
import {TransportError} from '../../../src/lib/errors.js'
import {parseAddress} from '../../../src/lib/net/index.js'
import {describeShare, publishEntries} from '../../../src/lib/ops/index.js'

const entry = {target: parseAddress('203.0.113.7')}

function fakeTransport(fail?: Error) {
  const sent: string[] = []
  return {sent, transport: {
    close: async () => {},
    connectOnce: async () => {
      if (fail) throw fail
    },
    flush: async () => {},
    publishAdd: (list: string, e: {target: {text: string}}) => void sent.push(`add ${list} ${e.target.text}`),
    publishDel: (list: string, e: {target: {text: string}}) => void sent.push(`del ${list} ${e.target.text}`),
  }}
}

test('publishEntries - local-only hosts publish nothing', async () => {
  const config = {...defaultConfig(), local_only: true, nats: {...defaultConfig().nats, server: 'nats.example.com'}}
  const report = await publishEntries(config, 'block', 'add', [entry], {makeTransport: () => assert.fail('no transport')})
  assert.deepEqual(report, {count: 0, published: false, reason: 'local-only'})
  assert.deepEqual(describeShare(report), {})
})

test('publishEntries - publishes every entry, or reports the unreachable server with exit 8', async () => {
  const config = {...defaultConfig(), nats: {...defaultConfig().nats, server: '192.0.2.10'}}
  const ok = fakeTransport()
  const report = await publishEntries(config, 'allow', 'del', [entry], {makeTransport: () => ok.transport as never})
  assert.deepEqual(ok.sent, ['del allow 203.0.113.7'])
  assert.equal(report.published, true)
  assert.match(describeShare(report).message ?? '', /shared with the fleet via 192\.0\.2\.10:4222/)
  const down = fakeTransport(new TransportError('NATS server 192.0.2.10:4222 cannot be reached', 'E_NATS_UNREACHABLE'))
  const failed = await publishEntries(config, 'block', 'add', [entry], {makeTransport: () => down.transport as never})
  assert.equal(failed.published, false)
  assert.equal(failed.code, 'E_NATS_UNREACHABLE')
  const note = describeShare(failed)
  assert.equal(note.exitCode, 8)
  assert.equal(note.code, 'E_NOT_SHARED')
  assert.match(note.warning ?? '', /changed on this host only/)
})
