import TOML from '@iarna/toml'
import assert from 'node:assert/strict'
import {test} from 'node:test'


import {
  CONFIG_SCHEMA,
  defaultConfig,
  parseConfig,
  renderConfig,
  renderConfigReference,
  schemaRows,
  toFileValues,
} from '../../../src/lib/config/index.js'

test('config render - the generated file parses back to exactly the defaults, without warnings', () => {
  const text = renderConfig()
  const {config, warnings} = parseConfig(text, 'generated.conf')
  assert.deepEqual(config, defaultConfig())
  assert.deepEqual(warnings, [])
})

test('config render - every current key is written with its default and its doc as a comment', () => {
  const text = renderConfig()
  const raw = TOML.parse(text) as Record<string, Record<string, unknown>>
  for (const {doc, key, section, spec} of schemaRows()) {
    const values = section === '' ? raw : raw[section]
    if (spec.ignored) {
      assert.equal(values[key], undefined, `legacy key ${key} is not generated`)
      continue
    }
    assert.deepEqual(values[key], spec.default, `${section} ${key}`)
    assert.ok(text.includes(`# ${doc}\n${key} = `), `doc comment above ${section} ${key}`)
  }
  for (const section of Object.keys(CONFIG_SCHEMA).filter((s) => s !== '')) {
    assert.ok(text.includes(`\n[${section}]\n`), `section [${section}]`)
  }
})

test('config render - a non-default config renders and parses back to the same config', () => {
  const source = [
    'local_only = true',
    'ignore_ips = ["192.0.2.7", "10.0.0.0/8", "2001:db8::/32"]',
    '[nats]',
    'server = "nats.example.com"',
    'port = 4333',
    'hostname = "web1"',
    'honeypots = ["trap1", "trap2"]',
    'connect_timeout = "1m30s"',
    '[firewall]',
    'backend = "nftables"',
    'block_timeout = 7200',
    '[server]',
    'escalation = ["10m", "2h", "2w"]',
    '[metrics]',
    'listen = "127.0.0.1:9100"',
  ].join('\n')
  const {config} = parseConfig(source, 'custom.conf')
  const again = parseConfig(renderConfig(config), 'rendered.conf').config
  assert.deepEqual(again, config)
  assert.equal(again.firewall.block_timeout, 7200)
  assert.deepEqual(toFileValues(config).ignore_ips, ['192.0.2.7', '10.0.0.0/8', '2001:db8::/32'])
  assert.equal((toFileValues(config).nats as Record<string, unknown>).connect_timeout, '1m30s')
})

test('config render - the reference table has one row per key', () => {
  const table = renderConfigReference()
  const rows = table.trim().split('\n').slice(2)
  assert.equal(rows.length, schemaRows().length)
  assert.ok(rows.includes('| `[nats] port` | port | `4222` | Port of the NATS server. |'))
  assert.ok(rows.some((r) => r.startsWith('| `max_block_time` |') && r.includes('Ignored')))
})
