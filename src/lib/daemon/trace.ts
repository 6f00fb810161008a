/**
 * Where the time of a ban goes, for the latency benchmarks and for an operator chasing a slow ban. With
 * `DISWALL_LATENCY_TRACE=FILE` in its environment the daemon records, for each ban it detected, when
 * the line reached the agent, when the engine decided and when the kernel write was committed (wall-clock
 * ms with sub-ms resolution, comparable with another process's clock), beside every garbage collection
 * (a PerformanceObserver) and the event-loop delay (monitorEventLoopDelay); it writes them to FILE as
 * JSON when it stops. Fixed-size rings: a flood overwrites the oldest records and nothing grows.
 * Without the variable nothing is recorded (the hot path tests one field).
 */
import {writeFileSync} from 'node:fs'
import {type IntervalHistogram, monitorEventLoopDelay, PerformanceObserver} from 'node:perf_hooks'

/** One ban of the trace; times are wall-clock ms (`performance.timeOrigin + performance.now()`). */
export interface TracedBan {
  target: string
  /** The line reached the agent (handed over by its source). */
  received: number
  /** The engine decided to ban. */
  decided: number
  /** The kernel write was committed (the writer's batch resolved), or failed. */
  committed: number
}

/** One garbage collection: start (wall-clock ms), duration (ms), kind (`minor`, `major`, …). */
export interface TracedGc {
  at: number
  ms: number
  kind: string
}

/** What the trace file holds. */
export interface TraceDump {
  bans: TracedBan[]
  gcs: TracedGc[]
  /** The event-loop delay over the whole run, ms (1 ms resolution). */
  loopDelayMs: {p50: number; p99: number; max: number; count: number}
}

/** The wall clock with sub-millisecond resolution, comparable between processes of one machine. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now()
}

/** A ring of the last `capacity` items: push() overwrites the oldest once full. */
export class Ring<T> {
  private readonly items: Array<T | undefined>
  private next = 0
  private filled = false

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be a positive integer, not ${capacity}`)
    this.items = Array.from({length: capacity})
  }

  push(item: T): void {
    this.items[this.next] = item
    this.next = (this.next + 1) % this.capacity
    if (this.next === 0) this.filled = true
  }

  /** The items, oldest first. */
  toArray(): T[] {
    const ordered = this.filled ? [...this.items.slice(this.next), ...this.items.slice(0, this.next)] : this.items.slice(0, this.next)
    return ordered as T[]
  }
}

/** GC kinds of `PerformanceEntry.detail.kind` (perf_hooks constants). */
const GC_KINDS: Record<number, string> = {1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb'}

/** The recorder of a daemon run with tracing on (see the module comment). */
export class LatencyTrace {
  private readonly bans: Ring<TracedBan>
  private readonly gcs: Ring<TracedGc>
  private observer: PerformanceObserver | undefined
  private loop: IntervalHistogram | undefined

  constructor(readonly file: string, capacity = 4096) {
    this.bans = new Ring(capacity)
    this.gcs = new Ring(capacity)
  }

  /** Starts observing garbage collections and the event-loop delay. */
  start(): void {
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) {
        const kind = (entry as {detail?: {kind?: number}}).detail?.kind ?? 0
        this.gcs.push({at: performance.timeOrigin + entry.startTime, kind: GC_KINDS[kind] ?? String(kind), ms: entry.duration})
      }
    })
    this.observer.observe({entryTypes: ['gc']})
    this.loop = monitorEventLoopDelay({resolution: 1})
    this.loop.enable()
  }

  ban(record: TracedBan): void {
    this.bans.push(record)
  }

  dump(): TraceDump {
    const loop = this.loop
    const ms = (ns: number): number => ns / 1e6
    return {
      bans: this.bans.toArray(),
      gcs: this.gcs.toArray(),
      loopDelayMs: loop === undefined || loop.count === 0
        ? {count: 0, max: 0, p50: 0, p99: 0}
        : {count: loop.count, max: ms(loop.max), p50: ms(loop.percentile(50)), p99: ms(loop.percentile(99))},
    }
  }

  /** Stops observing and writes the dump to the file. Throws what the write throws. */
  stop(): void {
    this.observer?.disconnect()
    this.loop?.disable()
    writeFileSync(this.file, JSON.stringify(this.dump()) + '\n')
  }
}

/** A trace when `DISWALL_LATENCY_TRACE` names a file, else undefined. */
export function latencyTraceFromEnv(env: NodeJS.ProcessEnv = process.env): LatencyTrace | undefined {
  const file = env.DISWALL_LATENCY_TRACE
  return file === undefined || file === '' ? undefined : new LatencyTrace(file)
}

/**
 * Splits traced bans into stages and attributes garbage collection to them: for each ban, the GC time
 * that overlapped the span from its line to its commit. Pure.
 */
export function traceStages(dump: Pick<TraceDump, 'bans' | 'gcs'>): Array<TracedBan & {engineMs: number; writeMs: number; gcMs: number}> {
  const gcs = [...dump.gcs].sort((a, b) => a.at - b.at)
  return dump.bans.map((ban) => {
    let gcMs = 0
    for (const gc of gcs) {
      if (gc.at >= ban.committed) break
      gcMs += Math.max(0, Math.min(gc.at + gc.ms, ban.committed) - Math.max(gc.at, ban.received))
    }
    return {...ban, engineMs: ban.decided - ban.received, gcMs, writeMs: ban.committed - ban.decided}
  })
}
