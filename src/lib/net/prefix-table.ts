import type {Address, Network} from './address.js'
import {bitsV4, bitsV6, MASK_V4, maskV6} from './address.js'

/**
 * Values keyed by network: one Map of masked keys per (family, prefix length). A lookup by address costs
 * one mask and one Map probe per distinct prefix length in use (at most 33 for IPv4, 129 for IPv6),
 * whatever the number of entries. Internal to net/; NetworkList and classify() are built on it.
 */
export class PrefixTable<V> {
  // Index = prefix length. IPv4 keys are unsigned 32-bit numbers, IPv6 keys 128-bit bigints.
  private readonly v4: Array<Map<number, V> | undefined> = new Array(33)
  private readonly v6: Array<Map<bigint, V> | undefined> = new Array(129)
  // Prefix lengths in use, longest first, so the first hit is the most specific network.
  private prefixesV4: number[] = []
  private prefixesV6: number[] = []
  private count = 0

  /** Number of networks stored. */
  get size(): number {
    return this.count
  }

  /** The value stored for exactly this network. */
  get(net: Network): V | undefined {
    return net.family === 4
      ? this.v4[net.prefix]?.get(keyV4(net))
      : this.v6[net.prefix]?.get(keyV6(net))
  }

  /** Stores a value for the network; returns false (and keeps the old value) when it was already there. */
  add(net: Network, value: V): boolean {
    if (net.family === 4) {
      let map = this.v4[net.prefix]
      if (map === undefined) {
        map = this.v4[net.prefix] = new Map()
        this.prefixesV4 = insertDescending(this.prefixesV4, net.prefix)
      }
      const key = keyV4(net)
      if (map.has(key)) return false
      map.set(key, value)
    } else {
      let map = this.v6[net.prefix]
      if (map === undefined) {
        map = this.v6[net.prefix] = new Map()
        this.prefixesV6 = insertDescending(this.prefixesV6, net.prefix)
      }
      const key = keyV6(net)
      if (map.has(key)) return false
      map.set(key, value)
    }
    this.count++
    return true
  }

  /** Removes exactly this network; returns whether it was there. */
  delete(net: Network): boolean {
    if (net.family === 4) {
      const map = this.v4[net.prefix]
      if (map === undefined || !map.delete(keyV4(net))) return false
      if (map.size === 0) {
        this.v4[net.prefix] = undefined
        this.prefixesV4 = this.prefixesV4.filter((p) => p !== net.prefix)
      }
    } else {
      const map = this.v6[net.prefix]
      if (map === undefined || !map.delete(keyV6(net))) return false
      if (map.size === 0) {
        this.v6[net.prefix] = undefined
        this.prefixesV6 = this.prefixesV6.filter((p) => p !== net.prefix)
      }
    }
    this.count--
    return true
  }

  /** Removes everything. */
  clear(): void {
    this.v4.fill(undefined)
    this.v6.fill(undefined)
    this.prefixesV4 = []
    this.prefixesV6 = []
    this.count = 0
  }

  /** The value of the most specific (longest-prefix) network holding the address. */
  find(addr: Address): V | undefined {
    if (addr.family === 4) {
      if (this.prefixesV4.length === 0) return undefined
      const bits = bitsV4(addr)
      for (const p of this.prefixesV4) {
        const hit = this.v4[p]!.get((bits & MASK_V4[p]) >>> 0)
        if (hit !== undefined) return hit
      }
      return undefined
    }
    if (this.prefixesV6.length === 0) return undefined
    const bits = bitsV6(addr)
    for (const p of this.prefixesV6) {
      const hit = this.v6[p]!.get(bits & maskV6(p))
      if (hit !== undefined) return hit
    }
    return undefined
  }

  /** Values: IPv4 before IPv6, shorter prefixes first, then in insertion order. */
  *values(): IterableIterator<V> {
    for (const p of [...this.prefixesV4].reverse()) yield* this.v4[p]!.values()
    for (const p of [...this.prefixesV6].reverse()) yield* this.v6[p]!.values()
  }
}

// Masking again keeps a hand-built Network with host bits set from being stored under a key no lookup finds.
function keyV4(net: Network): number {
  return (bitsV4(net.address) & MASK_V4[net.prefix]) >>> 0
}

function keyV6(net: Network): bigint {
  return bitsV6(net.address) & maskV6(net.prefix)
}

function insertDescending(list: readonly number[], prefix: number): number[] {
  return [...list, prefix].sort((a, b) => b - a)
}
