/**
 * Addresses, networks, special ranges, ports and durations: the one address type used everywhere in diswall.
 * Every parser throws InvalidValueError naming the offending text, with a hint.
 */
export type {Address, Family, Network, Target} from './address.js'
export {
  bitsV4,
  bitsV6,
  broadNetworkReason,
  containsAddress,
  groupPrefix,
  isAddress,
  MAX_PREFIX,
  MIN_BROAD_PREFIX,
  parseAddress,
  parseNetwork,
  parseTarget,
  toNetwork,
} from './address.js'
export type {SpecialRange, SpecialRangeName} from './special-ranges.js'
export {classify, isGlobalUnicast, SPECIAL_RANGES} from './special-ranges.js'
export {NetworkList} from './network-list.js'
export {DURATION_UNITS, formatDuration, IPSET_MAX_TIMEOUT_SEC, parseDurationSec} from './duration.js'
export {parsePort} from './port.js'
export {neverBanReason} from './never-ban.js'
export type {NeverBanContext} from './never-ban.js'
