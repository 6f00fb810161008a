/**
 * Benchmark results: the row type every suite returns, the targets of DESIGN.md "Performance
 * targets", the table printed at the end of a run and the JSON written to bench/results/.
 */
import {mkdir, writeFile} from 'node:fs/promises'
import {dirname} from 'node:path'

/** A performance target: a rate to reach or a duration to stay within. */
export type Target =
  | {id: string; kind: 'min-rate'; perSecond: number}
  | {id: string; kind: 'max-seconds'; seconds: number}
  | {id: string; kind: 'max-latency'; p50Ms: number; p99Ms: number}
  | {id: string; kind: 'max-p90'; p90Ms: number}
  | {id: string; kind: 'max-memory'; rssMb: number}
  | {id: string; kind: 'max-ratio'; ratio: number; of: string}

/** The targets of DESIGN.md that the suites measure. */
export const TARGETS = {
  /** Probe packet → address blocked locally. */
  P1: {id: 'P1', kind: 'max-latency', p50Ms: 2, p99Ms: 5},
  /** Log line (a failed sshd login, threshold 1) → address blocked locally: beside sshguard's p90 of 4.8 ms. */
  P1_LOG: {id: 'P1-log', kind: 'max-p90', p90Ms: 5},
  /** Sustained distinct bans into the kernel. */
  P3: {id: 'P3', kind: 'min-rate', perSecond: 100_000},
  /** Start-up sync of 1,000,000 block entries, server → kernel. */
  P4: {id: 'P4', kind: 'max-seconds', seconds: 10},
  /** One `block add`/`del`/test with 1,000,000 bans in the set (kernel-sets.ts): every op ≤ 100 ms. */
  OP_1M: {id: 'op@1M', kind: 'max-latency', p50Ms: 100, p99Ms: 100},
  /** Snapshot save or restore of 1,000,000 bans: short enough for the systemd stop timeout and a reboot. */
  SNAPSHOT: {id: 'snapshot', kind: 'max-seconds', seconds: 10},
  /** Daemon stop (pending bans, journal or snapshot) with 1,000,000 bans: within the systemd stop timeout, fast reboots. */
  STOP: {id: 'stop', kind: 'max-seconds', seconds: 10},
  /** A scan from 2,000 distinct sources within 1 s → all banned (seconds after the last packet). */
  P10: {id: 'P10', kind: 'max-seconds', seconds: 2},
  /** Daemon memory with 1,000,000 bans (RSS). */
  P6: {id: 'P6', kind: 'max-memory', rssMb: 150},
  /** `diswall block add` of one address, whole process, against `node -e 0` (median wall time). */
  P9: {id: 'P9', kind: 'max-ratio', of: 'node -e 0', ratio: 2.5},
  /** `block add --file` of 100,000 addresses into the kernel (one batch). */
  LIST_FILE: {id: 'list-file', kind: 'max-seconds', seconds: 5},
} as const satisfies Record<string, Target>

/** One measured row. */
export interface BenchResult {
  /** Stable key for comparing runs, e.g. `p3.writer.ipset`. */
  id: string
  /** What was measured, for the table. */
  what: string
  /** Items processed (entries, addresses). */
  count: number
  /** Wall-clock seconds of the measured part. */
  seconds: number
  /** count / seconds. */
  perSecond: number
  target?: Target
  /**
   * `pass`/`miss` against the target; `baseline` for a row measured only for comparison (no verdict);
   * `info` for a row without a target.
   */
  verdict: 'baseline' | 'info' | 'miss' | 'pass'
  /** Facts about the row: batches, verification, extrapolations. */
  notes: string[]
  /** Latency percentiles of the `count` samples, ms (latency rows only). */
  latencyMs?: LatencySummary
  /** Memory of the measured process, MB (memory rows only): VmRSS at the end and VmHWM, its peak. */
  memoryMb?: {rss: number; peak: number}
  /** The measured ratio to a baseline (ratio rows only). */
  ratio?: number
}

/** Percentiles of a set of latency samples, ms. */
export interface LatencySummary {
  min: number
  p50: number
  p90: number
  p99: number
  max: number
}

/** Percentiles of `samples` (ms; nearest-rank). Throws on an empty list. */
export function summarizeLatency(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) throw new Error('no latency samples')
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
  return {max: sorted.at(-1)!, min: sorted[0]!, p50: at(50), p90: at(90), p99: at(99)}
}

/** Builds a row and judges it against its target (`baseline: true` compares without a verdict). */
export function result(fields: {
  id: string; what: string; count: number; seconds: number; target?: Target; baseline?: boolean; notes?: string[]; latencyMs?: LatencySummary
  memoryMb?: {rss: number; peak: number}
  ratio?: number
}): BenchResult {
  const perSecond = fields.count / fields.seconds
  let verdict: BenchResult['verdict'] = 'info'
  if (fields.target && fields.baseline) verdict = 'baseline'
  else if (fields.target?.kind === 'min-rate') verdict = perSecond >= fields.target.perSecond ? 'pass' : 'miss'
  else if (fields.target?.kind === 'max-seconds') verdict = fields.seconds <= fields.target.seconds ? 'pass' : 'miss'
  else if (fields.target?.kind === 'max-latency') {
    const l = fields.latencyMs
    verdict = l !== undefined && l.p50 <= fields.target.p50Ms && l.p99 <= fields.target.p99Ms ? 'pass' : 'miss'
  } else if (fields.target?.kind === 'max-p90') {
    verdict = fields.latencyMs !== undefined && fields.latencyMs.p90 <= fields.target.p90Ms ? 'pass' : 'miss'
  } else if (fields.target?.kind === 'max-memory') {
    verdict = fields.memoryMb !== undefined && fields.memoryMb.rss <= fields.target.rssMb ? 'pass' : 'miss'
  } else if (fields.target?.kind === 'max-ratio') {
    verdict = fields.ratio !== undefined && fields.ratio <= fields.target.ratio ? 'pass' : 'miss'
  }
  return {
    ...(fields.latencyMs === undefined ? {} : {latencyMs: fields.latencyMs}),
    ...(fields.memoryMb === undefined ? {} : {memoryMb: fields.memoryMb}),
    count: fields.count,
    id: fields.id,
    notes: fields.notes ?? [],
    perSecond,
    ...(fields.ratio === undefined ? {} : {ratio: fields.ratio}),
    seconds: fields.seconds,
    target: fields.target,
    verdict,
    what: fields.what,
  }
}

/** "P3 ≥ 100,000/s", "P4 ≤ 10 s", or "—". */
export function describeTarget(target: Target | undefined): string {
  if (!target) return '—'
  if (target.kind === 'max-latency') return `${target.id} p50 ≤ ${target.p50Ms} ms, p99 ≤ ${target.p99Ms} ms`
  if (target.kind === 'max-p90') return `${target.id} p90 ≤ ${target.p90Ms} ms`
  if (target.kind === 'max-memory') return `${target.id} RSS ≤ ${target.rssMb} MB`
  if (target.kind === 'max-ratio') return `${target.id} ≤ ${target.ratio}× ${target.of}`
  return target.kind === 'min-rate' ? `${target.id} ≥ ${formatInt(target.perSecond)}/s` : `${target.id} ≤ ${target.seconds} s`
}

/** The results as a fixed-width text table, with the notes below it. Pure. */
export function renderTable(results: readonly BenchResult[]): string {
  const header = ['what', 'count', 'seconds', 'per second', 'p50/p99 ms', 'target', 'result']
  const rows = results.map((r) => [
    r.what,
    formatInt(r.count),
    r.seconds.toFixed(3),
    formatInt(Math.round(r.perSecond)),
    r.latencyMs === undefined ? '—' : `${r.latencyMs.p50.toFixed(2)} / ${r.latencyMs.p99.toFixed(2)}`,
    describeTarget(r.target),
    r.verdict,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => [...row[i]!].length)))
  const numeric = new Set([1, 2, 3, 4])
  const line = (cells: string[]): string =>
    cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd()
  const out = [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)]
  const notes = results.flatMap((r) => r.notes.map((n) => `  ${r.id}: ${n}`))
  if (notes.length > 0) out.push('', 'notes:', ...notes)
  return out.join('\n')
}

/** Writes the run as pretty JSON, creating the directory if needed. */
export async function writeResults(path: string, run: unknown): Promise<void> {
  await mkdir(dirname(path), {recursive: true})
  await writeFile(path, JSON.stringify(run, null, 2) + '\n')
}

/** 1234567 → "1,234,567". */
export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US')
}
