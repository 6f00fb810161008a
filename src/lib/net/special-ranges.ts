import type {Address, Network} from './address.js'
import {bitsV6, networkV6, parseNetwork} from './address.js'
import {PrefixTable} from './prefix-table.js'

/** Names of the special-purpose ranges that `classify()` reports. */
export type SpecialRangeName =
  | '6to4'
  | 'benchmarking'
  | 'broadcast'
  | 'cgnat'
  | 'discard-only'
  | 'documentation'
  | 'ietf-protocol'
  | 'ipv4-mapped'
  | 'link-local'
  | 'loopback'
  | 'multicast'
  | 'nat64'
  | 'orchid'
  | 'private'
  | 'reserved'
  | 'site-local'
  | 'srv6'
  | 'teredo'
  | 'this-network'
  | 'ula'
  | 'unspecified'

/** A special-purpose range: its name and the registered network. */
export interface SpecialRange {
  readonly name: SpecialRangeName
  readonly network: Network
}

// From the IANA IPv4 and IPv6 Special-Purpose Address Registries (2025) and the IPv6 Address Space
// registry. The most specific entry wins; `null` marks blocks inside a special range that are globally
// reachable (anycast services, AS112, AMT), so they count as global unicast.
const TABLE: ReadonlyArray<readonly [string, SpecialRangeName | null]> = [
  ['0.0.0.0/8', 'this-network'],
  ['0.0.0.0/32', 'unspecified'],
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'ietf-protocol'],
  ['192.0.0.9/32', null], // Port Control Protocol anycast
  ['192.0.0.10/32', null], // TURN anycast
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', '6to4'], // 6to4 relay anycast, deprecated by RFC 7526
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['240.0.0.0/4', 'reserved'],
  ['255.255.255.255/32', 'broadcast'],

  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::ffff:0:0/96', 'ipv4-mapped'], // parseAddress() turns these into IPv4; only hand-built addresses land here
  ['64:ff9b::/96', 'nat64'],
  ['64:ff9b:1::/48', 'nat64'], // local-use translation, RFC 8215
  ['100::/64', 'discard-only'],
  ['2001::/23', 'ietf-protocol'],
  ['2001::/32', 'teredo'],
  ['2001:1::1/128', null], // Port Control Protocol anycast
  ['2001:1::2/128', null], // TURN anycast
  ['2001:1::3/128', null], // DNS-SD service registration anycast
  ['2001:2::/48', 'benchmarking'],
  ['2001:3::/32', null], // AMT
  ['2001:4:112::/48', null], // AS112-v6
  ['2001:10::/28', 'orchid'], // ORCHID, deprecated
  ['2001:20::/28', 'orchid'], // ORCHIDv2
  ['2001:30::/28', null], // drone remote ID
  ['2001:db8::/32', 'documentation'],
  ['2002::/16', '6to4'],
  ['3fff::/20', 'documentation'], // RFC 9637
  ['5f00::/16', 'srv6'], // segment routing SIDs, RFC 9602
  ['fc00::/7', 'ula'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'], // deprecated by RFC 3879
  ['ff00::/8', 'multicast'],
  // Everything outside 2000::/3 that is not named above is reserved by the IETF.
  ...['::/8', '100::/8', '200::/7', '400::/6', '800::/5', '1000::/4', '4000::/3', '6000::/3', '8000::/3',
    'a000::/3', 'c000::/3', 'e000::/4', 'f000::/5', 'f800::/6', 'fe00::/9'].map((n) => [n, 'reserved'] as const),
]

/** Every special range `classify()` knows, in registry order (IPv4, then IPv6). */
export const SPECIAL_RANGES: readonly SpecialRange[] = Object.freeze(TABLE
  .filter((row): row is readonly [string, SpecialRangeName] => row[1] !== null)
  .map(([text, name]) => freezeRange(name, registryNetwork(text))))

const LOOKUP = new PrefixTable<SpecialRange | null>()
for (const range of SPECIAL_RANGES) LOOKUP.add(range.network, range)
for (const [text, name] of TABLE) if (name === null) LOOKUP.add(registryNetwork(text), null)

/**
 * The most specific special-purpose range holding the address (`loopback`, `private`, `documentation`, …),
 * or undefined for a global unicast address.
 */
export function classify(addr: Address): SpecialRange | undefined {
  return LOOKUP.find(addr) ?? undefined
}

/** True when the address is global unicast: in no special-purpose range (IPv6: inside 2000::/3). */
export function isGlobalUnicast(addr: Address): boolean {
  return LOOKUP.find(addr) == null
}

// parseNetwork() would turn ::ffff:0:0/96 into the IPv4 network 0.0.0.0/0; the registry means the IPv6 block.
function registryNetwork(text: string): Network {
  if (!text.includes(':')) return parseNetwork(text)
  const [addr, prefix] = text.split('/')
  return networkV6(bitsV6({kind: 'address', family: 6, text: addr}), Number(prefix))
}

// Shared by every caller of classify(), so frozen all the way down.
function freezeRange(name: SpecialRangeName, network: Network): SpecialRange {
  Object.freeze(network.address)
  return Object.freeze({name, network: Object.freeze(network)})
}
