import assert from 'node:assert/strict'
import {test} from 'node:test'

import {InvalidValueError} from '../../../src/lib/errors.js'
import {parsePort} from '../../../src/lib/net/index.js'
import {assertInvalid} from './helpers.js'

const VALID: Array<[string | number, number]> = [
  ['22', 22],
  [22, 22],
  ['1', 1],
  ['65535', 65_535],
  [65_535, 65_535],
  [' 443 ', 443],
]

for (const [input, port] of VALID) {
  test(`parsePort - reads ${JSON.stringify(input)} as ${port}`, () => {
    assert.equal(parsePort(input), port)
  })
}

const INVALID: Array<[string, string]> = [
  ['', 'the text is empty'],
  ['0', 'out of range (1–65535)'],
  ['65536', 'out of range (1–65535)'],
  ['99999999999', 'out of range'],
  ['022', 'leading zero'],
  ['-22', 'not a decimal number'],
  ['+22', 'not a decimal number'],
  ['22.0', 'not a decimal number'],
  ['0x16', 'not a decimal number'],
  ['ssh', 'not a decimal number'],
  ['22/tcp', 'it has a protocol suffix ("/tcp")'],
  ['22-80', 'not a decimal number'],
  ['2 2', 'not a decimal number'],
]

for (const [input, reason] of INVALID) {
  test(`parsePort - rejects ${JSON.stringify(input)} (${reason})`, () => {
    assertInvalid(() => parsePort(input), input, reason)
  })
}

for (const value of [0, -1, 65_536, 22.5, Number.NaN]) {
  test(`parsePort - rejects the number ${value}`, () => {
    assert.throws(() => parsePort(value), (e: unknown) =>
      e instanceof InvalidValueError && e.message.includes(String(value)) && Boolean(e.hint))
  })
}
