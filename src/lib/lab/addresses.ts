/**
 * Many distinct addresses for bulk loads (tests and benchmarks). They only ever become set entries,
 * never packet destinations.
 */
import {type Address, parseAddress} from '../net/index.js'

/**
 * The `index`-th address of a run of distinct IPv4 addresses starting at `first.0.0.0` (11.0.0.0 by
 * default, outside the private and documentation ranges): index 0 → 11.0.0.0, 65,536 → 11.1.0.0.
 * Distinct for indexes below 2^24 × (256 - first). Pure.
 */
export function nthIpv4(index: number, first = 11): string {
  return `${first + Math.floor(index / 0x1000000)}.${(index >>> 16) & 255}.${(index >>> 8) & 255}.${index & 255}`
}

/** `count` distinct IPv4 addresses (see {@link nthIpv4}), parsed, starting at `offset`. */
export function distinctIpv4(count: number, {first = 11, offset = 0}: {first?: number; offset?: number} = {}): Address[] {
  const out = new Array<Address>(count)
  for (let i = 0; i < count; i++) out[i] = parseAddress(nthIpv4(offset + i, first))
  return out
}
