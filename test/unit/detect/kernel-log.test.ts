import assert from 'node:assert/strict'
import {test} from 'node:test'

import {isValidTag, parseKernelLog, parsePipeLine, parsePipeReport} from '../../../src/lib/detect/index.js'
import {parseAddress} from '../../../src/lib/net/index.js'

const a = parseAddress
const P = 'diswall-log: '
const MAC = 'MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00'
const TCP23 = `IN=eth0 OUT= ${MAC} SRC=203.0.113.7 DST=198.51.100.1 LEN=60 TOS=0x00 PREC=0x00 TTL=52 ID=54321 DF PROTO=TCP SPT=51234 DPT=23 WINDOW=64240 RES=0x00 SYN URGP=0`
const tcp23 = {dpt: 23, dst: a('198.51.100.1'), in: 'eth0', proto: 'tcp', spt: 51234, src: a('203.0.113.7')}

test('kernel-log - parses the packet fields from every line format', () => {
  const cases: Array<[string, string, object]> = [
    ['kmsg record', `6,1234,5678,-;${P}${TCP23}`, tcp23],
    ['kmsg record with a caller field', `4,99,1,c,caller=T12;${P}${TCP23}`, tcp23],
    ['journald MESSAGE', `${P}${TCP23}`, tcp23],
    ['syslog line', `May  1 12:00:00 web1 kernel: ${P}${TCP23}`, tcp23],
    ['syslog line with the kernel time stamp', `2024-05-01T12:00:00.123456+00:00 web1 kernel: [ 8231.234567] ${P}${TCP23}`, tcp23],
    ['UDP', `${P}IN=ens3 OUT= SRC=203.0.113.90 DST=198.51.100.1 LEN=40 PROTO=UDP SPT=40003 DPT=161 LEN=20`,
      {dpt: 161, dst: a('198.51.100.1'), in: 'ens3', proto: 'udp', spt: 40003, src: a('203.0.113.90')}],
    ['IPv6 in the kernel\'s full form', `${P}IN=eth0 OUT= SRC=2001:0db8:0bad:0000:0000:0000:0000:0007 DST=2001:0db8:0000:0000:0000:0000:0000:0001 LEN=80 TC=0 HOPLIMIT=54 FLOWLBL=0 PROTO=TCP SPT=40000 DPT=22 WINDOW=64800 RES=0x00 SYN URGP=0`,
      {dpt: 22, dst: a('2001:db8::1'), in: 'eth0', proto: 'tcp', spt: 40000, src: a('2001:db8:bad::7')}],
    ['IPv6 compressed', `${P}IN=eth0 OUT= SRC=2001:db8::1 DST=2001:db8::2 LEN=80 PROTO=UDP SPT=5353 DPT=5353`,
      {dpt: 5353, dst: a('2001:db8::2'), in: 'eth0', proto: 'udp', spt: 5353, src: a('2001:db8::1')}],
    ['IPv4-mapped source', `${P}IN=eth0 OUT= SRC=::ffff:203.0.113.5 DST=2001:db8::2 PROTO=TCP SPT=1 DPT=80`,
      {dpt: 80, dst: a('2001:db8::2'), in: 'eth0', proto: 'tcp', spt: 1, src: a('203.0.113.5')}],
    ['ICMP has no port', `${P}IN=eth0 OUT= ${MAC} SRC=198.51.100.80 DST=198.51.100.1 LEN=84 TOS=0x00 PREC=0x00 TTL=57 ID=0 DF PROTO=ICMP TYPE=8 CODE=0 ID=4711 SEQ=1`,
      {dst: a('198.51.100.1'), in: 'eth0', proto: 'icmp', src: a('198.51.100.80')}],
    ['ICMPv6', `${P}IN=eth0 OUT= SRC=2001:db8::9 DST=2001:db8::1 LEN=104 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 CODE=0 ID=1 SEQ=1`,
      {dst: a('2001:db8::1'), in: 'eth0', proto: 'icmpv6', src: a('2001:db8::9')}],
    ['the quoted packet of an ICMP error is not read', `${P}IN=eth0 OUT= SRC=198.51.100.1 DST=203.0.113.92 LEN=56 PROTO=ICMP TYPE=3 CODE=3 [SRC=203.0.113.92 DST=198.51.100.1 LEN=28 PROTO=UDP SPT=53 DPT=33434 LEN=8 ]`,
      {dst: a('203.0.113.92'), in: 'eth0', proto: 'icmp', src: a('198.51.100.1')}],
    ['protocol number', `${P}IN=eth0 OUT= SRC=203.0.113.3 DST=198.51.100.1 LEN=60 PROTO=47`,
      {dst: a('198.51.100.1'), in: 'eth0', proto: '47', src: a('203.0.113.3')}],
    ['output packet without IN', `${P}IN= OUT=eth0 SRC=198.51.100.1 DST=203.0.113.3 LEN=60 PROTO=TCP SPT=5 DPT=6`,
      {dpt: 6, dst: a('203.0.113.3'), proto: 'tcp', spt: 5, src: a('198.51.100.1')}],
    ['port 0', `${P}SRC=203.0.113.3 PROTO=UDP SPT=0 DPT=0`, {dpt: 0, proto: 'udp', spt: 0, src: a('203.0.113.3')}],
    ['another prefix configured', `6,1,2,-;${P}${TCP23}`, tcp23],
  ]
  for (const [name, line, expected] of cases) assert.deepEqual(parseKernelLog(line, P), expected, name)
})

test('kernel-log - the prefix must start the message part', () => {
  const notOurs = [
    '',
    TCP23, // no prefix
    `6,1234,5678,-;other-log: ${TCP23}`,
    `6,1234,5678,-;x ${P}${TCP23}`, // prefix inside the message
    `6,1,2,-;a;${P}${TCP23}`, // not after the first ";"
    `6 1 2;${P}${TCP23}`,
    `May  1 12:00:00 web1 alice: ${P}${TCP23}`, // logger from a user
    `May  1 12:00:00 web1 kernel: [x] ${P}${TCP23}`,
    `May  1 12:00:00 web1 kernel: [ 1.0]${P}${TCP23}`,
    `Failed password for ${P}${TCP23}`,
    `diswall-log:${TCP23}`, // prefix without its space
  ]
  for (const line of notOurs) assert.equal(parseKernelLog(line, P), undefined, line)
  assert.deepEqual(parseKernelLog(`fw-drop ${TCP23}`, 'fw-drop '), tcp23)
  assert.equal(parseKernelLog(`${P}${TCP23}`, ''), undefined)
})

test('kernel-log - lines with bad or missing fields are not ours', () => {
  const bad = [
    `${P}IN=eth0 DST=198.51.100.1 PROTO=TCP SPT=1 DPT=23`, // no SRC
    `${P}IN=eth0 SRC=203.0.113.7 DST=198.51.100.1 SPT=1 DPT=23`, // no PROTO
    `${P}SRC=203.0.113.700 PROTO=TCP DPT=23`,
    `${P}SRC=scanner.example.net PROTO=TCP DPT=23`,
    `${P}SRC= PROTO=TCP DPT=23`,
    `${P}SRC=203.0.113.7 DST=x PROTO=TCP DPT=23`,
    `${P}SRC=203.0.113.7 PROTO=TCP SPT=1 DPT=65536`,
    `${P}SRC=203.0.113.7 PROTO=TCP SPT=1 DPT=2x`,
    `${P}SRC=203.0.113.7 PROTO=TCP SPT=1 DPT=`,
    `${P}SRC=203.0.113.7 PROTO=TCP SPT=-1 DPT=22`,
    `${P}SRC=203.0.113.7 PROTO=T/CP DPT=22`,
    `${P}SRC=203.0.113.7 PROTO= DPT=22`,
  ]
  for (const line of bad) assert.equal(parseKernelLog(line, P), undefined, line)
})

test('kernel-log - the first SRC and PROTO count and DPT ends the scan', () => {
  assert.deepEqual(parseKernelLog(`${P}SRC=203.0.113.1 SRC=203.0.113.2 PROTO=TCP PROTO=UDP SPT=1 DPT=25 DPT=x SRC=y`, P),
    {dpt: 25, proto: 'tcp', spt: 1, src: a('203.0.113.1')})
  assert.deepEqual(parseKernelLog(`${P}  SRC=203.0.113.1   PROTO=TCP  DPT=25  `, P), {dpt: 25, proto: 'tcp', src: a('203.0.113.1')})
})

test('kernel-log - garbage never throws', () => {
  let seed = 42
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31
    return seed / 2 ** 31
  }
  const alphabet = ' =;,[]:.-0123456789abcdefSRCDPTPROTOIN\u0000\u00ff\ud800diswall-log: '
  for (let n = 0; n < 2000; n++) {
    let s = n % 2 === 0 ? P : ''
    const len = Math.floor(random() * 120)
    for (let i = 0; i < len; i++) s += alphabet[Math.floor(random() * alphabet.length)]
    assert.doesNotThrow(() => parseKernelLog(s, P))
    assert.doesNotThrow(() => parsePipeLine(s))
    assert.doesNotThrow(() => parsePipeReport(s))
  }
  for (const v of [undefined, null, 42, {}] as unknown as string[]) {
    assert.equal(parseKernelLog(v, P), undefined)
    assert.equal(parsePipeLine(v), undefined)
    assert.equal(parsePipeReport(v), undefined)
  }
})

test('kernel-log - pipe lines "IP PROTO PORT"', () => {
  const cases: Array<[string, object | undefined]> = [
    ['203.0.113.7 TCP 23', {dpt: 23, proto: 'tcp', src: a('203.0.113.7')}],
    ['2001:db8::7 UDP 161\n', {dpt: 161, proto: 'udp', src: a('2001:db8::7')}],
    ['  203.0.113.7   TCP   8080 ', {dpt: 8080, proto: 'tcp', src: a('203.0.113.7')}],
    ['203.0.113.7 ICMP', {proto: 'icmp', src: a('203.0.113.7')}],
    ['203.0.113.7 ICMP **NO MATCH**', {proto: 'icmp', src: a('203.0.113.7')}],
    ['203.0.113.7 TCP 70000', undefined],
    ['203.0.113.7 TCP 23 extra', undefined],
    ['203.0.113.7 T|CP 23', undefined],
    ['203.0.113.7', undefined],
    ['203.0.113.7|ssh', undefined],
    ['host.example TCP 23', undefined],
    ['', undefined],
  ]
  for (const [line, expected] of cases) assert.deepEqual(parsePipeLine(line), expected, line)
})

test('kernel-log - pipe reports "IP" and "IP|TAG"', () => {
  const cases: Array<[string, object | undefined]> = [
    ['203.0.113.7', {address: a('203.0.113.7')}],
    ['203.0.113.7|http', {address: a('203.0.113.7'), tag: 'http'}],
    ['::ffff:203.0.113.7|waf ', {address: a('203.0.113.7'), tag: 'waf'}],
    ['2001:db8::7|port-scan 23/tcp', {address: a('2001:db8::7'), tag: 'port-scan 23/tcp'}],
    ['203.0.113.7|', undefined],
    ['203.0.113.7|a|b', undefined],
    ['203.0.113.7|abcdefghijklmnopqrstuvwxyz', undefined],
    ['203.0.113.7|tab\there', undefined],
    ['203.0.113.0/24|x', undefined],
    ['nope|x', undefined],
  ]
  for (const [line, expected] of cases) assert.deepEqual(parsePipeReport(line), expected, line)
})

test('kernel-log - isValidTag accepts 1 to 25 printable characters without "|"', () => {
  assert.equal(isValidTag('ssh'), true)
  assert.equal(isValidTag('x'.repeat(25)), true)
  assert.equal(isValidTag('x'.repeat(26)), false)
  assert.equal(isValidTag(''), false)
  assert.equal(isValidTag('a|b'), false)
  assert.equal(isValidTag('é'), false)
})
