import assert from 'node:assert/strict'
import {test} from 'node:test'

import {defaultConfig, InvalidConfigError, parseConfig} from '../../../src/lib/config/index.js'
import type {Config} from '../../../src/lib/config/index.js'
import {ConfigError} from '../../../src/lib/errors.js'

const FILE = '/etc/diswall/diswall.conf'

/** Parses and returns the error; fails the test when the text is accepted. */
function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, FILE)
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`)
    return error
  }
  assert.fail(`accepted: ${text}`)
}

/** The value of `key` in `[section]` (or the top level when section is '') after parsing `section` text. */
function valueOf(section: string, key: string, toml: string): unknown {
  const text = section === '' ? `${key} = ${toml}\n` : `[${section}]\n${key} = ${toml}\n`
  const {config} = parseConfig(text, FILE)
  const values = (section === '' ? config : config[section as keyof Config]) as Record<string, unknown>
  return values[key]
}

test('config parse - an empty file gives every default', () => {
  const {config, warnings} = parseConfig('', FILE)
  assert.deepEqual(warnings, [])
  assert.deepEqual(config, defaultConfig())
  assert.equal(config.local_only, false)
  assert.equal(config.server_mode, false)
  assert.equal(config.send_statistics, true)
  assert.equal(config.ipset_white_list, 'diswall-wl')
  assert.equal(config.ipset_black_list, 'diswall-bl')
  assert.deepEqual(config.ignore_ips, [])
  assert.deepEqual(config.nats, {
    client_name: 'default', client_pass: 'default', connect_timeout: 10, creds: '', honeypots: [], hostname: '',
    port: 4222, request_timeout: 10, server: '', tls: false, tls_ca: '', tls_cert: '', tls_key: '',
  })
  assert.deepEqual(config.nginx, {access: [], logs: []})
  assert.deepEqual(config.clickhouse, {database: '', login: '', password: '', salt: '', url: ''})
  assert.deepEqual(config.firewall, {
    allow_max: 65_536, backend: 'auto', block_max: 1_000_000, block_timeout: 86_400, dir: '/etc/diswall/firewall',
    kill_connections: true, nft_table: 'diswall',
  })
  assert.deepEqual(config.detect, {
    auto_allow: true, auto_allow_from_logs: false, auto_allow_ttl: 8 * 86_400, dedup_max: 100_000, dedup_ttl: 60, ephemeral_hits: 3,
    ephemeral_port_min: 49_152, ephemeral_window: 3600, ipv6_group_prefix: 64, level: 'normal', log_prefix: 'diswall-log: ',
    nflog_group: 5, pipe_path: '/var/log/diswall/diswall.pipe', service_logs: 'auto', skip_private: true,
    source: 'kmsg',
  })
  assert.deepEqual(config.daemon, {snapshot_interval: 600, socket: '/run/diswall/diswall.sock', state_dir: '/var/lib/diswall'})
  assert.deepEqual(config.server, {
    account_rate_limit: 100, db: '/var/lib/diswall/diswall.db', escalation: [900, 1800, 3600, 21_600, 86_400, 604_800],
    escalation_window: 30 * 86_400, global_min_accounts: 2, socket: '/run/diswall/server.sock',
  })
  assert.deepEqual(config.metrics, {listen: ''})
})

test('config parse - the Config type has parsed values and no legacy keys', () => {
  const config = defaultConfig()
  const seconds: number = config.firewall.block_timeout
  const backend: 'auto' | 'ipset' | 'nftables' = config.firewall.backend
  const source: 'journal' | 'kmsg' | 'nflog' | 'pipe' = config.detect.source
  const text: string | undefined = config.ignore_ips[0]?.text
  // @ts-expect-error max_block_time is accepted in files but has no effect, so it is not in Config
  assert.equal(config.max_block_time, undefined)
  // @ts-expect-error the DisWall subject keys are not in Config
  assert.equal(config.nats.bl_init_subject, undefined)
  assert.deepEqual([seconds, backend, source, text], [86_400, 'auto', 'kmsg', undefined])
})

test('config parse - the original DisWall sample config keeps its meaning', () => {
  // The sample of `diswall -g` (DisWall v0.7.2), with the subject keys older installs still have.
  const sample = [
    'ipset_white_list = "diswall-wl"',
    'ipset_black_list = "diswall-bl"',
    'local_only = false',
    'server_mode = false',
    'send_statistics = true',
    'ignore_ips = ["8.8.8.8", "1.1.1.1"]',
    '',
    '[clickhouse]',
    'url = ""',
    'login = ""',
    'password = ""',
    'database = ""',
    '',
    '[nginx]',
    'logs = []',
    '#logs = ["/var/log/nginx/error.log"]',
    '',
    '[nats]',
    'server = "diswall.stream"',
    'port = 4222',
    'client_name = "default"',
    'client_pass = "default"',
    '#hostname = "server1"',
    'bl_init_subject = "diswall.blacklist.unknown.init"',
    'bl_global_subject = "diswall.blacklist.new"',
  ].join('\n')
  const {config, warnings} = parseConfig(sample, FILE)
  assert.equal(config.ipset_white_list, 'diswall-wl')
  assert.equal(config.ipset_black_list, 'diswall-bl')
  assert.equal(config.local_only, false)
  assert.equal(config.server_mode, false)
  assert.equal(config.send_statistics, true)
  assert.deepEqual(config.ignore_ips.map((e) => e.text), ['8.8.8.8', '1.1.1.1'])
  assert.deepEqual(config.ignore_ips.map((e) => e.target.kind), ['address', 'address'])
  assert.deepEqual(config.nginx.logs, [])
  assert.equal(config.clickhouse.url, '')
  assert.equal(config.nats.server, 'diswall.stream')
  assert.equal(config.nats.port, 4222)
  assert.equal(config.nats.client_name, 'default')
  assert.equal(config.nats.client_pass, 'default')
  assert.equal(config.nats.hostname, '')
  assert.deepEqual(warnings, [
    `${FILE}:24: [nats] bl_init_subject is ignored: NATS subjects derive from [nats] client_name and hostname`,
    `${FILE}:25: [nats] bl_global_subject is ignored: NATS subjects derive from [nats] client_name and hostname`,
  ])
})

test('config parse - legacy keys are accepted with a warning each', () => {
  const subjects = ['bl_init_subject', 'wl_init_subject', 'bl_push_subject', 'bl_subscribe_subject', 'bl_del_subject',
    'wl_push_subject', 'wl_subscribe_subject', 'wl_del_subject', 'stats_subject', 'bl_global_subject']
  const text = ['max_block_time = 86400', '[nats]', ...subjects.map((s) => `${s} = "diswall.x"`)].join('\n')
  const {warnings} = parseConfig(text, FILE)
  assert.equal(warnings.length, 11)
  assert.equal(warnings[0], `${FILE}:1: max_block_time is ignored: ban times come from [firewall] block_timeout and [server] escalation`)
  subjects.forEach((s, i) => assert.ok(warnings[i + 1].startsWith(`${FILE}:${i + 3}: [nats] ${s} is ignored`), warnings[i + 1]))
})

test('config parse - legacy keys are still type-checked', () => {
  const error = errorOf('max_block_time = "1d"\n')
  assert.equal(error.message, `${FILE}:1: max_block_time: expected an integer from 0 to 2147483647, got "1d" (a string)`)
})

test('config parse - TOML syntax errors name the line and column', () => {
  const error = errorOf('local_only = false\n\n[nats]\nserver = diswall.stream\n')
  assert.ok(!(error instanceof InvalidConfigError))
  assert.match(error.message, /^\/etc\/diswall\/diswall\.conf:4: invalid TOML: .+ \(column 10\)$/)
  assert.ok(error.hint)
  const twice = errorOf('[nats]\nport = 1\nport = 2\n')
  assert.match(twice.message, /^\/etc\/diswall\/diswall\.conf:3: invalid TOML: Can't redefine existing key/)
  assert.equal(twice.hint, 'Each key, and each [section] header, may appear only once.')
})

test('config parse - an unknown key names its line and suggests the closest key', () => {
  const error = errorOf('local_only = true\n\n[nats]\nserver = "a.example"\nprot = 4222\n')
  assert.ok(error instanceof InvalidConfigError)
  assert.equal(error.message, `${FILE}:5: unknown key [nats] prot`)
  assert.equal(error.hint, 'Did you mean [nats] port?')
  assert.equal(error.code, 'E_CONFIG')
  assert.equal(error.exitCode, 3)
})

test('config parse - an unknown key suggests the section it belongs to', () => {
  const top = errorOf('block_timeout = "2d"\n')
  assert.equal(top.message, `${FILE}:1: unknown key block_timeout`)
  assert.equal(top.hint, 'Did you mean [firewall] block_timeout? It belongs under [firewall].')
  const misplaced = errorOf('[nats]\nlocal_only = true\n')
  assert.equal(misplaced.message, `${FILE}:2: unknown key [nats] local_only`)
  assert.equal(misplaced.hint, 'Did you mean local_only? Top-level keys go before the first [section] header.')
  const unlike = errorOf('[daemon]\ncolour = "red"\n')
  assert.equal(unlike.hint, 'Known keys in [daemon]: state_dir, socket, snapshot_interval.')
  // Two edits from [nginx] logs, but nothing like it: no far-fetched suggestion.
  const bogus = errorOf('[daemon]\nbogus = 1\n')
  assert.equal(bogus.hint, 'Known keys in [daemon]: state_dir, socket, snapshot_interval.')
})

test('config parse - an unknown section names its line and suggests the closest section', () => {
  const error = errorOf('local_only = true\n[firewal]\nbackend = "ipset"\n')
  assert.equal(error.message, `${FILE}:2: unknown section [firewal]`)
  assert.equal(error.hint, 'Did you mean [firewall]?')
  const sub = errorOf('[nats.extra]\nx = 1\n')
  assert.equal(sub.message, `${FILE}:1: unknown table [nats.extra]`)
})

test('config parse - a section that is not a table is an error', () => {
  assert.equal(errorOf('nats = "diswall.stream"\n').message, `${FILE}:1: nats must be a [nats] section, got "diswall.stream" (a string)`)
  assert.equal(errorOf('[[nats]]\nport = 1\n').message, `${FILE}:1: nats must be a [nats] section, got […] (an array)`)
})

test('config parse - a wrong type names the key, its line, what was expected and the value', () => {
  const error = errorOf('# diswall\n[nats]\nserver = "a.example"\nport = "4222"\n')
  assert.equal(error.message, `${FILE}:4: [nats] port: expected an integer from 1 to 65535, got "4222" (a string)`)
  assert.equal(error.hint, 'Write the number without quotes: 4222')
  const flag = errorOf('local_only = "yes"\n')
  assert.equal(flag.message, `${FILE}:1: local_only: expected true or false, got "yes" (a string)`)
  assert.equal(flag.hint, 'Write true or false without quotes.')
})

test('config parse - dotted and quoted keys are located and checked', () => {
  assert.equal(errorOf('a_comment = 1\n').message, `${FILE}:1: unknown key a_comment`)
  assert.equal(errorOf('local_only = true\nnats.port = 0\n').message,
    `${FILE}:2: [nats] port: expected an integer from 1 to 65535, got 0 (an integer)`)
  assert.equal(errorOf('[nats]\n"port" = true\n').message,
    `${FILE}:2: [nats] port: expected an integer from 1 to 65535, got true (a boolean)`)
  assert.equal(parseConfig('nats = {port = 4333}\n', FILE).config.nats.port, 4333)
})

test('config parse - a bad element of a multi-line list names the element line', () => {
  const error = errorOf('ignore_ips = [\n  "192.0.2.7",\n  # office\n  "10.0.0.300",\n]\n')
  assert.match(error.message, /^\/etc\/diswall\/diswall\.conf:4: ignore_ips: element 2: "10\.0\.0\.300" is not a valid/)
  assert.ok(error.hint)
})

test('config parse - several problems are all reported, the first in the file first', () => {
  const error = errorOf('[nats]\nport = "x"\n[firewall]\nbackend = "iptables"\n[detect]\nsauce = "kmsg"\n')
  assert.ok(error instanceof InvalidConfigError)
  assert.equal(error.message, `${FILE}:2: [nats] port: expected an integer from 1 to 65535, got "x" (a string)`)
  assert.deepEqual(error.problems.map((p) => p.line), [2, 4, 6])
  assert.equal(error.problems[2].reason, 'unknown key [detect] sauce')
  assert.equal(error.problems[2].hint, 'Did you mean [detect] source?')
})

interface KeyCase {
  section: string
  key: string
  good: Array<[string, unknown]>
  bad: Array<[string, RegExp]>
}

const KEY_CASES: KeyCase[] = [
  {bad: [['"yes"', /expected true or false, got "yes" \(a string\)/], ['1', /got 1 \(an integer\)/]],
    good: [['true', true], ['false', false]], key: 'local_only', section: ''},
  {bad: [['1', /expected true or false/]], good: [['true', true]], key: 'server_mode', section: ''},
  {bad: [['0', /expected true or false/]], good: [['false', false]], key: 'send_statistics', section: ''},
  {bad: [['"a-set-name-longer-than-26xx"', /set name of 1 to 26 characters/], ['""', /set name/], ['"bad name"', /set name/],
    ['5', /expected a string/]],
  good: [['"my-wl"', 'my-wl'], ['"a_b.c-1"', 'a_b.c-1'], ['"abcdefghijklmnopqrstuvwxyz"', 'abcdefghijklmnopqrstuvwxyz']],
  key: 'ipset_white_list', section: ''},
  {bad: [['"x/y"', /set name/]], good: [['"bl"', 'bl']], key: 'ipset_black_list', section: ''},
  {bad: [['"10.0.0.1"', /expected an array of IP addresses or CIDR networks/], ['["host.example"]', /element 1: "host\.example"/],
    ['[1]', /element 1: expected an IP address or CIDR network in quotes, got 1/], ['["10.0.0.0/33"]', /element 1: /]],
  good: [['[]', []]], key: 'ignore_ips', section: ''},
  {bad: [['"1d"', /expected an integer/], ['-1', /expected an integer from 0/]], good: [['0', undefined], ['86400', undefined]], key: 'max_block_time', section: ''},
  {bad: [['"nats://a.example:4222"', /expected a host name or IP address/], ['"a b"', /host name/], ['"-x.example"', /host name/],
    ['4222', /expected a string/]],
  good: [['""', ''], ['"diswall.stream"', 'diswall.stream'], ['"192.0.2.10"', '192.0.2.10'], ['"2001:db8::1"', '2001:db8::1'],
    ['"localhost"', 'localhost']],
  key: 'server', section: 'nats'},
  {bad: [['0', /from 1 to 65535, got 0/], ['65536', /got 65536/], ['1.5', /got 1.5 \(a float\)/], ['"4222"', /\(a string\)/]],
    good: [['1', 1], ['65535', 65_535]], key: 'port', section: 'nats'},
  {bad: [['""', /one NATS subject token/], ['"acme.corp"', /one NATS subject token/], ['"a*"', /subject token/], ['"a>"', /subject token/]],
    good: [['"acme-corp_1"', 'acme-corp_1']], key: 'client_name', section: 'nats'},
  {bad: [['1234', /expected a string/]], good: [['""', ''], ['"s3cr3t with spaces"', 's3cr3t with spaces']], key: 'client_pass',
    section: 'nats'},
  {bad: [['"web1.example.com"', /one NATS subject token \(no "\.", spaces, "\*" or ">"\), got "web1\.example\.com"/],
    ['"web 1"', /subject token/], ['"*"', /subject token/], ['">"', /subject token/]],
  good: [['""', ''], ['"web1_example_com"', 'web1_example_com']], key: 'hostname', section: 'nats'},
  {bad: [['"trap"', /expected an array/], ['["trap.one"]', /element 1: expected one NATS subject token/]],
    good: [['[]', []], ['["trap1", "trap2"]', ['trap1', 'trap2']]], key: 'honeypots', section: 'nats'},
  {bad: [['"true"', /expected true or false/]], good: [['true', true]], key: 'tls', section: 'nats'},
  {bad: [['"ca.pem"', /expected an absolute path or ""/]], good: [['""', ''], ['"/etc/ssl/ca.pem"', '/etc/ssl/ca.pem']],
    key: 'tls_ca', section: 'nats'},
  {bad: [['"creds"', /absolute path/]], good: [['"/etc/diswall/nats.creds"', '/etc/diswall/nats.creds']], key: 'creds',
    section: 'nats'},
  {bad: [['"10 seconds"', /not a valid duration/], ['"0s"', /must be at least 1s, got "0s"/], ['1.5', /expected a duration/],
    ['true', /expected a duration/]],
  good: [['"30s"', 30], ['"1m30s"', 90], ['45', 45]], key: 'connect_timeout', section: 'nats'},
  {bad: [['"soon"', /not a valid duration/]], good: [['"2s"', 2]], key: 'request_timeout', section: 'nats'},
  {bad: [['1', /expected a string, got 1/]], good: [['"diswall.blacklist.x"', undefined]], key: 'bl_push_subject', section: 'nats'},
  {bad: [['"/var/log/nginx/error.log"', /expected an array/], ['["error.log"]', /element 1: expected an absolute path/]],
    good: [['["/var/log/nginx/error.log"]', ['/var/log/nginx/error.log']]], key: 'logs', section: 'nginx'},
  {bad: [['[1]', /element 1: expected a string/]], good: [['[]', []]], key: 'access', section: 'nginx'},
  {bad: [['1', /expected a string/]], good: [['"http://ch.example:8123"', 'http://ch.example:8123']], key: 'url',
    section: 'clickhouse'},
  {bad: [['false', /expected a string/]], good: [['"pepper"', 'pepper']], key: 'salt', section: 'clickhouse'},
  {bad: [['[]', /expected a string/]], good: [['"stats"', 'stats']], key: 'login', section: 'clickhouse'},
  {bad: [['1', /expected a string/]], good: [['"pw"', 'pw']], key: 'password', section: 'clickhouse'},
  {bad: [['{}', /expected a string, got a table/]], good: [['"diswall"', 'diswall']], key: 'database', section: 'clickhouse'},
  {bad: [['"nft"', /expected one of "auto", "ipset", "nftables", got "nft"/], ['"iptables"', /one of/], ['1', /one of/]],
    good: [['"auto"', 'auto'], ['"ipset"', 'ipset'], ['"nftables"', 'nftables']], key: 'backend', section: 'firewall'},
  {bad: [['"firewall"', /absolute path/], ['""', /absolute path, got ""/]], good: [['"/srv/fw"', '/srv/fw']], key: 'dir',
    section: 'firewall'},
  {bad: [['"25d"', /must be at most .* \(2147483 s, the ipset timeout limit\), got "25d"/], ['0', /at least/]],
    good: [['"1h"', 3600], ['"1w"', 604_800], ['2147483', 2_147_483]], key: 'block_timeout', section: 'firewall'},
  {bad: [['0', /from 1 to 2147483647/]], good: [['10', 10]], key: 'block_max', section: 'firewall'},
  {bad: [['-5', /from 1 to/]], good: [['1024', 1024]], key: 'allow_max', section: 'firewall'},
  {bad: [['"no"', /true or false/]], good: [['false', false]], key: 'kill_connections', section: 'firewall'},
  {bad: [['"dis wall"', /expected a name/], ['"1table"', /starting with a letter/]], good: [['"dw_test"', 'dw_test']],
    key: 'nft_table', section: 'firewall'},
  {bad: [['"syslog"', /one of "kmsg", "journal", "pipe", "nflog"/]],
    good: [['"journal"', 'journal'], ['"pipe"', 'pipe'], ['"nflog"', 'nflog']], key: 'source', section: 'detect'},
  {bad: [['"journald"', /expected one of "auto", "journal", "files", got "journald"/], ['true', /one of/]],
    good: [['"auto"', 'auto'], ['"journal"', 'journal'], ['"files"', 'files']], key: 'service_logs', section: 'detect'},
  {bad: [['"loud"', /expected one of "normal", "aggressive", got "loud"/], ['1', /one of/]],
    good: [['"normal"', 'normal'], ['"aggressive"', 'aggressive']], key: 'level', section: 'detect'},
  {bad: [['"this prefix is far too long!!!"', /1 to 29 printable ASCII characters/], ['""', /1 to 29/], ['"a\\"b"', /without "/],
    ['"tab\\there"', /printable/], ['"cost $5"', /without ", \\ or \$/]],
  good: [['"dw-test-1: "', 'dw-test-1: '], ['"abcdefghijklmnopqrstuvwxyz012"', 'abcdefghijklmnopqrstuvwxyz012']],
  key: 'log_prefix', section: 'detect'},
  {bad: [['"diswall.pipe"', /absolute path/]], good: [['"/run/dw.pipe"', '/run/dw.pipe']], key: 'pipe_path', section: 'detect'},
  {bad: [['0', /from 1 to 65535/], ['65536', /from 1 to 65535/], ['"5"', /integer/]], good: [['1', 1], ['65535', 65_535]],
    key: 'nflog_group', section: 'detect'},
  {bad: [['70000', /from 1 to 65535/]], good: [['32768', 32_768]], key: 'ephemeral_port_min', section: 'detect'},
  {bad: [['0', /from 1 to 1000000/]], good: [['1', 1]], key: 'ephemeral_hits', section: 'detect'},
  {bad: [['"1y"', /not a valid duration/]], good: [['"2h"', 7200]], key: 'ephemeral_window', section: 'detect'},
  {bad: [['1', /true or false/]], good: [['false', false]], key: 'skip_private', section: 'detect'},
  {bad: [['129', /from 32 to 128/], ['16', /from 32 to 128/]], good: [['128', 128], ['48', 48]], key: 'ipv6_group_prefix',
    section: 'detect'},
  {bad: [['"on"', /true or false/]], good: [['false', false]], key: 'auto_allow', section: 'detect'},
  {bad: [['1', /true or false/]], good: [['true', true]], key: 'auto_allow_from_logs', section: 'detect'},
  {bad: [['"-1d"', /not a valid duration/]], good: [['"1d"', 86_400]], key: 'auto_allow_ttl', section: 'detect'},
  {bad: [['"fast"', /not a valid duration/]], good: [['"5m"', 300]], key: 'dedup_ttl', section: 'detect'},
  {bad: [['0', /from 1 to 100000000/]], good: [['5000', 5000]], key: 'dedup_max', section: 'detect'},
  {bad: [['"lib/diswall"', /absolute path/]], good: [['"/tmp/dw"', '/tmp/dw']], key: 'state_dir', section: 'daemon'},
  {bad: [['"diswall.sock"', /absolute path/]], good: [['"/tmp/dw.sock"', '/tmp/dw.sock']], key: 'socket', section: 'daemon'},
  {bad: [['"-1s"', /not a valid duration/]], good: [['"0s"', 0], ['"1h"', 3600]], key: 'snapshot_interval', section: 'daemon'},
  {bad: [['"diswall.db"', /absolute path/]], good: [['"/srv/dw.db"', '/srv/dw.db']], key: 'db', section: 'server'},
  {bad: [['[]', /at least one duration/], ['["1h", "15m"]', /element 2: "15m" is shorter than the step before it/],
    ['["1h", "x"]', /element 2: "x" is not a valid duration/], ['"1h"', /expected an array of durations/]],
  good: [['["1h"]', [3600]], ['["15m", "15m", "1d"]', [900, 900, 86_400]]], key: 'escalation', section: 'server'},
  {bad: [['"a week"', /not a valid duration/]], good: [['"7d"', 7 * 86_400], ['"30"', 30]], key: 'escalation_window', section: 'server'},
  {bad: [['"server.sock"', /absolute path/]], good: [['"/tmp/srv.sock"', '/tmp/srv.sock']], key: 'socket', section: 'server'},
  {bad: [['0', /from 1 to 1000000/]], good: [['1', 1]], key: 'global_min_accounts', section: 'server'},
  {bad: [['"100"', /without quotes|expected an integer/]], good: [['1000', 1000]], key: 'account_rate_limit', section: 'server'},
  {bad: [['"9100"', /"HOST:PORT" or ""/], ['":9100"', /HOST:PORT/], ['"::1:9100"', /HOST:PORT/], ['"127.0.0.1:0"', /HOST:PORT/],
    ['"bad host:9100"', /HOST:PORT/]],
  good: [['""', ''], ['"127.0.0.1:9100"', '127.0.0.1:9100'], ['"[::1]:9100"', '[::1]:9100'], ['"localhost:9100"', 'localhost:9100']],
  key: 'listen', section: 'metrics'},
]

for (const {bad, good, key, section} of KEY_CASES) {
  const name = section === '' ? key : `[${section}] ${key}`
  test(`config parse - ${name} accepts good values and rejects bad ones at their line`, () => {
    for (const [toml, expected] of good) assert.deepEqual(valueOf(section, key, toml), expected, `${name} = ${toml}`)
    for (const [toml, pattern] of bad) {
      const text = section === '' ? `${key} = ${toml}\n` : `[${section}]\n${key} = ${toml}\n`
      const error = errorOf(text)
      const line = section === '' ? 1 : 2
      assert.ok(error.message.startsWith(`${FILE}:${line}: ${name}: `), `${name} = ${toml}: ${error.message}`)
      assert.match(error.message, pattern, `${name} = ${toml}`)
    }
  })
}

test('config parse - every key of the schema has accept/reject cases', async () => {
  const {schemaRows} = await import('../../../src/lib/config/index.js')
  const covered = new Set(KEY_CASES.map((c) => `${c.section} ${c.key}`))
  const legacySubjects = (key: string) => key.endsWith('_subject')
  const missing = schemaRows().filter((r) => !covered.has(`${r.section} ${r.key}`) && !legacySubjects(r.key))
    .map((r) => `${r.section} ${r.key}`)
  assert.deepEqual(missing, ['nats tls_cert', 'nats tls_key'])
})

test('config parse - ignore_ips holds parsed addresses and networks with their text', () => {
  const {config} = parseConfig('ignore_ips = ["192.0.2.7", "10.0.0.0/8", "2001:DB8::/32"]\n', FILE)
  assert.deepEqual(config.ignore_ips.map((e) => e.text), ['192.0.2.7', '10.0.0.0/8', '2001:DB8::/32'])
  assert.deepEqual(config.ignore_ips.map((e) => e.target.kind), ['address', 'network', 'network'])
  assert.deepEqual(config.ignore_ips.map((e) => e.target.text), ['192.0.2.7', '10.0.0.0/8', '2001:db8::/32'])
})

test('config parse - ignore_ips refuses networks broader than a /8 (IPv4) or a /16 (IPv6), naming the element', () => {
  for (const [entry, share] of [['0.0.0.0/0', 'all'], ['0.0.0.0/1', '1/2 of all'], ['128.0.0.0/7', '1/128 of all'], ['::/0', 'all'], ['2000::/3', '1/8 of all']]) {
    const error = errorOf(`ignore_ips = ["192.0.2.7", "${entry}"]\n`)
    assert.match(error.message, new RegExp(`:1: ignore_ips: element 2: "${entry.replace(/\./g, '\\.')}" covers ${share} IPv`), entry)
    assert.match(error.hint ?? '', /\/8 \(IPv4\) or a \/16 \(IPv6\)/)
  }
  const {config} = parseConfig('ignore_ips = ["10.0.0.0/8", "2001:db8::/16"]\n', FILE)
  assert.deepEqual(config.ignore_ips.map((e) => e.target.text), ['10.0.0.0/8', '2001::/16'])
})

test('config parse - tls_cert and tls_key go together', () => {
  const {config} = parseConfig('[nats]\ntls = true\ntls_cert = "/etc/diswall/c.pem"\ntls_key = "/etc/diswall/k.pem"\n', FILE)
  assert.equal(config.nats.tls_key, '/etc/diswall/k.pem')
  const error = errorOf('[nats]\ntls = true\ntls_cert = "/etc/diswall/c.pem"\n')
  assert.equal(error.message, `${FILE}:3: [nats] tls_cert is set but [nats] tls_key is not`)
  assert.equal(errorOf('[nats]\ntls_key = "/k.pem"\n').message, `${FILE}:2: [nats] tls_key is set but [nats] tls_cert is not`)
})

test('config parse - TLS files without tls = true give a warning', () => {
  const {warnings} = parseConfig('[nats]\ntls_ca = "/etc/ssl/ca.pem"\n', FILE)
  assert.deepEqual(warnings, [`${FILE}:2: [nats] tls_ca is set but [nats] tls = false: the connection is made without TLS`])
})

test('config parse - the allow and block sets need different names', () => {
  const error = errorOf('ipset_white_list = "dw"\nipset_black_list = "dw"\n')
  assert.equal(error.message, `${FILE}:2: ipset_black_list: must differ from ipset_white_list, both are "dw"`)
})

test('config parse - the file name is only used in messages', () => {
  assert.equal(errorOf.name, 'errorOf')
  assert.throws(() => parseConfig('[nats]\nport = 0\n', '/dev/stdin'),
    (error: unknown) => error instanceof ConfigError && error.message.startsWith('/dev/stdin:2: [nats] port:'))
})
