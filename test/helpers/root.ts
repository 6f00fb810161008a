import type {TestContext} from 'node:test'

import {labRequirementsProblem} from '../../src/lib/lab/index.js'
import type {LabRequirements} from '../../src/lib/lab/index.js'

/** Environment variable with which CI turns every integration skip into a failure. */
export const REQUIRE_INTEGRATION_ENV = 'DISWALL_REQUIRE_INTEGRATION'

/** What an integration test needs from the machine: the lab's requirements. */
export type IntegrationRequirements = LabRequirements

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
  const reason = labRequirementsProblem(requirements)
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
