import {parseAddress} from '../../net/index.js'
import type {FamilyNames} from './types.js'

/** Names of every kernel object diswall owns. Nothing else in the code spells them. */
export interface KernelNames {
  block: FamilyNames
  allow: FamilyNames
  /** nftables table (family inet). */
  table: string
  /** iptables chain / nft chain that makes the sets effective before any ruleset is applied. */
  guardChain: string
  /**
   * `[detect] ipv6_group_prefix` (32..128): nftables keeps IPv6 bans of this length as network addresses
   * in a plain set looked up with the masked source address (see nftBlock6Sets).
   */
  v6GroupPrefix: number
}

/**
 * The IPv6 ban sets of nftables. nft 1.0.6 reads every element of the table's interval sets on each
 * `add element`, so a large interval set makes every ban slower (73k/s at 1M /64 bans); plain sets do not.
 * - `host` (`<bl6>-addr`, plain, timeout): single addresses (and /128 networks);
 * - `net` (`<bl6>-net<P>`, plain, timeout): networks of the group prefix P, stored as their network address
 *   and looked up by `ip6 saddr & <mask P>`; absent when P is 128;
 * - `other` (`<bl6>`, interval, timeout): networks of any other length, rare (`block add 2001:db8::/48`).
 *   It keeps the name of the one interval set older releases had, so that those hosts migrate in place.
 */
export interface NftBlock6Sets {
  host: string
  net: string | undefined
  other: string
  prefix: number
}

/** The IPv6 ban sets of nftables for these names. */
export function nftBlock6Sets(names: Pick<KernelNames, 'block' | 'v6GroupPrefix'>): NftBlock6Sets {
  const prefix = names.v6GroupPrefix
  return {
    host: `${names.block.v6}-addr`,
    net: prefix === 128 ? undefined : `${names.block.v6}-net${prefix}`,
    other: names.block.v6,
    prefix,
  }
}

/** The IPv6 mask of a prefix length as nft prints it (`ffff:ffff:ffff:ffff::` for 64). */
export function ipv6Mask(prefix: number): string {
  const groups: string[] = []
  for (let g = 0; g < 8; g++) {
    const bits = Math.max(0, Math.min(16, prefix - g * 16))
    groups.push(((0xffff << (16 - bits)) & 0xffff).toString(16))
  }

  return parseAddress(groups.join(':')).text
}

/**
 * The rule bodies that drop IPv6 sources of the ban sets, in the order nft lists them (guard chain and
 * the ruleset's `diswall-in`): the interval set, the masked lookup of the prefix set, the address set.
 */
export function nftBlock6Rules(names: Pick<KernelNames, 'block' | 'v6GroupPrefix'>): string[] {
  const sets = nftBlock6Sets(names)
  return [
    `ip6 saddr @${sets.other} counter drop`,
    ...(sets.net === undefined ? [] : [`ip6 saddr & ${ipv6Mask(sets.prefix)} == @${sets.net} counter drop`]),
    `ip6 saddr @${sets.host} counter drop`,
  ]
}

/**
 * The chains of the ruleset (`firewall apply`): iptables filter-table chains, or chains of the nft table.
 * While `diswall-in` is in place it does everything the guard chain does, in the order of DESIGN.md,
 * so the guard steps aside (see IpsetBackend/NftBackend init).
 */
export const RULESET_CHAINS = {
  in: 'diswall-in',
  out: 'diswall-out',
  whitelist: 'diswall-whitelist',
  blacklist: 'diswall-blacklist',
} as const

/** Suffix of a staging set during an atomic replace (ipset swap). */
export const STAGING_SUFFIX = '-new'

/** ipset 7.17: set names are at most 31 characters (IPSET_MAXNAMELEN 32 with the NUL). */
export const IPSET_MAX_NAME = 31

/**
 * Kernel object names from the config keys `ipset_black_list`, `ipset_white_list`, `[firewall] nft_table`
 * and `[detect] ipv6_group_prefix` (64 when not given).
 */
export function kernelNames(config: {
  ipset_black_list: string
  ipset_white_list: string
  firewall: {nft_table: string}
  detect?: {ipv6_group_prefix: number}
}): KernelNames {
  return {
    v6GroupPrefix: config.detect?.ipv6_group_prefix ?? 64,
    allow: {v4: config.ipset_white_list, v6: `${config.ipset_white_list}6`},
    block: {v4: config.ipset_black_list, v6: `${config.ipset_black_list}6`},
    guardChain: 'diswall-sets',
    table: config.firewall.nft_table,
  }
}

/** The default names (diswall-bl, diswall-wl, table inet diswall). */
export const DEFAULT_NAMES: KernelNames = kernelNames({
  firewall: {nft_table: 'diswall'},
  ipset_black_list: 'diswall-bl',
  ipset_white_list: 'diswall-wl',
})
