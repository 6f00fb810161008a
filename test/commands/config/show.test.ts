import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {parseConfig} from '../../../src/lib/config/index.js'
import {runCli} from '../../helpers/cli.js'

let dir: string
let file: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-config-show-'))
  file = join(dir, 'diswall.conf')
  await writeFile(file, '[nats]\nserver = "nats.example.com"\nclient_pass = "s3cret"\n[firewall]\nblock_timeout = 7200\n')
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

test('config show - prints the effective config as TOML with defaults filled in', async () => {
  const out = await runCli(['config', 'show', '-c', file, '--show-secrets'])
  assert.equal(out.code, 0, out.stderr)
  const shown = parseConfig(out.stdout, 'stdout').config
  assert.equal(shown.nats.server, 'nats.example.com')
  assert.equal(shown.nats.client_pass, 's3cret')
  assert.equal(shown.nats.port, 4222)
  assert.equal(shown.firewall.block_timeout, 7200)
})

test('config show - --json gives file-form values and hides passwords', async () => {
  const out = await runCli(['config', 'show', '-c', file, '--json'])
  assert.equal(out.code, 0, out.stderr)
  assert.equal(out.json.ok, true)
  assert.equal(out.json.result.file, file)
  assert.equal(out.json.result.config.nats.server, 'nats.example.com')
  assert.equal(out.json.result.config.nats.client_pass, '(hidden)')
  assert.equal(out.json.result.config.firewall.block_timeout, '2h')
  assert.deepEqual(out.json.result.config.server.escalation, ['15m', '30m', '1h', '6h', '1d', '1w'])
})

test('config show - an invalid file exits 3', async () => {
  const bad = join(dir, 'bad.conf')
  await writeFile(bad, '[detect]\nsource = "syslog"\n')
  const out = await runCli(['config', 'show', '-c', bad, '--json'])
  assert.equal(out.code, 3)
  assert.equal(out.json.error.code, 'E_CONFIG')
  assert.match(out.json.error.message, /bad\.conf:2: \[detect\] source: expected one of "kmsg", "journal", "pipe", "nflog", got "syslog"/)
})
