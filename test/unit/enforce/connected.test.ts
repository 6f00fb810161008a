import assert from 'node:assert/strict'
import {test} from 'node:test'

import {conntrackAddresses, CONNTRACK_READ_MAX_FLOWS, findConnected, PROC_CONNTRACK, PROC_CONNTRACK_COUNT, readTablesWith, tcpPeers} from '../../../src/lib/enforce/index.js'
import {parseAddress} from '../../../src/lib/net/index.js'

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n'
// 192.0.2.10:22 ← 198.51.100.7:51514 established; a listener on :22; 192.0.2.10:80 ← 203.0.113.9 in TIME_WAIT.
const TCP = HEADER + [
  '   0: 0A0200C0:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
  '   1: 0A0200C0:0016 076433C6:C93A 01 00000000:00000000 02:00000000 00000000     0        0 2 1 0 20 4 30 10 -1',
  '   2: 0A0200C0:0050 097100CB:A000 06 00000000:00000000 03:00000000 00000000     0        0 0 3 0',
].join('\n') + '\n'
// An IPv4 peer on a dual-stack socket (::ffff:203.0.113.5) and 2001:db8::7.
const TCP6 = HEADER + [
  '   0: 00000000000000000000000000000000:0016 0000000000000000FFFF0000057100CB:D000 01 0 0 0 0 0 0 0 1',
  '   1: 00000000000000000000000000000000:0016 B80D0120000000000000000007000000:D001 01 0 0 0 0 0 0 0 1',
].join('\n') + '\n'
const CONNTRACK = [
  'ipv4     2 udp      17 29 src=192.0.2.10 dst=198.51.100.99 sport=5353 dport=53 src=198.51.100.99 dst=192.0.2.10 sport=53 dport=5353 mark=0 zone=0 use=2',
  'ipv6     10 tcp      6 299 ESTABLISHED src=2001:0db8:0000:0000:0000:0000:0000:0007 dst=2001:0db8:0000:0000:0000:0000:0000:0001 sport=1 dport=22 ' +
    'src=2001:0db8:0000:0000:0000:0000:0000:0001 dst=2001:0db8:0000:0000:0000:0000:0000:0007 sport=22 dport=1 [ASSURED] mark=0 zone=0 use=2',
].join('\n') + '\n'

const files = (extra: Record<string, string | undefined> = {}) => async (path: string) =>
  ({'/proc/net/tcp': TCP, '/proc/net/tcp6': TCP6, [PROC_CONNTRACK]: CONNTRACK, [PROC_CONNTRACK_COUNT]: '2\n', ...extra})[path]

test('tcpPeers - peers of every socket but listeners; IPv4-mapped peers as IPv4', () => {
  assert.deepEqual(tcpPeers(TCP), ['198.51.100.7', '203.0.113.9'])
  assert.deepEqual(tcpPeers(TCP6), ['203.0.113.5', '2001:db8::7'])
  assert.deepEqual(tcpPeers(HEADER), [])
})

test('conntrackAddresses - IPv4 as printed, IPv6 in the kernel\'s full form; a prefix of another address does not match', () => {
  const addrs = ['198.51.100.99', '198.51.100.9', '2001:db8::7', '2001:db8::70'].map((t) => parseAddress(t))
  assert.deepEqual([...conntrackAddresses(CONNTRACK, addrs)].sort(), ['198.51.100.99', '2001:db8::7'])
})

test('findConnected - where conntrack tracks flows, its table answers for sockets and flows; the socket tables are not read', async () => {
  const addrs = ['198.51.100.7', '198.51.100.99', '2001:db8::7', '203.0.113.200'].map((t) => parseAddress(t))
  const read: string[] = []
  const all = files()
  const report = await findConnected(addrs, async (path, small) => (read.push(`${path} ${small}`), all(path)))
  assert.deepEqual([...report.flows!].sort(), ['198.51.100.99', '2001:db8::7'])
  assert.deepEqual([...report.sockets].sort(), ['198.51.100.99', '2001:db8::7'])
  // The count is read on the main thread, the table on the thread pool.
  assert.deepEqual(read, [`${PROC_CONNTRACK_COUNT} true`, `${PROC_CONNTRACK} undefined`])
})

test('findConnected - conntrack tracking nothing: sockets from both socket tables, no flows', async () => {
  const addrs = ['198.51.100.7', '203.0.113.5', '2001:db8::7', '203.0.113.200'].map((t) => parseAddress(t))
  const report = await findConnected(addrs, files({[PROC_CONNTRACK]: '', [PROC_CONNTRACK_COUNT]: '0\n'}))
  assert.deepEqual([...report.sockets].sort(), ['198.51.100.7', '2001:db8::7', '203.0.113.5'])
  assert.deepEqual([...report.flows!], [])
})

test('findConnected - a large or missing conntrack table is not read: sockets from the socket tables, flows unknown', async () => {
  const addrs = [parseAddress('198.51.100.99'), parseAddress('198.51.100.7')]
  const read: string[] = []
  const big = files({[PROC_CONNTRACK_COUNT]: `${CONNTRACK_READ_MAX_FLOWS + 1}\n`})
  const report = await findConnected(addrs, async (path) => (read.push(path), big(path)))
  assert.equal(report.flows, undefined)
  assert.deepEqual([...report.sockets], ['198.51.100.7'])
  assert.ok(!read.includes(PROC_CONNTRACK), 'the table itself was not read')
  assert.equal((await findConnected(addrs, files({[PROC_CONNTRACK]: undefined, [PROC_CONNTRACK_COUNT]: undefined}))).flows, undefined)
})

test('readTablesWith - the tables go to the given reader (the helper thread), the small count file is read at once', async () => {
  const asked: string[] = []
  const read = readTablesWith(async (path) => {
    asked.push(path)
    return path === PROC_CONNTRACK ? CONNTRACK : path.endsWith('6') ? TCP6 : TCP
  })
  assert.equal(await read(PROC_CONNTRACK), CONNTRACK)
  assert.equal(await read('/proc/net/tcp6'), TCP6)
  // The count is this machine's own (or absent): never handed to the reader.
  const count = await read(PROC_CONNTRACK_COUNT, true)
  assert.ok(count === undefined || /^\d+\n$/.test(count), String(count))
  assert.deepEqual(asked, [PROC_CONNTRACK, '/proc/net/tcp6'])
})
