import assert from 'node:assert/strict'
import {test} from 'node:test'

import {NetworkList, parseAddress, parseNetwork, parseTarget} from '../../../src/lib/net/index.js'

const ENTRIES = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '203.0.113.7', '0.0.0.0/1', '2001:db8::/32',
  '2001:db8:1::/48', '2001:db8:1:2::/64', '2001:db8::5', 'fe80::/10']

function makeList(entries: readonly string[] = ENTRIES): NetworkList {
  return new NetworkList(entries.map(parseTarget))
}

// [address, most specific entry or undefined]
const FIND: Array<[string, string | undefined]> = [
  ['10.1.2.3', '10.1.2.0/24'],
  ['10.1.3.3', '10.1.0.0/16'],
  ['10.2.0.1', '10.0.0.0/8'],
  ['11.0.0.1', '0.0.0.0/1'],
  ['203.0.113.7', '203.0.113.7/32'],
  ['203.0.113.8', undefined],
  ['128.0.0.1', undefined],
  ['255.255.255.255', undefined],
  ['2001:db8:1:2::99', '2001:db8:1:2::/64'],
  ['2001:db8:1:3::99', '2001:db8:1::/48'],
  ['2001:db8:2::1', '2001:db8::/32'],
  ['2001:db8::5', '2001:db8::5/128'],
  ['2001:db9::1', undefined],
  ['fe80::1', 'fe80::/10'],
  ['::1', undefined],
  ['::ffff:10.1.2.3', '10.1.2.0/24'], // mapped text is the IPv4 address
]

for (const [addr, expected] of FIND) {
  test(`NetworkList - find(${addr}) is ${expected ?? 'undefined'} and contains() agrees`, () => {
    const list = makeList()
    assert.equal(list.find(parseAddress(addr))?.text, expected)
    assert.equal(list.contains(parseAddress(addr)), expected !== undefined)
  })
}

test('NetworkList - size counts distinct entries; addresses and host networks are the same entry', () => {
  const list = makeList([...ENTRIES, '10.0.0.0/8', '10.9.9.9/8', '203.0.113.7/32', '2001:DB8::5'])
  assert.equal(list.size, ENTRIES.length)
})

test('NetworkList - add() reports whether the entry is new', () => {
  const list = new NetworkList()
  assert.equal(list.add(parseTarget('192.0.2.0/24')), true)
  assert.equal(list.add(parseTarget('192.0.2.9/24')), false)
  assert.equal(list.add(parseTarget('2001:db8::/64')), true)
  assert.equal(list.size, 2)
})

// [entry, has() answer] against the default list
const HAS: Array<[string, boolean]> = [
  ['10.0.0.0/8', true],
  ['10.5.5.5/8', true], // masked to 10.0.0.0/8
  ['10.1.2.3', false], // covered, but not an entry
  ['203.0.113.7', true],
  ['203.0.113.7/32', true],
  ['203.0.113.0/24', false],
  ['2001:db8::5', true],
  ['2001:db8::5/128', true],
  ['2001:db8::/33', false],
  ['fe80::/10', true],
]

for (const [entry, expected] of HAS) {
  test(`NetworkList - has(${entry}) is ${expected}`, () => {
    assert.equal(makeList().has(parseTarget(entry)), expected)
  })
}

// [entry to delete, deleted?, address, find() after the delete]
const DELETE: Array<[string, boolean, string, string | undefined]> = [
  ['10.1.2.0/24', true, '10.1.2.3', '10.1.0.0/16'],
  ['10.1.2.77/24', true, '10.1.2.3', '10.1.0.0/16'],
  ['10.0.0.0/8', true, '10.2.0.1', '0.0.0.0/1'],
  ['10.0.0.0/9', false, '10.2.0.1', '10.0.0.0/8'],
  ['10.1.2.3', false, '10.1.2.3', '10.1.2.0/24'],
  ['203.0.113.7', true, '203.0.113.7', undefined],
  ['2001:db8:1:2::/64', true, '2001:db8:1:2::1', '2001:db8:1::/48'],
  ['2001:db8::5', true, '2001:db8::5', '2001:db8::/32'],
  ['2001:db8::5/128', true, '2001:db8::5', '2001:db8::/32'],
  ['2001:db8::/32', true, '2001:db8:2::1', undefined],
  ['fe80::/10', true, 'fe80::1', undefined],
  ['fe80::/11', false, 'fe80::1', 'fe80::/10'],
]

for (const [entry, deleted, addr, after] of DELETE) {
  test(`NetworkList - delete(${entry}) ${deleted ? 'removes it' : 'finds nothing'}, then find(${addr}) is ${after ?? 'undefined'}`, () => {
    const list = makeList()
    assert.equal(list.delete(parseTarget(entry)), deleted)
    assert.equal(list.size, ENTRIES.length - (deleted ? 1 : 0))
    assert.equal(list.has(parseTarget(entry)), false)
    assert.equal(list.find(parseAddress(addr))?.text, after)
  })
}

test('NetworkList - deleting the last entry of a prefix length drops that length from lookups', () => {
  const list = makeList(['192.0.2.0/24'])
  assert.ok(list.delete(parseNetwork('192.0.2.0/24')))
  assert.equal(list.size, 0)
  assert.equal(list.contains(parseAddress('192.0.2.1')), false)
  assert.ok(list.add(parseNetwork('192.0.2.0/24')))
  assert.ok(list.contains(parseAddress('192.0.2.1')))
})

test('NetworkList - iterates IPv4 before IPv6, shorter prefixes first, then in insertion order', () => {
  const list = makeList(['2001:db8::5', '203.0.113.7', '10.0.0.0/8', '192.0.2.0/24', '198.51.100.0/24', '2001:db8::/32'])
  assert.deepEqual([...list].map((n) => n.text),
    ['10.0.0.0/8', '192.0.2.0/24', '198.51.100.0/24', '203.0.113.7/32', '2001:db8::/32', '2001:db8::5/128'])
  assert.ok([...list].every((n) => n.kind === 'network'))
})

test('NetworkList - clear() empties the list', () => {
  const list = makeList()
  list.clear()
  assert.equal(list.size, 0)
  assert.deepEqual([...list], [])
  assert.equal(list.contains(parseAddress('10.0.0.1')), false)
  assert.equal(list.contains(parseAddress('fe80::1')), false)
})

test('NetworkList - an empty list contains nothing', () => {
  const list = new NetworkList()
  assert.equal(list.contains(parseAddress('0.0.0.0')), false)
  assert.equal(list.find(parseAddress('::')), undefined)
})

test('NetworkList - /0 entries cover their own family only', () => {
  const list = makeList(['0.0.0.0/0'])
  assert.ok(list.contains(parseAddress('255.255.255.255')))
  assert.equal(list.contains(parseAddress('2001:db8::1')), false)
  list.add(parseNetwork('::/0'))
  assert.ok(list.contains(parseAddress('2001:db8::1')))
})

test('NetworkList - agrees with a linear scan on 2,000 random lookups', () => {
  let seed = 7
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648
    return seed
  }
  const octets = (): string => `${random() % 4 + 10}.${random() % 4}.${random() % 4}.${random() % 256}`
  const entries = Array.from({length: 200}, () => parseNetwork(`${octets()}/${[8, 16, 24, 30, 32][random() % 5]}`))
  const list = new NetworkList(entries)
  for (let n = 0; n < 2000; n++) {
    const addr = parseAddress(octets())
    const [a, b, c, d] = addr.text.split('.').map(Number)
    const bits = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
    const covering = entries.filter((e) => {
      const [ea, eb, ec, ed] = e.address.text.split('.').map(Number)
      const mask = e.prefix === 0 ? 0 : (0xffffffff << (32 - e.prefix)) >>> 0
      return ((bits & mask) >>> 0) === ((((ea << 24) | (eb << 16) | (ec << 8) | ed) & mask) >>> 0)
    })
    const best = covering.sort((x, y) => y.prefix - x.prefix)[0]
    assert.equal(list.find(addr)?.text, best?.text, addr.text)
  }
})
