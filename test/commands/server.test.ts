import assert from 'node:assert/strict'
import {test} from 'node:test'

import {runCli} from '../helpers/cli.js'

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
