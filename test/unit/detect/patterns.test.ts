import assert from 'node:assert/strict'
import {test} from 'node:test'

import {compilePattern, IP_GROUP, parsePatternFile, parsePatternFiles, readsSource} from '../../../src/lib/detect/index.js'
import type {PatternFile} from '../../../src/lib/detect/index.js'
import {configErrorOf} from './helpers.js'

const F = '/etc/diswall/firewall/patterns.d/test.patterns'
const at = {file: F, line: 3}

/** The JavaScript source a regex line compiles to, with IP_GROUP shown as __IP__ again. */
function js(line: string): string {
  return compilePattern(line, at).regex.source.split(IP_GROUP).join('__IP__')
}

test('patterns - a file with every setting', () => {
  const text = [
    '# sshd on a second port',
    '',
    '  file = /var/log/auth.log  ',
    'ports = 22, 2222',
    'ident = sshd, sshd-session',
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
    name: 'test.patterns',
    path: F,
    patterns: [
      {line: 11, literal: 'Failed password for ', source: 'Failed password for .* from __IP__ port \\d+ ssh2$'},
      {line: 13, literal: 'Invalid user ', source: '^Invalid user \\S+ from __IP__'},
    ],
    ports: [22, 2222],
    tag: 'ssh-alt',
    threshold: 3,
    windowSec: 5400,
  })
})

test('patterns - defaults: threshold 5 (1 for allow), window 10m, tag from the file name, all ports, any ident', () => {
  const file = parsePatternFile('file = /var/log/x.log\n__IP__ bad$', '/p/my-app.patterns')
  assert.deepEqual([file.action, file.threshold, file.windowSec, file.tag, file.ports, file.idents, file.banSec],
    ['ban', 5, 600, 'my-app', 'all', [], undefined])
  const allow = parsePatternFile('file = /var/log/x.log\naction = allow\n^ok __IP__$', '/p/x.patterns')
  assert.equal(allow.threshold, 1)
  const long = parsePatternFile('file = /var/log/x.log', `/p/${'a'.repeat(40)}.patterns`)
  assert.equal(long.tag, 'a'.repeat(25))
  assert.deepEqual(parsePatternFile('file = /var/log/x.log', '/p/empty.patterns').patterns, [])
})

test('patterns - ports are split on non-alphanumerics; names need a lookup', () => {
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

test('patterns - regex lines are anchored with "$" unless they start with "^" or end with "$"', () => {
  const cases: Array<[string, string]> = [
    ['Failed password for .* from __IP__ port \\d+ ssh2', 'Failed password for .* from __IP__ port \\d+ ssh2$'],
    ['Failed .* from __IP__ port \\d+ ssh2$', 'Failed .* from __IP__ port \\d+ ssh2$'],
    ['^Failed .* from __IP__', '^Failed .* from __IP__'],
    ['^__IP__ x$', '^__IP__ x$'],
    ['costs \\$ from __IP__ \\$', 'costs \\$ from __IP__ \\$$'], // an escaped "$" is no anchor
    ['(?:a|b) __IP__ (c$)', '(?:a|b) __IP__ (c$)$'], // a "$" inside a group is no anchor for the line
  ]
  for (const [line, expected] of cases) assert.equal(js(line), expected, line)
})

test('patterns - Onigmo habits are translated where they are harmless', () => {
  const cases: Array<[string, string]> = [
    ['user\\-name \\@ \\: \\" \\  __IP__$', 'user\\x2dname \\x40 \\x3a \\x22 \\x20 __IP__$'],
    ['[\\-\\w.] __IP__$', '[\\-\\w.] __IP__$'],
    ['[\\@:] __IP__$', '[\\x40:] __IP__$'],
    ['x{ __IP__ y}$', 'x\\{ __IP__ y\\}$'],
    ['a{2} b{1,} c{1,3}? __IP__$', 'a{2} b{1,} c{1,3}? __IP__$'],
    ['[]x] [^]x] __IP__$', '[\\]x] [^\\]x] __IP__$'],
    ['a] __IP__$', 'a\\] __IP__$'],
    ['[a[b] __IP__$', '[a\\[b] __IP__$'],
    ['\\x41\\u00e9\\u{1F600}\\p{L}\\cJ\\1? (x) __IP__$', '\\x41\\u00e9\\u{1F600}\\p{L}\\cJ\\1? (x) __IP__$'],
    ['(?<user>\\S+) (?=x)(?!y)(?<=z)(?<!w) __IP__$', '(?<user>\\S+) (?=x)(?!y)(?<=z)(?<!w) __IP__$'],
    ['\\é __IP__$', 'é __IP__$'],
  ]
  for (const [line, expected] of cases) assert.equal(js(line), expected, line)
})

test('patterns - the required literal serves as a prefilter', () => {
  const cases: Array<[string, string]> = [
    ['Failed password for .* from __IP__ port \\d+ ssh2$', 'Failed password for '],
    ['^pam_unix\\(sshd:auth\\): authentication failure; .* rhost=__IP__', 'pam_unix(sshd:auth): authentication failure; '],
    ['(?:long optional literal)? __IP__ a$', ''],
    ['(?:long optional literal)? __IP__ ab$', ' ab'],
    ['abcd? __IP__$', 'abc'], // "d?" is optional
    ['xyzw* __IP__$', 'xyz'],
    ['abcde+ __IP__$', 'abcde'],
    ['ab{0,2}cdefg __IP__$', 'cdefg '],
    ['x{ab} __IP__$', 'x{ab} '],
  ]
  for (const [line, literal] of cases) assert.equal(compilePattern(line, at).literal, literal, line)
})

test('patterns - __IP__ captures IPv4, IPv6 and IPv4-mapped addresses as the group "ip"', () => {
  const {regex} = compilePattern('(x) from __IP__ port \\d+$', at)
  const ip = (line: string): string | undefined => regex.exec(line)?.groups?.ip
  assert.equal(ip('x from 203.0.113.7 port 22'), '203.0.113.7')
  assert.equal(ip('x from 2001:db8::7 port 22'), '2001:db8::7')
  assert.equal(ip('x from ::ffff:203.0.113.7 port 22'), '203.0.113.7')
  assert.equal(ip('x from 203.0.113.7 port 22 trailing'), undefined)
  assert.equal(ip('x from 203.0.113.7 port 22\nfrom 198.51.100.1 port 1'), undefined) // "$" is the end of the text
})

test('patterns - the upstream Symbiosis test pattern never matches real sshd lines once anchored', () => {
  const {regex} = compilePattern('Failed password for invalid user [^ ]+ from __IP__ port', at)
  assert.equal(regex.test('Failed password for invalid user admin from 203.0.113.7 port 51234 ssh2'), false)
})

test('patterns - repetitions that cannot backtrack catastrophically are accepted', () => {
  for (const line of ['postfix(?:/[a-z0-9_-]+)+\\[\\d+\\]: __IP__$', 'x(?:, [A-Za-z=]+)* __IP__$', '(?:ab)+ __IP__$',
    '(?:\\S+ )? __IP__$', '(?:a\\d)+ __IP__$', '(x__IP__)+', '(?:[0-9]{1,3}\\.){3} __IP__$']) {
    assert.doesNotThrow(() => compilePattern(line, at), line)
  }
})

test('patterns - settings errors name file:line with a hint', () => {
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

test('patterns - regex errors name file:line with a hint', () => {
  const cases: Array<[string, string, string]> = [
    ['x'.repeat(2001), 'the regex is 2001 characters long (at most 2000)', 'shorter'],
    ['from __IP__ \\', 'the regex ends with a single "\\"', '"\\\\"'],
    ['\\Afrom __IP__', '"\\A" is not supported in JavaScript regular expressions', 'Use "^"'],
    ['from __IP__\\z', '"\\z" is not supported in JavaScript regular expressions', 'Use "$"'],
    ['from __IP__\\Z', '"\\Z" is not supported in JavaScript regular expressions', 'Use "$"'],
    ['\\h+ from __IP__', '"\\h" is not supported in JavaScript regular expressions', '[0-9a-fA-F]'],
    ['[\\h] from __IP__', '"\\h" is not supported in JavaScript regular expressions', '[0-9a-fA-F]'],
    ['\\K from __IP__', '"\\K" is not supported in JavaScript regular expressions', 'lookbehind'],
    ['\\y from __IP__', '"\\y" is not supported in JavaScript regular expressions', 'Remove the backslash'],
    ['[\\y] from __IP__', '"\\y" is not supported in JavaScript regular expressions', 'Remove the backslash'],
    ['[[:alpha:]]+ from __IP__', 'POSIX bracket expressions ("[[:alpha:]]") are not supported in JavaScript regular expressions', '[a-zA-Z]'],
    ['[a[[b]]] from __IP__', 'nested character classes are not supported in JavaScript regular expressions', 'Merge'],
    ['[a-z&&[^aeiou]] from __IP__', 'class intersection ("&&") is not supported in JavaScript regular expressions', 'List'],
    ['from __IP__ [abc', 'unclosed "["', '"\\["'],
    ['from [__IP__]', '__IP__ inside a character class "[…]"', 'outside'],
    ['(?<1x>a) from __IP__', 'invalid group name "1x"', '(?<user>'],
    ['(?<ip>a) from __IP__', 'the group name "ip" is reserved for __IP__', 'rename'],
    ['(?>a+) from __IP__', 'atomic groups "(?>…)" are not supported in JavaScript regular expressions', 'Rewrite'],
    ['(?#note) from __IP__', 'comment groups "(?#…)" are not supported in JavaScript regular expressions', '"#" line'],
    ["(?'u'a) from __IP__", 'group names in quotes "(?\'name\'…)" are not supported in JavaScript regular expressions', '(?<name>'],
    ['(?(1)a|b) from __IP__', 'conditionals "(?(cond)…)" are not supported in JavaScript regular expressions', 'Rewrite'],
    ['(?~abc) from __IP__', 'absent operators "(?~…)" are not supported in JavaScript regular expressions', 'Rewrite'],
    ['(?i)failed from __IP__', 'inline options "(?i…)" are not supported in JavaScript regular expressions', '[Ff]ailed'],
    ['(?m:x) from __IP__', 'inline options "(?m…)" are not supported in JavaScript regular expressions', '[Ff]ailed'],
    ['a) from __IP__', 'unbalanced ")"', '"\\)"'],
    ['(a from __IP__', 'unclosed "("', '"\\("'],
    ['Failed from __IP__|Invalid from __IP__', 'alternatives at the top level ("a|b") are not allowed: the anchor would cover only one of them', '(?:a|b)'],
    ['* from __IP__', '"*" has nothing to repeat', '"\\*"'],
    ['^+ from __IP__', '"+" has nothing to repeat', '"\\+"'],
    ['a*?? from __IP__', '"?" has nothing to repeat', '"\\?"'],
    ['a*+ from __IP__', 'possessive quantifiers ("*+", "++", "?+") are not supported in JavaScript regular expressions', 'Drop'],
    ['(\\S+)+ from __IP__', 'nested unbounded quantifiers (like "(\\S+)+" or "(.*)*") can backtrack catastrophically on long lines', 'separator'],
    ['(.*)* from __IP__', 'nested unbounded quantifiers (like "(\\S+)+" or "(.*)*") can backtrack catastrophically on long lines', 'separator'],
    ['(?:a\\w+)+ from __IP__', 'nested unbounded quantifiers (like "(\\S+)+" or "(.*)*") can backtrack catastrophically on long lines', 'separator'],
    ['(?:x|\\S+)* from __IP__', 'nested unbounded quantifiers (like "(\\S+)+" or "(.*)*") can backtrack catastrophically on long lines', 'separator'],
    ['(?:(?:a+)+b)+ from __IP__', 'nested unbounded quantifiers (like "(\\S+)+" or "(.*)*") can backtrack catastrophically on long lines', 'separator'],
    ['(a__IP__)+', 'nested unbounded quantifiers (like "(\\S+)+" or "(.*)*") can backtrack catastrophically on long lines', 'separator'],
    ['Failed password', 'the regex has no __IP__', '__IP__'],
    ['from __IP__ to __IP__', '__IP__ appears 2 times', 'once'],
    ['\\k<nope> from __IP__', 'invalid regular expression: Invalid named capture referenced', 'flag u'],
    ['(?<user>a)(?<user>b) from __IP__', 'invalid regular expression: Duplicate capture group name', 'flag u'],
    ['\\3(a) from __IP__', 'invalid regular expression: Invalid escape', 'flag u'],
  ]
  for (const [line, reason, hint] of cases) {
    const e = configErrorOf(() => parsePatternFile(`# x\nfile = /var/log/x.log\n${line}\n`, F))
    assert.equal(e.message, `${F}:3: ${reason}`, line)
    assert.ok(e.hint?.includes(hint), `${line}: hint ${JSON.stringify(e.hint)} lacks ${JSON.stringify(hint)}`)
  }
})

test('patterns - readsSource: its own file, the journal, and journal identifiers it lists', () => {
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

test('patterns - parsePatternFiles sorts by name and reports the failing file', () => {
  const files = parsePatternFiles([
    {path: '/d/zz.patterns', text: 'file = /z'},
    {path: '/d/100-a.patterns', text: 'file = /a'},
    {path: '/d/20-b.patterns', text: 'file = /b'},
  ])
  assert.deepEqual(files.map((f) => f.name), ['100-a.patterns', '20-b.patterns', 'zz.patterns'])
  const e = configErrorOf(() => parsePatternFiles([{path: '/d/ok.patterns', text: 'file = /a'}, {path: '/d/bad.patterns', text: 'file = /a\nbad'}]))
  assert.equal(e.message, '/d/bad.patterns:2: the regex has no __IP__')
})
