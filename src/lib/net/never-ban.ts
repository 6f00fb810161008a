import type {Address} from './address.js'
import type {NetworkList} from './network-list.js'
import {classify} from './special-ranges.js'

/** What protects addresses from bans, on every path (detection, NATS, server, CLI without --force). */
export interface NeverBanContext {
  /** `ignore_ips` of the config. */
  ignore?: NetworkList
  /** The host's own addresses. */
  own?: NetworkList
  /** Further protected entries with a label: the allow list, the NATS server, SSH peers. */
  lists?: Array<{label: string; list: NetworkList}>
  /** Skip private, CGNAT and ULA ranges (`[detect] skip_private`). */
  skipPrivate: boolean
}

/** Ranges that are never a ban target: banning them breaks the host or means nothing. */
const ALWAYS = new Set(['broadcast', 'link-local', 'loopback', 'multicast', 'this-network', 'unspecified'])
/** Ranges skipped when skipPrivate is set. */
const PRIVATE = new Set(['cgnat', 'private', 'ula'])

/**
 * Why `addr` must never be banned, or undefined when it may be (pure).
 * E.g. "loopback address", "listed in ignore_ips (10.0.0.0/8)", "an address of this host".
 */
export function neverBanReason(addr: Address, ctx: NeverBanContext): string | undefined {
  const range = classify(addr)
  if (range && ALWAYS.has(range.name)) return `${range.name} address (${range.network.text})`
  if (range && ctx.skipPrivate && PRIVATE.has(range.name)) return `${range.name} address (${range.network.text}; skip_private is on)`
  if (ctx.own?.contains(addr)) return 'an address of this host'
  const ignored = ctx.ignore?.find(addr)
  if (ignored) return `listed in ignore_ips (${ignored.text})`
  for (const {label, list} of ctx.lists ?? []) {
    const hit = list.find(addr)
    if (hit) return `${label} (${hit.text})`
  }

  return undefined
}
