/**
 * The de-duplication cache of the detection engine: a flood of lines about one address that was just
 * reported yields one request, not one per line. Pure; time is passed in.
 */

/** Options of DedupCache. */
export interface DedupOptions {
  /** How long a key stays known after it was added, in ms (`[detect] dedup_ttl`). */
  ttlMs: number
  /** Most keys held; the least recently used key is evicted first (`[detect] dedup_max`). */
  max: number
}

/**
 * A bounded TTL cache of keys (ban targets, allowed addresses). A key expires `ttlMs` after it was
 * added, however often it is seen meanwhile (so a ban that got lost is re-requested after the TTL).
 * When full, the least recently used key is evicted, by the second-chance (CLOCK) approximation of
 * LRU: a lookup only marks its entry, so the hot path of a flood is one Map read, and eviction gives
 * marked entries one more round. Expired keys are swept once per TTL, so memory stays within `max`.
 */
export class DedupCache {
  /** Keys evicted because the cache was full. */
  evicted = 0
  // Map order = insertion order, the CLOCK hand's round.
  private readonly entries = new Map<string, Entry>()
  private options: Readonly<DedupOptions>
  private lastSweepMs = -Infinity

  constructor(options: DedupOptions) {
    this.options = {...options}
  }

  /** Number of keys held (expired ones included until the next sweep). */
  get size(): number {
    return this.entries.size
  }

  /** True when `key` was added less than `ttlMs` before `nowMs`; marks it as recently used. */
  has(key: string, nowMs: number): boolean {
    const entry = this.entries.get(key)
    if (entry === undefined) return false
    if (entry.expiry <= nowMs) {
      this.entries.delete(key)
      return false
    }
    entry.used = true
    return true
  }

  /** Adds `key` at `nowMs` (restarting its TTL), evicting the least recently used key when full. */
  add(key: string, nowMs: number): void {
    if (nowMs - this.lastSweepMs >= this.options.ttlMs) this.sweep(nowMs)
    this.entries.delete(key)
    this.entries.set(detachString(key), {expiry: nowMs + this.options.ttlMs, used: false})
    this.shrink()
  }

  /** Forgets a key; returns whether it was held. */
  delete(key: string): boolean {
    return this.entries.delete(key)
  }

  /** Forgets every key. */
  clear(): void {
    this.entries.clear()
  }

  /** Changes TTL and capacity; keys already held keep their expiry, and the cache shrinks to `max`. */
  configure(options: DedupOptions): void {
    this.options = {...options}
    this.shrink()
  }

  /** Removes every expired key. */
  sweep(nowMs: number): void {
    this.lastSweepMs = nowMs
    for (const [key, entry] of this.entries) if (entry.expiry <= nowMs) this.entries.delete(key)
  }

  private shrink(): void {
    // Each marked entry is passed over once per round, so this ends after at most two rounds.
    while (this.entries.size > this.options.max) {
      const first = this.entries.entries().next()
      if (first.done) return
      const [key, entry] = first.value
      this.entries.delete(key)
      if (entry.used) {
        entry.used = false
        this.entries.set(key, entry)
        continue
      }
      this.evicted++
    }
  }
}

/**
 * A copy of `s` that does not keep a larger string alive. Keys are often slices of a log line (V8
 * slices keep their parent), and a long-lived map of them would otherwise hold every line it saw.
 */
export function detachString(s: string): string {
  // Concatenating makes a cons string; slicing flattens it into a fresh one of s.length + 1 characters.
  return ` ${s}`.slice(1)
}

interface Entry {
  readonly expiry: number
  used: boolean
}
