import {accessSync, constants, statSync} from 'node:fs'
import {delimiter, join} from 'node:path'
import type {TestContext} from 'node:test'

/** Environment variable with which CI turns every integration skip into a failure. */
export const REQUIRE_INTEGRATION_ENV = 'DISWALL_REQUIRE_INTEGRATION'

/** What an integration test needs from the machine. */
export interface IntegrationRequirements {
  /** Needs root (namespaces, netfilter); true by default. */
  root?: boolean
  /** Programs that must be found in PATH, e.g. `['ip', 'ipset', 'nats-server']`. */
  programs?: readonly string[]
}

/** Thrown instead of skipping when `DISWALL_REQUIRE_INTEGRATION=1` is set. */
export class IntegrationUnavailableError extends Error {
  constructor(readonly reason: string) {
    super(`integration test cannot run: ${reason} (${REQUIRE_INTEGRATION_ENV}=1 turns this skip into a failure)`)
    this.name = 'IntegrationUnavailableError'
  }
}

/** True when `DISWALL_REQUIRE_INTEGRATION=1` asks that integration tests never skip. */
export function isIntegrationRequired(): boolean {
  return process.env[REQUIRE_INTEGRATION_ENV] === '1'
}

/** The full path of an executable `program` found in PATH, or undefined. */
export function findProgram(program: string, path: string = process.env.PATH ?? ''): string | undefined {
  if (program.includes('/')) return isExecutable(program) ? program : undefined
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, program)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

/**
 * Why an integration test cannot run here ("not running as root", "missing programs: ping"),
 * or undefined when it can. Pure check, never throws.
 */
export function integrationSkipReason({programs = [], root = true}: IntegrationRequirements = {}): string | undefined {
  const reasons: string[] = []
  if (root && process.getuid?.() !== 0) reasons.push('not running as root')
  const missing = programs.filter((p) => findProgram(p) === undefined)
  if (missing.length > 0) reasons.push(`missing programs: ${missing.join(', ')} (not in PATH)`)
  return reasons.length === 0 ? undefined : reasons.join('; ')
}

/**
 * The value for the `skip` option of `describe`/`test`: false when the requirements hold, else the
 * reason. Throws IntegrationUnavailableError instead of returning a reason when
 * `DISWALL_REQUIRE_INTEGRATION=1` is set, so the test file fails rather than skips.
 *
 * ```ts
 * describe('ipset backend', {skip: integrationSkip({programs: ['ip', 'ipset']})}, () => { … })
 * ```
 */
export function integrationSkip(requirements?: IntegrationRequirements): string | false {
  const reason = integrationSkipReason(requirements)
  if (reason === undefined) return false
  if (isIntegrationRequired()) throw new IntegrationUnavailableError(reason)
  return reason
}

/**
 * Skips the running test with the reason when it needs root or programs the machine lacks, and
 * returns false; returns true when the test can go on. With `DISWALL_REQUIRE_INTEGRATION=1` set it
 * throws IntegrationUnavailableError instead of skipping, so the test fails.
 *
 * ```ts
 * test('ipset - …', async (t) => {
 *   if (!requireRoot(t, {programs: ['ipset']})) return
 *   …
 * })
 * ```
 */
export function requireRoot(t: Pick<TestContext, 'skip'>, requirements?: IntegrationRequirements): boolean {
  const reason = integrationSkip(requirements)
  if (reason === false) return true
  t.skip(reason)
  return false
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}
