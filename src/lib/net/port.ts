import {InvalidValueError} from '../errors.js'
import {quote} from './address.js'

const HINT = 'Use a whole number from 1 to 65535, e.g. 22 or 443.'

/**
 * Parses a TCP/UDP port: an integer from 1 to 65535, given as a number or as decimal text without sign,
 * leading zeros or a protocol suffix. White space around the text is ignored.
 * @throws InvalidValueError naming the value and the reason.
 */
export function parsePort(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isInteger(text) && text >= 1 && text <= 65_535) return text
    throw new InvalidValueError(`${String(text)} is not a valid port: it must be an integer from 1 to 65535`, HINT)
  }
  if (typeof text !== 'string') throw new InvalidValueError(`${typeof text} is not a valid port: expected text or a number`, HINT)
  const fail = (reason: string, hint = HINT): InvalidValueError =>
    new InvalidValueError(`${quote(text)} is not a valid port: ${reason}`, hint)
  const s = text.trim()
  if (s === '') throw fail('the text is empty')
  const slash = s.indexOf('/')
  if (slash > 0 && /^[0-9]+$/.test(s.slice(0, slash))) {
    throw fail(`it has a protocol suffix (${quote(s.slice(slash))})`, `Write the port number alone: ${s.slice(0, slash)}.`)
  }
  if (!/^[0-9]+$/.test(s)) throw fail('it is not a decimal number')
  if (s.length > 1 && s.charCodeAt(0) === 48) throw fail('it has a leading zero', `Write it as ${Number(s)}.`)
  const port = s.length > 5 ? Number.POSITIVE_INFINITY : Number(s)
  if (port < 1 || port > 65_535) throw fail('it is out of range (1–65535)')
  return port
}
