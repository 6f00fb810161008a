/**
 * What the running daemon reports about itself: the one shape behind `diswall status`, `status --json`
 * and the Prometheus metrics. Plain data (JSON-serialisable); fields may be added, never renamed.
 * Also how the daemon names itself on its control socket, and the client that asks it.
 */
import type {DetectStats, DetectTracked, SourceHealth} from '../detect/index.js'
import {queryControl} from '../service/index.js'
import type {QueryControlOptions, ServiceIdentity} from '../service/index.js'
import type {TransportStats} from '../transport/index.js'

/** One ban in the recent-bans list of the status. */
export interface RecentBan {
  /** When it was applied, ISO 8601. */
  at: string
  /** What was banned: an address, or an IPv6 group network (`2001:db8:1:2::/64`). */
  target: string
  /** `port-scan 23/tcp`, `ssh`, `pipe`, … */
  reason: string
  /** The source that completed the evidence (`kmsg`, `/var/log/auth.log`, …). */
  source: string
  /** Ban length, seconds. */
  ttlSec: number
}

/** The snapshot of the kernel sets kept in the state directory. */
export interface SnapshotStatus {
  /** The snapshot file. */
  path: string
  /** Entries loaded from it when the daemon started. */
  loaded: number
  /** When this daemon last wrote it (the listing's start), ISO 8601; absent before its first save. */
  savedAt?: string
  /** Entries in the last save. */
  saved?: number
  /** Message of the last failed save, if the last save failed. */
  lastError?: string
  /** The save time in the header of the snapshot loaded at start, ISO 8601; absent when there was none. */
  loadedSavedAt?: string
  /** Changes replayed at start from the journal segments after that snapshot (a stop that kept the journal, or a crash). */
  replayed?: number
  /** Changes the journal holds beyond the last snapshot: what a stop now keeps for the next start to replay. */
  journalChanges?: number
  /**
   * How this daemon's stop kept the sets: `journal` (closed and kept; the sets were not read) or
   * `snapshot` (saved, as the journal might lack a change). Absent until it stops.
   */
  stoppedWith?: 'journal' | 'snapshot'
}

/** The daemon's status, as the control socket answers `status`. */
export interface DaemonStatus {
  /** diswall version. */
  version: string
  pid: number
  /** ISO 8601. */
  startedAt: string
  uptimeSec: number
  /** `local-only` until a transport is attached. */
  mode: 'local-only' | 'nats'
  /** The NATS connection: state, queued reports, messages received, applied and refused, last init. */
  nats?: TransportStats
  /** The kernel backend and why it was chosen. */
  backend: {name: 'ipset' | 'memory' | 'nftables'; reason: string}
  /** Every detection source, supervised (a failed one shows `restarting` or `failed`, never vanishes). */
  sources: SourceHealth[]
  /**
   * Bans applied since start, in total and per reason (`port-scan 23/tcp` counts as `port-scan`);
   * `refused`: ban orders and list-copy entries the never-ban check kept out (local, remote, init).
   */
  /** `own`: bans this host decided itself (not those other hosts or the server sent). */
  bans: {total: number; byReason: Record<string, number>; failed: number; own?: number; refused?: number}
  /** Automatic allow entries (successful logins) applied since start. */
  allows: {total: number; failed: number}
  /** Entries in the kernel sets (both families), read when the status is asked for; -1 when unreadable. */
  sets: {block: number; allow: number}
  /** The most recent bans, newest first (at most 20). */
  lastBans: RecentBan[]
  /** Counters and memory gauges of the detection engine. */
  detect: DetectStats & DetectTracked
  /** The coalescing writer: totals since start and entries waiting. */
  writer: {added: number; removed: number; batches: number; failedBatches: number; pending: number}
  /** Connections cut after bans (kill_connections). */
  killed: {sockets: number; conntrack: number}
  snapshot: SnapshotStatus
  /** Pattern files in use: their paths, or `built-in:NAME` for the shipped ones (no patterns.d). */
  patterns: string[]
  /** The same files in detail: what each reads and does, and whether it is a shipped (built-in) one. */
  patternFiles: PatternFileStatus[]
  /** When the config was last (re)loaded, ISO 8601, and the last reload error if the last reload failed. */
  config: {path: string; loadedAt: string; lastReloadError?: string}
}

/** One pattern file in use. */
export interface PatternFileStatus {
  name: string
  /** Where it was read; null for a built-in file. */
  path: null | string
  builtIn: boolean
  /** The log it reads (`file =`), unless `journalUnits` is given. */
  reads: string
  /** The systemd services it reads from journald instead of `reads` (`unit =`, with journald in use). */
  journalUnits?: string[]
  action: 'allow' | 'ban'
  tag: string
  /** Regex lines. */
  patterns: number
}

/** How the daemon names itself in the errors of its control socket and metrics endpoint. */
export const DAEMON_SERVICE: ServiceIdentity = {
  client: 'diswall status',
  name: 'daemon',
  socketSetting: '[daemon] socket',
  unit: 'diswall',
}

/**
 * Sends `command` to the daemon on its control socket `path` and returns the result (`status`:
 * DaemonStatus). queryControl() with the daemon's identity; throws what it throws (E_DAEMON_NOT_RUNNING, …).
 */
export function queryDaemon<T = unknown>(path: string, command: string, options: Omit<QueryControlOptions, 'service'> = {}): Promise<T> {
  return queryControl<T>(path, command, {...options, service: DAEMON_SERVICE})
}
