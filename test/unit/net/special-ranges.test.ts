import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {SpecialRangeName} from '../../../src/lib/net/index.js'
import {classify, isGlobalUnicast, parseAddress, parseNetwork, SPECIAL_RANGES} from '../../../src/lib/net/index.js'

// [address, range name, registered network]
const SPECIAL: Array<[string, SpecialRangeName, string]> = [
  ['0.0.0.0', 'unspecified', '0.0.0.0/32'],
  ['0.1.2.3', 'this-network', '0.0.0.0/8'],
  ['127.0.0.1', 'loopback', '127.0.0.0/8'],
  ['127.255.255.254', 'loopback', '127.0.0.0/8'],
  ['10.0.0.1', 'private', '10.0.0.0/8'],
  ['10.255.255.255', 'private', '10.0.0.0/8'],
  ['172.16.0.1', 'private', '172.16.0.0/12'],
  ['172.31.255.255', 'private', '172.16.0.0/12'],
  ['192.168.1.1', 'private', '192.168.0.0/16'],
  ['100.64.0.1', 'cgnat', '100.64.0.0/10'],
  ['100.127.255.255', 'cgnat', '100.64.0.0/10'],
  ['169.254.1.1', 'link-local', '169.254.0.0/16'],
  ['224.0.0.1', 'multicast', '224.0.0.0/4'],
  ['239.255.255.250', 'multicast', '224.0.0.0/4'],
  ['255.255.255.255', 'broadcast', '255.255.255.255/32'],
  ['192.0.2.1', 'documentation', '192.0.2.0/24'],
  ['198.51.100.7', 'documentation', '198.51.100.0/24'],
  ['203.0.113.200', 'documentation', '203.0.113.0/24'],
  ['198.18.0.1', 'benchmarking', '198.18.0.0/15'],
  ['198.19.255.255', 'benchmarking', '198.18.0.0/15'],
  ['240.0.0.1', 'reserved', '240.0.0.0/4'],
  ['255.255.255.254', 'reserved', '240.0.0.0/4'],
  ['192.0.0.8', 'ietf-protocol', '192.0.0.0/24'],
  ['192.0.0.170', 'ietf-protocol', '192.0.0.0/24'],
  ['192.88.99.1', '6to4', '192.88.99.0/24'],
  ['::', 'unspecified', '::/128'],
  ['::1', 'loopback', '::1/128'],
  ['fe80::1', 'link-local', 'fe80::/10'],
  ['febf:ffff::1', 'link-local', 'fe80::/10'],
  ['fec0::1', 'site-local', 'fec0::/10'],
  ['ff02::1', 'multicast', 'ff00::/8'],
  ['ff0e::101', 'multicast', 'ff00::/8'],
  ['2001:db8::1', 'documentation', '2001:db8::/32'],
  ['3fff:fff::1', 'documentation', '3fff::/20'],
  ['2001:2::1', 'benchmarking', '2001:2::/48'],
  ['fc00::1', 'ula', 'fc00::/7'],
  ['fd12:3456:789a::1', 'ula', 'fc00::/7'],
  ['64:ff9b::c000:201', 'nat64', '64:ff9b::/96'],
  ['64:ff9b:1::1', 'nat64', '64:ff9b:1::/48'],
  ['2001::1', 'teredo', '2001::/32'],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'teredo', '2001::/32'],
  ['2002:c000:204::1', '6to4', '2002::/16'],
  ['100::1', 'discard-only', '100::/64'],
  ['2001:10::1', 'orchid', '2001:10::/28'],
  ['2001:20::1', 'orchid', '2001:20::/28'],
  ['2001:100::1', 'ietf-protocol', '2001::/23'],
  ['5f00::1', 'srv6', '5f00::/16'],
  ['::1.2.3.4', 'reserved', '::/8'], // IPv4-compatible, deprecated
  ['100:1::1', 'reserved', '100::/8'],
  ['4000::1', 'reserved', '4000::/3'],
  ['fe00::1', 'reserved', 'fe00::/9'],
]

for (const [addr, name, network] of SPECIAL) {
  test(`classify - puts ${addr} in ${name} (${network})`, () => {
    const range = classify(parseAddress(addr))
    assert.deepEqual(range && {name: range.name, network: range.network.text}, {name, network})
    assert.equal(isGlobalUnicast(parseAddress(addr)), false)
  })
}

test('classify - sees IPv4-mapped IPv6 text as the IPv4 address', () => {
  assert.equal(classify(parseAddress('::ffff:127.0.0.1'))?.name, 'loopback')
  assert.equal(classify(parseAddress('::ffff:8.8.8.8')), undefined)
})

test('classify - reports hand-built IPv4-mapped IPv6 addresses as ipv4-mapped', () => {
  const range = classify({kind: 'address', family: 6, text: '::ffff:1.2.3.4'})
  assert.deepEqual(range && [range.name, range.network.text, range.network.family], ['ipv4-mapped', '::ffff:0:0/96', 6])
})

const GLOBAL: string[] = [
  '1.1.1.1',
  '8.8.8.8',
  '9.255.255.255',
  '11.0.0.0',
  '100.63.255.255',
  '100.128.0.0',
  '126.255.255.255',
  '128.0.0.0',
  '169.253.255.255',
  '172.15.255.255',
  '172.32.0.0',
  '192.0.0.9', // PCP anycast inside 192.0.0.0/24
  '192.0.0.10', // TURN anycast
  '192.0.3.0',
  '192.167.255.255',
  '192.169.0.0',
  '198.17.255.255',
  '198.20.0.0',
  '223.255.255.255',
  '2001:4860:4860::8888',
  '2606:4700:4700::1111',
  '2a00:1450:4001::1',
  '2001:1::1', // PCP anycast inside 2001::/23
  '2001:3::1', // AMT
  '2001:4:112::1', // AS112-v6
  '2001:200::1', // just past 2001::/23
  '2001:db7:ffff::1',
  '2001:db9::1',
  '2003::1',
  '3fff:1000::1', // just past 3fff::/20
]

for (const addr of GLOBAL) {
  test(`classify - finds ${addr} in no special range (global unicast)`, () => {
    assert.equal(classify(parseAddress(addr)), undefined)
    assert.equal(isGlobalUnicast(parseAddress(addr)), true)
  })
}

test('classify - every listed range classifies its own first and last address as itself or narrower', () => {
  for (const range of SPECIAL_RANGES) {
    const first = classify(range.network.address)
    assert.ok(first !== undefined, range.network.text)
    assert.ok(first.network.prefix >= range.network.prefix, `${range.network.text} → ${first.network.text}`)
    if (range.name !== 'ipv4-mapped') assert.deepEqual(parseNetwork(range.network.text), range.network)
  }
})

test('classify - ranges are frozen so callers cannot change the shared table', () => {
  const range = classify(parseAddress('127.0.0.1'))!
  assert.ok(Object.isFrozen(range) && Object.isFrozen(range.network) && Object.isFrozen(range.network.address))
  assert.throws(() => {
    ;(range as {name: string}).name = 'private'
  }, TypeError)
})
