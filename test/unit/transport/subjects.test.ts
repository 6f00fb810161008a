import assert from 'node:assert/strict'
import {test} from 'node:test'

import {InvalidValueError} from '../../../src/lib/errors.js'
import {
  ANY,
  checkToken,
  globalSubject,
  hostSubjects,
  hostToken,
  inboxPrefix,
  isSubjectRefusal,
  listSubject,
  listWildcard,
  parseSubject,
  statsSubject,
} from '../../../src/lib/transport/index.js'

test('subjects - builds the original list, stats and broadcast subjects', () => {
  assert.equal(listSubject('block', 'add', 'acme', 'web1'), 'diswall.blacklist.acme.add.web1')
  assert.equal(listSubject('allow', 'del', 'acme', 'web1'), 'diswall.whitelist.acme.del.web1')
  assert.equal(listSubject('block', 'init', 'acme', 'web1'), 'diswall.blacklist.acme.init.web1')
  assert.equal(statsSubject('acme', 'web1'), 'diswall.stats.acme.add.web1')
  assert.equal(statsSubject(ANY, ANY), 'diswall.stats.*.add.*')
  assert.equal(globalSubject('acme'), 'diswall.blacklist.new')
  assert.equal(globalSubject('default'), 'diswall.blacklist.default')
  assert.equal(inboxPrefix('acme'), '_INBOX.acme')
})

test('subjects - wildcards only where a subscription asks for them', () => {
  assert.equal(listWildcard('block', 'add', 'acme', ANY), 'diswall.blacklist.acme.add.*')
  assert.equal(listWildcard(ANY, 'init', ANY, ANY), 'diswall.*.*.init.*')
  assert.throws(() => listSubject('block', 'add', ANY, 'web1'), InvalidValueError)
  assert.throws(() => listSubject('block', 'add', 'acme', '>'), InvalidValueError)
  assert.throws(() => listWildcard('block', 'add', 'ac>me', ANY), InvalidValueError)
})

test('subjects - account and host tokens are validated; dots in host names become "_"', () => {
  assert.equal(hostToken('web1.example.com'), 'web1_example_com')
  for (const bad of ['', 'a.b', 'a b', 'a*', '>', 'x\ty', 'a\u0000b', 'x'.repeat(65)]) {
    assert.throws(() => checkToken(bad, 'account'), InvalidValueError, JSON.stringify(bad))
  }
  assert.throws(() => hostToken('web 1'), /not one subject token/)
  assert.throws(() => checkToken('a.b', 'host'), (e: InvalidValueError) => /a_b/.test(e.hint ?? ''))
  assert.equal(checkToken('x'.repeat(64), 'host'), 'x'.repeat(64))
})

test('subjects - hostSubjects of one host', () => {
  const s = hostSubjects('acme', 'web1')
  assert.equal(s.own('block', 'add'), 'diswall.blacklist.acme.add.web1')
  assert.equal(s.fleet('allow', 'del'), 'diswall.whitelist.acme.del.*')
  assert.equal(s.global, 'diswall.blacklist.new')
  assert.equal(s.stats, 'diswall.stats.acme.add.web1')
  assert.equal(s.inbox, '_INBOX.acme')
  assert.throws(() => hostSubjects('acme', 'web.1'), InvalidValueError)
})

test('subjects - parseSubject round-trips and refuses anything else', () => {
  assert.deepEqual(parseSubject('diswall.blacklist.acme.add.web1'), {account: 'acme', host: 'web1', kind: 'list', list: 'block', op: 'add'})
  assert.deepEqual(parseSubject('diswall.whitelist.acme.init.h'), {account: 'acme', host: 'h', kind: 'list', list: 'allow', op: 'init'})
  assert.deepEqual(parseSubject('diswall.stats.acme.add.web1'), {account: 'acme', host: 'web1', kind: 'stats'})
  assert.deepEqual(parseSubject('diswall.blacklist.new'), {kind: 'global', subject: 'diswall.blacklist.new'})
  assert.deepEqual(parseSubject('diswall.blacklist.default'), {kind: 'global', subject: 'diswall.blacklist.default'})
  for (const bad of ['', 'foo', 'diswall.blacklist.acme.add', 'diswall.blacklist.acme.add.h.x', 'diswall.greylist.a.add.h',
    'diswall.blacklist.a.put.h', 'diswall.stats.a.del.h', 'other.blacklist.a.add.h', `diswall.blacklist.${'a'.repeat(300)}.add.h`,
    'diswall.blacklist.a.add.*', 'diswall.blacklist.*.add.h']) {
    const parsed = parseSubject(bad)
    assert.ok(isSubjectRefusal(parsed), bad)
  }
})
