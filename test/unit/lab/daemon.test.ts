import assert from 'node:assert/strict'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {test} from 'node:test'

import {parseConfig} from '../../../src/lib/config/index.js'
import {LabError, makeTempDir, renderLabConfig, spawnProcess, waitFor, waitForReady, writeLabHost} from '../../../src/lib/lab/index.js'

test('renderLabConfig - top-level keys first, then each section; strings quoted, lists as arrays', () => {
  assert.equal(renderLabConfig({
    detect: {nflog_group: 7, source: 'nflog'},
    ignore_ips: ['203.0.113.201', '2001:db8:d::201'],
    local_only: true,
    nats: {client_pass: 'p"w', port: 4222},
  }), [
    'ignore_ips = ["203.0.113.201", "2001:db8:d::201"]',
    'local_only = true',
    '[detect]',
    'nflog_group = 7',
    'source = "nflog"',
    '[nats]',
    String.raw`client_pass = "p\"w"`,
    'port = 4222',
    '',
  ].join('\n'))
})

test('writeLabHost - the firewall directory and a config diswall reads, with the paths of the host filled in', (t) => {
  const temp = makeTempDir('dw-lab-host-')
  t.after(() => temp.remove())
  const dir = join(temp.path, 'a')
  const host = writeLabHost({
    config: {detect: {log_prefix: 'dw-test', source: 'kmsg'}, firewall: {backend: 'nftables'}, local_only: true},
    dir,
    firewall: {'incoming.d/90-log': '', 'outgoing.d/00-accept': '', 'patterns.d/': '', 'patterns.d/app.patterns': 'file = /dev/null\n'},
  })
  assert.deepEqual(host, {
    config: join(dir, 'diswall.conf'),
    dir,
    firewallDir: join(dir, 'firewall'),
    socket: join(dir, 'diswall.sock'),
    stateDir: join(dir, 'state'),
  })
  assert.deepEqual(readdirSync(host.firewallDir).sort(), ['incoming.d', 'outgoing.d', 'patterns.d'])
  assert.equal(readFileSync(join(host.firewallDir, 'patterns.d', 'app.patterns'), 'utf8'), 'file = /dev/null\n')
  assert.equal(statSync(host.config).mode & 0o777, 0o600)
  const {config} = parseConfig(readFileSync(host.config, 'utf8'), host.config)
  assert.equal(config.local_only, true)
  assert.deepEqual(config.firewall, {...config.firewall, backend: 'nftables', dir: host.firewallDir})
  assert.deepEqual(config.daemon, {...config.daemon, socket: host.socket, state_dir: host.stateDir})
  assert.equal(config.detect.log_prefix, 'dw-test')
})

test('waitForReady - resolves once ready is printed; a process that exits first fails at once with its output', async () => {
  const ready = spawnProcess(process.execPath, ['-e', "setTimeout(() => console.log('diswall daemon 1.0 ready: 0 bans'), 100); setInterval(() => {}, 1000)"])
  try {
    await waitForReady(ready, 'the daemon', {timeoutMs: 10_000})
  } finally {
    await ready.stop()
  }

  const started = Date.now()
  const dying = spawnProcess(process.execPath, ['-e', "console.error('cannot read the config'); process.exit(3)"])
  await assert.rejects(waitForReady(dying, 'daemon a', {timeoutMs: 20_000}), (error: Error) => {
    assert.ok(error instanceof LabError)
    assert.match(error.message, /^daemon a exited \{"code":3,"signal":null\}: cannot read the config$/)
    return true
  })
  assert.ok(Date.now() - started < 15_000, 'not at the deadline')

  const silent = spawnProcess(process.execPath, ['-e', "console.log('starting'); setInterval(() => {}, 1000)"])
  try {
    await waitFor(() => silent.output().stdout.includes('starting'), {timeoutMs: 10_000, what: 'the first line'})
    await assert.rejects(waitForReady(silent, 'the server', {timeoutMs: 300}), /^LabError: the server was not ready within 300 ms: starting$/)
  } finally {
    await silent.stop()
  }
})
