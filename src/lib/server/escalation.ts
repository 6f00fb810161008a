/**
 * Escalation of block entries: the ban time grows with each ban of the same address, step by step
 * through `[server] escalation` (15m, 30m, 1h, 6h, 1d, 1w by default; the last step repeats), and
 * falls back to the first step once the address has been quiet for `[server] escalation_window`
 * after its last ban ended. Allow entries never escalate. Pure: the clock is an argument.
 */
import {IPSET_MAX_TIMEOUT_SEC} from '../net/index.js'

/** What the server remembers of an address's earlier bans (per account). */
export interface OffenderHistory {
  /** Bans so far within the window (≥ 1). */
  bans: number
  /** When the last ban ends (or ended), seconds since the epoch. */
  bannedUntil: number
}

/** The escalation settings, in seconds. */
export interface EscalationPolicy {
  /** Ban time of the 1st, 2nd, … ban; the last step repeats. At least one step. */
  steps: readonly number[]
  /** A ban that ended longer ago than this no longer counts. */
  windowSec: number
}

/** The decision for one report. */
export interface EscalationDecision {
  /** The ban number this report makes (1 = first offence in the window). */
  bans: number
  /** When the ban ends, seconds since the epoch. */
  bannedUntil: number
  /** Seconds from now to bannedUntil, capped at the kernel maximum (what hosts are told). */
  timeoutSec: number
  /** False when the address was still banned: the report does not count as a new offence. */
  escalated: boolean
}

/** The step for the `bans`-th ban (1-based), the last one repeating, capped at the ipset maximum. */
export function stepFor(policy: EscalationPolicy, bans: number): number {
  const steps = policy.steps
  const step = steps[Math.min(Math.max(bans, 1), steps.length) - 1] ?? steps.at(-1) ?? 0
  return Math.min(step, IPSET_MAX_TIMEOUT_SEC)
}

/**
 * What a report of an address at `nowSec` means, given its history (undefined: never seen or
 * forgotten). A report while the address is still banned keeps the running ban (every host that
 * sees the probe reports it; counting those would escalate a single scan); a report after the ban
 * ended takes the next step when the last ban ended within the window, the first step otherwise.
 */
export function escalate(policy: EscalationPolicy, history: OffenderHistory | undefined, nowSec: number): EscalationDecision {
  if (history !== undefined && history.bannedUntil > nowSec) {
    return {bannedUntil: history.bannedUntil, bans: history.bans, escalated: false,
      timeoutSec: Math.min(history.bannedUntil - nowSec, IPSET_MAX_TIMEOUT_SEC)}
  }
  const counts = history !== undefined && nowSec - history.bannedUntil <= policy.windowSec
  const bans = counts ? history.bans + 1 : 1
  const timeoutSec = stepFor(policy, bans)
  return {bannedUntil: nowSec + timeoutSec, bans, escalated: true, timeoutSec}
}
