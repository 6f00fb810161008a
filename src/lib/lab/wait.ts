import {setTimeout as sleep} from 'node:timers/promises'

import {WaitTimeoutError} from './errors.js'

/** Values a `waitFor` predicate returns while the awaited condition does not hold yet. */
export type NotYet = false | null | undefined | 0 | ''

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** What is awaited, for the timeout message ("nats-server ports file", "ban of 10.1.2.3"). */
  what: string
  /** Give up after this many milliseconds; 5000 by default. */
  timeoutMs?: number
  /** Pause between two attempts in milliseconds; 25 by default. */
  intervalMs?: number
  /** Stops waiting at once, rejecting with the signal's reason (e.g. the awaited process died). */
  signal?: AbortSignal
}

/**
 * Calls `predicate` until it returns a truthy value (or a promise of one) and resolves with that
 * value: tests poll kernel and server state with this instead of sleeping.
 * A predicate that throws counts as "not yet"; its last error becomes the `cause` of the timeout.
 * The predicate always runs at least once and once more at the deadline.
 * Throws WaitTimeoutError naming `what` after `timeoutMs`, or the abort reason when `signal` aborts.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  {intervalMs = 25, signal, timeoutMs = 5000, what}: WaitOptions,
): Promise<Exclude<T, NotYet>> {
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  let failed = false
  for (;;) {
    signal?.throwIfAborted()
    try {
      const value = await predicate()
      if (value) return value as Exclude<T, NotYet>
      failed = false
    } catch (error) {
      lastError = error
      failed = true
    }

    signal?.throwIfAborted()
    const left = deadline - Date.now()
    if (left <= 0) throw new WaitTimeoutError(what, timeoutMs, failed ? {cause: lastError} : undefined)
    try {
      await sleep(Math.min(intervalMs, left), undefined, {signal})
    } catch (error) {
      if (signal?.aborted) throw signal.reason
      throw error
    }
  }
}
