import assert from 'node:assert/strict'
import {test} from 'node:test'

import {accountPermissions, buildNatsConfig, parsePasswordLines} from '../../../src/lib/server/index.js'

test('nats-config - an account publishes only below its own tokens and reads its own subjects, the broadcast and its inbox', () => {
  assert.deepEqual(accountPermissions('acme'), {
    publish: ['diswall.blacklist.acme.>', 'diswall.whitelist.acme.>', 'diswall.stats.acme.>'],
    subscribe: ['diswall.blacklist.acme.add.*', 'diswall.blacklist.acme.del.*', 'diswall.whitelist.acme.add.*',
      'diswall.whitelist.acme.del.*', 'diswall.blacklist.new', '_INBOX.acme.>'],
  })
  assert.ok(accountPermissions('acme', true).subscribe.includes('_INBOX.>'))
  // the account "default" listens to its own broadcast, as in the original
  assert.ok(accountPermissions('default').subscribe.includes('diswall.blacklist.default'))
})

test('nats-config - the block names every user; given passwords are kept, missing ones generated', () => {
  const {text, users} = buildNatsConfig({accounts: [{name: 'acme', password: 'p"w\\1'}, {name: 'globex'}], server: {user: 'srv'}})
  assert.deepEqual(users.map((u) => [u.user, u.generated]), [['srv', true], ['acme', false], ['globex', true]])
  assert.match(users[0]!.password, /^[A-Za-z0-9_-]{24}$/)
  assert.notEqual(users[0]!.password, users[2]!.password)
  assert.ok(text.includes('{user: "acme", password: "p\\"w\\\\1", permissions: {'))
  assert.ok(text.includes('subscribe: {allow: ["diswall.>"]}'))
  assert.ok(text.includes('allow_responses: true'))
  assert.ok(!/diswall\.blacklist\.acme\.\*"/.test(text), 'no one-token wildcard below the account (it would not match ACCOUNT.add.HOST)')
})

test('nats-config - bad account names, duplicates and the server user as account are refused', () => {
  assert.throws(() => buildNatsConfig({accounts: [{name: 'a.b'}], server: {user: 'srv'}}), /not one subject token/)
  assert.throws(() => buildNatsConfig({accounts: [{name: '>'}], server: {user: 'srv'}}), /not one subject token/)
  assert.throws(() => buildNatsConfig({accounts: [{name: 'a'}, {name: 'a'}], server: {user: 'srv'}}), /named twice/)
  assert.throws(() => buildNatsConfig({accounts: [{name: 'srv'}], server: {user: 'srv'}}), /named twice/)
})

test('nats-config - password lines: NAME PASSWORD or NAME=PASSWORD, comments skipped, bad lines named', () => {
  assert.deepEqual([...parsePasswordLines('# comment\nacme s3cret\n\nglobex=a b c\n')], [['acme', 's3cret'], ['globex', 'a b c']])
  assert.throws(() => parsePasswordLines('acme\n'), /stdin:1/)
})
