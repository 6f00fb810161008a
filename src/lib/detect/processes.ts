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
  /** User names that failed (from `(?<user>…)` of ban regexes); made on the first one. */
  failedUsers?: Set<string>
  /** Last line, ms. */
  seenMs: number
}

/** A syslog time stamp: traditional (`May  1 12:00:00`) or RFC 3339. */
const TIME = String.raw`(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?)`
/** `TIME HOST PROG[PID]: ` (or without `[PID]`) or RFC 5424 `<PRI>1 TIME HOST APP PROCID `. */
const HEADER = new RegExp(String.raw`^(?:${TIME} \S+ ([^\s[\]:]+)(?:\[([0-9]{1,10})\])?: |(?:<[0-9]{1,3}>)?1 \S+ \S+ (\S+) ([0-9]{1,10}|-) )`)

/** The program and PID of a syslog header at the start of `text` (traditional or RFC 5424), or undefined. Pure. */
export function syslogHeader(text: string): {program: string; pid?: number} | undefined {
  const m = HEADER.exec(text)
  if (m === null) return undefined
  const pid = m[2] ?? m[4]
  return pid === undefined || pid === '-' ? {program: m[1] ?? m[3]!} : {pid: Number(pid), program: m[1] ?? m[3]!}
}

/** Longest traditional syslog header searched for `[PID]: `: time stamp, host and program. */
const MAX_HEADER = 160

/**
 * The PID of a syslog header at the start of `text`, or undefined. Pure. The traditional header is read
 * without a regex (it runs for every matching line): the first `]: ` of a line is its header's, since the
 * time stamp and the host name hold none.
 */
export function syslogPid(text: string): number | undefined {
  const c = text.charCodeAt(0)
  if (c === 60 || c === 49) return syslogHeader(text)?.pid // "<PRI>1 …" or "1 …": RFC 5424
  const close = text.indexOf(']: ')
  if (close < 0 || close > MAX_HEADER) return undefined
  const open = text.lastIndexOf('[', close)
  if (open < 0 || close - open < 2 || close - open > 11) return undefined
  let pid = 0
  for (let i = open + 1; i < close; i++) {
    const d = text.charCodeAt(i) - 48
    if (d < 0 || d > 9) return undefined
    pid = pid * 10 + d
  }
  // Only when the text before is a header: "TIME HOST PROG[", a time stamp first (a digit or a month's
  // capital), then at least two spaces before the program, which has none, nor ":" or "]".
  if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90))) return undefined
  const space = text.lastIndexOf(' ', open)
  if (space < 0 || text.lastIndexOf(' ', space - 1) < 0) return undefined
  for (let i = space + 1; i < open; i++) {
    const ch = text.charCodeAt(i)
    if (ch === 58 || ch === 93) return undefined
  }
  return space + 1 < open ? pid : undefined
}

/** The processes the engine remembers; see the file comment. */
export class ProcessTable {
  /** Per source, the processes in the order they were first seen (the oldest is dropped first). */
  private readonly bySource = new Map<string, Map<number, ProcessState>>()
  private count = 0

  constructor(private readonly max = DEFAULT_MAX_PROCESSES, private readonly ttlMs = PROCESS_TTL_MS) {}

  /** Number of processes remembered. */
  get size(): number {
    return this.count
  }

  /** The state of process `pid` of `source` (created when missing or expired); marks it seen at `nowMs`. */
  get(source: string, pid: number, nowMs: number): ProcessState {
    let entries = this.bySource.get(source)
    if (entries === undefined) {
      if (this.bySource.size >= 64) this.clear() // sources are few; bound them anyway
      entries = new Map()
      this.bySource.set(source, entries)
    }
    let state = entries.get(pid)
    if (state !== undefined && nowMs - state.seenMs > this.ttlMs) {
      entries.delete(pid) // expired: a new process with a reused PID
      this.count--
      state = undefined
    }
    if (state === undefined) {
      state = {counted: false, echoOpen: false, pending: 0, seenMs: nowMs}
      entries.set(pid, state)
      if (++this.count > this.max) this.evictOldest()
    }
    state.seenMs = nowMs
    return state
  }

  /** The state of a process if it is remembered and not expired; does not mark it seen. */
  peek(source: string, pid: number, nowMs: number): ProcessState | undefined {
    const state = this.bySource.get(source)?.get(pid)
    return state === undefined || nowMs - state.seenMs > this.ttlMs ? undefined : state
  }

  /** Forgets every process. */
  clear(): void {
    this.bySource.clear()
    this.count = 0
  }

  /**
   * Drops the oldest tenth of every source's processes (first seen first): in bulk, so that a flood of
   * new PIDs costs amortised O(1) per line, not a walk over the Map's deleted slots per line.
   */
  private evictOldest(): void {
    for (const entries of this.bySource.values()) {
      let drop = Math.ceil(entries.size / 10)
      for (const pid of entries.keys()) {
        if (drop-- <= 0) break
        entries.delete(pid)
        this.count--
      }
    }
  }
}
