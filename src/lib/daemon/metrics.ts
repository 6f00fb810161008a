/**
 * The daemon's Prometheus metrics: its status (DaemonStatus) mapped to metric families, which the
 * shared metrics endpoint of src/lib/service renders and serves at `[metrics] listen`.
 */
import type {DetectStats, DetectTracked, SourceHealth, SourceState} from '../detect/index.js'
import {renderMetricFamilies} from '../service/index.js'
import type {MetricFamily, MetricSample} from '../service/index.js'
import type {DaemonStatus} from './status.js'

/** Longest `reason` label value; reasons are tags from pattern files and the network, so bound them. */
const MAX_REASON_LABEL_LENGTH = 64
const SOURCE_STATES: readonly SourceState[] = ['starting', 'running', 'restarting', 'failed', 'stopped']

/** The detection counters, by DetectStats field; a Record so that a new field fails to compile until it is listed. */
const DETECT_COUNTERS: Record<keyof DetectStats, [name: string, help: string]> = {
  allows: ['diswall_detect_allows_total', 'Allow requests yielded by the detection engine.'],
  badAddresses: ['diswall_detect_bad_addresses_total', 'Pattern matches whose address text was not an address.'],
  bans: ['diswall_detect_bans_total', 'Ban requests yielded by the detection engine.'],
  duplicates: ['diswall_detect_duplicates_total', 'Evidence dropped because its target was reported within dedup_ttl.'],
  echoes: ['diswall_detect_echoes_total', 'Second reports of one attempt (a PAM line beside the sshd line), not counted again.'],
  lines: ['diswall_detect_lines_total', 'Log lines handled by the detection engine.'],
  longLines: ['diswall_detect_long_lines_total', 'Lines longer than the maximum line length, not seen by patterns.'],
  matches: ['diswall_detect_matches_total', 'Pattern lines that matched.'],
  openPorts: ['diswall_detect_open_ports_total', 'Packets to open ports, dropped.'],
  packets: ['diswall_detect_packets_total', 'Kernel packet log lines parsed.'],
  pending: ['diswall_detect_pending_total', 'Evidence counted towards a threshold not reached yet.'],
  portless: ['diswall_detect_portless_total', 'Packets without a port (ICMP, GRE, ...), dropped.'],
  protected: ['diswall_detect_protected_total', 'Evidence about protected addresses, dropped.'],
  refusedAllows: ['diswall_detect_refused_allows_total', 'Logins after failures for other user names in the same connection, not allowed.'],
  slowLines: ['diswall_detect_slow_lines_total', 'Lines dropped because a pattern regex took longer than the time budget on them.'],
  unattributed: ['diswall_detect_unattributed_total', 'Address-less pattern matches whose process or address stayed unknown.'],
}

/** Keys of DetectTracked that are gauges, with their `kind` label. */
const TRACKED_KEYS: Record<Exclude<keyof DetectTracked, 'evicted'>, string> = {counterKeys: 'counter', dedupKeys: 'dedup'}

/**
 * The daemon's metric families, from its status: names `diswall_…`, counters ending in `_total`. Ban
 * reasons are reduced to their first word (`port-scan 23/tcp` → `port-scan`) to bound the number of
 * series. Pure.
 */
export function daemonMetricFamilies(status: DaemonStatus): MetricFamily[] {
  const families: MetricFamily[] = []
  const family = (name: string, type: MetricFamily['type'], help: string, samples: readonly MetricSample[]) => {
    families.push({help, name, samples, type})
  }
  const one = (value: number): MetricSample[] => [[{}, value]]
  const timestamp = (iso: string | undefined): MetricSample[] => {
    const ms = iso === undefined ? Number.NaN : Date.parse(iso)
    return Number.isFinite(ms) ? one(ms / 1000) : []
  }

  family('diswall_info', 'gauge', 'Version, mode and firewall backend of the daemon; always 1.',
    [[{backend: status.backend.name, mode: status.mode, version: status.version}, 1]])
  family('diswall_start_time_seconds', 'gauge', 'When the daemon started, seconds since the epoch.', timestamp(status.startedAt))
  family('diswall_uptime_seconds', 'gauge', 'Seconds since the daemon started.', one(status.uptimeSec))

  family('diswall_bans_total', 'counter', 'Bans applied since start.', one(status.bans.total))
  family('diswall_bans_by_reason_total', 'counter', 'Bans applied since start, by the first word of their reason.',
    [...reasonCounts(status.bans.byReason)].map(([reason, n]): MetricSample => [{reason}, n]))
  family('diswall_ban_failures_total', 'counter', 'Bans that could not be applied.', one(status.bans.failed))
  family('diswall_allows_total', 'counter', 'Automatic allow entries applied since start.', one(status.allows.total))
  family('diswall_allow_failures_total', 'counter', 'Automatic allow entries that could not be applied.', one(status.allows.failed))
  // -1 means the set could not be read: leave the sample out rather than report a false size.
  family('diswall_set_entries', 'gauge', 'Entries in the kernel sets (both families), by list.',
    (['block', 'allow'] as const).filter((list) => status.sets[list] >= 0).map((list): MetricSample => [{list}, status.sets[list]]))

  const sources = (fn: (s: SourceHealth) => number): MetricSample[] => status.sources.map((s) => [{source: s.name}, fn(s)])
  family('diswall_source_up', 'gauge', '1 when the detection source is running.', sources((s) => (s.state === 'running' ? 1 : 0)))
  family('diswall_source_state', 'gauge', 'State of the detection source: 1 for the current state.',
    status.sources.flatMap((s) => SOURCE_STATES.map((state): MetricSample => [{source: s.name, state}, s.state === state ? 1 : 0])))
  family('diswall_source_lines_total', 'counter', 'Items read by the detection source.', sources((s) => s.lines))
  family('diswall_source_restarts_total', 'counter', 'Restarts of the detection source after it failed or ended.',
    sources((s) => s.restarts))
  family('diswall_source_lost_total', 'counter', 'Items the detection source lost (ring buffer overruns, over-long lines).',
    sources((s) => s.lost ?? 0))
  family('diswall_source_untrusted_total', 'counter',
    'Items the detection source dropped because it could not trust their writer (journald service entries).',
    sources((s) => s.untrusted ?? 0))
  family('diswall_source_last_line_timestamp_seconds', 'gauge', 'When the detection source last read an item, seconds since the epoch.',
    status.sources.filter((s) => s.lastLineAt !== undefined).map((s): MetricSample => [{source: s.name}, s.lastLineAt! / 1000]))

  for (const key of Object.keys(DETECT_COUNTERS).sort() as Array<keyof DetectStats>) {
    const [name, help] = DETECT_COUNTERS[key]
    family(name, 'counter', help, one(status.detect[key]))
  }
  family('diswall_detect_tracked_keys', 'gauge', 'Keys held by the detection engine, by structure.',
    Object.entries(TRACKED_KEYS).map(([key, kind]): MetricSample => [{kind}, status.detect[key as keyof typeof TRACKED_KEYS]]))
  family('diswall_detect_evicted_total', 'counter', 'Keys dropped because a counter or the de-duplication cache was full.',
    one(status.detect.evicted))

  family('diswall_writer_added_total', 'counter', 'Entries added to the kernel sets by the writer.', one(status.writer.added))
  family('diswall_writer_removed_total', 'counter', 'Entries removed from the kernel sets by the writer.', one(status.writer.removed))
  family('diswall_writer_batches_total', 'counter', 'Batches committed to the kernel.', one(status.writer.batches))
  family('diswall_writer_failed_batches_total', 'counter', 'Batches the kernel refused.', one(status.writer.failedBatches))
  family('diswall_writer_pending', 'gauge', 'Entries waiting for the next batch.', one(status.writer.pending))
  family('diswall_killed_sockets_total', 'counter', 'Sockets closed after bans.', one(status.killed.sockets))
  family('diswall_killed_conntrack_total', 'counter', 'Conntrack entries deleted after bans.', one(status.killed.conntrack))

  family('diswall_snapshot_loaded_entries', 'gauge', 'Entries loaded from the snapshot at start.', one(status.snapshot.loaded))
  family('diswall_snapshot_saved_entries', 'gauge', 'Entries in the last saved snapshot.',
    status.snapshot.saved === undefined ? [] : one(status.snapshot.saved))
  family('diswall_snapshot_last_save_timestamp_seconds', 'gauge', 'When the snapshot was last saved, seconds since the epoch.',
    timestamp(status.snapshot.savedAt))
  family('diswall_snapshot_last_save_failed', 'gauge', '1 when the last snapshot save failed.',
    one(status.snapshot.lastError === undefined ? 0 : 1))

  family('diswall_pattern_files', 'gauge', 'Pattern files in use.', one(status.patterns.length))
  family('diswall_config_loaded_timestamp_seconds', 'gauge', 'When the config was last loaded, seconds since the epoch.',
    timestamp(status.config.loadedAt))
  family('diswall_config_last_reload_failed', 'gauge', '1 when the last config reload failed.',
    one(status.config.lastReloadError === undefined ? 0 : 1))
  return families
}

/** The text the daemon serves at /metrics: its families in the Prometheus text format 0.0.4. Pure. */
export function renderDaemonMetrics(status: DaemonStatus): string {
  return renderMetricFamilies(daemonMetricFamilies(status))
}

/** Sums the ban counts by the first word of the reason, bounded in length; empty reasons count as `unknown`. */
function reasonCounts(byReason: Record<string, number>): Map<string, number> {
  const counts = new Map<string, number>()
  for (const [reason, n] of Object.entries(byReason)) {
    const word = reason.trim().split(/\s+/)[0].slice(0, MAX_REASON_LABEL_LENGTH) || 'unknown'
    counts.set(word, (counts.get(word) ?? 0) + n)
  }
  return new Map([...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
}
