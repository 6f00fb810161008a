import assert from 'node:assert/strict'
import {EventEmitter} from 'node:events'
import {test} from 'node:test'

import {InterruptedError} from '../../../src/lib/errors.js'
import {abortOnStopSignals} from '../../../src/lib/service/index.js'
import type {SignalSource} from '../../../src/lib/service/index.js'

test('abortOnStopSignals - the first SIGTERM aborts with an InterruptedError (exit 143); later signals are ignored; listeners go at the end', async () => {
  const signals = new EventEmitter()
  let seen: AbortSignal | undefined
  const result = await abortOnStopSignals(async (signal) => {
    seen = signal
    assert.equal(signals.listenerCount('SIGTERM'), 1)
    assert.equal(signals.listenerCount('SIGINT'), 1)
    signals.emit('SIGTERM', 'SIGTERM')
    signals.emit('SIGINT', 'SIGINT')
    return 'rolled back'
  }, signals as unknown as SignalSource)
  assert.equal(result, 'rolled back')
  assert.ok(seen?.aborted)
  assert.ok(seen.reason instanceof InterruptedError)
  assert.equal(seen.reason.signal, 'SIGTERM')
  assert.equal(seen.reason.code, 'E_INTERRUPTED')
  assert.equal(seen.reason.exitCode, 143)
  assert.equal(signals.listenerCount('SIGTERM'), 0)
  assert.equal(signals.listenerCount('SIGINT'), 0)
})

test('abortOnStopSignals - SIGINT gives exit 130; a rejection of the work passes through and removes the listeners', async () => {
  const signals = new EventEmitter()
  await assert.rejects(abortOnStopSignals(async (signal) => {
    signals.emit('SIGINT', 'SIGINT')
    throw signal.reason
  }, signals as unknown as SignalSource), (e) => e instanceof InterruptedError && e.exitCode === 130 && e.message === 'interrupted by SIGINT')
  assert.equal(signals.listenerCount('SIGINT'), 0)
})
