import assert from 'node:assert/strict'
import {test} from 'node:test'

import {InvalidValueError} from '../../../src/lib/errors.js'
import {formatDuration, parseDurationSec} from '../../../src/lib/net/index.js'
import {assertInvalid} from './helpers.js'

const VALID: Array<[string | number, number]> = [
  ['900', 900],
  [900, 900],
  [0, 0],
  ['0', 0],
  ['0s', 0],
  ['90s', 90],
  ['15m', 900],
  ['1h', 3600],
  ['1d', 86_400],
  ['2w', 1_209_600],
  ['1h30m', 5400],
  ['1w2d3h4m5s', 604_800 + 172_800 + 10_800 + 240 + 5],
  ['90m', 5400], // amounts may exceed the next unit
  ['1d12h', 129_600],
  [' 15m ', 900],
  ['007', 7],
]

for (const [input, sec] of VALID) {
  test(`parseDurationSec - reads ${JSON.stringify(input)} as ${sec} s`, () => {
    assert.equal(parseDurationSec(input), sec)
  })
}

const INVALID: Array<[string, string]> = [
  ['', 'the text is empty'],
  ['  ', 'the text is empty'],
  ['15x', 'unknown unit "x"'],
  ['15min', 'unknown unit "min"'],
  ['1H', 'unknown unit "H"'],
  ['h', 'unexpected "h" at position 1'],
  ['1h 30m', 'unexpected " " at position 3'],
  ['30m1h', 'units must go from largest to smallest'],
  ['1h1h', 'units must go from largest to smallest'],
  ['1h30', 'the amount 30 has no unit'],
  ['1.5h', 'fractions are not supported'],
  ['-5', 'it is negative'],
  ['-5m', 'it is negative'],
  ['99999999999999999999', 'it is too long'],
  ['99999999999999w', 'it is too long'],
]

for (const [input, reason] of INVALID) {
  test(`parseDurationSec - rejects ${JSON.stringify(input)} (${reason})`, () => {
    assertInvalid(() => parseDurationSec(input), input, reason, 's, m, h, d, w')
  })
}

for (const value of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
  test(`parseDurationSec - rejects the number ${value}`, () => {
    assert.throws(() => parseDurationSec(value), (e: unknown) =>
      e instanceof InvalidValueError && e.message.includes(String(value)) && Boolean(e.hint?.includes('s, m, h, d, w')))
  })
}

const FORMAT: Array<[number, string]> = [
  [0, '0s'],
  [1, '1s'],
  [59, '59s'],
  [60, '1m'],
  [90, '1m30s'],
  [900, '15m'],
  [3600, '1h'],
  [5400, '1h30m'],
  [86_400, '1d'],
  [86_401, '1d1s'],
  [604_800, '1w'],
  [1_209_600, '2w'],
  [694_861, '1w1d1h1m1s'],
]

for (const [sec, text] of FORMAT) {
  test(`formatDuration - writes ${sec} s as ${text} and reads it back`, () => {
    assert.equal(formatDuration(sec), text)
    assert.equal(parseDurationSec(text), sec)
  })
}

for (const value of [-1, 0.5, Number.NaN]) {
  test(`formatDuration - rejects ${value}`, () => {
    assert.throws(() => formatDuration(value), (e: unknown) => e instanceof InvalidValueError && e.message.includes(String(value)))
  })
}
