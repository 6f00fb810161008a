import assert from 'node:assert/strict'
import {Writable} from 'node:stream'
import {test} from 'node:test'

import {defaultConfig} from '../../../src/lib/config/index.js'
import {applyDaemonFlags, isDistributed} from '../../../src/lib/daemon/index.js'
import {createLogger, memoryLogger} from '../../../src/lib/service/index.js'

test('applyDaemonFlags - the original flags override the config, checked like config values', () => {
  const config = applyDaemonFlags(defaultConfig(), {'allow-set': 'wl', 'block-set': 'bl', 'local-only': true, 'nats-name': 'acme', 'nats-port': 4223})
  assert.equal(config.ipset_white_list, 'wl')
  assert.equal(config.ipset_black_list, 'bl')
  assert.equal(config.local_only, true)
  assert.equal(config.nats.client_name, 'acme')
  assert.equal(config.nats.port, 4223)
  assert.throws(() => applyDaemonFlags(defaultConfig(), {'block-set': 'a name with spaces'}), {code: 'E_INVALID_VALUE', message: /--block-set/})
  assert.throws(() => applyDaemonFlags(defaultConfig(), {'nats-port': 0}), {code: 'E_INVALID_VALUE', message: /--nats-port/})
  assert.throws(() => applyDaemonFlags(defaultConfig(), {'nats-name': 'a.b'}), {code: 'E_INVALID_VALUE'})
})

test('applyDaemonFlags - a NATS server makes the daemon distributed; local-only wins', () => {
  const distributed = applyDaemonFlags(defaultConfig(), {'nats-pass': 's3cret', 'nats-server': 'nats.example.com'})
  assert.equal(isDistributed(distributed), true)
  assert.equal(distributed.nats.client_pass, 's3cret')
  assert.equal(isDistributed(applyDaemonFlags(defaultConfig(), {'local-only': true, 'nats-server': 'nats.example.com'})), false)
  assert.throws(() => applyDaemonFlags(defaultConfig(), {'nats-server': 'bad host!'}), {code: 'E_INVALID_VALUE'})
  assert.equal(applyDaemonFlags(defaultConfig(), {'local-only': true, 'nats-server': 'nats.example.com'}).nats.server, 'nats.example.com')
  assert.equal(applyDaemonFlags(defaultConfig(), {}).local_only, false) // no server: local-only anyway
})

test('createLogger - journal format carries the syslog priority; plain format a time stamp; one line per message', () => {
  const chunks: string[] = []
  const stream = new Writable({write(chunk, _enc, done) {
    chunks.push(String(chunk))
    done()
  }})
  createLogger({format: 'journal', stream}).log('warning', 'two\nlines')
  createLogger({format: 'plain', now: () => new Date('2026-11-21T10:00:00Z'), stream}).log('notice', 'ban 203.0.113.7')
  createLogger({format: 'plain', stream}).log('debug', 'hidden')
  assert.deepEqual(chunks, ['<4>two lines\n', '2026-11-21T10:00:00.000Z notice  ban 203.0.113.7\n'])
  const mem = memoryLogger()
  mem.log('info', 'x')
  assert.deepEqual(mem.lines, [{level: 'info', message: 'x'}])
})
