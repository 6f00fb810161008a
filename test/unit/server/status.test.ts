import assert from 'node:assert/strict'
import {test} from 'node:test'

import {serverMetricFamilies} from '../../../src/lib/server/index.js'
import type {ServerStatus} from '../../../src/lib/server/index.js'
import {renderMetricFamilies} from '../../../src/lib/service/index.js'

const STATUS: ServerStatus = {
  broadcasts: 4,
  config: {loadedAt: '2026-12-07T00:00:00.000Z', path: '/etc/diswall/diswall.conf'},
  entries: [{account: '(global)', entries: 3, list: 'block'}, {account: 'acme', entries: 10, list: 'block'}, {account: 'acme', entries: 2, list: 'allow'}],
  errors: 0,
  hostStats: [],
  init: {entries: 100, requests: 2, truncated: 1},
  nats: {connected: true, disconnects: 2, maxPayload: 1_048_576, servers: 'nats.example:4222', user: 'diswall-server'},
  pending: {bytes: 300, dropped: 17, highWater: 4096, limits: {bytes: 1 << 20, messages: 4096}, messages: 3, slowConsumerEvents: 1},
  pid: 1234,
  reports: {deleted: 1, invalid: 5, perSec: 12.5, rateLimited: 7, refused: {broad: 1, limit: 2, neverBan: 3}, stored: 20, total: 40},
  startedAt: '2026-12-07T00:00:00.000Z',
  store: {bytes: 4096, commits: 9, kind: 'sqlite', path: '/var/lib/diswall/diswall.db', pending: 0, schemaVersion: 1, swept: 0},
  uptimeSec: 60,
  version: '0.1.0',
}

test('server metrics - entries per account and list, refusals by reason, counters ending in _total', () => {
  const text = renderMetricFamilies(serverMetricFamilies(STATUS))
  assert.ok(text.includes('diswall_server_entries{account="acme",list="allow"} 2\n'))
  assert.ok(text.includes('diswall_server_entries{account="(global)",list="block"} 3\n'))
  assert.ok(text.includes('diswall_server_reports_refused_total{reason="never-ban"} 3\n'))
  assert.ok(text.includes('diswall_server_reports_rate_limited_total 7\n'))
  assert.ok(text.includes('diswall_server_nats_connected 1\n'))
  assert.ok(text.includes('diswall_server_nats_disconnects_total 2\n'))
  assert.ok(text.includes('diswall_server_slow_consumer_events_total 1\n'))
  assert.ok(text.includes('diswall_server_slow_consumer_dropped_total 17\n'))
  assert.ok(text.includes('diswall_server_pending_messages 3\n'))
  for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE') && l.endsWith(' counter'))) {
    assert.match(line, /_total counter$/, line)
  }
})
