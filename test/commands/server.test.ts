import assert from 'node:assert/strict'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {SERVER_SERVICE} from '../../src/lib/server/index.js'
import type {ServerStatus} from '../../src/lib/server/index.js'
import {openControlServer} from '../../src/lib/service/index.js'
import {runCli} from '../helpers/cli.js'

const STATUS: ServerStatus = {
  broadcasts: 0,
  config: {loadedAt: '2026-12-07T00:00:00.000Z', path: '/etc/diswall/diswall.conf'},
  entries: [{account: 'acme', entries: 10, list: 'block'}],
  errors: 0,
  hostStats: [],
  init: {entries: 0, requests: 0, truncated: 0},
  nats: {connected: true, disconnects: 1, maxPayload: 1_048_576, servers: 'nats.example:4222', user: 'diswall-server'},
  pending: {bytes: 0, dropped: 1234, highWater: 65_536, limits: {bytes: 64 * 2 ** 20, messages: 65_536}, messages: 0, slowConsumerEvents: 2},
  pid: 1234,
  reports: {deleted: 0, invalid: 0, perSec: 0, rateLimited: 0, refused: {broad: 0, limit: 0, neverBan: 0}, stored: 10, total: 10},
  startedAt: '2026-12-07T00:00:00.000Z',
  store: {bytes: 4096, commits: 9, kind: 'sqlite', path: '/var/lib/diswall/diswall.db', pending: 0, schemaVersion: 1, swept: 0},
  uptimeSec: 60,
  version: '0.1.0',
}

/** `server status` against a control socket that answers `status` (a server of this version or an older one). */
async function statusOf(status: unknown): Promise<Awaited<ReturnType<typeof runCli>>> {
  const dir = mkdtempSync(join(tmpdir(), 'dw-server-status-'))
  const socket = join(dir, 'server.sock')
  const control = await openControlServer(socket, {reload: async () => ({reloaded: true}), status: () => status}, SERVER_SERVICE)
  try {
    return await runCli(['server', 'status', '--socket', socket])
  } finally {
    await control.close()
    rmSync(dir, {force: true, recursive: true})
  }
}

test('server status - a slow consumer and NATS disconnects are said plainly, with what to do', async () => {
  const out = await statusOf(STATUS)
  assert.equal(out.code, 0, out.stderr)
  assert.match(out.stdout, /^pending: {4}0 messages waiting \(limits 65536 messages, 64 MiB; most ever 65536\)$/m)
  assert.match(out.stdout, /^SLOW CONSUMER: 1234 messages dropped in 2 episode\(s\): reports arrive faster than the server handles them\.$/m)
  assert.match(out.stdout, /lower \[server\] account_rate_limit/)
  assert.match(out.stdout, /^nats: {7}1 disconnect\(s\) since start/m)
})

test('server status - a quiet server shows no warning; one started before an upgrade (no pending fields) still renders', async () => {
  const quiet = await statusOf({...STATUS, nats: {...STATUS.nats, disconnects: 0}, pending: {...STATUS.pending, dropped: 0, slowConsumerEvents: 0}})
  assert.equal(quiet.code, 0, quiet.stderr)
  assert.doesNotMatch(quiet.stdout, /SLOW CONSUMER|disconnect/)
  const {pending: _pending, ...older} = STATUS
  const old = await statusOf({...older, nats: {connected: true, maxPayload: 1_048_576, servers: 'nats.example:4222', user: 'diswall-server'}})
  assert.equal(old.code, 0, old.stderr)
  assert.match(old.stdout, /^reports: {4}10 \(0\/s\)/m)
  assert.doesNotMatch(old.stdout, /^pending:/m)
})

test('server nats-config - prints the authorization block; generated passwords only on stderr, once', async () => {
  const out = await runCli(['server', 'nats-config', '--account', 'acme', '--account', 'globex'])
  assert.equal(out.code, 0, out.stderr)
  assert.match(out.stdout, /^# diswall: users of the diswall server and 2 accounts/)
  assert.match(out.stdout, /publish: \{allow: \["diswall\.blacklist\.acme\.>", "diswall\.whitelist\.acme\.>", "diswall\.stats\.acme\.>"\]\}/)
  const passwords = [...out.stdout.matchAll(/password: "([^"]+)"/g)].map((m) => m[1]!)
  assert.equal(passwords.length, 3)
  for (const p of passwords) assert.ok(out.stderr.includes(p), 'each generated password is shown on stderr')
})

test('server nats-config - --passwords-stdin takes the given passwords; --json returns users and text', async () => {
  const out = await runCli(['server', 'nats-config', '--account', 'acme', '--passwords-stdin', '--json'],
    {input: 'diswall-server srv-secret\nacme=acme secret\n'})
  assert.equal(out.code, 0, out.stderr)
  assert.deepEqual(out.json.result.users, [
    {generated: false, password: 'srv-secret', user: 'diswall-server'}, {generated: false, password: 'acme secret', user: 'acme'},
  ])
  assert.match(out.json.result.config, /\{user: "acme", password: "acme secret"/)
})

test('server nats-config - bad names and unknown stdin accounts exit 2 with the reason, nothing printed', async () => {
  const bad = await runCli(['server', 'nats-config', '--account', 'acme.eu', '--json'])
  assert.equal(bad.code, 2)
  assert.equal(bad.json.error.code, 'E_INVALID_VALUE')
  assert.match(bad.json.error.message, /"acme\.eu" is not one subject token/)
  const unknown = await runCli(['server', 'nats-config', '--account', 'acme', '--passwords-stdin', '--json'], {input: 'other pw\n'})
  assert.equal(unknown.code, 2)
  assert.match(unknown.json.error.message, /stdin names "other"/)
})

test('server status - without a running server: E_DAEMON_NOT_RUNNING naming the server, exit 4', async () => {
  const out = await runCli(['server', 'status', '--socket', '/nonexistent/diswall-server.sock', '--json'])
  assert.equal(out.code, 4)
  assert.equal(out.json.error.code, 'E_DAEMON_NOT_RUNNING')
  assert.match(out.json.error.message, /the diswall server is not running/)
  assert.match(out.json.error.hint, /systemctl start diswall-server/)
})
