import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {test} from 'node:test'

import {daemonMetricFamilies, renderDaemonMetrics} from '../../../src/lib/daemon/index.js'
import type {DaemonStatus} from '../../../src/lib/daemon/index.js'
import {renderMetricFamilies} from '../../../src/lib/service/index.js'

const STATUS: DaemonStatus = {
  allows: {failed: 0, total: 3},
  backend: {name: 'ipset', reason: 'iptables is in use'},
  bans: {byReason: {'port-scan': 40, 'port-scan 23/tcp': 2, ssh: 5, 'we"ird\\tag\nx': 1}, failed: 1, total: 48},
  config: {loadedAt: '2024-05-01T10:00:00.000Z', path: '/etc/diswall/diswall.conf'},
  detect: {
    allows: 3, badAddresses: 0, bans: 48, counterKeys: 12, dedupKeys: 30, duplicates: 7, evicted: 0, lines: 1000,
    longLines: 1, matches: 9, openPorts: 4, packets: 950, pending: 6, portless: 2, protected: 5, slowLines: 0, echoes: 0, refusedAllows: 0, unattributed: 0,
  },
  killed: {conntrack: 2, sockets: 1},
  lastBans: [{at: '2024-05-01T10:05:00.000Z', reason: 'port-scan 23/tcp', source: 'kmsg', target: '203.0.113.7', ttlSec: 86_400}],
  mode: 'local-only',
  patternFiles: [{action: 'ban', builtIn: false, name: 'sshd.patterns', path: '/etc/diswall/firewall/patterns.d/sshd.patterns', patterns: 12, reads: '/var/log/auth.log', tag: 'ssh'}],
  patterns: ['/etc/diswall/firewall/patterns.d/sshd.patterns'],
  pid: 4242,
  sets: {allow: -1, block: 48},
  snapshot: {loaded: 10, path: '/var/lib/diswall/sets.snapshot', saved: 48, savedAt: '2024-05-01T10:10:00.000Z'},
  sources: [
    {lastLineAt: 1_714_557_900_000, lines: 950, lost: 3, name: 'kmsg', restarts: 0, state: 'running'},
    {lastError: 'no such file', lines: 50, name: '/var/log/auth "x".log', restarts: 2, state: 'restarting'},
  ],
  startedAt: '2024-05-01T09:00:00.000Z',
  uptimeSec: 3600,
  version: '0.1.0',
  writer: {added: 48, batches: 20, failedBatches: 1, pending: 0, removed: 2},
}

/** `name{labels} value`: a metric name, optional labels with quoted (escaped) values, a float. */
const SAMPLE_LINE = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*\})? (NaN|[+-]Inf|-?\d+(\.\d+)?(e[+-]?\d+)?)$/

test('daemon metrics - exact lines for the main metrics', () => {
  const lines = renderDaemonMetrics(STATUS).split('\n')
  for (const line of [
    '# HELP diswall_bans_total Bans applied since start.',
    '# TYPE diswall_bans_total counter',
    'diswall_bans_total 48',
    'diswall_ban_failures_total 1',
    'diswall_allows_total 3',
    'diswall_uptime_seconds 3600',
    'diswall_info{backend="ipset",mode="local-only",version="0.1.0"} 1',
    'diswall_start_time_seconds 1714554000',
    'diswall_set_entries{list="block"} 48',
    'diswall_source_up{source="kmsg"} 1',
    'diswall_source_up{source="/var/log/auth \\"x\\".log"} 0',
    'diswall_source_state{source="/var/log/auth \\"x\\".log",state="restarting"} 1',
    'diswall_source_lines_total{source="kmsg"} 950',
    'diswall_source_restarts_total{source="/var/log/auth \\"x\\".log"} 2',
    'diswall_source_lost_total{source="kmsg"} 3',
    'diswall_source_lost_total{source="/var/log/auth \\"x\\".log"} 0',
    'diswall_source_last_line_timestamp_seconds{source="kmsg"} 1714557900',
    '# TYPE diswall_detect_lines_total counter',
    'diswall_detect_lines_total 1000',
    'diswall_detect_packets_total 950',
    'diswall_detect_matches_total 9',
    'diswall_detect_duplicates_total 7',
    'diswall_detect_protected_total 5',
    'diswall_detect_open_ports_total 4',
    'diswall_detect_pending_total 6',
    'diswall_detect_tracked_keys{kind="counter"} 12',
    'diswall_detect_tracked_keys{kind="dedup"} 30',
    'diswall_writer_batches_total 20',
    'diswall_writer_failed_batches_total 1',
    'diswall_writer_pending 0',
    'diswall_snapshot_last_save_timestamp_seconds 1714558200',
    'diswall_snapshot_last_save_failed 0',
  ]) assert.ok(lines.includes(line), `missing: ${line}`)
})

test('daemon metrics - entries a source could not trust are counted per source', () => {
  const journal = {lines: 4, name: 'journal-services', restarts: 0, state: 'running' as const, untrusted: 7}
  const lines = renderDaemonMetrics({...STATUS, sources: [...STATUS.sources, journal]}).split('\n')
    .filter((l) => l.startsWith('diswall_source_untrusted_total'))
  assert.deepEqual(lines, ['diswall_source_untrusted_total{source="kmsg"} 0', 'diswall_source_untrusted_total{source="/var/log/auth \\"x\\".log"} 0',
    'diswall_source_untrusted_total{source="journal-services"} 7'])
})

test('daemon metrics - bans by reason use the first word of the reason and escape label values', () => {
  const lines = renderDaemonMetrics(STATUS).split('\n').filter((l) => l.startsWith('diswall_bans_by_reason_total'))
  assert.deepEqual(lines, [
    'diswall_bans_by_reason_total{reason="port-scan"} 42',
    'diswall_bans_by_reason_total{reason="ssh"} 5',
    'diswall_bans_by_reason_total{reason="we\\"ird\\\\tag"} 1', // split at the newline: first word only
  ])
})

test('daemon metrics - an unreadable set (-1) and a missing save are left out, not reported as numbers', () => {
  const text = renderDaemonMetrics({...STATUS, snapshot: {loaded: 0, path: '/x'}})
  assert.doesNotMatch(text, /diswall_set_entries\{list="allow"\}/)
  assert.doesNotMatch(text, /^diswall_snapshot_last_save_timestamp_seconds /m)
  assert.match(text, /^# TYPE diswall_snapshot_last_save_timestamp_seconds gauge$/m)
  assert.match(renderDaemonMetrics({...STATUS, snapshot: {...STATUS.snapshot, lastError: 'disk full'}}),
    /^diswall_snapshot_last_save_failed 1$/m)
})

test('daemon metrics - every line is a HELP, a TYPE or a sample; every sample belongs to the TYPE before it', () => {
  const text = renderDaemonMetrics(STATUS)
  assert.ok(text.endsWith('\n'))
  let family = ''
  const seen = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('# HELP ')) continue
    const type = /^# TYPE (\S+) (counter|gauge)$/.exec(line)
    if (type) {
      assert.ok(!seen.has(type[1]), `family ${type[1]} twice`)
      seen.add(type[1])
      family = type[1]
      assert.match(family, /^diswall_/)
      if (type[2] === 'counter') assert.match(family, /_total$/)
      continue
    }
    assert.match(line, SAMPLE_LINE)
    assert.equal(line.split(/[{ ]/)[0], family, line)
  }
})

test('daemon metrics - the whole text is unchanged, byte for byte (scrapers and dashboards depend on it)', async () => {
  const expected = await readFile(new URL('../../fixtures/metrics/daemon-status.prom', import.meta.url), 'utf8')
  assert.equal(renderDaemonMetrics(STATUS), expected)
  assert.equal(renderMetricFamilies(daemonMetricFamilies(STATUS)), expected)
})
