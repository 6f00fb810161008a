/**
 * What the running server reports about itself: the one shape behind `diswall server status`,
 * `--json` and the Prometheus metrics; how it names itself on its control socket; and the client.
 */
import {queryControl} from '../service/index.js'
import type {MetricFamily, MetricSample, QueryControlOptions, ServiceIdentity} from '../service/index.js'
import type {HostStats, StoreInfo} from './store/index.js'

/** The server on its control socket and in errors. */
export const SERVER_SERVICE: ServiceIdentity = {
  client: 'diswall server status',
  name: 'server',
  socketSetting: '[server] socket',
  unit: 'diswall-server',
}

/** The server's status. Plain data; fields may be added, never renamed. */
export interface ServerStatus {
  version: string
  pid: number
  /** ISO 8601. */
  startedAt: string
  uptimeSec: number
  /** `disconnects`: connections lost since start (what was published meanwhile did not reach the server). */
  nats: {servers: string; connected: boolean; maxPayload: number; user: string; disconnects: number}
  /**
   * Messages received and not handled yet, against the pending limits. Past them a message is
   * dropped and counted (`dropped`); each time the limits are reached is a slow-consumer event;
   * `slowSince` is set while one lasts.
   */
  pending: {
    messages: number
    bytes: number
    highWater: number
    limits: {messages: number; bytes: number}
    slowConsumerEvents: number
    dropped: number
    slowSince?: string
  }
  store: StoreInfo
  /** Entries per account and list; the global list is account `(global)`. */
  entries: Array<{account: string; list: 'allow' | 'block'; entries: number}>
  reports: {
    total: number
    /** Average over the last 10 seconds. */
    perSec: number
    stored: number
    deleted: number
    /** Payloads or subjects that did not decode. */
    invalid: number
    /** Refused: never-ban addresses, full lists, too broad networks. */
    refused: {neverBan: number; limit: number; broad: number}
    /** Dropped by the per-account rate limit. */
    rateLimited: number
  }
  broadcasts: number
  init: {requests: number; entries: number; truncated: number}
  /** Host statistics of the last 24 hours, newest first. */
  hostStats: HostStats[]
  /** Failures of the store or of NATS since start. */
  errors: number
  config: {path: string; loadedAt: string; lastReloadError?: string}
}

/** Asks the server on its control socket. */
export function queryServer<T>(socket: string, command: string, options: Omit<QueryControlOptions, 'service'> = {}): Promise<T> {
  return queryControl<T>(socket, command, {...options, service: SERVER_SERVICE})
}

/** The server's metric families (`diswall_server_…`). Pure. */
export function serverMetricFamilies(s: ServerStatus): MetricFamily[] {
  const one = (value: number): MetricSample[] => [[{}, value]]
  return [
    {help: 'Version of the server; always 1.', name: 'diswall_server_info', samples: [[{version: s.version}, 1]], type: 'gauge'},
    {help: 'Seconds since the server started.', name: 'diswall_server_uptime_seconds', samples: one(s.uptimeSec), type: 'gauge'},
    {help: '1 when connected to NATS.', name: 'diswall_server_nats_connected', samples: one(s.nats.connected ? 1 : 0), type: 'gauge'},
    {help: 'Entries stored per account and list.', name: 'diswall_server_entries',
      samples: s.entries.map((e): MetricSample => [{account: e.account, list: e.list}, e.entries]), type: 'gauge'},
    {help: 'NATS connections lost since start.', name: 'diswall_server_nats_disconnects_total', samples: one(s.nats.disconnects), type: 'counter'},
    {help: 'Messages received and not handled yet.', name: 'diswall_server_pending_messages', samples: one(s.pending.messages), type: 'gauge'},
    {help: 'Times the pending limits were reached (slow consumer).', name: 'diswall_server_slow_consumer_events_total',
      samples: one(s.pending.slowConsumerEvents), type: 'counter'},
    {help: 'Messages dropped because the pending limits were reached.', name: 'diswall_server_slow_consumer_dropped_total',
      samples: one(s.pending.dropped), type: 'counter'},
    {help: 'Reports (adds and deletes) received.', name: 'diswall_server_reports_total', samples: one(s.reports.total), type: 'counter'},
    {help: 'Reports stored.', name: 'diswall_server_reports_stored_total', samples: one(s.reports.stored), type: 'counter'},
    {help: 'Entries deleted on request.', name: 'diswall_server_deletes_total', samples: one(s.reports.deleted), type: 'counter'},
    {help: 'Messages whose subject or payload did not decode.', name: 'diswall_server_reports_invalid_total', samples: one(s.reports.invalid), type: 'counter'},
    {help: 'Reports refused, by reason.', name: 'diswall_server_reports_refused_total', samples: [
      [{reason: 'never-ban'}, s.reports.refused.neverBan], [{reason: 'limit'}, s.reports.refused.limit], [{reason: 'broad'}, s.reports.refused.broad],
    ], type: 'counter'},
    {help: 'Reports dropped by the per-account rate limit.', name: 'diswall_server_reports_rate_limited_total', samples: one(s.reports.rateLimited), type: 'counter'},
    {help: 'Global bans broadcast on diswall.blacklist.new.', name: 'diswall_server_broadcasts_total', samples: one(s.broadcasts), type: 'counter'},
    {help: 'Init requests answered.', name: 'diswall_server_init_requests_total', samples: one(s.init.requests), type: 'counter'},
    {help: 'Entries sent in init replies.', name: 'diswall_server_init_entries_total', samples: one(s.init.entries), type: 'counter'},
    {help: 'Bytes of the database on disk (with its write-ahead log).', name: 'diswall_server_store_bytes', samples: one(s.store.bytes), type: 'gauge'},
    {help: 'Store batches committed.', name: 'diswall_server_store_commits_total', samples: one(s.store.commits), type: 'counter'},
    {help: 'Failures of the store or NATS.', name: 'diswall_server_errors_total', samples: one(s.errors), type: 'counter'},
  ]
}
