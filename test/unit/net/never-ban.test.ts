import assert from 'node:assert/strict'
import {test} from 'node:test'

import {neverBanReason, NetworkList, parseAddress, parseTarget} from '../../../src/lib/net/index.js'

const a = parseAddress
const list = (...texts: string[]) => new NetworkList(texts.map((t) => parseTarget(t)))

test('never-ban - special ranges are always protected', () => {
  for (const [text, name] of [['127.0.0.1', 'loopback'], ['::1', 'loopback'], ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'], ['224.0.0.1', 'multicast'], ['0.0.0.0', 'unspecified'], ['255.255.255.255', 'broadcast']]) {
    assert.match(neverBanReason(a(text), {skipPrivate: false}) ?? '', new RegExp(`^${name} address`), text)
  }
})

test('never-ban - private ranges only while skipPrivate is on', () => {
  for (const text of ['10.1.2.3', '192.168.0.1', '100.64.0.1', 'fd00::1']) {
    assert.match(neverBanReason(a(text), {skipPrivate: true}) ?? '', /skip_private is on/, text)
    assert.equal(neverBanReason(a(text), {skipPrivate: false}), undefined, text)
  }
})

test('never-ban - ignore_ips, own addresses and labelled lists name the entry', () => {
  const ctx = {
    ignore: list('198.51.100.0/24'),
    lists: [{label: 'in the allow list', list: list('2001:db8:1::/48')}],
    own: list('203.0.113.1'),
    skipPrivate: true,
  }
  assert.equal(neverBanReason(a('198.51.100.9'), ctx), 'listed in ignore_ips (198.51.100.0/24)')
  assert.equal(neverBanReason(a('203.0.113.1'), ctx), 'an address of this host')
  assert.equal(neverBanReason(a('2001:db8:1::7'), ctx), 'in the allow list (2001:db8:1::/48)')
  assert.equal(neverBanReason(a('203.0.113.2'), ctx), undefined)
  assert.equal(neverBanReason(a('8.8.8.8'), ctx), undefined)
})
