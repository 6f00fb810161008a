import assert from 'node:assert/strict'
import {test} from 'node:test'

import {HostFacts, parseAddressEvent, parseProcNetEndpoint, parseProcNetListening, parseProcNetSshPeers} from '../../../src/lib/enforce/index.js'
import {parseAddress} from '../../../src/lib/net/index.js'
import type {Exec} from '../../../src/lib/system/index.js'
import {procNetEndpoint, procNetTable, TCP_STATE} from '../../helpers/proc-net.js'

test('parseProcNetEndpoint - IPv4 and IPv6 words in the host byte order, wildcards, loopback', () => {
  // Little-endian as on x86 and arm64, big-endian as on s390x.
  assert.deepEqual(parseProcNetEndpoint('00000000:0016', true), {loopback: false, port: 22})
  assert.equal(parseProcNetEndpoint('0100007F:0016', true)?.loopback, true)
  assert.equal(parseProcNetEndpoint('0100007F:0016', true)?.address?.text, '127.0.0.1')
  assert.equal(parseProcNetEndpoint('7F000001:0016', false)?.address?.text, '127.0.0.1')
  assert.equal(parseProcNetEndpoint('010200C0:01BB', true)?.address?.text, '192.0.2.1')
  assert.equal(parseProcNetEndpoint('010200C0:01BB', true)?.port, 443)
  assert.deepEqual(parseProcNetEndpoint('00000000000000000000000000000000:0050', true), {loopback: false, port: 80})
  assert.equal(parseProcNetEndpoint('00000000000000000000000001000000:0277', true)?.loopback, true)
  assert.equal(parseProcNetEndpoint('B80D0120000000000000000001000000:0016', true)?.address?.text, '2001:db8::1')
  assert.equal(parseProcNetEndpoint('0000000000000000FFFF0000010200C0:0016', true)?.address?.text, '192.0.2.1')
  for (const bad of ['', '0016', 'zz00007F:0016', '0100007F:16', '0100007F0:0016']) assert.equal(parseProcNetEndpoint(bad, true), undefined, bad)
})

test('parseProcNetListening - TCP in LISTEN and bound, unconnected UDP that are reachable from outside', () => {
  const e = (ip: string, port: number): string => procNetEndpoint(ip, port, true)
  const tcp = procNetTable([
    [e('0.0.0.0', 22), e('0.0.0.0', 0), TCP_STATE.LISTEN],
    [e('127.0.0.1', 5432), e('0.0.0.0', 0), TCP_STATE.LISTEN],
    [e('192.0.2.1', 22), e('203.0.113.9', 5000), TCP_STATE.ESTABLISHED],
  ])
  const tcp6 = procNetTable([[e('::', 80), e('::', 0), TCP_STATE.LISTEN], [e('::1', 631), e('::', 0), TCP_STATE.LISTEN]])
  const udp = procNetTable([
    [e('127.0.0.53', 53), e('0.0.0.0', 0), TCP_STATE.CLOSE],
    [e('0.0.0.0', 5353), e('0.0.0.0', 0), TCP_STATE.CLOSE],
    [e('192.0.2.1', 40000), e('198.51.100.1', 53), TCP_STATE.ESTABLISHED],
  ])
  const garbage = 'header\nnot a socket line\n   0: 0100007F:0016\n'
  assert.deepEqual([...parseProcNetListening({tcp: [tcp, tcp6, garbage], udp: [udp, '']}, true)].sort(), ['tcp/22', 'tcp/80', 'udp/5353'])
})

test('parseProcNetSshPeers - peers of established connections to the SSH ports only', () => {
  const e = (ip: string, port: number): string => procNetEndpoint(ip, port, false)
  const tcp = procNetTable([
    [e('192.0.2.1', 22), e('203.0.113.9', 51_234), TCP_STATE.ESTABLISHED],
    [e('192.0.2.1', 443), e('198.51.100.3', 41_000), TCP_STATE.ESTABLISHED],
    [e('0.0.0.0', 22), e('0.0.0.0', 0), TCP_STATE.LISTEN],
  ])
  const tcp6 = procNetTable([[e('2001:db8::1', 2222), e('2001:db8:5::7', 40_000), TCP_STATE.ESTABLISHED]])
  assert.deepEqual(parseProcNetSshPeers([tcp, tcp6], new Set([22, 2222]), false).map((a) => a.text), ['203.0.113.9', '2001:db8:5::7'])
})

test('HostFacts - reads addresses, open ports and SSH peers into lists the engine can hold by reference', async () => {
  let tcp = procNetTable([
    [procNetEndpoint('0.0.0.0', 8080), procNetEndpoint('0.0.0.0', 0), TCP_STATE.LISTEN],
    [procNetEndpoint('192.0.2.1', 22), procNetEndpoint('203.0.113.9', 5000), TCP_STATE.ESTABLISHED],
  ])
  const read: string[] = []
  const readText = async (path: string): Promise<string> => {
    read.push(path)
    return path === '/proc/net/tcp' ? tcp : ''
  }
  const exec: Exec = async (program) => {
    if (program === 'ip') return {stderr: '', stdout: JSON.stringify([{addr_info: [{family: 'inet', local: '192.0.2.1', prefixlen: 24}], ifname: 'eth0'}])}
    throw new Error(`no process but ip may run, not ${program}`)
  }
  const facts = new HostFacts({exec, readText})
  const own = facts.own
  await facts.start()
  try {
    assert.deepEqual([...new Set(read)].sort(), ['/proc/net/tcp', '/proc/net/tcp6', '/proc/net/udp', '/proc/net/udp6'])
    assert.ok(facts.isOpenPort('tcp', 8080))
    assert.ok(!facts.isOpenPort('udp', 8080))
    assert.deepEqual([...facts.sshPeers].map((n) => n.text), ['203.0.113.9/32'])
    assert.deepEqual([...own].map((n) => n.text), ['192.0.2.1/32'])
    tcp = ''
    await facts.refreshSockets()
    assert.ok(!facts.isOpenPort('tcp', 8080))
    assert.equal(facts.sshPeers.size, 0)
    assert.equal(facts.own, own, 'the list object must stay the same')
  } finally {
    await facts.stop()
  }
})

test('HostFacts - the real /proc/net of this namespace: a listening socket shows as an open port', async () => {
  const {createServer} = await import('node:net')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve))
  const {port} = server.address() as {port: number}
  const facts = new HostFacts({exec: async () => ({stderr: '', stdout: '[]'})})
  try {
    await facts.refreshSockets()
    assert.ok(facts.isOpenPort('tcp', port), `tcp/${port} among ${facts.openPorts().join(' ')}`)
  } finally {
    await new Promise((resolve) => server.close(resolve))
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
