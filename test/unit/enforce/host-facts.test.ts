import assert from 'node:assert/strict'
import {test} from 'node:test'

import {HostFacts, parseAddressEvent, parseListeningPorts, parseSshPeers, parseSsEndpoint} from '../../../src/lib/enforce/index.js'
import {parseAddress} from '../../../src/lib/net/index.js'
import type {Exec} from '../../../src/lib/system/index.js'

test('parseSsEndpoint - wildcards, brackets, interface suffixes and loopback', () => {
  assert.deepEqual(parseSsEndpoint('0.0.0.0:22'), {loopback: false, port: 22})
  assert.deepEqual(parseSsEndpoint('*:80'), {loopback: false, port: 80})
  assert.deepEqual(parseSsEndpoint('[::]:443'), {loopback: false, port: 443})
  assert.equal(parseSsEndpoint('[::ffff:192.0.2.1]:22')?.address?.text, '192.0.2.1')
  assert.equal(parseSsEndpoint('127.0.0.53%lo:53')?.loopback, true)
  assert.equal(parseSsEndpoint('[::1]:631')?.loopback, true)
  assert.equal(parseSsEndpoint('[fe80::1]%eth0:546')?.address?.text, 'fe80::1')
  for (const bad of ['', '22', 'x:y', '1.2.3.4:70000', 'not-an-address:22']) assert.equal(parseSsEndpoint(bad), undefined, bad)
})

test('parseListeningPorts - TCP in LISTEN and bound UDP that are reachable from outside', () => {
  const text = [
    'tcp   LISTEN 0      4096       0.0.0.0:22        0.0.0.0:*',
    'tcp   LISTEN 0      511           [::]:80           [::]:*',
    'tcp   LISTEN 0      128      127.0.0.1:5432      0.0.0.0:*',
    'udp   UNCONN 0      0    127.0.0.53%lo:53        0.0.0.0:*',
    'udp   UNCONN 0      0          0.0.0.0:5353      0.0.0.0:*',
    'tcp   ESTAB  0      0       192.0.2.1:22   203.0.113.9:5000',
    'garbage',
    '',
  ].join('\n')
  assert.deepEqual([...parseListeningPorts(text)].sort(), ['tcp/22', 'tcp/80', 'udp/5353'])
})

test('parseSshPeers - peers of established connections to the SSH ports only', () => {
  const text = [
    '0      0          192.0.2.1:22      203.0.113.9:51234',
    '0      0    [2001:db8::1]:2222  [2001:db8:5::7]:40000',
    '0      0          192.0.2.1:443     198.51.100.3:41000',
    '',
  ].join('\n')
  assert.deepEqual(parseSshPeers(text, new Set([22, 2222])).map((a) => a.text), ['203.0.113.9', '2001:db8:5::7'])
})

test('HostFacts - reads addresses, open ports and SSH peers into lists the engine can hold by reference', async () => {
  let ssOut = 'tcp LISTEN 0 128 0.0.0.0:8080 0.0.0.0:*\n'
  let peers = '0 0 192.0.2.1:22 203.0.113.9:5000\n'
  const exec: Exec = async (program, args) => {
    if (program === 'ip') return {stderr: '', stdout: JSON.stringify([{addr_info: [{family: 'inet', local: '192.0.2.1', prefixlen: 24}], ifname: 'eth0'}])}
    return {stderr: '', stdout: args.includes('-l') ? ssOut : peers}
  }
  const facts = new HostFacts({exec})
  const own = facts.own
  await facts.start()
  try {
    assert.ok(facts.isOpenPort('tcp', 8080))
    assert.ok(!facts.isOpenPort('udp', 8080))
    assert.deepEqual([...facts.sshPeers].map((n) => n.text), ['203.0.113.9/32'])
    assert.deepEqual([...own].map((n) => n.text), ['192.0.2.1/32'])
    ssOut = ''
    peers = ''
    await facts.refreshSockets()
    assert.ok(!facts.isOpenPort('tcp', 8080))
    assert.equal(facts.sshPeers.size, 0)
    assert.equal(facts.own, own, 'the list object must stay the same')
  } finally {
    facts.stop()
  }
})

test('parseAddressEvent - added and deleted addresses of ip -o monitor address; other lines are ignored', () => {
  assert.deepEqual(parseAddressEvent('1: lo    inet 192.0.2.44/32 scope global lo\\       valid_lft forever preferred_lft forever'),
    {address: parseAddress('192.0.2.44'), deleted: false})
  assert.deepEqual(parseAddressEvent('3: eth0    inet6 2001:db8::44/64 scope global tentative \\       valid_lft forever'),
    {address: parseAddress('2001:db8::44'), deleted: false})
  assert.deepEqual(parseAddressEvent('Deleted 1: lo    inet 192.0.2.44/32 scope global lo\\       valid_lft forever'),
    {address: parseAddress('192.0.2.44'), deleted: true})
  for (const line of ['', 'Deleted', '2: eth0    link/ether 02:00:00:00:00:01', '1: lo    inet 999.1.1.1/32 scope host lo']) {
    assert.equal(parseAddressEvent(line), undefined, line)
  }
})

/** Lines pushed by the test, as `ip -o monitor address` would print them. */
function pushLines(): {lines: AsyncIterable<string> & {close(): Promise<void>}; push(line: string): void} {
  const queue: string[] = []
  let wake: (() => void) | undefined
  let closed = false
  return {
    lines: {
      async close() {
        closed = true
        wake?.()
      },
      async* [Symbol.asyncIterator]() {
        while (!closed) {
          if (queue.length > 0) yield queue.shift()!
          else await new Promise<void>((resolve) => (wake = resolve))
        }
      },
    },
    push(line) {
      queue.push(line)
      wake?.()
    },
  }
}

test('HostFacts - a new address is protected as soon as the kernel announces it, and a deleted one goes at the next read', async () => {
  let addresses = ['192.0.2.1']
  let gate: Promise<void> | undefined
  const exec: Exec = async (program) => {
    if (program !== 'ip') return {stderr: '', stdout: ''}
    const answer = [...addresses] // what the kernel had when ip started
    const wait = gate
    gate = undefined // only the next read is held
    await wait
    return {stderr: '', stdout: JSON.stringify([{addr_info: answer.map((local) => ({local}))}])}
  }
  const monitor = pushLines()
  const facts = new HostFacts({addressesRefreshMs: 3_600_000, exec, followAddresses: () => monitor.lines})
  await facts.start()
  const added = parseAddress('198.51.100.5')
  try {
    assert.equal(facts.own.contains(added), false)
    // A read starts before the address exists and answers after it was announced: the stale answer
    // must not drop it.
    let open!: () => void
    gate = new Promise<void>((resolve) => (open = resolve))
    const staleRead = facts.refreshAddresses()
    addresses = [...addresses, added.text]
    monitor.push('2: eth0    inet 198.51.100.5/24 scope global eth0\\       valid_lft forever preferred_lft forever')
    await waitUntil(() => facts.own.contains(added))
    await new Promise((resolve) => setTimeout(resolve, 20)) // the read the announcement started has answered
    open()
    await staleRead
    assert.equal(facts.own.contains(added), true, 'a read that started before the announcement keeps the address')
    // Deleted: gone after the read that follows the announcement.
    addresses = ['192.0.2.1']
    monitor.push('Deleted 2: eth0    inet 198.51.100.5/24 scope global eth0\\       valid_lft forever preferred_lft forever')
    await waitUntil(() => !facts.own.contains(added))
    assert.deepEqual([...facts.own].map((n) => n.text), ['192.0.2.1/32'])
  } finally {
    await facts.stop()
  }
})

async function waitUntil(done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
