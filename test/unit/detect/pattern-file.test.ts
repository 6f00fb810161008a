import assert from 'node:assert/strict'
import {test} from 'node:test'

import {parsePatternFile, parsePatternFiles, readsSource} from '../../../src/lib/detect/index.js'
import type {PatternFile} from '../../../src/lib/detect/index.js'
import {configErrorOf} from './helpers.js'

const F = '/etc/diswall/firewall/patterns.d/test.patterns'

test('pattern-file - a file with every setting', () => {
  const text = [
    '# sshd on a second port',
    '',
    '  file = /var/log/auth.log  ',
    'ports = 22, 2222',
    'ident = sshd, sshd-session',
    'unit = ssh.service, ssh@2222.service',
    'threshold = 3',
    'window = 1h30m',
    'ban = 2d',
    'tag = ssh-alt',
    'action = ban',
    'Failed password for .* from __IP__ port \\d+ ssh2$',
    '  # indented comment',
    '^Invalid user \\S+ from __IP__',
  ].join('\n')
  const file = parsePatternFile(text, F)
  assert.deepEqual({...file, patterns: file.patterns.map((p) => ({line: p.line, literal: p.literal, source: p.source}))}, {
    action: 'ban',
    banSec: 172_800,
    file: '/var/log/auth.log',
    idents: ['sshd', 'sshd-session'],
    level: 'normal',
    name: 'test.patterns',
    path: F,
    patterns: [
      {line: 12, literal: 'Failed password for ', source: 'Failed password for .* from __IP__ port \\d+ ssh2$'},
      {line: 14, literal: 'Invalid user ', source: '^Invalid user \\S+ from __IP__'},
    ],
    ports: [22, 2222],
    tag: 'ssh-alt',
    threshold: 3,
    units: ['ssh.service', 'ssh@2222.service'],
    windowSec: 5400,
  })
})

test('pattern-file - defaults: threshold 5 (1 for allow), window 10m, tag from the file name, all ports, any ident', () => {
  const file = parsePatternFile('file = /var/log/x.log\n__IP__ bad$', '/p/my-app.patterns')
  assert.deepEqual([file.action, file.threshold, file.windowSec, file.tag, file.ports, file.idents, file.banSec, file.units],
    ['ban', 5, 600, 'my-app', 'all', [], undefined, []])
  const allow = parsePatternFile('file = /var/log/x.log\naction = allow\n^ok __IP__$', '/p/x.patterns')
  assert.equal(allow.threshold, 1)
  const long = parsePatternFile('file = /var/log/x.log', `/p/${'a'.repeat(40)}.patterns`)
  assert.equal(long.tag, 'a'.repeat(25))
  assert.deepEqual(parsePatternFile('file = /var/log/x.log', '/p/empty.patterns').patterns, [])
})

test('pattern-file - ports are split on non-alphanumerics; names need a lookup', () => {
  const ports = (value: string, lookupService?: (name: string) => number | undefined): PatternFile['ports'] =>
    parsePatternFile(`file = /l\nports = ${value}`, F, {lookupService}).ports
  assert.deepEqual(ports('25,465,587'), [25, 465, 587])
  assert.deepEqual(ports('25 465;587 25'), [25, 465, 587])
  assert.deepEqual(ports('all'), 'all')
  assert.deepEqual(ports('22, ALL'), 'all')
  assert.deepEqual(ports(''), 'all')
  assert.deepEqual(ports(' , '), 'all')
  const services: Record<string, number> = {smtp: 25, ssh: 22}
  assert.deepEqual(ports('ssh, smtp, 465', (n) => services[n]), [22, 25, 465])
})

test('pattern-file - settings errors name file:line with a hint', () => {
  const file = (lines: string[]): string => lines.join('\n')
  const cases: Array<[string, string, string]> = [
    [file(['file = /a', 'file = /b']), `${F}:2: "file =" appears a second time (first on line 1)`, 'Keep one'],
    [file(['file = /a', 'treshold = 3']), `${F}:2: unknown setting "treshold"`, 'Settings are'],
    [file(['ports = 22', '__IP__ x$']), `${F}: no "file = PATH" line`, 'file = /var/log/auth.log'],
    [file(['# x', 'file = var/log/auth.log']), `${F}:2: log file "var/log/auth.log" is not an absolute path`, 'full path'],
    [file(['file = /a', 'action = drop']), `${F}:2: action "drop" is neither "ban" nor "allow"`, 'action = allow'],
    [file(['file = /a', 'tag = a|b']), `${F}:2: tag "a|b" is not 1 to 25 printable ASCII characters without "|"`, 'tag = ssh'],
    [file(['file = /a', 'tag = ']), `${F}:2: tag "" is not 1 to 25 printable ASCII characters without "|"`, 'tag = ssh'],
    [file(['file = /a', 'tag = this-tag-is-far-too-long-for-nats']),
      `${F}:2: tag "this-tag-is-far-too-long-for-nats" is not 1 to 25 printable ASCII characters without "|"`, 'tag = ssh'],
    [file(['file = /a', 'ident = sshd, sshd[1]']), `${F}:2: ident "sshd[1]" is not a syslog identifier`, 'ident = sshd'],
    [file(['file = /a', 'ident = , ']), `${F}:2: ident is empty`, 'remove the line'],
    [file(['file = /a', 'unit = ssh']), `${F}:2: unit "ssh" is not a systemd service name`, 'unit = ssh.service'],
    [file(['file = /a', 'unit = ssh.service, cron.timer']), `${F}:2: unit "cron.timer" is not a systemd service name`, 'suffix'],
    [file(['file = /a', 'unit = -k.service']), `${F}:2: unit "-k.service" is not a systemd service name`, 'unit = ssh.service'],
    [file(['file = /a', 'unit = a@b@c.service']), `${F}:2: unit "a@b@c.service" is not a systemd service name`, 'unit = ssh.service'],
    [file(['file = /a', 'unit = ssh.service service']), `${F}:2: unit "service" is not a systemd service name`, 'unit = ssh.service'],
    [file(['file = /a', 'unit = ' + 'a'.repeat(250) + '.service']),
      `${F}:2: unit "${'a'.repeat(250)}.service" is not a systemd service name`, 'unit = ssh.service'],
    [file(['file = /a', 'unit = , ']), `${F}:2: unit is empty`, 'remove the line'],
    [file(['file = /a', 'unit = ssh.service', 'unit = x.service']), `${F}:3: "unit =" appears a second time (first on line 2)`, 'Keep one'],
    [file(['unit = ssh.service', '__IP__ x$']), `${F}: no "file = PATH" line`, 'file = /var/log/auth.log'],
    [file(['file = /a', 'ports = 22, 70000']), `${F}:2: port 70000 is not a number from 1 to 65535`, 'ports = 25'],
    [file(['file = /a', 'ports = 0']), `${F}:2: port 0 is not a number from 1 to 65535`, 'ports = 25'],
    [file(['file = /a', 'ports = 022']), `${F}:2: port 022 is not a number from 1 to 65535`, 'ports = 25'],
    [file(['file = /a', 'ports = ssh']), `${F}:2: unknown service name "ssh"`, 'Write the port number'],
    [file(['file = /a', 'threshold = 0']), `${F}:2: threshold "0" is not a whole number from 1 to 1000000`, 'threshold = 5'],
    [file(['file = /a', 'threshold = 2.5']), `${F}:2: threshold "2.5" is not a whole number from 1 to 1000000`, 'threshold = 5'],
    [file(['file = /a', 'threshold = 1000001']), `${F}:2: threshold "1000001" is not a whole number from 1 to 1000000`, 'threshold = 5'],
    [file(['file = /a', 'window = 10 minutes']), `${F}:2: window: "10 minutes" is not a valid duration: the amount 10 has no unit`, 'units'],
    [file(['file = /a', 'window = 0']), `${F}:2: window "0" is out of range (1s to 604800 seconds)`, 'window = 10m'],
    [file(['file = /a', 'window = 2w']), `${F}:2: window "2w" is out of range (1s to 604800 seconds)`, 'window = 10m'],
    [file(['file = /a', 'ban = 1y']), `${F}:2: ban: "1y" is not a valid duration: unknown unit "y"`, 'units'],
    [file(['file = /a', 'ban = 4w']), `${F}:2: ban "4w" is out of range (1s to 2147483 seconds)`, 'ipset'],
  ]
  for (const [text, message, hint] of cases) {
    const e = configErrorOf(() => parsePatternFile(text, F))
    assert.equal(e.message, message)
    assert.equal(e.code, 'E_CONFIG')
    assert.ok(e.hint?.includes(hint), `hint ${JSON.stringify(e.hint)} lacks ${JSON.stringify(hint)}`)
  }
  const services = {lookupService: (name: string) => (name === 'ssh' ? 22 : undefined)}
  const e = configErrorOf(() => parsePatternFile('file = /a\nports = ssh, smtps', F, services))
  assert.equal(e.message, `${F}:2: unknown service name "smtps"`)
  assert.ok(e.hint?.includes('/etc/services'))
  const badName = configErrorOf(() => parsePatternFile('file = /a', '/p/a|b.patterns'))
  assert.equal(badName.message, '/p/a|b.patterns: tag "a|b" is not 1 to 25 printable ASCII characters without "|"')
})

test('pattern-file - a regex line that does not compile names its line in the file', () => {
  const e = configErrorOf(() => parsePatternFile('# x\nfile = /var/log/x.log\n\nFailed from __IP__|Invalid from __IP__\n', F))
  assert.equal(e.message, `${F}:4: alternatives at the top level ("a|b") are not allowed: the anchor would cover only one of them`)
  assert.ok(e.hint?.includes('(?:a|b)'))
  const file = parsePatternFile('file = /var/log/x.log\n\n# c\nFailed from __IP__ port \\d+\n^ok __IP__$', F)
  assert.deepEqual(file.patterns.map((p) => [p.line, p.source, p.regex.flags]), [[4, 'Failed from __IP__ port \\d+', ''], [5, '^ok __IP__$', '']])
})

test('pattern-file - readsSource: its own file, the journal, and journal identifiers it lists', () => {
  const withIdents = parsePatternFile('file = /var/log/mail.log\nident = postfix, dovecot', F)
  const any = parsePatternFile('file = /var/log/mail.log', F)
  const cases: Array<[string, boolean, boolean]> = [
    ['/var/log/mail.log', true, true],
    ['file:/var/log/mail.log', true, true],
    ['file:/var/log/auth.log', false, false],
    ['/var/log/mail.log.1', false, false],
    ['/var/log/auth.log', false, false],
    ['journal', true, true],
    ['journal:postfix/smtpd', true, true],
    ['journal:postfix/submission/smtpd', true, true],
    ['journal:postfixx', false, true],
    ['journal:dovecot', true, true],
    ['journal:sshd', false, true],
    ['kmsg', false, false],
    ['pipe', false, false],
  ]
  for (const [source, idents, all] of cases) {
    assert.equal(readsSource(withIdents, source), idents, `ident: ${source}`)
    assert.equal(readsSource(any, source), all, `any: ${source}`)
  }
  // an allow file with identifiers does not trust the journal when the identifier is unknown
  const allow = parsePatternFile('file = /var/log/auth.log\nident = sshd\naction = allow', F)
  assert.deepEqual(['journal', 'journal:sshd', 'journal:alice', '/var/log/auth.log'].map((s) => readsSource(allow, s)), [false, true, false, true])
  const allowAny = parsePatternFile('file = /var/log/auth.log\naction = allow', F)
  assert.equal(readsSource(allowAny, 'journal'), true)
})

test('pattern-file - readsSource: unit:NAME lines only for the units the file names', () => {
  const ssh = parsePatternFile('file = /var/log/auth.log\nident = sshd\nunit = ssh.service, postfix@-.service', F)
  const noUnit = parsePatternFile('file = /var/log/auth.log', F)
  const allow = parsePatternFile('file = /var/log/auth.log\nident = sshd\nunit = ssh.service\naction = allow', F)
  for (const [source, expected] of [['unit:ssh.service', true], ['unit:postfix@-.service', true], ['unit:cron.service', false],
    ['unit:ssh', false], ['unit:', false]] as const) {
    assert.equal(readsSource(ssh, source), expected, source)
    // An allow file believes a unit's lines: they passed journald's trusted fields.
    assert.equal(readsSource(allow, source), source === 'unit:ssh.service', `allow: ${source}`)
    assert.equal(readsSource(noUnit, source), false, `no unit: ${source}`)
  }
  assert.equal(readsSource(ssh, 'journal:sshd'), true)
  assert.equal(readsSource(ssh, '/var/log/auth.log'), true)
})

test('pattern-file - parsePatternFiles sorts by name and reports the failing file', () => {
  const files = parsePatternFiles([
    {path: '/d/zz.patterns', text: 'file = /z'},
    {path: '/d/100-a.patterns', text: 'file = /a'},
    {path: '/d/20-b.patterns', text: 'file = /b'},
  ])
  assert.deepEqual(files.map((f) => f.name), ['100-a.patterns', '20-b.patterns', 'zz.patterns'])
  const e = configErrorOf(() => parsePatternFiles([{path: '/d/ok.patterns', text: 'file = /a'}, {path: '/d/bad.patterns', text: 'file = /a\nbad'}]))
  assert.equal(e.message, '/d/bad.patterns:2: the regex has no __IP__')
})

test('pattern-file - levels and flags: "level =" for the file, "[FLAGS]" before a regex', () => {
  const file = parsePatternFile([
    'file = /var/log/auth.log',
    'Failed password for .* from __IP__ port \\d+ ssh2$',
    '[aggressive] Connection closed by __IP__ port \\d+ \\[preauth\\]$',
    '[echo] Invalid user .* from __IP__ port \\d+$',
    '[track] Connection from __IP__ port \\d+ on \\S+ port \\d+$',
    '[pid, echo, aggressive] ^Disconnecting: Too many authentication failures \\[preauth\\]$',
    '[pid aggressive] ^kex_exchange_identification: .+$',
  ].join('\n'), F)
  assert.equal(file.level, 'normal')
  assert.deepEqual(file.patterns.map((p) => [p.line, p.level, p.kind, p.pid]), [
    [2, 'normal', 'count', false], [3, 'aggressive', 'count', false], [4, 'normal', 'echo', false], [5, 'normal', 'track', false],
    [6, 'aggressive', 'echo', true], [7, 'aggressive', 'count', true],
  ])
  // The flags are not part of the regex.
  assert.equal(file.patterns[1]!.source, 'Connection closed by __IP__ port \\d+ \\[preauth\\]$')
  const whole = parsePatternFile('file = /var/log/mail.log\nlevel = aggressive\nreject: RCPT from \\S+\\[__IP__\\]:\n[normal] x __IP__ y$', F)
  assert.deepEqual([whole.level, ...whole.patterns.map((p) => p.level)], ['aggressive', 'aggressive', 'normal'])
})

test('pattern-file - bad levels and flags are errors with file:line', () => {
  const cases: Array<[string, string]> = [
    ['level = loud', `${F}:2: level "loud" is neither "normal" nor "aggressive"`],
    ['[agressive] x __IP__ y', `${F}:2: unknown flag "agressive" in "[agressive]"`],
    ['[pid, track] x y', `${F}:2: conflicting flags "[pid, track]"`],
    ['[normal, aggressive] x __IP__', `${F}:2: conflicting flags "[normal, aggressive]"`],
    ['[echo, echo] x __IP__', `${F}:2: conflicting flags "[echo, echo]"`],
    ['[pid] x __IP__ y', `${F}:2: __IP__ in a "[pid]" regex`],
    ['[echo] x y', `${F}:2: the regex has no __IP__`],
  ]
  for (const [line, message] of cases) {
    const e = configErrorOf(() => parsePatternFile(`file = /var/log/auth.log\n${line}`, F))
    assert.equal(e.message, message, line)
    assert.ok(e.hint !== undefined && e.hint.length > 0, line)
  }
  // A character class of other text is a regex, as before.
  assert.equal(parsePatternFile('file = /var/log/auth.log\n[Ff]ailed from __IP__$', F).patterns[0]!.source, '[Ff]ailed from __IP__$')
})

test('pattern-file - unit:NAME of a template instance is read by files naming the template', () => {
  const file = parsePatternFile('file = /var/log/mail.log\nunit = postfix@.service\nx __IP__$', F)
  assert.equal(readsSource(file, 'unit:postfix@-.service'), true)
  assert.equal(readsSource(file, 'unit:postfix@.service'), true)
  assert.equal(readsSource(file, 'unit:postfixx@-.service'), false)
  assert.equal(readsSource(file, 'unit:postfix.service'), false)
})
