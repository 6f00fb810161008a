import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {changingCalls, fakeRootSkip, firewallCalls, withFakeHost} from './fake-host.js'
import type {FakeCall} from './fake-host.js'

/** The `ipset -exist restore` scripts that add or delete entries (not the create-only ones of init). */
function entryBatches(calls: readonly FakeCall[]): string[] {
  return calls.filter((c) => c.program === 'ipset' && c.args.includes('restore') && /^(add|del) /m.test(c.stdin)).map((c) => c.stdin)
}

const skip = fakeRootSkip()
// Each test has its own host (temporary directory, fake state); a CLI run waits mostly on process starts.
const CONCURRENCY = 4

describe('block add/del (fake ipset and iptables)', {concurrency: CONCURRENCY, skip}, () => {
  test('block add - one address goes into the kernel in one batch, reported as changed', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '203.0.113.7', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json, {ok: true, result: {backend: 'ipset', changed: true, entries: [{changed: true, target: '203.0.113.7'}]}, warnings: []})
    const batches = entryBatches(await host.calls())
    assert.equal(batches.length, 1, JSON.stringify(batches))
    assert.match(batches[0], /^add diswall-bl 203\.0\.113\.7 timeout 86400$/m)
    assert.deepEqual(Object.keys((await host.state()).ipset['diswall-bl'].entries), ['203.0.113.7'])
  }))

  test('block add - several addresses and --timeout: one batch, IPv6 into the IPv6 set, timeout in seconds', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '203.0.113.7', '2001:db8:1::7', '198.51.100.9', '--timeout', '1h', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result.entries.map((e: {target: string}) => e.target), ['203.0.113.7', '2001:db8:1::7', '198.51.100.9'])
    const batches = entryBatches(await host.calls())
    assert.equal(batches.length, 1)
    const adds = batches[0].split('\n').filter((l) => l.startsWith('add '))
    assert.deepEqual(adds, [
      'add diswall-bl 203.0.113.7 timeout 3600',
      'add diswall-bl6 2001:db8:1::7 timeout 3600',
      'add diswall-bl 198.51.100.9 timeout 3600',
    ])
  }))

  test('block add - an address that is already blocked is reported as unchanged (timeout refreshed)', withFakeHost(async (host) => {
    assert.equal((await host.run(['block', 'add', '203.0.113.7', '--json'])).code, 0)
    await host.clearCalls()
    const out = await host.run(['block', 'add', '203.0.113.7', '--timeout', '600', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result, {backend: 'ipset', changed: false, entries: [{changed: false, target: '203.0.113.7'}]})
    assert.equal((await host.state()).ipset['diswall-bl'].entries['203.0.113.7'].timeout, 600)
  }))

  test('block add - a bad address exits 2 (E_INVALID_VALUE, naming it) and reaches no firewall program', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '203.0.113.999', '--json'])
    assert.equal(out.code, 2, out.stderr)
    assert.equal(out.json.error.code, 'E_INVALID_VALUE')
    assert.match(out.json.error.message, /203\.0\.113\.999/)
    assert.deepEqual(firewallCalls(await host.calls()), [])
  }))

  test('block add - a network is refused: the block list holds single addresses', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '203.0.113.0/24', '--json'])
    assert.equal(out.code, 2, out.stderr)
    assert.match(out.json.error.message, /is a network/)
    assert.deepEqual(changingCalls(await host.calls()), [])
  }))

  test('block add - the host\'s own address (from ip -j addr) is refused without --force, nothing changes', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '203.0.113.7', '192.0.2.10', '--json'])
    assert.equal(out.code, 2, out.stderr)
    assert.equal(out.json.error.code, 'E_PROTECTED')
    assert.match(out.json.error.message, /192\.0\.2\.10/)
    assert.deepEqual(changingCalls(await host.calls()), [])
  }))

  test('block add - loopback is refused even when ip reports no addresses', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '127.0.0.1', '--json'], {DISWALL_FAKE_OWN_ADDRESSES: ''})
    assert.equal(out.code, 2, out.stderr)
    assert.equal(out.json.error.code, 'E_PROTECTED')
    assert.deepEqual(changingCalls(await host.calls()), [])
  }))

  test('block add - a failing ipset exits 5 with the program named', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '203.0.113.7', '--json'], {DISWALL_FAKE_FAIL: 'ipset:-exist restore'})
    assert.equal(out.code, 5, out.stderr)
    assert.equal(out.json.error.code, 'E_COMMAND_FAILED')
    assert.match(out.json.error.message, /^ipset -exist restore exited with code 1/)
  }))

  test('block del - removes a blocked address; a second del reports it as unchanged', withFakeHost(async (host) => {
    assert.equal((await host.run(['block', 'add', '203.0.113.7', '198.51.100.9', '--json'])).code, 0)
    await host.clearCalls()
    const out = await host.run(['block', 'del', '203.0.113.7', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result, {backend: 'ipset', changed: true, entries: [{changed: true, target: '203.0.113.7'}]})
    const batches = entryBatches(await host.calls())
    assert.equal(batches.length, 1)
    assert.match(batches[0], /^del diswall-bl 203\.0\.113\.7$/m)
    assert.deepEqual(Object.keys((await host.state()).ipset['diswall-bl'].entries), ['198.51.100.9'])

    const again = await host.run(['block', 'del', '203.0.113.7', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual(again.json.result.entries, [{changed: false, target: '203.0.113.7'}])
    assert.equal(again.json.result.changed, false)
  }))

  test('block add, then block list - the list shows what was added, with its timeout', withFakeHost(async (host) => {
    assert.equal((await host.run(['block', 'add', '203.0.113.7', '--timeout', '2h', '--json'])).code, 0)
    const out = await host.run(['block', 'list', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result.entries, [{family: 4, target: '203.0.113.7', ttlSec: 7200}])
  }))
})

describe('allow add/del (fake ipset and iptables)', {concurrency: CONCURRENCY, skip}, () => {
  test('allow add - a network with a comment goes into the allow set, permanent unless --timeout', withFakeHost(async (host) => {
    const out = await host.run(['allow', 'add', '198.51.100.0/24', '--comment', 'office VPN', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result, {backend: 'ipset', changed: true, entries: [{changed: true, target: '198.51.100.0/24'}]})
    const batches = entryBatches(await host.calls())
    assert.equal(batches.length, 1)
    assert.match(batches[0], /^add diswall-wl 198\.51\.100\.0\/24 timeout 0 comment "office VPN"$/m)
  }))

  test('allow add - the same entry again is unchanged and sends no batch', withFakeHost(async (host) => {
    assert.equal((await host.run(['allow', 'add', '198.51.100.0/24', '--json'])).code, 0)
    await host.clearCalls()
    const out = await host.run(['allow', 'add', '198.51.100.0/24', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result, {backend: 'ipset', changed: false, entries: [{changed: false, target: '198.51.100.0/24'}]})
    assert.deepEqual(entryBatches(await host.calls()), [])
  }))

  test('allow add - a new comment updates the existing entry and counts as a change', withFakeHost(async (host) => {
    assert.equal((await host.run(['allow', 'add', '2001:db8:5::/48', '--json'])).code, 0)
    const out = await host.run(['allow', 'add', '2001:db8:5::/48', '-m', 'backup site', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.equal(out.json.result.changed, true)
    assert.equal((await host.state()).ipset['diswall-wl6'].entries['2001:db8:5::/48'].comment, 'backup site')
  }))

  test('allow add - 0.0.0.0/0 would allow everyone: exit 2, nothing changes', withFakeHost(async (host) => {
    const out = await host.run(['allow', 'add', '0.0.0.0/0', '--json'])
    assert.equal(out.code, 2, out.stderr)
    assert.match(out.json.error.message, /would allow everyone/)
    assert.deepEqual(changingCalls(await host.calls()), [])
  }))

  test('allow add - a comment with a quote exits 2 before any kernel call', withFakeHost(async (host) => {
    const out = await host.run(['allow', 'add', '198.51.100.7', '--comment', 'say "hi"', '--json'])
    assert.equal(out.code, 2, out.stderr)
    assert.equal(out.json.error.code, 'E_INVALID_VALUE')
    assert.deepEqual(firewallCalls(await host.calls()), [])
  }))

  test('allow del - removes the entry; absent ones are reported as unchanged', withFakeHost(async (host) => {
    assert.equal((await host.run(['allow', 'add', '198.51.100.0/24', '203.0.113.50', '--json'])).code, 0)
    await host.clearCalls()
    const out = await host.run(['allow', 'del', '198.51.100.0/24', '192.0.2.99', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result.entries, [{changed: true, target: '198.51.100.0/24'}, {changed: false, target: '192.0.2.99'}])
    const batches = entryBatches(await host.calls())
    assert.equal(batches.length, 1)
    assert.match(batches[0], /^del diswall-wl 198\.51\.100\.0\/24$/m)
    assert.deepEqual(Object.keys((await host.state()).ipset['diswall-wl'].entries), ['203.0.113.50'])
  }))

  test('allow add, then block add of an allowed address - refused as allow-listed', withFakeHost(async (host) => {
    assert.equal((await host.run(['allow', 'add', '203.0.113.50', '--json'])).code, 0)
    const out = await host.run(['block', 'add', '203.0.113.50', '--json'])
    assert.equal(out.code, 2, out.stderr)
    assert.equal(out.json.error.code, 'E_PROTECTED')
    assert.match(out.json.error.message, /allow list/)
  }))
})
