import assert from 'node:assert/strict'

import {InvalidValueError} from '../../../src/lib/errors.js'

/**
 * Asserts that `fn` throws an InvalidValueError whose message quotes `text` and contains `reason`, and
 * whose hint is a non-empty sentence (containing `hint` when given).
 */
export function assertInvalid(fn: () => unknown, text: string, reason: string, hint?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof InvalidValueError, `expected InvalidValueError, got ${String(error)}`)
    assert.ok(error.message.includes(JSON.stringify(text)), `message ${JSON.stringify(error.message)} does not quote the text`)
    if (!/[\\"\u0000-\u001f]/.test(text)) assert.ok(error.message.includes(text))
    assert.ok(error.message.includes(reason), `message ${JSON.stringify(error.message)} lacks ${JSON.stringify(reason)}`)
    assert.equal(error.code, 'E_INVALID_VALUE')
    assert.ok(error.hint !== undefined && error.hint.length > 10, 'no hint')
    if (hint !== undefined) assert.ok(error.hint.includes(hint), `hint ${JSON.stringify(error.hint)} lacks ${JSON.stringify(hint)}`)
    return true
  })
}
