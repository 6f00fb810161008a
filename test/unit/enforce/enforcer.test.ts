import assert from 'node:assert/strict'
import {test} from 'node:test'

import {defaultConfig} from '../../../src/lib/config/index.js'
import type {Config} from '../../../src/lib/config/index.js'
import {Enforcer, KILL_DELAY_MS, MAX_REASON_KINDS, RECENT_BANS, REMOTE_KILL_DELAY_MS} from '../../../src/lib/enforce/index.js'
import type {EnforcerLogLevel} from '../../../src/lib/enforce/index.js'
import {CommandFailedError} from '../../../src/lib/errors.js'
import {forEachOf, MemoryBackend} from '../../../src/lib/firewall/sets/index.js'
import type {SetEntry} from '../../../src/lib/firewall/sets/index.js'
import {NetworkList, parseAddress, parseNetwork, parseTarget} from '../../../src/lib/net/index.js'
import type {Address} from '../../../src/lib/net/index.js'
import {line, recordingExec} from '../firewall/sets/fake-exec.js'

const a = parseAddress
const NOW = 1_700_000_000_000

function setup(configure?: (c: Config) => void) {
  const config = defaultConfig()
  config.firewall.kill_connections = false
  config.ignore_ips = [{target: parseTarget('198.51.100.0/24'), text: '198.51.100.0/24'}]
  configure?.(config)
  const backend = new MemoryBackend(() => NOW)
  const facts = {own: new NetworkList([a('192.0.2.1'), a('2001:db8:1::1')]), sshPeers: new NetworkList([a('203.0.113.22')])}
  const host = recordingExec((call) => (call.program === 'ss' ? {stdout: 'ESTAB 0 0 192.0.2.1:22 203.0.113.7:1\n'} : undefined))
  const logs: Array<{level: EnforcerLogLevel; message: string}> = []
  const connected = {flows: new Set<string>(), sockets: new Set<string>()}
  const lookups: Array<readonly string[]> = []
  let now = NOW
  const findConnected = async (addrs: readonly Address[]) => {
    lookups.push(addrs.map((x) => x.text))
    return connected
  }
  const enforcer = new Enforcer({backend, config, exec: host.exec, facts, findConnected,
    log: (level, message) => logs.push({level, message}), now: () => now})
  return {advance: (ms: number) => (now += ms), backend, calls: host.calls, config, connected, enforcer, facts, logs, lookups}
}

const blocked = async (backend: MemoryBackend) => (await backend.list('block')).map((e) => e.target.text).sort()

test('Enforcer refusal - every never-ban reason, and nothing for an ordinary address', async () => {
  const {enforcer} = setup()
  await enforcer.allow({source: 'test', target: parseTarget('203.0.113.128/25')})
  const cases: Array<[string, RegExp]> = [
    ['127.0.0.1', /^loopback address/],
    ['::1', /^loopback address/],
    ['fe80::1', /^link-local address/],
    ['224.0.0.5', /^multicast address/],
    ['10.1.2.3', /^private address .*skip_private is on/],
    ['fd00::1', /^ula address/],
    ['192.0.2.1', /^an address of this host$/],
    ['198.51.100.9', /^listed in ignore_ips \(198\.51\.100\.0\/24\)$/],
    ['203.0.113.200', /^it is in the allow list \(203\.0\.113\.128\/25\)$/],
    ['203.0.113.22', /^an established SSH peer \(203\.0\.113\.22\/32\)$/],
  ]
  for (const [text, reason] of cases) assert.match(enforcer.refusal(a(text)) ?? '', reason, text)
  assert.equal(enforcer.refusal(a('203.0.113.9')), undefined)
  assert.equal(enforcer.refusal(a('2001:db8:2::9')), undefined)
})

test('Enforcer refusal - private ranges only with skip_private; a network holding a protected entry is refused', () => {
  const {enforcer} = setup((c) => {
    c.detect.skip_private = false
  })
  assert.equal(enforcer.refusal(a('10.1.2.3')), undefined)
  assert.match(enforcer.refusal(a('127.0.0.2')) ?? '', /^loopback/)
  assert.equal(enforcer.refusal(parseNetwork('2001:db8:1::/64')), 'it holds 2001:db8:1::1/128: an address of this host')
  assert.equal(enforcer.refusal(parseNetwork('2001:db8:2::/64')), undefined)
})

test('Enforcer ban - a protected target is refused, counted and logged once; nothing is written', async () => {
  const {backend, enforcer, logs} = setup()
  assert.deepEqual(await enforcer.ban({reason: 'ssh', source: 'remote host-b', target: a('203.0.113.22')}),
    {result: 'refused', why: 'an established SSH peer (203.0.113.22/32)'})
  assert.equal(enforcer.stats.refused, 1)
  assert.equal(enforcer.stats.bans, 0)
  assert.deepEqual(backend.commits, [])
  assert.deepEqual(logs, [{level: 'notice', message: 'refused to ban 203.0.113.22 (ssh, remote host-b): an established SSH peer (203.0.113.22/32)'}])
})

test('Enforcer ban - written with the default timeout, counted per reason, newest first in the recent bans', async () => {
  const {backend, enforcer, logs} = setup()
  assert.deepEqual(await enforcer.ban({reason: 'port-scan 23/tcp', source: 'kmsg', target: a('203.0.113.7')}), {result: 'banned', ttlSec: 86_400})
  assert.deepEqual(await enforcer.ban({address: a('2001:db8:5::9'), reason: 'ssh', source: 'file:/var/log/auth.log',
    target: parseNetwork('2001:db8:5::/64'), ttlSec: 600}), {result: 'banned', ttlSec: 600})
  assert.deepEqual(await blocked(backend), ['2001:db8:5::/64', '203.0.113.7'])
  assert.equal(enforcer.stats.bans, 2)
  assert.deepEqual(enforcer.stats.byReason, {'port-scan': 1, ssh: 1})
  assert.deepEqual(enforcer.recent().map((r) => [r.target, r.reason, r.ttlSec]), [['2001:db8:5::/64', 'ssh', 600], ['203.0.113.7', 'port-scan 23/tcp', 86_400]])
  assert.deepEqual(logs.map((l) => l.message), [
    'ban 203.0.113.7: port-scan 23/tcp (kmsg), 1d',
    'ban 2001:db8:5::/64: ssh (file:/var/log/auth.log, offender 2001:db8:5::9), 10m',
  ])
})

test('Enforcer ban - a failed write is counted as failed, not as a ban', async () => {
  const {backend, enforcer} = setup()
  backend.commit = async () => {
    throw new CommandFailedError('ipset', ['restore'], 1, 'ipset v7.17: Set cannot be created')
  }
  const outcome = await enforcer.ban({reason: 'ssh', source: 'kmsg', target: a('203.0.113.7')})
  assert.equal(outcome.result, 'failed')
  assert.equal(enforcer.stats.banFailed, 1)
  assert.equal(enforcer.stats.bans, 0)
  assert.deepEqual(enforcer.recent(), [])
})

test('Enforcer ban - with kill_connections the offenders\' connections are cut, in batches', async () => {
  const {calls, connected, enforcer} = setup((c) => {
    c.firewall.kill_connections = true
  })
  for (const text of ['203.0.113.7', '2001:db8:5::9', '2001:db8:6::']) connected.sockets.add(text)
  await Promise.all([
    enforcer.ban({reason: 'ssh', source: 'remote', target: a('203.0.113.7')}),
    enforcer.ban({address: a('2001:db8:5::9'), reason: 'ssh', source: 'kmsg', target: parseNetwork('2001:db8:5::/64')}),
    // A network from another host names no offender: nothing to cut for it.
    enforcer.ban({reason: 'ssh', source: 'remote', target: parseNetwork('2001:db8:6::/64')}),
  ])
  await enforcer.settle()
  const kills = calls.map(line).filter((l) => l.startsWith('ss '))
  assert.ok(kills.length >= 1 && kills.length <= 2, kills.join('\n'))
  assert.ok(kills.join(' ').includes('dst 203.0.113.7'), kills.join('\n'))
  assert.ok(kills.join(' ').includes('dst [2001:db8:5::9]'), kills.join('\n'))
  assert.ok(!kills.join(' ').includes('2001:db8:6::'), kills.join('\n'))
  assert.ok(enforcer.stats.killed.sockets >= 1)
})

test('Enforcer allow - an expiring entry covered by a network or a permanent entry is left alone; its own expiring entry is renewed', async () => {
  const {backend, enforcer} = setup()
  assert.equal(await enforcer.allow({comment: 'office', source: 'cli', target: parseTarget('198.18.0.0/15')}), 'allowed')
  assert.equal(await enforcer.allow({comment: 'vpn', source: 'cli', target: a('203.0.113.50')}), 'allowed')
  assert.equal(await enforcer.allow({comment: 'login bob', source: 'wtmp', target: a('198.18.0.9'), ttlSec: 600}), 'covered')
  assert.equal(await enforcer.allow({comment: 'login bob', source: 'wtmp', target: a('203.0.113.50'), ttlSec: 600}), 'covered')
  assert.equal(await enforcer.allow({comment: 'login eve', source: 'wtmp', target: a('203.0.113.60'), ttlSec: 600}), 'allowed')
  assert.equal(await enforcer.allow({comment: 'login eve', source: 'wtmp', target: a('203.0.113.60'), ttlSec: 900}), 'allowed')
  const byTarget = new Map((await backend.list('allow')).map((e) => [e.target.text, e]))
  assert.deepEqual([...byTarget.keys()].sort(), ['198.18.0.0/15', '203.0.113.50', '203.0.113.60'])
  assert.equal(byTarget.get('203.0.113.50')!.ttlSec, undefined)
  assert.equal(byTarget.get('203.0.113.60')!.ttlSec, 900)
  assert.equal(enforcer.stats.allows, 4)
})

test('Enforcer - the engine\'s never-ban lists are the enforcer\'s, by reference', async () => {
  const {enforcer, facts} = setup()
  const ctx = enforcer.engineNeverBan()
  assert.equal(ctx.own, facts.own)
  assert.ok(!ctx.lists!.some(({list}) => list.contains(a('203.0.113.70'))))
  await enforcer.allow({source: 'test', target: a('203.0.113.70')})
  assert.ok(ctx.lists!.some(({list}) => list.contains(a('203.0.113.70'))))
  facts.sshPeers.add(a('203.0.113.71'))
  assert.ok(ctx.lists!.some(({list}) => list.contains(a('203.0.113.71'))))
})

test('Enforcer replace - a list copy lands in one replace(); protected block entries are left out and counted', async () => {
  const {backend, enforcer, logs} = setup()
  backend.add('block', {target: a('203.0.113.99'), ttlSec: 60})
  await backend.commit()
  const calls: SetEntry[][] = []
  const replace = backend.replace.bind(backend)
  backend.replace = async (list, entries) => {
    const all: SetEntry[] = []
    for await (const item of entries) forEachOf(item, (entry) => all.push(entry))
    calls.push(all)
    return replace(list, calls.at(-1)!)
  }
  async function* copy(): AsyncGenerator<SetEntry> {
    for (let i = 101; i <= 150; i++) yield {target: a(`203.0.113.${i}`), ttlSec: 3600}
    yield {target: a('127.0.0.1'), ttlSec: 3600}
    yield {target: a('192.0.2.1'), ttlSec: 3600}
    yield {target: a('10.0.0.1'), ttlSec: 3600}
  }
  assert.deepEqual(await enforcer.replace('block', copy()), {loaded: 50, refused: 3})
  assert.equal(calls.length, 1)
  assert.equal(await backend.count('block'), 50)
  assert.equal(await backend.has('block', a('203.0.113.99')), false)
  assert.equal(enforcer.stats.refused, 3)
  assert.equal(enforcer.stats.bans, 0)
  const warnings = logs.filter((l) => l.level === 'warning')
  assert.equal(warnings.length, 1)
  assert.match(warnings[0]!.message, /^left 3 protected entries out of the block list copy: 127\.0\.0\.1 \(loopback/)
})

test('Enforcer replace - a ban made while the copy streams survives the swap, though the copy lacks it', async () => {
  const {backend, enforcer} = setup()
  async function* copy(): AsyncGenerator<SetEntry> {
    yield {target: a('203.0.113.101'), ttlSec: 3600}
    // Detected on this host while the server's answer is still arriving: written to the live set.
    assert.equal((await enforcer.ban({reason: 'ssh', source: 'kmsg', target: a('203.0.113.150')})).result, 'banned')
    yield {target: a('203.0.113.102'), ttlSec: 3600}
  }
  assert.deepEqual(await enforcer.replace('block', copy()), {loaded: 2, refused: 0})
  assert.deepEqual(await blocked(backend), ['203.0.113.101', '203.0.113.102', '203.0.113.150'])
})

test('Enforcer replace - a ban made after the copy ended, before the swap, is written again into the new set', async () => {
  const {backend, enforcer, logs} = setup()
  const replace = backend.replace.bind(backend)
  backend.replace = async (list, entries) => {
    const all: SetEntry[] = []
    for await (const item of entries) forEachOf(item, (entry) => all.push(entry))
    // The kernel program still runs (nft commits at the end of its input): a ban lands in the old set.
    await enforcer.ban({reason: 'ssh', source: 'kmsg', target: a('203.0.113.151')})
    return replace(list, all)
  }
  await enforcer.replace('block', [{target: a('203.0.113.101'), ttlSec: 3600}])
  assert.deepEqual(await blocked(backend), ['203.0.113.101', '203.0.113.151'])
  assert.ok(logs.some((l) => /loaded 1 entries into the block list \(and 1 written here meanwhile\)/.test(l.message)))
})

test('Enforcer replace - a copy that breaks off leaves the list as it was and throws; later bans are not tracked', async () => {
  const {backend, enforcer} = setup()
  await enforcer.ban({reason: 'ssh', source: 'kmsg', target: a('203.0.113.99')})
  async function* cut(): AsyncGenerator<SetEntry> {
    yield {target: a('203.0.113.101'), ttlSec: 3600}
    throw new Error('the init answer stopped after 1 entries')
  }
  await assert.rejects(enforcer.replace('block', cut()), {message: 'the init answer stopped after 1 entries'})
  assert.deepEqual(await blocked(backend), ['203.0.113.99'])
  await enforcer.replace('block', [])
  assert.deepEqual(await blocked(backend), [])
})

test('Enforcer replace - an allow list copy replaces the in-memory allow list too', async () => {
  const {enforcer} = setup()
  await enforcer.allow({source: 'test', target: a('203.0.113.80')})
  await enforcer.replace('allow', [{comment: 'partner', target: parseTarget('203.0.113.0/28')}])
  assert.equal(enforcer.refusal(a('203.0.113.80')), undefined)
  assert.match(enforcer.refusal(a('203.0.113.5')) ?? '', /allow list \(203\.0\.113\.0\/28\)/)
})

test('Enforcer unban and disallow - remove entries and the allow list forgets them', async () => {
  const {backend, enforcer} = setup()
  await enforcer.ban({reason: 'ssh', source: 'kmsg', target: a('203.0.113.7')})
  await enforcer.allow({source: 'test', target: a('203.0.113.80')})
  await enforcer.unban(a('203.0.113.7'))
  await enforcer.disallow(a('203.0.113.80'))
  assert.equal(await backend.count('block'), 0)
  assert.equal(await backend.count('allow'), 0)
  assert.equal(enforcer.refusal(a('203.0.113.80')), undefined)
})

test('Enforcer ban - the counters stay bounded when every ban brings a new reason (a peer that makes them up)', async () => {
  const {enforcer} = setup()
  const bans = MAX_REASON_KINDS + 50
  for (let i = 0; i < bans; i++) {
    await enforcer.ban({reason: `made-up-${i} x`, source: 'remote host-b', target: a(`203.0.113.${100 + i}`)})
  }
  assert.equal(enforcer.stats.bans, bans)
  const kinds = Object.keys(enforcer.stats.byReason)
  assert.ok(kinds.length <= MAX_REASON_KINDS + 1, `${kinds.length} reason kinds counted`)
  assert.equal(Object.values(enforcer.stats.byReason).reduce((x, y) => x + y, 0), bans, 'every ban is counted once')
  assert.ok((enforcer.stats.byReason.other ?? 0) >= bans - MAX_REASON_KINDS)
  assert.equal(enforcer.recent().length, RECENT_BANS)
})

test('Enforcer ban - the kills of a burst wait KILL_DELAY_MS and share one look-up; settle() cuts at once', {timeout: 10_000}, async (t) => {
  const {connected, enforcer, lookups} = setup((c) => {
    c.firewall.kill_connections = true
  })
  t.mock.timers.enable({apis: ['setTimeout']})
  connected.sockets.add('203.0.113.81')
  for (const text of ['203.0.113.80', '203.0.113.81', '203.0.113.82']) await enforcer.ban({reason: 'ssh', source: 'kmsg', target: a(text)})
  t.mock.timers.tick(KILL_DELAY_MS - 1)
  await new Promise((resolve) => setImmediate(resolve))
  assert.deepEqual(lookups, [], 'nothing is looked up before the delay')
  // The clock stands still: only settle() can end the wait (a stopping daemon does not wait).
  await enforcer.settle()
  assert.deepEqual(lookups, [['203.0.113.80', '203.0.113.81', '203.0.113.82']], 'one look-up for the three bans')
  assert.equal(enforcer.stats.killed.sockets, 1)
})

test('Enforcer ban - another host\'s bans wait REMOTE_KILL_DELAY_MS for their look-up; an own ban queued meanwhile brings it forward', {timeout: 10_000}, async (t) => {
  const {enforcer, lookups} = setup((c) => {
    c.firewall.kill_connections = true
  })
  const turn = () => new Promise((resolve) => setImmediate(resolve))
  t.mock.timers.enable({apis: ['setTimeout']})
  await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote host-b', target: a('203.0.113.90')})
  t.mock.timers.tick(KILL_DELAY_MS)
  await turn()
  assert.deepEqual(lookups, [], 'a remote ban waits longer than an own one')
  t.mock.timers.tick(REMOTE_KILL_DELAY_MS - KILL_DELAY_MS)
  await turn()
  assert.deepEqual(lookups, [['203.0.113.90']])
  await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote host-b', target: a('203.0.113.91')})
  t.mock.timers.tick(10)
  await enforcer.ban({reason: 'ssh', source: 'kmsg', target: a('203.0.113.92')})
  t.mock.timers.tick(KILL_DELAY_MS)
  await turn()
  assert.deepEqual(lookups.slice(1), [['203.0.113.91', '203.0.113.92']], 'both at the own ban\'s time')
  await enforcer.settle()
  assert.equal(lookups.length, 2)
})

test('Enforcer ban - addresses without sockets or flows cost no process; conntrack runs only for those with flows', async () => {
  const {calls, connected, enforcer} = setup((c) => {
    c.firewall.kill_connections = true
  })
  await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote host-b', target: a('203.0.113.70')})
  await enforcer.settle()
  assert.deepEqual(calls, [], 'a remote ban of an address with no connection starts nothing')
  connected.flows.add('203.0.113.71')
  await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote host-b', target: a('203.0.113.71')})
  await enforcer.settle()
  assert.deepEqual(calls.map(line), ['conntrack -D -f ipv4 --orig-src 203.0.113.71', 'conntrack -D -f ipv4 --orig-dst 203.0.113.71'])
})

test('Enforcer ban - a shorter remote ban never shortens this host\'s own longer ban; a longer one extends it', async () => {
  const {advance, backend, enforcer} = setup()
  const ttlOf = async (text: string) => (await backend.list('block')).find((e) => e.target.text === text)?.ttlSec
  assert.deepEqual(await enforcer.ban({reason: 'port-scan 23/tcp', source: 'kmsg', target: a('203.0.113.80'), ttlSec: 86_400}),
    {result: 'banned', ttlSec: 86_400})
  advance(60_000)
  // The server's broadcast of a first ban: 15 minutes.
  assert.deepEqual(await enforcer.ban({reason: 'remote', source: 'remote server', target: a('203.0.113.80'), ttlSec: 900}),
    {result: 'banned', ttlSec: 86_340})
  assert.equal(await ttlOf('203.0.113.80'), 86_340)
  // A remote ban longer than what is left wins.
  assert.deepEqual(await enforcer.ban({reason: 'remote', source: 'remote server', target: a('203.0.113.80'), ttlSec: 604_800}),
    {result: 'banned', ttlSec: 604_800})
  // An address this host never banned takes the remote timeout as it is, and later remote bans replace it.
  await enforcer.ban({reason: 'remote', source: 'remote host-b', target: a('203.0.113.81'), ttlSec: 3600})
  await enforcer.ban({reason: 'remote', source: 'remote server', target: a('203.0.113.81'), ttlSec: 900})
  assert.equal(await ttlOf('203.0.113.81'), 900)
  // A permanent own ban stays permanent.
  await enforcer.ban({reason: 'manual', source: 'cli', target: a('203.0.113.82'), ttlSec: 0})
  assert.deepEqual(await enforcer.ban({reason: 'remote', source: 'remote server', target: a('203.0.113.82'), ttlSec: 900}),
    {result: 'banned', ttlSec: 0})
  assert.equal(enforcer.stats.bans, 7)
  assert.equal(enforcer.stats.ownBans, 2, 'only the bans this host decided count as its own')
})

test('Enforcer ban - an own ban that expired, or was lifted, no longer lengthens a remote ban', async () => {
  const {advance, enforcer} = setup()
  await enforcer.ban({reason: 'port-scan 23/tcp', source: 'kmsg', target: a('203.0.113.90'), ttlSec: 600})
  advance(601_000)
  assert.deepEqual(await enforcer.ban({reason: 'remote', source: 'remote server', target: a('203.0.113.90'), ttlSec: 300}),
    {result: 'banned', ttlSec: 300})
  await enforcer.ban({reason: 'port-scan 23/tcp', source: 'kmsg', target: a('203.0.113.91'), ttlSec: 86_400})
  await enforcer.unban(a('203.0.113.91'))
  assert.deepEqual(await enforcer.ban({reason: 'remote', source: 'remote server', target: a('203.0.113.91'), ttlSec: 300}),
    {result: 'banned', ttlSec: 300})
})
