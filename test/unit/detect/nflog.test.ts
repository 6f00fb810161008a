import assert from 'node:assert/strict'
import {spawn as spawnChild} from 'node:child_process'
import {test} from 'node:test'

import {DetectEngine} from '../../../src/lib/detect/engine.js'
import {parseKernelLog} from '../../../src/lib/detect/kernel-log.js'
import {
  findNflogHolders,
  formatNflogLine,
  LogSourceError,
  nflogHelperPrefix,
  NflogSource,
  parseTcpdumpLine,
  tcpdumpArgs,
} from '../../../src/lib/detect/sources/index.js'
import type {NflogPacket} from '../../../src/lib/detect/sources/index.js'
import {CommandFailedError, MissingDependencyError} from '../../../src/lib/errors.js'
import {parseAddress} from '../../../src/lib/net/index.js'
import type {LineStream} from '../../../src/lib/system/stream.js'
import {configWith} from './helpers.js'
import {Puller} from './sources/collect.js'

const PREFIX = 'diswall-log: '

/** The packet in a comparable form (addresses as text). */
function plain(packet: NflogPacket | undefined): Record<string, unknown> | undefined {
  if (packet === undefined) return undefined
  return {...packet, dst: packet.dst.text, src: packet.src.text}
}

// Lines as tcpdump 4.99.3 -l -n -q -t prints them for nflog:N (seen in a namespace).
const LINES: Array<[line: string, packet: Record<string, unknown>]> = [
  ['IP 203.0.113.7.40000 > 198.51.100.1.23: tcp 0', {dpt: 23, dst: '198.51.100.1', proto: 'TCP', spt: 40_000, src: '203.0.113.7'}],
  ['IP6 2001:db8::7.52816 > 2001:db8::1.2323: tcp 0', {dpt: 2323, dst: '2001:db8::1', proto: 'TCP', spt: 52_816, src: '2001:db8::7'}],
  ['IP 203.0.113.7.47776 > 198.51.100.1.53: UDP, length 3', {dpt: 53, dst: '198.51.100.1', proto: 'UDP', spt: 47_776, src: '203.0.113.7'}],
  ['IP6 2001:db8::7.52440 > 2001:db8::1.53: UDP, length 10', {dpt: 53, dst: '2001:db8::1', proto: 'UDP', spt: 52_440, src: '2001:db8::7'}],
  ['IP 203.0.113.7 > 198.51.100.1: ICMP echo request, id 4300, seq 1, length 64', {dst: '198.51.100.1', proto: 'ICMP', src: '203.0.113.7'}],
  ['IP6 2001:db8::7 > 2001:db8::1: ICMP6, echo request, id 4303, seq 1, length 64', {dst: '2001:db8::1', proto: 'ICMPv6', src: '2001:db8::7'}],
  ['IP6 fe80::1 > ff02::1:ff00:1: ICMP6, neighbor solicitation, who has fd00::1, length 32', {dst: 'ff02::1:ff00:1', proto: 'ICMPv6', src: 'fe80::1'}],
  ['IP truncated-ip - 2772 bytes missing! 203.0.113.7.59975 > 198.51.100.1.9999: UDP, length 3000',
    {dpt: 9999, dst: '198.51.100.1', proto: 'UDP', spt: 59_975, src: '203.0.113.7'}],
  ['IP 203.0.113.7.0 > 198.51.100.1.0: sctp (1) [Bad chunk length 0, < size of chunk descriptor]', {dst: '198.51.100.1', proto: '132', src: '203.0.113.7'}],
  ['IP 203.0.113.7 > 198.51.100.1: GREv0, length 8: gre-proto-0x0', {dst: '198.51.100.1', proto: '47', src: '203.0.113.7'}],
  ['IP 203.0.113.7 > 198.51.100.1: ESP(spi=0x00000000,seq=0x0), length 16', {dst: '198.51.100.1', proto: 'ESP', src: '203.0.113.7'}],
  ['IP 203.0.113.7 > 198.51.100.1:  ip-proto-136 16', {dst: '198.51.100.1', proto: '136', src: '203.0.113.7'}],
  ['IP6 ::ffff:203.0.113.7.40000 > ::ffff:198.51.100.1.22: tcp 0', {dpt: 22, dst: '198.51.100.1', proto: 'TCP', spt: 40_000, src: '203.0.113.7'}],
]

test('nflog parser - tcpdump -q lines of TCP, UDP, ICMP, ICMPv6 and other protocols', () => {
  for (const [line, packet] of LINES) assert.deepEqual(plain(parseTcpdumpLine(line)), packet, line)
})

test('nflog parser - garbage, other link types, fragments and bad values give undefined, never throw', () => {
  const bad: unknown[] = [
    '', 'IP', 'IP ', 'IP6', 'listening on nflog:5, link-type NFLOG (Linux netfilter log messages), snapshot length 256 bytes',
    'tcpdump: verbose output suppressed, use -v[v]... for full protocol decode', '7 packets captured',
    'ARP, Request who-has 10.0.0.1 tell 10.0.0.2, length 28',
    'IP 203.0.113.7.40000 > 198.51.100.1.23 tcp 0', // no ": "
    'IP 203.0.113.7.40000 198.51.100.1.23: tcp 0', // no " > "
    'IP 203.0.113.7 > 198.51.100.1.23: tcp 0', // no source port
    'IP 203.0.113.7.40000 > 198.51.100.1.: tcp 0',
    'IP 203.0.113.7.40000 > 198.51.100.1.70000: tcp 0',
    'IP 203.0.113.7.40000 > 198.51.100.1.123456: tcp 0',
    'IP 203.0.113.7.4a > 198.51.100.1.23: tcp 0',
    'IP 999.0.113.7.40000 > 198.51.100.1.23: tcp 0',
    'IP 2001:db8::7.40000 > 2001:db8::1.23: tcp 0', // IPv6 on an IP line
    'IP6 2001:db8::7 > 2001:db8::1: ICMP echo request', // ICMPv4 on an IP6 line
    'IP 203.0.113.7 > 198.51.100.1: ICMP6, echo request',
    'IP6 fd00::2 > fd00::1: frag (0|1448) 58260 > 9999: UDP, length 3000',
    'IP6 fd00::2 > fd00::1: frag (1448|1448)',
    'IP truncated-ip - 2772 bytes 203.0.113.7.1 > 198.51.100.1.2: tcp 0',
    'IP 203.0.113.7 > 198.51.100.1:  ip-proto-999 16',
    'IP 203.0.113.7 > 198.51.100.1: something new',
    `IP ${'1'.repeat(100)}.1 > 198.51.100.1.2: tcp 0`,
    '\u0000\uffff IP > : tcp', undefined, null, 42, {},
  ]
  for (const line of bad) assert.equal(parseTcpdumpLine(line as string), undefined, JSON.stringify(line))
  // Every cut of a real line: undefined or a packet, never an exception.
  for (const [line] of LINES) for (let i = 0; i <= line.length; i++) parseTcpdumpLine(line.slice(0, i))
})

test('nflog line - the packet as a kernel LOG line that parseKernelLog reads back', () => {
  const tcp = parseTcpdumpLine(LINES[0]![0])!
  assert.equal(formatNflogLine(PREFIX, tcp), 'diswall-log: SRC=203.0.113.7 DST=198.51.100.1 PROTO=TCP SPT=40000 DPT=23')
  const icmp = parseTcpdumpLine(LINES[5]![0])!
  assert.equal(formatNflogLine('dw:', icmp), 'dw:SRC=2001:db8::7 DST=2001:db8::1 PROTO=ICMPv6')
  const kernelProto: Record<string, string> = {ICMPv6: 'icmpv6'}
  for (const [line, packet] of LINES) {
    const parsed = parseKernelLog(formatNflogLine(PREFIX, parseTcpdumpLine(line)!), PREFIX)
    assert.ok(parsed, line)
    assert.equal(parsed.src.text, packet.src, line)
    assert.equal(parsed.dst?.text, packet.dst, line)
    assert.equal(parsed.proto, kernelProto[packet.proto as string] ?? (packet.proto as string).toLowerCase(), line)
    assert.equal(parsed.dpt, packet.dpt, line)
    assert.equal(parsed.spt, packet.spt, line)
  }
  assert.deepEqual(formatNflogLine(PREFIX, {dpt: 23, dst: parseAddress('198.51.100.1'), proto: 'TCP', src: parseAddress('203.0.113.7')}),
    'diswall-log: SRC=203.0.113.7 DST=198.51.100.1 PROTO=TCP SPT=0 DPT=23')
})

test('tcpdump arguments - line-buffered, numeric, quiet, no timestamps, a short snap length, the group', () => {
  assert.deepEqual(tcpdumpArgs(5), ['-l', '-n', '-q', '-t', '-B', '4096', '-s', '256', '-i', 'nflog:5'])
  assert.equal(tcpdumpArgs(65_535).at(-1), 'nflog:65535')
})

/** As root, tcpdump runs through setpriv (its own uid, CAP_NET_ADMIN only, killed when the daemon dies). */
const HELPER = process.getuid?.() === 0 ? nflogHelperPrefix() : []

test('nflog helper - setpriv drops to the tcpdump user with CAP_NET_ADMIN only and kills tcpdump with its parent', () => {
  assert.deepEqual(nflogHelperPrefix(), ['setpriv', '--reuid=tcpdump', '--regid=tcpdump', '--init-groups',
    '--inh-caps=-all,+net_admin', '--ambient-caps=-all,+net_admin', '--pdeathsig=KILL', '--'])
})

test('nflog source - a taken group is reported with the PID of the process that holds it', async () => {
  // A real process with `nflog:GROUP` in its command line, as a tcpdump left behind would have.
  const holder = spawnChild(process.execPath, ['-e', 'setTimeout(() => {}, 20000)', '--', '-i', 'nflog:4711'], {stdio: 'ignore'})
  try {
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.deepEqual((await findNflogHolders(4711, true)).map((h) => h.pid), [holder.pid])
    const failing = (program: string, args: readonly string[]): LineStream => ({
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(new CommandFailedError(program, args, 1, "tcpdump: Can't listen on group index: Operation not permitted\n")),
      }),
      async close() {},
      pid: 4243,
    })
    const source = new NflogSource({group: 4711, logPrefix: PREFIX}, failing)
    const error = await new Puller(source.start()).end()
    assert.ok(error instanceof LogSourceError, String(error))
    assert.match(error.message, new RegExp(`^NFLOG group 4711 is taken by PID ${holder.pid} \\(.*nflog:4711\\)$`))
    assert.match(error.hint ?? '', new RegExp(`kill ${holder.pid}`))
    // Another error stays as it is.
    const other = new NflogSource({group: 4711, logPrefix: PREFIX}, (program, args) => ({
      [Symbol.asyncIterator]: () => ({next: () => Promise.reject(new CommandFailedError(program, args, 1, 'tcpdump: something else\n'))}),
      async close() {},
      pid: 4244,
    }))
    assert.ok((await new Puller(other.start()).end()) instanceof CommandFailedError)
  } finally {
    holder.kill()
  }
})

/** A LineStream over fixed lines, or one that waits until closed; records how it was started. */
function fakeSpawn(calls: Array<{program: string; args: readonly string[]}>, lines: string[] | 'forever') {
  let closes = 0
  const spawn = (program: string, args: readonly string[], options?: {onStderr?: (text: string) => void}): LineStream => {
    calls.push({args, program})
    let wake: (() => void) | undefined
    let closed = false
    return {
      async *[Symbol.asyncIterator]() {
        if (lines !== 'forever') {
          yield* lines
          return
        }
        options?.onStderr?.('tcpdump: verbose output suppressed, use -v[v]... for full protocol decode\nlistening on nflog:')
        options?.onStderr?.('5, link-type NFLOG (Linux netfilter log messages), snapshot length 256 bytes\n')
        yield 'IP 203.0.113.9.1234 > 198.51.100.1.25: tcp 0'
        while (!closed) await new Promise<void>((resolve) => (wake = resolve))
      },
      async close() {
        closes++
        closed = true
        wake?.()
      },
      pid: 4242,
    }
  }
  return {closes: () => closes, spawn}
}

test('nflog source - packets become kernel LOG lines of source nflog; other lines are skipped', async () => {
  const calls: Array<{program: string; args: readonly string[]}> = []
  const {spawn} = fakeSpawn(calls, [
    'IP 203.0.113.7.40000 > 198.51.100.1.23: tcp 0',
    'listening on nflog:7, link-type NFLOG (Linux netfilter log messages), snapshot length 256 bytes',
    'garbage',
    'IP6 2001:db8::7 > 2001:db8::1: ICMP6, echo request, id 1, seq 1, length 64',
  ])
  const source = new NflogSource({group: 7, logPrefix: PREFIX}, spawn)
  const lines = []
  for await (const line of source.start()) lines.push(line)
  assert.deepEqual(lines.map(({source: s, text}) => ({source: s, text})), [
    {source: 'nflog', text: 'diswall-log: SRC=203.0.113.7 DST=198.51.100.1 PROTO=TCP SPT=40000 DPT=23'},
    {source: 'nflog', text: 'diswall-log: SRC=2001:db8::7 DST=2001:db8::1 PROTO=ICMPv6'},
  ])
  assert.ok(lines.every((l) => typeof l.time === 'number'))
  const [program, ...args] = [...HELPER, 'tcpdump', ...tcpdumpArgs(7)]
  assert.deepEqual(calls, [{args, program}])
  assert.equal(source.health().lines, 2)
  assert.equal(source.health().name, 'nflog')
})

test('nflog source - wrap runs tcpdump through another command (ip netns exec), under its own name', async () => {
  const calls: Array<{program: string; args: readonly string[]}> = []
  const source = new NflogSource({group: 9, logPrefix: PREFIX, name: 'nflog-test', program: '/usr/bin/tcpdump',
    wrap: ['ip', 'netns', 'exec', 'dw-x']}, fakeSpawn(calls, []).spawn)
  for await (const _ of source.start()) assert.fail('no lines expected')
  assert.deepEqual(calls, [{args: ['netns', 'exec', 'dw-x', ...HELPER, '/usr/bin/tcpdump', ...tcpdumpArgs(9)], program: 'ip'}])
  assert.equal(source.health().name, 'nflog-test')
})

test('nflog source - reads once tcpdump says it listens on the group (the line may come in pieces)', async () => {
  const source = new NflogSource({group: 5, logPrefix: PREFIX}, fakeSpawn([], 'forever').spawn)
  let reading = 0
  const puller = new Puller(source.start({reading: () => reading++}))
  await puller.take(1)
  assert.equal(reading, 1)
  await source.close()
  await puller.end()
  // tcpdump that never listens (only the first piece of the line): never reading.
  let early = 0
  const stuck = new NflogSource({group: 5, logPrefix: PREFIX}, (program, args, options) => {
    options?.onStderr?.('listening on nflog:')
    return fakeSpawn([], ['IP 203.0.113.9.1234 > 198.51.100.1.25: tcp 0']).spawn(program, args)
  })
  for await (const _ of stuck.start({reading: () => early++})) break
  assert.equal(early, 0)
})

test('nflog source - close() stops tcpdump and ends the iteration; later runs yield nothing', async () => {
  const calls: Array<{program: string; args: readonly string[]}> = []
  const fake = fakeSpawn(calls, 'forever')
  const source = new NflogSource({group: 5, logPrefix: PREFIX}, fake.spawn)
  const puller = new Puller(source.start())
  assert.deepEqual((await puller.take(1)).map((l) => l.text), ['diswall-log: SRC=203.0.113.9 DST=198.51.100.1 PROTO=TCP SPT=1234 DPT=25'])
  assert.equal(source.pid, 4242)
  assert.equal(source.health().state, 'running')
  await source.close()
  assert.equal(await puller.end(), undefined)
  assert.ok(fake.closes() >= 1)
  assert.equal(source.pid, undefined)
  assert.equal(source.health().state, 'stopped')
  for await (const _ of source.start()) assert.fail('a closed source yields nothing')
  assert.equal(calls.length, 1)
})

test('nflog source - a missing tcpdump fails with MissingDependencyError', async () => {
  const source = new NflogSource({group: 5, logPrefix: PREFIX, program: 'dw-no-such-tcpdump'})
  const error = await new Puller(source.start()).end()
  assert.ok(error instanceof MissingDependencyError, String(error))
  assert.equal(source.health().state, 'failed')
  assert.match(source.health().lastError ?? '', /dw-no-such-tcpdump/)
})

test('nflog source - refuses a group outside 1..65535', () => {
  for (const group of [0, 65_536, 1.5, Number.NaN]) {
    assert.throws(() => new NflogSource({group, logPrefix: PREFIX}), LogSourceError, String(group))
  }
})

test('nflog source - the engine reads its lines as kernel packet lines by default (port scan ban, ICMP portless)', () => {
  const engine = new DetectEngine({config: configWith({source: 'nflog'})})
  const line = (tcpdump: string) => ({source: 'nflog', text: formatNflogLine(PREFIX, parseTcpdumpLine(tcpdump)!)})
  const event = engine.handleLine(line('IP 203.0.113.7.40000 > 198.51.100.1.23: tcp 0'))
  assert.equal(event?.kind, 'ban')
  assert.equal(event.kind === 'ban' ? event.reason : '', 'port-scan 23/tcp')
  assert.equal(event.kind === 'ban' ? event.source : '', 'nflog')
  assert.equal(engine.handleLine(line('IP 203.0.113.8 > 198.51.100.1: ICMP echo request, id 1, seq 1, length 64')), undefined)
  assert.equal(engine.stats.portless, 1)
})
