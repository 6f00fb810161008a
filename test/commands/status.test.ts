import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {DAEMON_SERVICE} from '../../src/lib/daemon/index.js'
import type {DaemonStatus} from '../../src/lib/daemon/index.js'
import {openControlServer} from '../../src/lib/service/index.js'
import type {ControlServer} from '../../src/lib/service/index.js'
import {runCli} from '../helpers/cli.js'

const STATUS: DaemonStatus = {
  allows: {failed: 0, total: 3},
  backend: {name: 'nftables', reason: 'the host firewall is nftables-native'},
  bans: {byReason: {'port-scan': 40, ssh: 5}, failed: 1, total: 45},
  config: {lastReloadError: 'patterns.d/x.patterns:3: bad regex', loadedAt: '2024-05-01T09:00:00.000Z', path: '/etc/diswall/diswall.conf'},
  detect: {
    allows: 3, badAddresses: 0, bans: 45, counterKeys: 12, dedupKeys: 30, duplicates: 7, evicted: 0, lines: 1000,
    longLines: 0, matches: 9, openPorts: 4, packets: 950, pending: 6, portless: 2, protected: 5, slowLines: 0, echoes: 0, refusedAllows: 0, unattributed: 0,
  },
  killed: {conntrack: 0, sockets: 0},
  lastBans: [
    {at: '2024-05-01T10:05:00.000Z', reason: 'port-scan 23/tcp', source: 'kmsg', target: '203.0.113.7', ttlSec: 86_400},
    {at: '2024-05-01T10:04:00.000Z', reason: 'ssh', source: '/var/log/auth.log', target: '2001:db8:1:2::/64', ttlSec: 900},
  ],
  mode: 'local-only',
  patternFiles: [{action: 'ban', builtIn: false, name: 'sshd.patterns', path: '/etc/diswall/firewall/patterns.d/sshd.patterns', patterns: 12, reads: '/var/log/auth.log', tag: 'ssh'}],
  patterns: ['/etc/diswall/firewall/patterns.d/sshd.patterns'],
  pid: 4242,
  sets: {allow: -1, block: 45},
  snapshot: {loaded: 10, path: '/var/lib/diswall/sets.snapshot', saved: 45, savedAt: '2024-05-01T10:10:00.000Z'},
  sources: [
    {lastLineAt: 1_714_557_900_000, lines: 950, name: 'kmsg', restarts: 0, state: 'running'},
    {lastError: 'ENOENT: no such file', lines: 50, name: '/var/log/auth.log', restarts: 2, state: 'restarting'},
    {lines: 12, name: 'journal-services', restarts: 1, state: 'running', untrusted: 3},
  ],
  startedAt: '2024-05-01T09:00:00.000Z',
  uptimeSec: 5400,
  version: '0.1.0',
  writer: {added: 45, batches: 20, failedBatches: 0, pending: 0, removed: 2},
}

let dir: string
let socket: string
let config: string
let server: ControlServer
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dw-status-')) // short: a unix socket path has at most 107 bytes
  socket = join(dir, 'diswall.sock')
  config = join(dir, 'diswall.conf')
  await writeFile(config, `[daemon]\nsocket = ${JSON.stringify(socket)}\n`)
  server = await openControlServer(socket, {status: () => STATUS}, DAEMON_SERVICE)
})
after(async () => {
  await server?.close()
  await rm(dir, {force: true, recursive: true})
})

test('status - prints a summary of the running daemon', async () => {
  const out = await runCli(['status', '-c', config])
  assert.equal(out.code, 0, out.stderr)
  for (const fact of [
    /diswall 0\.1\.0 \(pid 4242\), up 1h30m/,
    /mode: +local-only/,
    /backend: +nftables \(the host firewall is nftables-native\)/,
    /last reload failed: patterns\.d\/x\.patterns:3: bad regex/,
    /kmsg +running +950 lines, 0 restarts/,
    /\/var\/log\/auth\.log +restarting +50 lines, 2 restarts/,
    /last error: ENOENT: no such file/,
    /journal-services +running +12 lines, 1 restarts, 3 untrusted dropped/,
    /bans: +45 since start \(port-scan 40, ssh 5\), 1 failed/,
    /sets: +block 45 entries, allow unreadable/,
    /snapshot: \/var\/lib\/diswall\/sets\.snapshot, 10 loaded at start, last saved 2024-05-01T10:10:00\.000Z \(45 entries\)/,
    /2024-05-01T10:05:00\.000Z +203\.0\.113\.7 +port-scan 23\/tcp \(kmsg, 1d\)/,
    /2001:db8:1:2::\/64 +ssh \(\/var\/log\/auth\.log, 15m\)/,
    /^patterns: sshd\.patterns$/m,
  ]) assert.match(out.stdout, fact)
})

test('status - --json prints the daemon status in the envelope', async () => {
  const out = await runCli(['status', '-c', config, '--json'])
  assert.equal(out.code, 0, out.stderr)
  assert.deepEqual(out.json, {ok: true, result: STATUS, warnings: []})
})

test('status - --socket overrides the config, which is then not read', async () => {
  const out = await runCli(['status', '-c', join(dir, 'no-such.conf'), '--socket', socket, '--json'])
  assert.equal(out.code, 0, out.stderr)
  assert.deepEqual(out.json.result, STATUS)
})

test('status - no daemon: exit 4 with E_DAEMON_NOT_RUNNING and a hint', async () => {
  const json = await runCli(['status', '--socket', join(dir, 'missing.sock'), '--json'])
  assert.equal(json.code, 4)
  assert.equal(json.json.ok, false)
  assert.equal(json.json.error.code, 'E_DAEMON_NOT_RUNNING')
  assert.equal(json.json.error.message, `the diswall daemon is not running: its control socket does not exist (${join(dir, 'missing.sock')})`)
  assert.equal(json.json.error.hint, 'Start it: systemctl start diswall (or run "diswall daemon").')

  const human = await runCli(['status', '--socket', join(dir, 'missing.sock')])
  assert.equal(human.code, 4)
  assert.match(human.stderr, /the diswall daemon is not running/)
  assert.match(human.stderr, /systemctl start diswall/)
})

test('status - the legacy -i flag runs status', async () => {
  const out = await runCli(['-i', '-c', config, '--json'])
  assert.equal(out.code, 0, out.stderr)
  assert.equal(out.json.result.pid, 4242)
})
