import assert from 'node:assert/strict'
import {writeFile} from 'node:fs/promises'
import {join} from 'node:path'
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
    assert.deepEqual(out.json, {ok: true, result: {added: 1, backend: 'ipset', changed: true, entries: [{changed: true, target: '203.0.113.7'}], refused: 0, removed: 0, unchanged: 0},
      warnings: []})
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
    assert.deepEqual(out.json.result, {added: 0, backend: 'ipset', changed: false, entries: [{changed: false, target: '203.0.113.7'}], refused: 0,
      removed: 0, unchanged: 1})
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
    assert.deepEqual(out.json.result, {added: 0, backend: 'ipset', changed: true, entries: [{changed: true, target: '203.0.113.7'}], refused: 0,
      removed: 1, unchanged: 0})
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
    assert.deepEqual(out.json.result, {added: 1, backend: 'ipset', changed: true, entries: [{changed: true, target: '198.51.100.0/24'}], refused: 0,
      removed: 0, unchanged: 0})
    const batches = entryBatches(await host.calls())
    assert.equal(batches.length, 1)
    assert.match(batches[0], /^add diswall-wl 198\.51\.100\.0\/24 timeout 0 comment "office VPN"$/m)
  }))

  test('allow add - the same entry again is unchanged and sends no batch', withFakeHost(async (host) => {
    assert.equal((await host.run(['allow', 'add', '198.51.100.0/24', '--json'])).code, 0)
    await host.clearCalls()
    const out = await host.run(['allow', 'add', '198.51.100.0/24', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result, {added: 0, backend: 'ipset', changed: false, entries: [{changed: false, target: '198.51.100.0/24'}], refused: 0,
      removed: 0, unchanged: 1})
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

/** `count` distinct documentation addresses (203.0.113.0/24 and 198.51.100.0/24, then 192.0.2.x is avoided: the fake host owns 192.0.2.10). */
function feed(count: number): string[] {
  return Array.from({length: count}, (_, i) => `${i < 254 ? '203.0.113' : '198.51.100'}.${(i % 254) + 1}`)
}

describe('allow/block add/del --file (fake ipset and iptables)', {concurrency: CONCURRENCY, skip}, () => {
  test('block add --file - 300 lines (comments, blank lines) go to the kernel in one process, the set is read once', withFakeHost(async (host) => {
    const addrs = feed(300)
    const path = join(host.dir, 'feed.txt')
    await writeFile(path, ['# threat feed', '', ...addrs.map((a, i) => (i % 3 === 0 ? `${a} # scanner` : i % 3 === 1 ? `${a} seen twice` : a))].join('\n'))
    const out = await host.run(['block', 'add', '--file', path, '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual([out.json.result.added, out.json.result.unchanged, out.json.result.refused], [300, 0, 0])
    assert.equal(out.json.result.entries[0].at, `${path}:3`)
    const calls = await host.calls()
    const batches = entryBatches(calls)
    assert.equal(batches.length, 1)
    assert.equal(batches[0].split('\n').filter((l) => l.startsWith('add diswall-bl ')).length, 300)
    // No process per address: no `ipset test`, and the whole run needs as many ipset calls as one address would.
    assert.deepEqual(calls.filter((c) => c.program === 'ipset' && c.args[0] === 'test'), [])
    assert.ok(calls.length < 40, `${calls.length} calls: ${calls.map((c) => `${c.program} ${c.args.join(' ')}`).join('; ')}`)
    assert.equal(Object.keys((await host.state()).ipset['diswall-bl'].entries).length, 300)

    // Again, with one more: the 300 are unchanged, one process again.
    await host.clearCalls()
    await writeFile(path, [...addrs, '198.51.100.200'].join('\n'))
    const again = await host.run(['block', 'add', '--file', path, '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual([again.json.result.added, again.json.result.unchanged], [1, 300])
    assert.equal(entryBatches(await host.calls()).length, 1)
  }))

  test('block add --file - - reads stdin, together with arguments', withFakeHost(async (host) => {
    const out = await host.run(['block', 'add', '198.51.100.9', '--file', '-', '--json'], {}, '203.0.113.7\n# x\n2001:db8::7 # v6\n')
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual(out.json.result.entries, [
      {changed: true, target: '198.51.100.9'},
      {at: 'stdin:1', changed: true, target: '203.0.113.7'},
      {at: 'stdin:3', changed: true, target: '2001:db8::7'},
    ])
    assert.equal(entryBatches(await host.calls()).length, 1)
    const {ipset} = await host.state()
    assert.deepEqual([Object.keys(ipset['diswall-bl'].entries), Object.keys(ipset['diswall-bl6'].entries)],
      [['198.51.100.9', '203.0.113.7'], ['2001:db8::7']])

    // Without arguments too: stdin is the list's, never taken as an argument.
    const alone = await host.run(['block', 'add', '--file', '-', '--json'], {}, '203.0.113.20 # one\n203.0.113.21\n')
    assert.equal(alone.code, 0, alone.stderr)
    assert.deepEqual(alone.json.result.entries.map((e: {at: string}) => e.at), ['stdin:1', 'stdin:2'])
  }))

  test('block add --file - one bad line exits 2 naming FILE:LINE, and nothing changes', withFakeHost(async (host) => {
    const path = join(host.dir, 'feed.txt')
    await writeFile(path, [...feed(50), '203.0.113.256 # typo', ...feed(60).slice(50)].join('\n'))
    const out = await host.run(['block', 'add', '--file', path, '--json'])
    assert.equal(out.code, 2, out.stderr)
    assert.equal(out.json.error.code, 'E_INVALID_VALUE')
    assert.match(out.json.error.message, new RegExp(`^${path.replaceAll('.', '\\.')}:51: .*203\\.0\\.113\\.256`))
    assert.deepEqual(changingCalls(await host.calls()), [])

    const text = await host.run(['block', 'add', '--file', '-'], {}, '203.0.113.7\n\n203.0.113.0/24\n')
    assert.equal(text.code, 2)
    assert.match(text.stderr, /stdin:3: "203\.0\.113\.0\/24" is a network/)
    assert.deepEqual(changingCalls(await host.calls()), [])
  }))

  test('block add --file - protected lines are refused and reported, the rest is blocked', withFakeHost(async (host) => {
    const path = join(host.dir, 'feed.txt')
    await writeFile(path, '203.0.113.7\n127.0.0.1 # loopback\n192.0.2.10\n203.0.113.8\n')
    const out = await host.run(['block', 'add', '--file', path, '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual([out.json.result.added, out.json.result.refused], [2, 2])
    assert.deepEqual(out.json.result.entries.filter((e: {refused?: string}) => e.refused).map((e: {at: string}) => e.at), [`${path}:2`, `${path}:3`])
    assert.equal(out.json.warnings.length, 2)
    assert.match(out.json.warnings[0], /refused 127\.0\.0\.1 \(.*:2\): loopback/)
    assert.deepEqual(Object.keys((await host.state()).ipset['diswall-bl'].entries), ['203.0.113.7', '203.0.113.8'])

    const forced = await host.run(['block', 'add', '--file', path, '--force', '--json'])
    assert.equal(forced.code, 0, forced.stderr)
    assert.deepEqual([forced.json.result.added, forced.json.result.unchanged, forced.json.result.refused], [2, 2, 0])
  }))

  test('block del --file - removes in one batch; absent lines are unchanged', withFakeHost(async (host) => {
    assert.equal((await host.run(['block', 'add', ...feed(12), '--json'])).code, 0)
    await host.clearCalls()
    const path = join(host.dir, 'del.txt')
    await writeFile(path, [...feed(10), '198.51.100.77'].join('\n'))
    const out = await host.run(['block', 'del', '--file', path, '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual([out.json.result.removed, out.json.result.unchanged], [10, 1])
    assert.equal(entryBatches(await host.calls()).length, 1)
    assert.deepEqual(Object.keys((await host.state()).ipset['diswall-bl'].entries), feed(12).slice(10))
  }))

  test('allow add --file - stores the comment of each line, --comment for the others; allow del --file removes them', withFakeHost(async (host) => {
    const path = join(host.dir, 'partners.txt')
    await writeFile(path, '198.51.100.0/24 # partner A\n203.0.113.50 partner B office\n203.0.113.51\n')
    const out = await host.run(['allow', 'add', '--file', path, '--comment', 'partners', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.deepEqual([out.json.result.added, out.json.result.unchanged], [3, 0])
    const {entries} = (await host.state()).ipset['diswall-wl']
    assert.deepEqual(Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, v.comment])),
      {'198.51.100.0/24': 'partner A', '203.0.113.50': 'partner B office', '203.0.113.51': 'partners'})
    assert.equal(entryBatches(await host.calls()).length, 1)

    const del = await host.run(['allow', 'del', '--file', path, '--json'])
    assert.equal(del.code, 0, del.stderr)
    assert.deepEqual([del.json.result.removed, del.json.result.unchanged], [3, 0])
    assert.deepEqual(Object.keys((await host.state()).ipset['diswall-wl'].entries), [])
  }))

  test('block add - a missing list file is E_LIST_FILE, no address at all is E_USAGE; nothing runs', withFakeHost(async (host) => {
    const missing = await host.run(['block', 'add', '--file', join(host.dir, 'nope.txt'), '--json'])
    assert.equal(missing.code, 2, missing.stderr)
    assert.equal(missing.json.error.code, 'E_LIST_FILE')
    const none = await host.run(['block', 'add', '--json'])
    assert.equal(none.code, 2, none.stderr)
    assert.equal(none.json.error.code, 'E_USAGE', none.stdout)
    const empty = await host.run(['block', 'add', '--file', '-', '--json'], {}, '# nothing\n\n')
    assert.equal(empty.code, 2, empty.stderr)
    assert.equal(empty.json.error.code, 'E_USAGE')
    assert.deepEqual(changingCalls(await host.calls()), [])
  }))
})
