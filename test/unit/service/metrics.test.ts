import assert from 'node:assert/strict'
import {request} from 'node:http'
import {test} from 'node:test'

import {escapeLabelValue, openMetricsServer, parseListen, renderMetrics} from '../../../src/lib/service/index.js'
import type {DaemonStatus} from '../../../src/lib/daemon/index.js'
import {DiswallError} from '../../../src/lib/errors.js'

const STATUS: DaemonStatus = {
  allows: {failed: 0, total: 3},
  backend: {name: 'ipset', reason: 'iptables is in use'},
  bans: {byReason: {'port-scan': 40, 'port-scan 23/tcp': 2, ssh: 5, 'we"ird\\tag\nx': 1}, failed: 1, total: 48},
  config: {loadedAt: '2024-05-01T10:00:00.000Z', path: '/etc/diswall/diswall.conf'},
  detect: {
    allows: 3, badAddresses: 0, bans: 48, counterKeys: 12, dedupKeys: 30, duplicates: 7, evicted: 0, lines: 1000,
    longLines: 1, matches: 9, openPorts: 4, packets: 950, pending: 6, portless: 2, protected: 5,
  },
  killed: {conntrack: 2, sockets: 1},
  lastBans: [{at: '2024-05-01T10:05:00.000Z', reason: 'port-scan 23/tcp', source: 'kmsg', target: '203.0.113.7', ttlSec: 86_400}],
  mode: 'local-only',
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

test('metrics - exact lines for the main metrics', () => {
  const lines = renderMetrics(STATUS).split('\n')
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

test('metrics - bans by reason use the first word of the reason and escape label values', () => {
  const lines = renderMetrics(STATUS).split('\n').filter((l) => l.startsWith('diswall_bans_by_reason_total'))
  assert.deepEqual(lines, [
    'diswall_bans_by_reason_total{reason="port-scan"} 42',
    'diswall_bans_by_reason_total{reason="ssh"} 5',
    'diswall_bans_by_reason_total{reason="we\\"ird\\\\tag"} 1', // split at the newline: first word only
  ])
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd')
})

test('metrics - an unreadable set (-1) and a missing save are left out, not reported as numbers', () => {
  const text = renderMetrics({...STATUS, snapshot: {loaded: 0, path: '/x'}})
  assert.doesNotMatch(text, /diswall_set_entries\{list="allow"\}/)
  assert.doesNotMatch(text, /^diswall_snapshot_last_save_timestamp_seconds /m)
  assert.match(text, /^# TYPE diswall_snapshot_last_save_timestamp_seconds gauge$/m)
  assert.match(renderMetrics({...STATUS, snapshot: {...STATUS.snapshot, lastError: 'disk full'}}),
    /^diswall_snapshot_last_save_failed 1$/m)
})

test('metrics - every line is a HELP, a TYPE or a sample; every sample belongs to the TYPE before it', () => {
  const text = renderMetrics(STATUS)
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

/** GET/POST against the server; resolves status, content type and body. */
function fetchText(port: number, path: string, method = 'GET'): Promise<{status: number; type?: string; body: string}> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', method, path, port}, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolve({body, status: res.statusCode ?? 0, type: res.headers['content-type']}))
    })
    req.on('error', reject)
    req.end()
  })
}

test('metrics - the HTTP endpoint serves /metrics, 404 elsewhere, 405 for other methods', async () => {
  const server = await openMetricsServer('127.0.0.1:0', async () => STATUS)
  try {
    assert.equal(server.address, '127.0.0.1')
    assert.ok(server.port > 0)
    const ok = await fetchText(server.port, '/metrics')
    assert.equal(ok.status, 200)
    assert.match(ok.type ?? '', /^text\/plain; version=0\.0\.4/)
    assert.equal(ok.body, renderMetrics(STATUS))
    assert.equal((await fetchText(server.port, '/metrics?x=1')).status, 200)
    assert.equal((await fetchText(server.port, '/')).status, 404)
    assert.equal((await fetchText(server.port, '/metricsx')).status, 404)
    assert.equal((await fetchText(server.port, '/metrics', 'POST')).status, 405)
  } finally {
    await server.close()
  }
})

test('metrics - a failing status answers 500 and the server keeps serving', async () => {
  let fail = true
  const server = await openMetricsServer('127.0.0.1:0', async () => {
    if (fail) throw new Error('engine gone')
    return STATUS
  })
  try {
    const failed = await fetchText(server.port, '/metrics')
    assert.equal(failed.status, 500)
    assert.doesNotMatch(failed.body, /engine gone/)
    fail = false
    assert.equal((await fetchText(server.port, '/metrics')).status, 200)
  } finally {
    await server.close()
  }
})

test('metrics - listen addresses: HOST:PORT and [IPv6]:PORT; bad ones and ports in use are errors', async () => {
  assert.deepEqual(parseListen('127.0.0.1:9100'), {host: '127.0.0.1', port: 9100})
  assert.deepEqual(parseListen('[::1]:9100'), {host: '::1', port: 9100})
  assert.deepEqual(parseListen('localhost:0'), {host: 'localhost', port: 0})
  for (const bad of ['', '9100', '::1:9100', '127.0.0.1:65536', '127.0.0.1:']) {
    assert.throws(() => parseListen(bad), (e: DiswallError) => e.code === 'E_INVALID_VALUE', bad)
  }
  const first = await openMetricsServer('127.0.0.1:0', async () => STATUS)
  try {
    await assert.rejects(openMetricsServer(`127.0.0.1:${first.port}`, async () => STATUS),
      (e: DiswallError) => e.code === 'E_METRICS_LISTEN' && e.exitCode === 4)
  } finally {
    await first.close()
  }
})
