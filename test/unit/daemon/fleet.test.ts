import assert from 'node:assert/strict'
import {test} from 'node:test'

import {scheduleStatistics, statsPayload} from '../../../src/lib/daemon/index.js'
import type {StatsReading} from '../../../src/lib/daemon/index.js'
import {waitFor} from '../../../src/lib/lab/index.js'

const counters = (packetsDropped: number, bytesDropped: number, packetsAccepted = 0, bytesAccepted = 0) =>
  ({bytesAccepted, bytesDropped, packetsAccepted, packetsDropped})

test('statsPayload - the first hour counts everything since the start; later hours the difference', () => {
  const first: StatsReading = {bans: 4, counters: counters(10, 600, 2, 120)}
  assert.deepEqual(statsPayload(1000, first, undefined),
    {banned: 4, bytes_accepted: 120, bytes_dropped: 600, packets_accepted: 2, packets_dropped: 10, time: 1000})
  const second: StatsReading = {bans: 7, counters: counters(25, 1500, 2, 120)}
  assert.deepEqual(statsPayload(4600, second, first),
    {banned: 3, bytes_accepted: 0, bytes_dropped: 900, packets_accepted: 0, packets_dropped: 15, time: 4600})
})

test('statsPayload - counters that restarted (the rules were made again) count from 0, never negative', () => {
  const before: StatsReading = {bans: 9, counters: counters(500, 30_000, 50, 3000)}
  assert.deepEqual(statsPayload(1, {bans: 9, counters: counters(3, 180, 60, 3600)}, before),
    {banned: 0, bytes_accepted: 600, bytes_dropped: 180, packets_accepted: 10, packets_dropped: 3, time: 1})
  // Without counters (no kernel sets) the fields are still sent, as 0.
  assert.deepEqual(statsPayload(1, {bans: 2}, undefined),
    {banned: 2, bytes_accepted: 0, bytes_dropped: 0, packets_accepted: 0, packets_dropped: 0, time: 1})
})

test('scheduleStatistics - publishes the original JSON field order each hour; an hour without counters carries them over', async () => {
  const readings: StatsReading[] = [
    {bans: 1, counters: counters(10, 600)},
    {bans: 1},
    {bans: 3, counters: counters(16, 960)},
  ]
  const bodies: string[] = []
  const logs: string[] = []
  const stop = scheduleStatistics({publishStats: (json) => (bodies.push(json), true)}, async () => readings.shift() ?? {bans: 3},
    (_level, message) => logs.push(message), () => 1)
  try {
    await waitFor(() => bodies.length >= 3, {what: 'three reports'})
  } finally {
    stop()
  }
  const parsed = bodies.slice(0, 3).map((b) => JSON.parse(b) as Record<string, number>)
  assert.deepEqual(Object.keys(parsed[0]!), ['time', 'banned', 'packets_dropped', 'bytes_dropped', 'packets_accepted', 'bytes_accepted'])
  assert.deepEqual(parsed.map((p) => [p.banned, p.packets_dropped, p.bytes_dropped]), [[1, 10, 600], [0, 0, 0], [2, 6, 360]])
  assert.deepEqual(logs, [])
})
