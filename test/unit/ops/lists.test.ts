import assert from 'node:assert/strict'
import {test} from 'node:test'

import {defaultConfig} from '../../../src/lib/config/index.js'
import type {Config} from '../../../src/lib/config/index.js'
import {DiswallError, InvalidValueError, UsageError} from '../../../src/lib/errors.js'
import {MemoryBackend} from '../../../src/lib/firewall/sets/index.js'
import type {Firewall} from '../../../src/lib/firewall/sets/index.js'
import {parseAddress, parseTarget} from '../../../src/lib/net/index.js'
import {
  allowAdd,
  blockAdd,
  checkComment,
  checkTimeout,
  ListFileError,
  listDel,
  listEntries,
  listInputs,
  parseListText,
  parseTargets,
  ProtectedAddressError,
  readListFile,
  SINGLE_CHECK_MAX,
} from '../../../src/lib/ops/index.js'
import {procNetEndpoint, procNetTable, TCP_STATE} from '../../helpers/proc-net.js'
import {line, recordingExec} from '../firewall/sets/fake-exec.js'

/** `ip -j addr show` of the host: loopback, 192.0.2.10 and 2001:db8:0:1::10 on eth0. */
const IP_ADDR = JSON.stringify([
  {addr_info: [{family: 'inet', local: '127.0.0.1', prefixlen: 8}, {family: 'inet6', local: '::1', prefixlen: 128}], ifindex: 1, ifname: 'lo'},
  {addr_info: [{family: 'inet', local: '192.0.2.10', prefixlen: 24}, {family: 'inet6', local: '2001:db8:0:1::10', prefixlen: 64}],
    ifindex: 2, ifname: 'eth0'},
])

const NOW = 1_700_000_000_000

/** /proc/net of the host: an SSH session from 198.51.100.200 (to port 22) and a web client 203.0.113.99 (port 443). */
const readSockets = async (path: string): Promise<string> => (path !== '/proc/net/tcp' ? '' : procNetTable([
  [procNetEndpoint('192.0.2.10', 22), procNetEndpoint('198.51.100.200', 50_000), TCP_STATE.ESTABLISHED],
  [procNetEndpoint('192.0.2.10', 443), procNetEndpoint('203.0.113.99', 40_000), TCP_STATE.ESTABLISHED],
]))

function setup(config: Config = defaultConfig()) {
  const backend = new MemoryBackend(() => NOW)
  const fw: Firewall = {backend, choice: {backend: 'ipset', reason: 'test'}}
  const host = recordingExec((call) => {
    if (line(call) === 'ip -j addr show') return {stdout: IP_ADDR}
    if (call.program === 'ss') return {stdout: 'ESTAB 0 0 192.0.2.10:22 203.0.113.7:50000\n'}
    if (call.program === 'conntrack') return {stderr: 'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.\n'}
    return undefined
  })
  return {backend, calls: host.calls, config, exec: host.exec, fw}
}

const withIgnore = (texts: string[]): Config => ({...defaultConfig(), ignore_ips: texts.map((text) => ({target: parseTarget(text), text}))})

/** Asserts that `promise` rejects with ProtectedAddressError for `address` and `reason`. */
async function assertProtected(promise: Promise<unknown>, address: string, reason: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ProtectedAddressError, `expected ProtectedAddressError, got ${String(error)}`)
    assert.ok(error instanceof DiswallError)
    assert.equal(error.code, 'E_PROTECTED')
    assert.equal(error.exitCode, 2)
    assert.equal(error.address, address)
    assert.equal(error.message, `refusing to block ${address}: ${reason}`)
    return true
  })
}

test('lists blockAdd - adds with the configured timeout, then reports an existing entry as unchanged', async () => {
  const {backend, calls, config, exec, fw} = setup()
  assert.deepEqual(await blockAdd(config, fw, ['203.0.113.7'], {readSockets}, exec), {
    added: 1, backend: 'memory', changed: true, entries: [{changed: true, target: '203.0.113.7'}], refused: 0, removed: 0, unchanged: 0,
  })
  assert.deepEqual(backend.commits, [{adds: [{target: parseAddress('203.0.113.7'), ttlSec: 86_400}], dels: []}])
  assert.deepEqual(calls.map(line), ['ip -j addr show'])

  assert.deepEqual(await blockAdd(config, fw, ['203.0.113.7'], {readSockets, timeoutSec: 600}, exec), {
    added: 0, backend: 'memory', changed: false, entries: [{changed: false, target: '203.0.113.7'}], refused: 0, removed: 0, unchanged: 1,
  })
  // Re-added all the same: the timeout is refreshed.
  assert.equal(backend.commits.length, 2)
  assert.deepEqual(backend.commits[1].adds, [{target: parseAddress('203.0.113.7'), ttlSec: 600}])
  assert.deepEqual(await backend.list('block'), [{comment: undefined, target: parseAddress('203.0.113.7'), ttlSec: 600}])
})

test('lists blockAdd - several targets in one batch, duplicates once, IPv6 canonical', async () => {
  const {backend, config, exec, fw} = setup()
  await blockAdd(config, fw, ['198.51.100.1'], {readSockets}, exec)
  const result = await blockAdd(config, fw, ['198.51.100.1', '2001:DB8::7', '203.0.113.9', '2001:db8:0::7'], {readSockets, timeoutSec: 60}, exec)
  assert.deepEqual(result, {
    added: 2,
    backend: 'memory',
    changed: true,
    entries: [
      {changed: false, target: '198.51.100.1'},
      {changed: true, target: '2001:db8::7'},
      {changed: true, target: '203.0.113.9'},
    ],
    refused: 0,
    removed: 0,
    unchanged: 1,
  })
  assert.equal(backend.commits.length, 2)
  assert.deepEqual(backend.commits[1].adds.map((e) => [e.target.text, e.ttlSec]), [
    ['198.51.100.1', 60], ['2001:db8::7', 60], ['203.0.113.9', 60],
  ])
})

test('lists blockAdd - refuses loopback addresses and commits nothing', async () => {
  for (const [address, reason] of [
    ['127.0.0.1', 'loopback address (127.0.0.0/8)'],
    ['127.8.9.10', 'loopback address (127.0.0.0/8)'],
    ['::1', 'loopback address (::1/128)'],
    ['fe80::1', 'link-local address (fe80::/10)'],
  ]) {
    const {backend, config, exec, fw} = setup()
    await assertProtected(blockAdd(config, fw, [address], {readSockets}, exec), address, reason)
    assert.deepEqual([...backend.commits], [])
    assert.equal(backend.pending, 0)
  }
})

test('lists blockAdd - refuses the host\'s own addresses', async () => {
  const {backend, config, exec, fw} = setup()
  await assertProtected(blockAdd(config, fw, ['192.0.2.10'], {readSockets}, exec), '192.0.2.10', 'an address of this host')
  await assertProtected(blockAdd(config, fw, ['2001:db8:0:1:0:0:0:10'], {readSockets}, exec), '2001:db8:0:1::10', 'an address of this host')
  assert.deepEqual([...backend.commits], [])
})

test('lists blockAdd - refuses addresses covered by ignore_ips', async () => {
  const {backend, config, exec, fw} = setup(withIgnore(['198.51.100.0/24', '2001:db8:ff::/48']))
  await assertProtected(blockAdd(config, fw, ['198.51.100.50'], {readSockets}, exec), '198.51.100.50', 'listed in ignore_ips (198.51.100.0/24)')
  await assertProtected(blockAdd(config, fw, ['2001:db8:ff::1'], {readSockets}, exec), '2001:db8:ff::1', 'listed in ignore_ips (2001:db8:ff::/48)')
  assert.deepEqual([...backend.commits], [])
  // Just outside the network is fine.
  assert.equal((await blockAdd(config, fw, ['198.51.101.1'], {readSockets}, exec)).changed, true)
})

test('lists blockAdd - refuses an allow-listed address', async () => {
  const {backend, config, exec, fw} = setup()
  await allowAdd(fw, ['203.0.113.80'], {comment: 'partner'})
  const before = backend.commits.length
  await assertProtected(blockAdd(config, fw, ['203.0.113.80'], {readSockets}, exec), '203.0.113.80', 'it is in the allow list (203.0.113.80/32)')
  assert.equal(backend.commits.length, before)
  assert.equal(await backend.has('block', parseAddress('203.0.113.80')), false)
})

test('lists blockAdd - refuses the peer of an established SSH session, not other peers', async () => {
  const {backend, config, exec, fw} = setup()
  await assertProtected(blockAdd(config, fw, ['198.51.100.200'], {readSockets}, exec), '198.51.100.200', 'an established SSH peer (198.51.100.200/32)')
  assert.deepEqual(backend.commits, [])
  assert.equal((await blockAdd(config, fw, ['203.0.113.99'], {readSockets}, exec)).changed, true)
  assert.deepEqual(await backend.list('block').then((l) => l.map((e) => e.target.text)), ['203.0.113.99'])
})

test('lists blockAdd - refuses private ranges with skip_private, accepts them without', async () => {
  const {backend, config, exec, fw} = setup()
  await assertProtected(blockAdd(config, fw, ['10.1.2.3'], {readSockets}, exec), '10.1.2.3', 'private address (10.0.0.0/8; skip_private is on)')
  await assertProtected(blockAdd(config, fw, ['100.64.0.1'], {readSockets}, exec), '100.64.0.1', 'cgnat address (100.64.0.0/10; skip_private is on)')
  await assertProtected(blockAdd(config, fw, ['fd00::1'], {readSockets}, exec), 'fd00::1', 'ula address (fc00::/7; skip_private is on)')
  assert.deepEqual([...backend.commits], [])

  const open = {...config, detect: {...config.detect, skip_private: false}}
  assert.deepEqual(await blockAdd(open, fw, ['10.1.2.3'], {readSockets}, exec), {
    added: 1, backend: 'memory', changed: true, entries: [{changed: true, target: '10.1.2.3'}], refused: 0, removed: 0, unchanged: 0,
  })
  // Loopback stays protected either way.
  await assertProtected(blockAdd(open, fw, ['127.0.0.1'], {readSockets}, exec), '127.0.0.1', 'loopback address (127.0.0.0/8)')
})

test('lists blockAdd - one protected address refuses the whole call', async () => {
  const {backend, config, exec, fw} = setup()
  await assertProtected(blockAdd(config, fw, ['203.0.113.7', '127.0.0.1', '203.0.113.8'], {readSockets}, exec), '127.0.0.1',
    'loopback address (127.0.0.0/8)')
  assert.deepEqual([...backend.commits], [])
  assert.equal(await backend.count('block'), 0)
})

test('lists blockAdd - --force overrides the protection and skips the host lookup', async () => {
  const {backend, calls, config, exec, fw} = setup()
  assert.deepEqual(await blockAdd(config, fw, ['127.0.0.1', '192.0.2.10'], {readSockets, force: true, timeoutSec: 30}, exec), {
    added: 2,
    backend: 'memory',
    changed: true,
    entries: [{changed: true, target: '127.0.0.1'}, {changed: true, target: '192.0.2.10'}],
    refused: 0,
    removed: 0,
    unchanged: 0,
  })
  assert.deepEqual(calls, [])
  assert.deepEqual(backend.commits[0].adds.map((e) => e.target.text), ['127.0.0.1', '192.0.2.10'])
})

test('lists blockAdd - networks are refused, a host network (/32, /128) is the address', async () => {
  const {backend, config, exec, fw} = setup()
  await assert.rejects(blockAdd(config, fw, ['203.0.113.0/24'], {readSockets}, exec), (error: unknown) => {
    assert.ok(error instanceof InvalidValueError)
    assert.equal(error.message, '"203.0.113.0/24" is a network; the block list holds single addresses')
    assert.equal(error.exitCode, 2)
    return true
  })
  await assert.rejects(blockAdd(config, fw, ['2001:db8::/64'], {readSockets}, exec), {message: '"2001:db8::/64" is a network; the block list holds single addresses'})
  assert.deepEqual([...backend.commits], [])

  const result = await blockAdd(config, fw, ['203.0.113.7/32', '2001:db8::7/128'], {readSockets}, exec)
  assert.deepEqual(result.entries, [{changed: true, target: '203.0.113.7'}, {changed: true, target: '2001:db8::7'}])
  assert.deepEqual(backend.commits[0].adds.map((e) => e.target), [parseAddress('203.0.113.7'), parseAddress('2001:db8::7')])
})

test('lists blockAdd - bad text throws InvalidValueError naming it, before anything changes', async () => {
  const {backend, calls, config, exec, fw} = setup()
  await assert.rejects(blockAdd(config, fw, ['203.0.113.7', '203.0.113.300'], {readSockets}, exec), (error: unknown) => {
    assert.ok(error instanceof InvalidValueError)
    assert.equal(error.code, 'E_INVALID_VALUE')
    assert.match(error.message, /^"203\.0\.113\.300" is not a valid IP address: /)
    return true
  })
  await assert.rejects(blockAdd(config, fw, ['example.com'], {readSockets}, exec), {message: /^"example\.com" is not a valid IP address/})
  assert.deepEqual([...backend.commits], [])
  assert.deepEqual(calls, [])
})

test('lists blockAdd - a reason with a line break, a quote or over 128 bytes is refused before anything changes', async () => {
  const {backend, config, exec, fw} = setup()
  for (const reason of ['scan\nban 198.51.100.1: forged', 'say "hi"', 'x'.repeat(129), 'tab\there']) {
    await assert.rejects(blockAdd(config, fw, ['203.0.113.7'], {readSockets, reason}, exec), (error: unknown) => {
      assert.ok(error instanceof InvalidValueError)
      assert.equal(error.message, `reason ${JSON.stringify(reason)} cannot be used`)
      assert.match(error.hint ?? '', /one line/)
      return true
    })
  }
  assert.deepEqual([...backend.commits], [])
  assert.equal((await blockAdd(config, fw, ['203.0.113.7'], {readSockets, reason: 'port scan from the VPN, ticket #42'}, exec)).reason, 'port scan from the VPN, ticket #42')
})

test('lists blockAdd - a timeout out of range is refused', async () => {
  const {backend, config, exec, fw} = setup()
  for (const [timeoutSec, shown] of [[2_147_484, '3w3d20h31m24s'], [-1, '-1'], [1.5, '1.5']] as const) {
    await assert.rejects(blockAdd(config, fw, ['203.0.113.7'], {readSockets, timeoutSec}, exec), (error: unknown) => {
      assert.ok(error instanceof InvalidValueError)
      assert.equal(error.message, `--timeout ${shown} is out of range`)
      return true
    })
  }

  assert.deepEqual([...backend.commits], [])
  // The largest ipset timeout is accepted.
  await blockAdd(config, fw, ['203.0.113.7'], {readSockets, timeoutSec: 2_147_483}, exec)
  assert.equal(backend.commits[0].adds[0].ttlSec, 2_147_483)
})

test('lists blockAdd - --kill cuts the connections of each address after the commit', async () => {
  const {calls, config, exec, fw} = setup()
  const result = await blockAdd(config, fw, ['203.0.113.7', '203.0.113.7'], {readSockets, kill: true}, exec)
  assert.deepEqual(result.killed, [{conntrack: 4, sockets: 1, target: '203.0.113.7'}])
  assert.deepEqual(calls.map(line), [
    'ip -j addr show',
      'ss --no-header --numeric --tcp --kill dst 203.0.113.7',
    'conntrack -D -f ipv4 --orig-src 203.0.113.7',
    'conntrack -D -f ipv4 --orig-dst 203.0.113.7',
  ])
  assert.equal((await blockAdd(config, fw, ['203.0.113.8'], {readSockets}, exec)).killed, undefined)
})

test('lists listDel - removes present entries and is idempotent', async () => {
  const {backend, config, exec, fw} = setup()
  await blockAdd(config, fw, ['203.0.113.7', '2001:db8::7'], {readSockets}, exec)
  assert.deepEqual(await listDel(fw, 'block', ['203.0.113.7', '203.0.113.8']), {
    added: 0, backend: 'memory', changed: true, entries: [{changed: true, target: '203.0.113.7'}, {changed: false, target: '203.0.113.8'}],
    refused: 0, removed: 1, unchanged: 1,
  })
  assert.deepEqual(await listDel(fw, 'block', ['203.0.113.7']), {
    added: 0, backend: 'memory', changed: false, entries: [{changed: false, target: '203.0.113.7'}], refused: 0, removed: 0, unchanged: 1,
  })
  assert.deepEqual((await backend.list('block')).map((e) => e.target.text), ['2001:db8::7'])
  assert.deepEqual(backend.commits[1].dels.map((t) => t.text), ['203.0.113.7', '203.0.113.8'])
})

test('lists listDel - allow entries are matched exactly, networks included', async () => {
  const {fw} = setup()
  await allowAdd(fw, ['10.0.0.0/8', '192.0.2.7'])
  assert.deepEqual((await listDel(fw, 'allow', ['10.0.0.0/8', '10.1.0.0/16', '192.0.2.7/32'])).entries, [
    {changed: true, target: '10.0.0.0/8'},
    {changed: false, target: '10.1.0.0/16'},
    {changed: true, target: '192.0.2.7'},
  ])
  assert.deepEqual((await fw.backend.list('allow')).length, 0)
  await assert.rejects(listDel(fw, 'block', ['10.0.0.0/8']), InvalidValueError)
})

test('lists allowAdd - adds with a comment; a re-add without one keeps it and changes nothing', async () => {
  const {backend, fw} = setup()
  assert.deepEqual(await allowAdd(fw, ['10.0.0.0/8'], {comment: 'office LAN'}), {
    added: 1, backend: 'memory', changed: true, entries: [{changed: true, target: '10.0.0.0/8'}], refused: 0, removed: 0, unchanged: 0,
  })
  assert.deepEqual(await allowAdd(fw, ['10.0.0.0/8']), {
    added: 0, backend: 'memory', changed: false, entries: [{changed: false, target: '10.0.0.0/8'}], refused: 0, removed: 0, unchanged: 1,
  })
  assert.deepEqual(await allowAdd(fw, ['10.0.0.0/8'], {comment: 'office LAN'}), {
    added: 0, backend: 'memory', changed: false, entries: [{changed: false, target: '10.0.0.0/8'}], refused: 0, removed: 0, unchanged: 1,
  })
  assert.equal(backend.commits.length, 1) // the unchanged re-adds sent nothing
  assert.deepEqual(await backend.list('allow'), [{comment: 'office LAN', target: parseTarget('10.0.0.0/8'), ttlSec: undefined}])
})

test('lists allowAdd - a new comment or a timeout updates the entry, keeping what was not given', async () => {
  const {backend, fw} = setup()
  await allowAdd(fw, ['10.0.0.0/8'], {comment: 'office LAN'})
  assert.equal((await allowAdd(fw, ['10.0.0.0/8'], {comment: 'new office'})).changed, true)
  assert.deepEqual(backend.commits[1].adds, [{comment: 'new office', target: parseTarget('10.0.0.0/8'), ttlSec: undefined}])

  assert.equal((await allowAdd(fw, ['10.0.0.0/8'], {timeoutSec: 3600})).changed, true)
  assert.deepEqual(backend.commits[2].adds, [{comment: 'new office', target: parseTarget('10.0.0.0/8'), ttlSec: 3600}])
  assert.deepEqual(await backend.list('allow'), [{comment: 'new office', target: parseTarget('10.0.0.0/8'), ttlSec: 3600}])
})

test('lists allowAdd - refuses /0, a bad comment and a bad timeout, committing nothing', async () => {
  const {backend, fw} = setup()
  await assert.rejects(allowAdd(fw, ['0.0.0.0/0']), {code: 'E_INVALID_VALUE', message: '"0.0.0.0/0" would allow everyone'})
  await assert.rejects(allowAdd(fw, ['192.0.2.0/24', '::/0']), {message: '"::/0" would allow everyone'})
  await assert.rejects(allowAdd(fw, ['192.0.2.0/24'], {comment: 'say "hi"'}), {
    code: 'E_INVALID_VALUE', message: 'comment "say \\"hi\\"" cannot be stored',
  })
  await assert.rejects(allowAdd(fw, ['192.0.2.0/24'], {timeoutSec: -5}), {message: '--timeout -5 is out of range'})
  assert.deepEqual([...backend.commits], [])
})

test('lists allowAdd - networks broader than /8 (IPv4) or /16 (IPv6) need force: two /1 are everyone', async () => {
  const {backend, fw} = setup()
  for (const [text, share] of [['0.0.0.0/1', '1/2 of all IPv4'], ['128.0.0.0/1', '1/2 of all IPv4'], ['::/1', '1/2 of all IPv6'], ['2000::/12', '1/4096 of all IPv6']]) {
    await assert.rejects(allowAdd(fw, ['192.0.2.0/24', text]), (error: unknown) => {
      assert.ok(error instanceof InvalidValueError)
      assert.equal(error.message, `"${text}" covers ${share} addresses (shorter than /${text.includes(':') ? 16 : 8}): allowing it would let a large part of the internet past every ban`)
      assert.match(error.hint ?? '', /--force/)
      return true
    })
  }
  assert.deepEqual([...backend.commits], [], 'nothing changes')
  const forced = await allowAdd(fw, ['0.0.0.0/1', '10.0.0.0/8', '2001:db8::/16'], {force: true})
  assert.deepEqual(forced.entries.map((e) => e.target), ['0.0.0.0/1', '10.0.0.0/8', '2001::/16'])
  // Never everyone, even with force.
  await assert.rejects(allowAdd(fw, ['0.0.0.0/0'], {force: true}), {message: '"0.0.0.0/0" would allow everyone'})
})

test('lists allowAdd - a host network is stored as the address, other networks as networks', async () => {
  const {backend, fw} = setup()
  const result = await allowAdd(fw, ['198.51.100.7/32', '2001:db8::/32', '2001:db8::1/128', '203.0.113.77/24'])
  assert.deepEqual(result.entries.map((e) => e.target), ['198.51.100.7', '2001:db8::/32', '2001:db8::1', '203.0.113.0/24'])
  assert.deepEqual(backend.commits[0].adds.map((e) => e.target.kind), ['address', 'network', 'address', 'network'])
})

test('lists parseTargets - edge cases', () => {
  assert.throws(() => parseTargets([], 'block'), (error: unknown) => {
    assert.ok(error instanceof UsageError)
    assert.equal(error.code, 'E_USAGE')
    assert.equal(error.message, 'no address given')
    return true
  })
  assert.deepEqual(parseTargets([' 203.0.113.7 ', '::ffff:198.51.100.1', '2001:0DB8::0001'], 'block').map((t) => t.text),
    ['203.0.113.7', '198.51.100.1', '2001:db8::1'])
  assert.deepEqual(parseTargets(['10.0.0.0/32'], 'block'), [parseAddress('10.0.0.0')])
  assert.deepEqual(parseTargets(['192.0.2.77/24', '10.0.0.1/32'], 'allow').map((t) => [t.kind, t.text]), [
    ['network', '192.0.2.0/24'], ['address', '10.0.0.1'],
  ])
  assert.throws(() => parseTargets(['0.0.0.0/0'], 'block'), {message: '"0.0.0.0/0" is a network; the block list holds single addresses'})
  assert.throws(() => parseTargets(['::/0'], 'allow'), {message: '"::/0" would allow everyone'})
  assert.throws(() => parseTargets(['192.0.2.0/33'], 'allow'), {message: /^"192\.0\.2\.0\/33" is not a valid network: /})
  assert.throws(() => parseTargets([''], 'allow'), InvalidValueError)
})

test('lists checkTimeout - whole seconds from 0 to 2147483', () => {
  assert.equal(checkTimeout(0), 0)
  assert.equal(checkTimeout(2_147_483), 2_147_483)
  for (const bad of [-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY]) {
    assert.throws(() => checkTimeout(bad), {code: 'E_INVALID_VALUE', message: `--timeout ${bad} is out of range`})
  }
  // Durations read as durations, as the operator wrote them.
  assert.throws(() => checkTimeout(2_592_000), {message: '--timeout 4w2d is out of range', hint: 'Give a duration from 0 (never expires) to 3w3d20h31m23s (2147483 s, the ipset maximum).'})
  assert.throws(() => checkTimeout(2_147_484), {message: '--timeout 3w3d20h31m24s is out of range'})

  assert.throws(() => checkTimeout(-2, '--ttl'), {message: '--ttl -2 is out of range'})
})

test('lists checkComment - printable text without quotes or backslashes, at most 128 bytes', () => {
  assert.equal(checkComment(''), '')
  assert.equal(checkComment('office LAN (Berlin) #2'), 'office LAN (Berlin) #2')
  assert.equal(checkComment('x'.repeat(128)), 'x'.repeat(128))
  assert.equal(checkComment('é'.repeat(64)), 'é'.repeat(64)) // 128 bytes
  for (const bad of ['x'.repeat(129), 'é'.repeat(65), 'a"b', 'a\\b', 'tab\there', 'line\nbreak', 'nul\u0000', 'del\u007f']) {
    assert.throws(() => checkComment(bad), (error: unknown) => {
      assert.ok(error instanceof InvalidValueError)
      assert.equal(error.message, `comment ${JSON.stringify(bad)} cannot be stored`)
      return true
    }, bad)
  }
})

test('lists listEntries - sorted by family, then text, with ttl null for permanent entries', async () => {
  const {config, exec, fw} = setup()
  await allowAdd(fw, ['2001:db8:ff::/48', '192.0.2.0/24', '10.0.0.0/8'], {comment: 'nets'})
  await allowAdd(fw, ['198.51.100.7'], {timeoutSec: 600})
  assert.deepEqual(await listEntries(fw, 'allow'), {
    backend: 'memory',
    count: 4,
    entries: [
      {comment: 'nets', family: 4, target: '10.0.0.0/8', ttlSec: null},
      {comment: 'nets', family: 4, target: '192.0.2.0/24', ttlSec: null},
      {family: 4, target: '198.51.100.7', ttlSec: 600},
      {comment: 'nets', family: 6, target: '2001:db8:ff::/48', ttlSec: null},
    ],
  })

  await blockAdd(config, fw, ['2001:db8::9', '203.0.113.9', '198.51.100.9'], {readSockets, timeoutSec: 90}, exec)
  assert.deepEqual(await listEntries(fw, 'block'), {
    backend: 'memory',
    count: 3,
    entries: [
      {family: 4, target: '198.51.100.9', ttlSec: 90},
      {family: 4, target: '203.0.113.9', ttlSec: 90},
      {family: 6, target: '2001:db8::9', ttlSec: 90},
    ],
  })
})

test('lists listEntries - an empty list', async () => {
  assert.deepEqual(await listEntries(setup().fw, 'block'), {backend: 'memory', count: 0, entries: []})
})

test('lists parseListText - one address per line, "#" or plain comments, blank and comment lines skipped', () => {
  const text = '# feed of 2026-12-07\n\n203.0.113.7\n  198.51.100.0/24 # office LAN  \n2001:db8::7 partner A\n203.0.113.8#no space\n\t# indented comment\n'
  assert.deepEqual(parseListText(text, 'feed.txt'), [
    {at: 'feed.txt:3', text: '203.0.113.7'},
    {at: 'feed.txt:4', comment: 'office LAN', text: '198.51.100.0/24'},
    {at: 'feed.txt:5', comment: 'partner A', text: '2001:db8::7'},
    {at: 'feed.txt:6', comment: 'no space', text: '203.0.113.8'},
  ])
  assert.deepEqual(parseListText('', 'empty'), [])
  assert.deepEqual(parseListText('203.0.113.7\r\n', 'crlf'), [{at: 'crlf:1', text: '203.0.113.7'}])
})

test('lists readListFile - reads "-" from the given stream as stdin; a missing file is E_LIST_FILE', async () => {
  async function* stdin() {
    yield Buffer.from('203.0.113.7\n203.0.')
    yield '113.8 # split across chunks\n'
  }
  assert.deepEqual(await readListFile('-', stdin()), [
    {at: 'stdin:1', text: '203.0.113.7'},
    {at: 'stdin:2', comment: 'split across chunks', text: '203.0.113.8'},
  ])
  await assert.rejects(readListFile('/nonexistent/diswall-feed.txt'), (error: unknown) => {
    assert.ok(error instanceof ListFileError)
    assert.equal(error.code, 'E_LIST_FILE')
    assert.match(error.message, /\/nonexistent\/diswall-feed\.txt: no such file/)
    return true
  })
})

test('lists blockAdd - a bad line of a list file names FILE:LINE and nothing changes', async () => {
  const {backend, calls, config, exec, fw} = setup()
  const inputs = listInputs(['203.0.113.1'], parseListText('203.0.113.7\n# ok\n203.0.113.300\n203.0.113.9\n', 'feed.txt'))
  await assert.rejects(blockAdd(config, fw, inputs, {readSockets}, exec), (error: unknown) => {
    assert.ok(error instanceof InvalidValueError)
    assert.match(error.message, /^feed\.txt:3: .*203\.0\.113\.300/)
    return true
  })
  await assert.rejects(blockAdd(config, fw, parseListText('203.0.113.7\n198.51.100.0/24\n', 'f'), {readSockets}, exec), /^InvalidValueError: f:2: "198\.51\.100\.0\/24" is a network/)
  assert.deepEqual([...backend.commits], [])
  assert.deepEqual(calls, [])
})

test('lists blockAdd - protected lines of a list file are refused one by one, the rest goes in one batch', async () => {
  const {backend, config, exec, fw} = setup()
  const inputs = parseListText('203.0.113.7\n127.0.0.1\n192.0.2.10 our own\n203.0.113.8\n203.0.113.7\n', 'feed.txt')
  const result = await blockAdd(config, fw, inputs, {readSockets}, exec)
  assert.deepEqual({added: result.added, refused: result.refused, unchanged: result.unchanged}, {added: 2, refused: 2, unchanged: 0})
  assert.deepEqual(result.entries.filter((e) => e.refused), [
    {at: 'feed.txt:2', changed: false, refused: 'loopback address (127.0.0.0/8)', target: '127.0.0.1'},
    {at: 'feed.txt:3', changed: false, refused: 'an address of this host', target: '192.0.2.10'},
  ])
  assert.equal(backend.commits.length, 1)
  assert.deepEqual(backend.commits[0].adds.map((e) => e.target.text), ['203.0.113.7', '203.0.113.8'])
  // An argument is what the operator typed: protected, it still refuses the whole call.
  await assertProtected(blockAdd(config, fw, listInputs(['127.0.0.2'], inputs), {readSockets}, exec), '127.0.0.2', 'loopback address (127.0.0.0/8)')
  assert.equal(backend.commits.length, 1)
})

test('lists blockAdd - a long list reads the set once instead of one test per address', async () => {
  const {backend, config, exec, fw} = setup()
  await blockAdd(config, fw, ['198.51.100.1', '198.51.100.2'], {readSockets}, exec)
  let has = 0
  let lists = 0
  const realHas = backend.has.bind(backend)
  const realList = backend.list.bind(backend)
  backend.has = async (list, target) => (has++, realHas(list, target))
  backend.list = async (list) => (lists += list === 'block' ? 1 : 0, realList(list))
  const texts = Array.from({length: SINGLE_CHECK_MAX + 5}, (_, i) => `198.51.100.${i + 1}`)
  const result = await blockAdd(config, fw, texts, {readSockets}, exec)
  assert.deepEqual([has, lists], [0, 1])
  assert.deepEqual([result.added, result.unchanged], [texts.length - 2, 2])
  assert.equal(backend.commits.length, 2)
  assert.equal(backend.commits[1].adds.length, texts.length)
})

test('lists allowAdd - the comment of a list line is stored, --comment fills the others; a bad comment names its line', async () => {
  const {backend, fw} = setup()
  const inputs = parseListText('198.51.100.0/24 # partner A\n203.0.113.7\n', 'partners.txt')
  const result = await allowAdd(fw, inputs, {comment: 'from feed'})
  assert.deepEqual([result.added, result.unchanged], [2, 0])
  assert.deepEqual((await backend.list('allow')).map((e) => [e.target.text, e.comment]), [['198.51.100.0/24', 'partner A'], ['203.0.113.7', 'from feed']])
  await assert.rejects(allowAdd(fw, parseListText('203.0.113.9 say "hi"\n', 'p.txt')), /p\.txt:1: comment "say \\"hi\\"" cannot be stored/)
  assert.equal(backend.commits.length, 1)
})

test('lists listDel - a list file removes in one batch; absent entries count as unchanged', async () => {
  const {backend, config, exec, fw} = setup()
  await blockAdd(config, fw, ['203.0.113.7', '203.0.113.8'], {readSockets}, exec)
  const result = await listDel(fw, 'block', parseListText('203.0.113.7 old note\n203.0.113.99\n', 'del.txt'))
  assert.deepEqual([result.removed, result.unchanged, result.added], [1, 1, 0])
  assert.equal(backend.commits.length, 2)
  assert.deepEqual(backend.commits[1].dels.map((t) => t.text), ['203.0.113.7', '203.0.113.99'])
})

test('lists allowAdd (nftables) - overlapping networks are refused before anything changes, against the set and within the list', async () => {
  const {backend, fw} = setup()
  // The overlap rule is nftables's (interval sets); the memory backend stands in for it here.
  Object.defineProperty(backend, 'name', {value: 'nftables'})
  await allowAdd(fw, ['10.0.0.0/8', '2001:db8::/32'])
  await assert.rejects(allowAdd(fw, ['11.0.0.0/8', '10.1.0.0/16']), /^InvalidValueError: 10\.1\.0\.0\/16 overlaps the allow entry 10\.0\.0\.0\/8/)
  await assert.rejects(allowAdd(fw, ['2001:db8:5::1']), /2001:db8:5::1 overlaps the allow entry 2001:db8::\/32/)
  await assert.rejects(allowAdd(fw, parseListText('198.51.100.0/24\n203.0.113.7\n198.51.100.7 # inside\n', 'f')),
    /198\.51\.100\.(0\/24|7) overlaps the allow entry 198\.51\.100\.(7|0\/24)/)
  assert.equal(backend.commits.length, 1)
  // A re-add of an existing entry is no overlap; neither are many disjoint ones.
  const many = Array.from({length: 20_000}, (_, i) => `172.${16 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`)
  const result = await allowAdd(fw, ['10.0.0.0/8', ...many], {force: true})
  assert.deepEqual([result.added, result.unchanged], [20_000, 1])
})
