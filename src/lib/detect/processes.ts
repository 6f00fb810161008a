/**
 * What the detection engine remembers about the processes that write service logs, per (source, PID):
 * the address the process talks to, failures it logged without an address, whether an attempt was
 * counted already, and the user names that failed. sshd logs one connection from one process (the
 * monitor relays the `[preauth]` lines of its child under its own PID), so lines such as
 * `Disconnecting: Too many authentication failures [preauth]` or `kex_exchange_identification: …`
 * belong to the address of the other lines of that PID. Pure and bounded: entries live
 * {@link PROCESS_TTL_MS} after their last line and at most `max` are kept (the oldest go first), so a
 * flood of short connections cannot grow it and a reused PID does not inherit an old address for long.
 */
import type {Address} from '../net/index.js'

/**
 * How long a process is remembered after its last line, ms: sshd's LoginGraceTime is 120 s by default;
 * one more minute covers a client that stalls until then.
 */
export const PROCESS_TTL_MS = 180_000
/** Most processes remembered at once. */
export const DEFAULT_MAX_PROCESSES = 10_000
/** Most address-less failures held for a process that has not named its address yet. */
export const MAX_PENDING_PER_PROCESS = 8

/** One remembered process. */
export interface ProcessState {
  /** The address its lines named last. */
  address?: Address
  /** Failures (`pid` lines) logged before any line named the address. */
  pending: number
  /** A counting line of this process was seen. */
  counted: boolean
  /** An `echo` line counted an attempt that the next counting line reports again. */
  echoOpen: boolean
  /** User names that failed (from `(?<user>…)` of ban regexes). */
  failedUsers: Set<string>
  /** Last line, ms. */
  seenMs: number
}

/** A syslog time stamp: traditional (`May  1 12:00:00`) or RFC 3339. */
const TIME = String.raw`(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?)`
/** `TIME HOST PROG[PID]: ` or RFC 5424 `<PRI>1 TIME HOST APP PROCID `. */
const HEADER_PID = new RegExp(String.raw`^(?:${TIME} \S+ [^\s[\]]+\[([0-9]{1,10})\]: |(?:<[0-9]{1,3}>)?1 \S+ \S+ \S+ ([0-9]{1,10}) )`)

/** The PID of a syslog header at the start of `text` (traditional or RFC 5424), or undefined. Pure. */
export function syslogPid(text: string): number | undefined {
  const m = HEADER_PID.exec(text)
  if (m === null) return undefined
  return Number(m[1] ?? m[2])
}

/** The processes the engine remembers; see the file comment. */
export class ProcessTable {
  private readonly entries = new Map<string, ProcessState>()

  constructor(private readonly max = DEFAULT_MAX_PROCESSES, private readonly ttlMs = PROCESS_TTL_MS) {}

  /** Number of processes remembered. */
  get size(): number {
    return this.entries.size
  }

  /** The state of process `pid` of `source` (created when missing or expired); marks it seen at `nowMs`. */
  get(source: string, pid: number, nowMs: number): ProcessState {
    const key = `${source}\u0000${pid}`
    let state = this.entries.get(key)
    if (state !== undefined) {
      this.entries.delete(key) // re-inserted below: the Map's order is the order of last use
      if (nowMs - state.seenMs > this.ttlMs) state = undefined
    }
    state ??= {counted: false, echoOpen: false, failedUsers: new Set(), pending: 0, seenMs: nowMs}
    state.seenMs = nowMs
    this.entries.set(key, state)
    if (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!)
    return state
  }

  /** The state of a process if it is remembered and not expired; does not mark it seen. */
  peek(source: string, pid: number, nowMs: number): ProcessState | undefined {
    const state = this.entries.get(`${source}\u0000${pid}`)
    return state === undefined || nowMs - state.seenMs > this.ttlMs ? undefined : state
  }

  /** Forgets every process. */
  clear(): void {
    this.entries.clear()
  }
}
