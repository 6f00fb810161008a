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

/** The targets of DESIGN.md that the suites measure. */
export const TARGETS = {
  /** Sustained distinct bans into the kernel. */
  P3: {id: 'P3', kind: 'min-rate', perSecond: 100_000},
  /** Start-up sync of 1,000,000 block entries, server → kernel. */
  P4: {id: 'P4', kind: 'max-seconds', seconds: 10},
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
}

/** Builds a row and judges it against its target (`baseline: true` compares without a verdict). */
export function result(fields: {id: string; what: string; count: number; seconds: number; target?: Target; baseline?: boolean; notes?: string[]}): BenchResult {
  const perSecond = fields.count / fields.seconds
  let verdict: BenchResult['verdict'] = 'info'
  if (fields.target && fields.baseline) verdict = 'baseline'
  else if (fields.target?.kind === 'min-rate') verdict = perSecond >= fields.target.perSecond ? 'pass' : 'miss'
  else if (fields.target?.kind === 'max-seconds') verdict = fields.seconds <= fields.target.seconds ? 'pass' : 'miss'
  return {
    count: fields.count,
    id: fields.id,
    notes: fields.notes ?? [],
    perSecond,
    seconds: fields.seconds,
    target: fields.target,
    verdict,
    what: fields.what,
  }
}

/** "P3 ≥ 100,000/s", "P4 ≤ 10 s", or "—". */
export function describeTarget(target: Target | undefined): string {
  if (!target) return '—'
  return target.kind === 'min-rate' ? `${target.id} ≥ ${formatInt(target.perSecond)}/s` : `${target.id} ≤ ${target.seconds} s`
}

/** The results as a fixed-width text table, with the notes below it. Pure. */
export function renderTable(results: readonly BenchResult[]): string {
  const header = ['what', 'count', 'seconds', 'per second', 'target', 'result']
  const rows = results.map((r) => [
    r.what,
    formatInt(r.count),
    r.seconds.toFixed(3),
    formatInt(Math.round(r.perSecond)),
    describeTarget(r.target),
    r.verdict,
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => [...row[i]!].length)))
  const numeric = new Set([1, 2, 3])
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
