import {InvalidValueError} from '../errors.js'
import {quote} from './address.js'

/**
 * The longest timeout of a kernel set entry, in seconds (~24.8 days): ipset 7.17 refuses more. The
 * limit of every set timeout diswall writes or accepts (config, pattern files, CLI); longer bans are
 * re-added later.
 */
export const IPSET_MAX_TIMEOUT_SEC = 2_147_483

/** Seconds per duration unit, largest first. */
export const DURATION_UNITS = {w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1} as const

const UNIT_ORDER = 'wdhms'
const HINT = 'Write a whole number of seconds or amounts with units, largest first: s, m, h, d, w (e.g. 90s, 15m, 1h30m, 2w).'

/**
 * Parses a duration to whole seconds: a number of seconds (`900`, `"900"`) or amounts with units, largest
 * first (`"90s"`, `"15m"`, `"1h30m"`, `"1d"`, `"2w"`). White space around the text is ignored.
 * @throws InvalidValueError naming the text, the reason and the units.
 */
export function parseDurationSec(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text
    throw new InvalidValueError(`${String(text)} is not a valid duration: it must be a whole number of seconds, 0 or more`, HINT)
  }
  if (typeof text !== 'string') {
    throw new InvalidValueError(`${typeof text} is not a valid duration: expected text or a number`, HINT)
  }
  const fail = (reason: string): InvalidValueError =>
    new InvalidValueError(`${quote(text)} is not a valid duration: ${reason}`, HINT)
  const s = text.trim()
  if (s === '') throw fail('the text is empty')
  if (/^[0-9]+$/.test(s)) return checkSafe(Number(s), fail)
  if (s.startsWith('-')) throw fail('it is negative')
  if (/[0-9][.,][0-9]/.test(s)) throw fail('fractions are not supported; use a smaller unit (90m, not 1.5h)')
  let total = 0
  let lastUnit = -1
  let pos = 0
  const re = /([0-9]+)([a-zA-Z]*)/y
  while (pos < s.length) {
    re.lastIndex = pos
    const m = re.exec(s)
    if (m === null) throw fail(`unexpected ${quote(s[pos])} at position ${pos + 1}`)
    const [whole, amount, unit] = m
    if (unit === '') throw fail(`the amount ${amount} has no unit`)
    const index = UNIT_ORDER.indexOf(unit)
    if (unit.length !== 1 || index === -1) throw fail(`unknown unit ${quote(unit)}`)
    if (index <= lastUnit) throw fail(`units must go from largest to smallest and appear once ("${unit}" is out of place)`)
    lastUnit = index
    total += Number(amount) * DURATION_UNITS[unit as keyof typeof DURATION_UNITS]
    pos += whole.length
  }
  return checkSafe(total, fail)
}

/**
 * Formats whole seconds with the largest units first, leaving out zero amounts: 5400 → `"1h30m"`,
 * 0 → `"0s"`. `parseDurationSec(formatDuration(n))` is `n`.
 * @throws InvalidValueError when `sec` is not a whole number of seconds, 0 or more.
 */
export function formatDuration(sec: number): string {
  if (!Number.isSafeInteger(sec) || sec < 0) {
    throw new InvalidValueError(`${String(sec)} is not a valid duration: it must be a whole number of seconds, 0 or more`,
      'Pass a non-negative integer number of seconds.')
  }
  if (sec === 0) return '0s'
  let out = ''
  let rest = sec
  for (const unit of UNIT_ORDER) {
    const size = DURATION_UNITS[unit as keyof typeof DURATION_UNITS]
    const amount = Math.floor(rest / size)
    if (amount > 0) out += `${amount}${unit}`
    rest -= amount * size
  }
  return out
}

function checkSafe(sec: number, fail: (reason: string) => InvalidValueError): number {
  if (!Number.isSafeInteger(sec)) throw fail('it is too long')
  return sec
}
