import type {FamilyNames} from './types.js'

/** Names of every kernel object diswall owns. Nothing else in the code spells them. */
export interface KernelNames {
  block: FamilyNames
  allow: FamilyNames
  /** nftables table (family inet). */
  table: string
  /** iptables chain / nft chain that makes the sets effective before any ruleset is applied. */
  guardChain: string
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

/** Kernel object names from the config keys `ipset_black_list`, `ipset_white_list`, `[firewall] nft_table`. */
export function kernelNames(config: {
  ipset_black_list: string
  ipset_white_list: string
  firewall: {nft_table: string}
}): KernelNames {
  return {
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
