import type {Address, Network, Target} from './address.js'
import {toNetwork} from './address.js'
import {PrefixTable} from './prefix-table.js'

/**
 * A set of addresses and networks (allow lists, never-ban lists). Addresses are stored as host networks.
 * `contains()` and `find()` cost one Map probe per distinct prefix length in the list, not one per entry,
 * so they are cheap enough for every logged packet.
 */
export class NetworkList implements Iterable<Network> {
  private readonly table = new PrefixTable<Network>()

  /** Creates a list holding the given entries (duplicates are kept once). */
  constructor(entries?: Iterable<Target>) {
    if (entries !== undefined) for (const t of entries) this.add(t)
  }

  /** Number of entries. */
  get size(): number {
    return this.table.size
  }

  /** Adds an address (as its host network) or a network; returns false if that exact entry was already there. */
  add(t: Target): boolean {
    const net = toNetwork(t)
    return this.table.add(net, net)
  }

  /** Removes exactly this entry (not the networks inside or around it); returns whether it was there. */
  delete(t: Target): boolean {
    return this.table.delete(toNetwork(t))
  }

  /** True when exactly this entry is in the list (an address matches its host network). */
  has(t: Target): boolean {
    return this.table.get(toNetwork(t)) !== undefined
  }

  /** True when any entry covers the address. */
  contains(addr: Address): boolean {
    return this.table.find(addr) !== undefined
  }

  /** The most specific (longest-prefix) entry covering the address, or undefined. */
  find(addr: Address): Network | undefined {
    return this.table.find(addr)
  }

  /** Removes every entry. */
  clear(): void {
    this.table.clear()
  }

  /** Entries as networks: IPv4 before IPv6, shorter prefixes first, then in insertion order. */
  [Symbol.iterator](): Iterator<Network> {
    return this.table.values()
  }
}
