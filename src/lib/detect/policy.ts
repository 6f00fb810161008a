/**
 * The ban policy of DESIGN.md "Detection and policy" for logged packets (probes of closed ports), and
 * the sliding-window counter that both packets and pattern files use. Pure.
 */

import {detachString} from './dedup.js'

/**
 * Ports above 1024 that ban on the first packet even when they lie in the ephemeral range (databases,
 * remote desktops, caches, proxies: what scanners look for). From the original DisWall.
 */
export const WELL_KNOWN_PORTS: readonly number[] = [
  1433, 1434, 1521, 1583, 1830, 2049, 3050, 3306, 3351, 3389, 5432, 5900, 6379, 7210, 8080, 8081, 8443, 9200, 9216,
  9300, 11211,
]

const WELL_KNOWN = new Set(WELL_KNOWN_PORTS)

/** How a closed-port probe counts: `instant` bans on the first packet, `ephemeral` after several hits. */
export type PortClass = 'ephemeral' | 'instant'

/**
 * Classifies a destination port: below 1025, in WELL_KNOWN_PORTS, or below `ephemeralPortMin`
 * (`[detect] ephemeral_port_min`, 49152 by default) → `instant`; from `ephemeralPortMin` up →
 * `ephemeral` (replies to the host's own outgoing connections land there, so one packet proves nothing).
 */
export function classifyPort(port: number, ephemeralPortMin: number): PortClass {
  if (port < 1025 || port < ephemeralPortMin || WELL_KNOWN.has(port)) return 'instant'
  return 'ephemeral'
}

/** The ban reason of a closed-port probe: `port-scan 23/tcp` (at most 25 characters). */
export function portScanReason(port: number, proto: string): string {
  return `port-scan ${port}/${proto}`.slice(0, 25)
}

/** Options of SlidingWindowCounter. */
export interface SlidingWindowOptions {
  /** Hits within the window that fire (1 fires on every hit without storing anything). */
  threshold: number
  /** Length of the sliding window, in ms. */
  windowMs: number
  /** Most keys held at once; the key hit least recently is dropped first. */
  maxKeys: number
}

/**
 * Counts hits per key (an address or an IPv6 group) in a sliding window and says when a key reaches
 * its threshold. Memory is bounded: each key holds at most `threshold - 1` timestamps, keys whose last
 * hit left the window are pruned as time passes, and at most `maxKeys` keys are held.
 */
export class SlidingWindowCounter {
  /** Keys dropped because the counter was full. */
  evicted = 0
  // Insertion order = order of the last hit, so pruning can stop at the first key still in the window.
  // A key with one hit in the window (most of them: a scan touches each address once) holds its time
  // as a number; with more, the times oldest first. No object per key: ~100 bytes each with the map.
  private readonly hits = new Map<string, number | number[]>()
  private lastPruneMs = -Infinity

  constructor(readonly options: Readonly<SlidingWindowOptions>) {}

  /** Number of keys currently counted. */
  get size(): number {
    return this.hits.size
  }

  /**
   * Records a hit for `key` at `nowMs`; returns true when the key has now `threshold` hits within the
   * window. Firing forgets the key, so the next hit starts a new count.
   */
  hit(key: string, nowMs: number): boolean {
    const {threshold, windowMs, maxKeys} = this.options
    if (threshold <= 1) return true
    if (nowMs - this.lastPruneMs >= Math.min(windowMs, 60_000)) this.prune(nowMs)
    const entry = this.hits.get(key)
    if (entry === undefined) {
      // Stored detached: the key may be a slice of a long log line, which it would keep alive.
      this.hits.set(detachString(key), nowMs)
      if (this.hits.size > maxKeys) this.evictOldest()
      return false
    }
    const cutoff = nowMs - windowMs
    let times: number[]
    if (typeof entry === 'number') {
      times = entry > cutoff ? [entry] : []
    } else {
      times = entry
      let old = 0
      while (old < times.length && times[old]! <= cutoff) old++
      if (old > 0) times.splice(0, old)
    }
    times.push(nowMs)
    this.hits.delete(key)
    if (times.length >= threshold) return true
    this.hits.set(detachString(key), times.length === 1 ? nowMs : times)
    return false
  }

  /** How many hits `key` has within the window at `nowMs` (0 when unknown). */
  count(key: string, nowMs: number): number {
    const entry = this.hits.get(key)
    if (entry === undefined) return 0
    const cutoff = nowMs - this.options.windowMs
    if (typeof entry === 'number') return entry > cutoff ? 1 : 0
    let n = 0
    for (const t of entry) if (t > cutoff) n++
    return n
  }

  /** Forgets a key (e.g. after a successful login from that address). */
  delete(key: string): boolean {
    return this.hits.delete(key)
  }

  /** Forgets every key. */
  clear(): void {
    this.hits.clear()
  }

  /** Drops the keys whose last hit is outside the window at `nowMs`. */
  prune(nowMs: number): void {
    this.lastPruneMs = nowMs
    const cutoff = nowMs - this.options.windowMs
    for (const [key, entry] of this.hits) {
      const last = typeof entry === 'number' ? entry : entry[entry.length - 1]!
      if (last > cutoff) break
      this.hits.delete(key)
    }
  }

  private evictOldest(): void {
    const first = this.hits.keys().next()
    if (!first.done) {
      this.hits.delete(first.value)
      this.evicted++
    }
  }
}
