/**
 * The errors of the lab. Its failures are the machine's, not the user's input: a namespace, a
 * nats-server or a probe that does not come up, so they exit 4 (environment) like a missing program.
 */
import {DiswallError, ExitCode} from '../errors.js'

/** Something the lab set up did not start or behave as it must (exit 4); the message names it. */
export class LabError extends DiswallError {
  constructor(message: string, options?: ErrorOptions & {hint?: string}) {
    super(message, 'E_LAB', ExitCode.ENVIRONMENT,
      options?.hint ?? 'Look at the output quoted in the message; a busy machine may need a second run.', options)
  }
}

/** Thrown by waitFor() when the deadline passes (exit 4); `cause` is the predicate's last error, if any. */
export class WaitTimeoutError extends DiswallError {
  constructor(readonly what: string, readonly timeoutMs: number, options?: ErrorOptions) {
    const last = options?.cause === undefined ? '' : `; last error: ${describeError(options.cause)}`
    super(`timed out after ${timeoutMs} ms waiting for ${what}${last}`, 'E_LAB_TIMEOUT', ExitCode.ENVIRONMENT,
      'The machine may be too busy for the deadline; run it again when the load is lower.', options)
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
