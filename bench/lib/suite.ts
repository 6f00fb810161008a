/** The shape of a benchmark suite, so new ones (packet → block latency, NATS fan-out) plug into bench/run.ts. */
import type {BenchResult} from './report.js'

/** What a suite gets from the runner. */
export interface SuiteContext {
  /** Multiplies the item counts (1 = the documented sizes; `--scale 0.1` for a quick run). */
  scale: number
  /** Progress lines for the operator (stderr), so stdout keeps only the table. */
  log(message: string): void
  /** Whether the case with this id was asked for (`--only PREFIX,…`; everything by default). */
  wants(caseId: string): boolean
  /** Reports a failed case; the run goes on with the other cases and exits non-zero at the end. */
  fail(caseId: string, error: unknown): void
}

/** A group of measurements that share set-up. */
export interface BenchSuite {
  /** Short name for `--only`, e.g. `kernel-sets`. */
  name: string
  /** One line for `--help`. */
  description: string
  /**
   * Measures the cases that `ctx.wants` and returns their rows. Builds its own namespaces
   * (bench/lib/fleet.ts) and removes them before it resolves or rejects.
   */
  run(ctx: SuiteContext): Promise<BenchResult[]>
}

/** `count` × `scale`, at least `min`, as an integer. */
export function scaled(count: number, scale: number, min = 1): number {
  return Math.max(min, Math.round(count * scale))
}

/** Seconds since `startedMs` (a performance.now() value). */
export function secondsSince(startedMs: number): number {
  return (performance.now() - startedMs) / 1000
}

/**
 * Runs one case and returns its rows, or none when it throws: the failure goes to `ctx.fail`, so one
 * broken case does not cost the rows of the others.
 */
export async function attempt(ctx: SuiteContext, caseId: string, body: () => Promise<BenchResult | BenchResult[]>): Promise<BenchResult[]> {
  try {
    return [await body()].flat()
  } catch (error) {
    ctx.fail(caseId, error)
    return []
  }
}
