import assert from 'node:assert/strict'
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {test} from 'node:test'

import {parseConfig} from '../../../src/lib/config/index.js'
import {makeTempDir, renderLabConfig, writeLabHost} from '../../../src/lib/lab/index.js'

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
