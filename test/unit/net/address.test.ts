import ipaddr from 'ipaddr.js'
import assert from 'node:assert/strict'
import {test} from 'node:test'


import {InvalidValueError} from '../../../src/lib/errors.js'
import type {Target} from '../../../src/lib/net/index.js'
import {
  broadNetworkReason,
  containsAddress,
  groupPrefix,
  isAddress,
  parseAddress,
  parseNetwork,
  parseTarget,
  toNetwork,
} from '../../../src/lib/net/index.js'
import {assertInvalid} from './helpers.js'

// [input, canonical text, family]
const VALID_ADDRESSES: Array<[string, string, 4 | 6]> = [
  ['203.0.113.7', '203.0.113.7', 4],
  ['0.0.0.0', '0.0.0.0', 4],
  ['255.255.255.255', '255.255.255.255', 4],
  ['10.0.0.1', '10.0.0.1', 4],
  ['  192.0.2.1\t', '192.0.2.1', 4],
  ['\n198.51.100.20\n', '198.51.100.20', 4],
  ['2001:db8::1', '2001:db8::1', 6],
  ['2001:DB8::1', '2001:db8::1', 6],
  ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1', 6],
  ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1', 6], // first of two equal runs is compressed
  ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1', 6], // the longest run is compressed
  ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 6], // a single zero group is not
  ['2001:db8::1:1:1:1:1', '2001:db8:0:1:1:1:1:1', 6], // "::" standing for one group is expanded
  ['FE80::ABCD:EF01', 'fe80::abcd:ef01', 6],
  ['::', '::', 6],
  ['::1', '::1', 6],
  ['0:0:0:0:0:0:0:1', '::1', 6],
  ['1::', '1::', 6],
  ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0', 6],
  ['::2:3:4:5:6:7:8', '0:2:3:4:5:6:7:8', 6],
  ['ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 6],
  [' 2001:db8::a ', '2001:db8::a', 6],
  ['::ffff:1.2.3.4', '1.2.3.4', 4], // IPv4-mapped: the IPv4 address
  ['::FFFF:203.0.113.7', '203.0.113.7', 4],
  ['::ffff:102:304', '1.2.3.4', 4],
  ['0:0:0:0:0:ffff:c000:0201', '192.0.2.1', 4],
  ['::1.2.3.4', '::102:304', 6], // IPv4-compatible (deprecated) stays IPv6
  ['64:ff9b::192.0.2.33', '64:ff9b::c000:221', 6],
  ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304', 6],
]

for (const [input, text, family] of VALID_ADDRESSES) {
  test(`parseAddress - accepts ${JSON.stringify(input)} as ${text}`, () => {
    assert.deepEqual(parseAddress(input), {kind: 'address', family, text})
  })
}

// [input, fragment of the reason]
const INVALID_ADDRESSES: Array<[string, string]> = [
  ['', 'empty'],
  ['   ', 'empty'],
  ['10.0.0.300', 'octet 300 is out of range'],
  ['256.1.1.1', 'octet 256 is out of range'],
  ['1.2.3', 'expected 4 dot-separated octets, found 3'],
  ['1.2.3.4.5', 'found 5'],
  ['1', 'found 1'],
  ['16909060', 'found 1'],
  ['01.2.3.4', 'octet "01" has a leading zero'],
  ['1.2.3.004', 'octet "004" has a leading zero'],
  ['0x7f.0.0.1', 'octet "0x7f" is hexadecimal'],
  ['1.2.3.a', 'octet "a" is not a decimal number'],
  ['1..2.3', 'octet 2 is empty'],
  ['1.2.3.', 'octet 4 is empty'],
  ['.1.2.3', 'octet 1 is empty'],
  ['1.2.3.-4', 'not a decimal number'],
  ['1.2.3.4 5', 'not a decimal number'],
  ['1.2.3.4:22', 'it has a port (":22")'],
  ['example.com', 'neither an IPv4 nor an IPv6 address'],
  ['localhost', 'neither an IPv4 nor an IPv6 address'],
  ['1.2.3.4/24', 'it is a network'],
  ['2001:db8::/32', 'it is a network'],
  ['fe80::1%eth0', 'zone ids ("%eth0") are not supported'],
  ['fe80::1%25eth0', 'zone ids'],
  ['[2001:db8::1]', 'brackets'],
  ['[2001:db8::1]:443', 'brackets'],
  ['1::2::3', '"::" may appear only once'],
  ['1:::2', '":::" is not allowed'],
  [':1::', 'starts with a single ":"'],
  [':1:2:3:4:5:6:7:8', 'starts with a single ":"'],
  ['1::2:', 'ends with a single ":"'],
  ['1:2:3:4:5:6:7:8:', 'ends with a single ":"'],
  ['12345::', 'group "12345" has more than 4 hex digits'],
  ['2001:db8::g', 'unexpected character "g"'],
  ['2001:db8:: 1', 'unexpected character " "'],
  ['1:2:3:4:5:6:7', 'expected 8 groups, found 7'],
  ['1:2:3:4:5:6:7:8:9', 'expected 8 groups, found 9'],
  ['1:2:3:4:5:6:7:8::', 'with "::" at most 7 are allowed'],
  ['::1:2:3:4:5:6:7:8', 'with "::" at most 7 are allowed'],
  ['1:2:3:4:5:6:7::1.2.3.4', 'with "::" at most 7 are allowed'],
  ['1.2.3.4::', 'may only come last'],
  ['::1.2.3.4:5', 'may only come last'],
  ['::ffff:1.2.3.256', 'embedded IPv4 part "1.2.3.256": octet 256 is out of range'],
  ['::ffff:01.2.3.4', 'embedded IPv4 part "01.2.3.4": octet "01" has a leading zero'],
  ['::ffff:1.2.3', 'found 3'],
  ['1:2:3:4:5:6:7:8:9:a:b:c:d:e:f:1:2:3:4:5:6:7', 'expected 8 groups, found 22'],
  ['1111:2222:3333:4444:5555:6666:7777:8888:9999:aaaa', 'too long (49 characters)'],
]

for (const [input, reason] of INVALID_ADDRESSES) {
  test(`parseAddress - rejects ${JSON.stringify(input)} (${reason})`, () => {
    assertInvalid(() => parseAddress(input), input, reason)
  })
}

test('parseAddress - the message names the text and a hint tells the fix for leading zeros', () => {
  assertInvalid(() => parseAddress('010.1.1.1'), '010.1.1.1', 'leading zero', 'Write 10.1.1.1')
  assertInvalid(() => parseAddress('fe80::1%eth0'), 'fe80::1%eth0', 'zone', 'write fe80::1')
  assertInvalid(() => parseAddress('[2001:db8::1]'), '[2001:db8::1]', 'brackets', 'without brackets: 2001:db8::1')
  assertInvalid(() => parseAddress('1.2.3.4:22'), '1.2.3.4:22', 'port', 'without the port: 1.2.3.4')
})

test('parseAddress - follows the format the brief gives for out-of-range octets', () => {
  assertInvalid(() => parseAddress('10.0.0.300'), '10.0.0.300',
    '"10.0.0.300" is not a valid IP address: octet 300 is out of range')
})

test('parseAddress - shows control characters escaped and cuts very long text', () => {
  assertInvalid(() => parseAddress('1.2.3.4\u0000'), '1.2.3.4\u0000', 'not a decimal number')
  const long = `1.${'9'.repeat(500)}.3.4`
  assert.throws(() => parseAddress(long), (e: unknown) =>
    e instanceof InvalidValueError && e.message.length < 250 && e.message.includes('…'))
})

test('parseAddress - rejects values that are not text', () => {
  for (const value of [16909060, undefined, null, {}]) {
    assert.throws(() => parseAddress(value as unknown as string), InvalidValueError)
  }
})

test('parseAddress - result serialises to the public fields only', () => {
  assert.equal(JSON.stringify(parseAddress('2001:DB8::1')), '{"kind":"address","family":6,"text":"2001:db8::1"}')
})

test('parseAddress - agrees with ipaddr.js on 5,000 random IPv6 addresses in many spellings', () => {
  let seed = 42
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed
  }
  for (let n = 0; n < 5000; n++) {
    // Mostly zero groups, so that "::" compression is exercised.
    const groups = Array.from({length: 8}, () => (random() % 3 === 0 ? random() & 0xffff : 0))
    if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0) groups[0] = 0x2001
    const full = groups.map((g) => g.toString(16).padStart(4, '0')).join(':')
    const spelled = n % 2 === 0 ? full.toUpperCase() : groups.map((g) => g.toString(16)).join(':')
    const expected = ipaddr.IPv6.parse(full).toRFC5952String()
    assert.equal(parseAddress(spelled).text, expected, spelled)
    assert.equal(parseAddress(expected).text, expected, expected)
  }
})

// [input, canonical text]
const VALID_NETWORKS: Array<[string, string]> = [
  ['203.0.113.0/24', '203.0.113.0/24'],
  ['203.0.113.7/24', '203.0.113.0/24'], // host bits zeroed
  ['10.1.2.3/8', '10.0.0.0/8'],
  ['172.31.255.255/12', '172.16.0.0/12'],
  ['0.0.0.0/0', '0.0.0.0/0'],
  ['1.2.3.4/0', '0.0.0.0/0'],
  ['1.2.3.4/32', '1.2.3.4/32'],
  ['1.2.3.4/31', '1.2.3.4/31'],
  ['1.2.3.5/31', '1.2.3.4/31'],
  ['255.255.255.255/1', '128.0.0.0/1'],
  ['1.2.3.4', '1.2.3.4/32'], // bare address: host network
  [' 198.51.100.0/24 ', '198.51.100.0/24'],
  ['2001:db8::/32', '2001:db8::/32'],
  ['2001:DB8:1:2:3:4:5:6/64', '2001:db8:1:2::/64'],
  ['2001:db8:1:3:3:4:5:6/63', '2001:db8:1:2::/63'],
  ['2001:db8:ffff:ffff::/33', '2001:db8:8000::/33'],
  ['2001:db8::1', '2001:db8::1/128'],
  ['::/0', '::/0'],
  ['ffff::1/1', '8000::/1'],
  ['2001:db8::1/128', '2001:db8::1/128'],
  ['::ffff:192.0.2.5/120', '192.0.2.0/24'], // mapped, prefix ≥ 96: the IPv4 network
  ['::ffff:192.0.2.5/128', '192.0.2.5/32'],
  ['::ffff:0:0/96', '0.0.0.0/0'],
  ['::ffff:192.0.2.5', '192.0.2.5/32'],
  ['::ffff:192.0.2.5/64', '::/64'], // shorter than 96: an IPv6 network
]

for (const [input, text] of VALID_NETWORKS) {
  test(`parseNetwork - reads ${JSON.stringify(input)} as ${text}`, () => {
    const net = parseNetwork(input)
    assert.equal(net.text, text)
    assert.equal(net.kind, 'network')
    const [addr, prefix] = text.split('/')
    assert.equal(net.prefix, Number(prefix))
    assert.deepEqual(net.address, parseAddress(addr))
    assert.equal(net.family, net.address.family)
  })
}

const INVALID_NETWORKS: Array<[string, string]> = [
  ['10.0.0.0/33', 'prefix length 33 is out of range for IPv4 (0–32)'],
  ['2001:db8::/129', 'prefix length 129 is out of range for IPv6 (0–128)'],
  ['2001:db8::/99999999999', 'out of range for IPv6'],
  ['10.0.0.0/', 'the prefix length after "/" is missing'],
  ['10.0.0.0/x', 'prefix length "x" is not a decimal number'],
  ['10.0.0.0/-1', 'prefix length "-1" is not a decimal number'],
  ['10.0.0.0/+8', 'not a decimal number'],
  ['10.0.0.0/8.0', 'not a decimal number'],
  ['10.0.0.0/ 8', 'not a decimal number'],
  ['10.0.0.0/255.0.0.0', 'not a decimal number'],
  ['10.0.0.0/08', 'prefix length "08" has a leading zero'],
  ['10.0.0.0/8/8', 'more than one "/"'],
  ['/8', 'empty'],
  ['', 'empty'],
  ['10.0.0.300/24', 'octet 300 is out of range'],
  ['10.0.0/24', 'found 3'],
  ['fe80::%eth0/64', 'zone ids'],
  ['[2001:db8::]/32', 'brackets'],
  ['example.com/24', 'neither an IPv4 nor an IPv6 address'],
]

for (const [input, reason] of INVALID_NETWORKS) {
  test(`parseNetwork - rejects ${JSON.stringify(input)} (${reason})`, () => {
    assertInvalid(() => parseNetwork(input), input, reason)
    assert.throws(() => parseNetwork(input), /is not a valid network/)
  })
}

const TARGETS: Array<[string, 'address' | 'network', string]> = [
  ['203.0.113.7', 'address', '203.0.113.7'],
  ['203.0.113.7/32', 'network', '203.0.113.7/32'],
  ['203.0.113.7/24', 'network', '203.0.113.0/24'],
  ['2001:DB8::1', 'address', '2001:db8::1'],
  ['2001:db8::1/64', 'network', '2001:db8::/64'],
  ['::ffff:10.0.0.1', 'address', '10.0.0.1'],
]

for (const [input, kind, text] of TARGETS) {
  test(`parseTarget - reads ${JSON.stringify(input)} as ${kind} ${text}`, () => {
    const t = parseTarget(input)
    assert.equal(t.kind, kind)
    assert.equal(t.text, text)
    assert.equal(isAddress(t), kind === 'address')
  })
}

for (const [input, reason] of [['1.2.3.4/33', 'out of range'], ['1.2.3', 'found 3'], ['', 'empty']] as const) {
  test(`parseTarget - rejects ${JSON.stringify(input)} (${reason})`, () => {
    assertInvalid(() => parseTarget(input), input, reason)
  })
}

const HOST_NETWORKS: Array<[Target, string]> = [
  [parseAddress('192.0.2.1'), '192.0.2.1/32'],
  [parseAddress('2001:db8::1'), '2001:db8::1/128'],
  [parseNetwork('192.0.2.0/24'), '192.0.2.0/24'],
]

for (const [target, text] of HOST_NETWORKS) {
  test(`toNetwork - turns ${target.kind} ${target.text} into ${text}`, () => {
    const net = toNetwork(target)
    assert.equal(net.text, text)
    assert.deepEqual(net, parseNetwork(text))
  })
}

const CONTAINS: Array<[string, string, boolean]> = [
  ['203.0.113.0/24', '203.0.113.0', true],
  ['203.0.113.0/24', '203.0.113.255', true],
  ['203.0.113.0/24', '203.0.114.0', false],
  ['203.0.113.0/24', '203.0.112.255', false],
  ['0.0.0.0/0', '255.255.255.255', true],
  ['128.0.0.0/1', '127.255.255.255', false],
  ['128.0.0.0/1', '255.0.0.1', true],
  ['192.0.2.1/32', '192.0.2.1', true],
  ['192.0.2.1/32', '192.0.2.2', false],
  ['2001:db8::/32', '2001:db8:ffff::1', true],
  ['2001:db8::/32', '2001:db9::1', false],
  ['2001:db8:1:2::/64', '2001:db8:1:2:ffff:ffff:ffff:ffff', true],
  ['2001:db8:1:2::/64', '2001:db8:1:3::', false],
  ['::/0', 'ffff::1', true],
  ['::/0', '1.2.3.4', false], // families never mix
  ['0.0.0.0/0', '2001:db8::1', false],
  ['::ffff:192.0.2.0/120', '192.0.2.77', true], // mapped network is IPv4
]

for (const [net, addr, expected] of CONTAINS) {
  test(`containsAddress - ${net} ${expected ? 'holds' : 'does not hold'} ${addr}`, () => {
    assert.equal(containsAddress(parseNetwork(net), parseAddress(addr)), expected)
  })
}

const GROUPS: Array<[string, number, number | undefined, string]> = [
  ['2001:db8:1:2:3:4:5:6', 64, undefined, '2001:db8:1:2::/64'],
  ['2001:db8:1:2:3:4:5:6', 48, undefined, '2001:db8:1::/48'],
  ['2001:db8:1:2:3:4:5:6', 56, undefined, '2001:db8:1::/56'],
  ['2001:db8:1:2ff:3:4:5:6', 56, undefined, '2001:db8:1:200::/56'],
  ['2001:db8:1:2:3:4:5:6', 128, undefined, '2001:db8:1:2:3:4:5:6/128'],
  ['2001:db8:1:2:3:4:5:6', 0, undefined, '::/0'],
  ['203.0.113.7', 64, undefined, '203.0.113.7/32'], // IPv4 default: the address itself
  ['203.0.113.7', 64, 24, '203.0.113.0/24'],
  ['::ffff:203.0.113.7', 64, undefined, '203.0.113.7/32'],
]

for (const [addr, v6, v4, text] of GROUPS) {
  test(`groupPrefix - groups ${addr} with /${v6} for IPv6 and /${v4 ?? 32} for IPv4 as ${text}`, () => {
    const net = groupPrefix(parseAddress(addr), v6, v4)
    assert.equal(net.text, text)
    assert.ok(containsAddress(net, parseAddress(addr)))
  })
}

for (const [addr, v6, v4, shown] of [
  ['2001:db8::1', 129, undefined, '129'],
  ['2001:db8::1', 64.5, undefined, '64.5'],
  ['2001:db8::1', -1, undefined, '-1'],
  ['192.0.2.1', 64, 33, '33'],
  ['192.0.2.1', 64, Number.NaN, 'NaN'],
] as const) {
  test(`groupPrefix - rejects prefix length ${shown} for ${addr}`, () => {
    assert.throws(() => groupPrefix(parseAddress(addr), v6, v4), (e: unknown) =>
      e instanceof InvalidValueError && e.message.includes(`prefix length ${shown} is out of range`) && Boolean(e.hint))
  })
}

test('address functions - accept hand-built objects of the public shape', () => {
  const addr = {kind: 'address', family: 6, text: '2001:db8::5'} as const
  assert.ok(containsAddress(parseNetwork('2001:db8::/64'), addr))
  assert.equal(groupPrefix(addr, 64).text, '2001:db8::/64')
})

test('broadNetworkReason - networks shorter than /8 (IPv4) or /16 (IPv6) are too broad; addresses never', () => {
  assert.equal(broadNetworkReason(parseTarget('0.0.0.0/1')), '"0.0.0.0/1" covers 1/2 of all IPv4 addresses (shorter than /8)')
  assert.equal(broadNetworkReason(parseTarget('::/0')), '"::/0" covers all IPv6 addresses (shorter than /16)')
  assert.match(broadNetworkReason(parseTarget('2000::/15')) ?? '', /covers 1\/32768 of all IPv6/)
  for (const ok of ['10.0.0.0/8', '203.0.113.0/24', '2001:db8::/16', '2001:db8::/64', '203.0.113.7', '::1']) {
    assert.equal(broadNetworkReason(parseTarget(ok)), undefined, ok)
  }
})
