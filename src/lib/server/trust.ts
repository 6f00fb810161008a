/**
 * Trust against poisoning: what one account may do to the others. A ban is broadcast to every
 * account only on trusted evidence (a honeypot account, or enough distinct accounts); each account
 * has a report rate limit, so a compromised host cannot flood the server or starve the other
 * accounts. Pure: clocks are arguments.
 */

/** Token bucket per account: `ratePerSec` tokens a second, at most one second's worth banked. */
export class AccountRateLimiter {
  private readonly buckets = new Map<string, {tokens: number; atMs: number}>()

  constructor(private ratePerSec: number) {}

  /** Changes the rate (reload); buckets keep their tokens, capped at the new burst. */
  setRate(ratePerSec: number): void {
    this.ratePerSec = ratePerSec
  }

  /** Takes one token for `account` at `nowMs`; false when the account is over its rate. */
  take(account: string, nowMs: number): boolean {
    let bucket = this.buckets.get(account)
    if (bucket === undefined) {
      bucket = {atMs: nowMs, tokens: this.ratePerSec}
      this.buckets.set(account, bucket)
    } else {
      const elapsed = Math.max(0, nowMs - bucket.atMs)
      bucket.tokens = Math.min(this.ratePerSec, bucket.tokens + (elapsed * this.ratePerSec) / 1000)
      bucket.atMs = nowMs
    }
    if (bucket.tokens < 1) return false
    bucket.tokens -= 1
    return true
  }
}

/** Who counts as trusted evidence for a global ban. */
export interface GlobalPolicy {
  /** Accounts whose reports are trusted on their own (`[nats] honeypots`). */
  honeypots: ReadonlySet<string>
  /** Distinct accounts that must report an address (`[server] global_min_accounts`). */
  minAccounts: number
}

/**
 * Why a block report makes a global ban, or undefined when it does not (yet): `honeypot ACCOUNT`, or
 * `N accounts` when `reporting` (the distinct accounts with an active ban of the address, the
 * reporting one included) reach the minimum.
 */
export function globalBanReason(policy: GlobalPolicy, account: string, reporting: readonly string[]): string | undefined {
  if (policy.honeypots.has(account)) return `honeypot ${account}`
  const distinct = new Set(reporting)
  distinct.add(account)
  return distinct.size >= policy.minAccounts ? `${distinct.size} accounts` : undefined
}
