import assert from 'node:assert/strict'
import {test} from 'node:test'

import {DiswallError, ExitCode} from '../../../src/lib/errors.js'
import {LabError, waitFor, WaitTimeoutError} from '../../../src/lib/lab/index.js'

test('waitFor - a timeout is a typed error with a stable code, exit 4 and a hint', async () => {
  await assert.rejects(waitFor(() => false, {intervalMs: 5, timeoutMs: 20, what: 'nothing'}), (error: unknown) => {
    assert.ok(error instanceof WaitTimeoutError)
    assert.ok(error instanceof DiswallError)
    assert.deepEqual({code: error.code, exit: error.exitCode, name: error.name, what: error.what},
      {code: 'E_LAB_TIMEOUT', exit: ExitCode.ENVIRONMENT, name: 'WaitTimeoutError', what: 'nothing'})
    assert.equal(error.message, 'timed out after 20 ms waiting for nothing')
    assert.ok(error.hint)
    return true
  })
})

test('LabError - code E_LAB, exit 4, a default hint that can be replaced, and the cause kept', () => {
  const cause = new Error('inner')
  const error = new LabError('nats-server exited during startup', {cause})
  assert.deepEqual({code: error.code, exit: error.exitCode, message: error.message},
    {code: 'E_LAB', exit: ExitCode.ENVIRONMENT, message: 'nats-server exited during startup'})
  assert.equal(error.cause, cause)
  assert.ok(error.hint)
  assert.equal(new LabError('x', {hint: 'Do y.'}).hint, 'Do y.')
})
