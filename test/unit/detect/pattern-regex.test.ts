import assert from 'node:assert/strict'
import {test} from 'node:test'

import {compilePattern, IP_GROUP} from '../../../src/lib/detect/index.js'
import {configErrorOf} from './helpers.js'

const F = '/etc/diswall/firewall/patterns.d/test.patterns'
const at = {file: F, line: 3}

/** The JavaScript source a regex line compiles to, with IP_GROUP shown as __IP__ again. */
function js(line: string): string {
  return compilePattern(line, at).regex.source.split(IP_GROUP).join('__IP__')
}

test('pattern-regex - regex lines are anchored with "$" unless they start with "^" or end with "$"', () => {
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

test('pattern-regex - Onigmo habits are translated where they are harmless', () => {
  const cases: Array<[string, string]> = [
    ['user\\-name \\@ \\: \\" \\  __IP__$', 'user\\x2dname \\x40 \\x3a \\x22 \\x20 __IP__$'],
    ['[\\-\\w.] __IP__$', '[\\-\\w.] __IP__$'],
    ['[\\@:] __IP__$', '[\\x40:] __IP__$'],
    ['x{ __IP__ y}$', 'x\\{ __IP__ y\\}$'],
    ['a{2} b{1,} c{1,3}? __IP__$', 'a{2} b{1,} c{1,3}? __IP__$'],
    ['[]x] [^]x] __IP__$', '[\\]x] [^\\]x] __IP__$'],
    ['a] __IP__$', 'a\\] __IP__$'],
    ['[a[b] __IP__$', '[a\\[b] __IP__$'],
    ['\\x41\\u00e9\\cJ\\0 (x) __IP__$', '\\x41\\u00e9\\cJ\\0 (x) __IP__$'],
    ['(?<user>\\S+) a{16} (?:b{4}){4} __IP__$', '(?<user>\\S+) a{16} (?:b{4}){4} __IP__$'],
    ['\\é __IP__$', 'é __IP__$'],
  ]
  for (const [line, expected] of cases) assert.equal(js(line), expected, line)
})

test('pattern-regex - the required literal serves as a prefilter', () => {
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

test('pattern-regex - __IP__ captures IPv4, IPv6 and IPv4-mapped addresses as the group "ip"', () => {
  const {regex} = compilePattern('(x) from __IP__ port \\d+$', at)
  const ip = (line: string): string | undefined => regex.exec(line)?.groups?.ip
  assert.equal(ip('x from 203.0.113.7 port 22'), '203.0.113.7')
  assert.equal(ip('x from 2001:db8::7 port 22'), '2001:db8::7')
  assert.equal(ip('x from ::ffff:203.0.113.7 port 22'), '203.0.113.7')
  assert.equal(ip('x from 203.0.113.7 port 22 trailing'), undefined)
  assert.equal(ip('x from 203.0.113.7 port 22\nfrom 198.51.100.1 port 1'), undefined) // "$" is the end of the text
})

test('pattern-regex - the upstream Symbiosis test pattern never matches real sshd lines once anchored', () => {
  const {regex} = compilePattern('Failed password for invalid user [^ ]+ from __IP__ port', at)
  assert.equal(regex.test('Failed password for invalid user admin from 203.0.113.7 port 51234 ssh2'), false)
})

test('pattern-regex - repetitions that cannot backtrack catastrophically are accepted', () => {
  for (const line of ['postfix(?:/[a-z0-9_-]+)+\\[\\d+\\]: __IP__$', 'x(?:, [A-Za-z=]+)* __IP__$', '(?:ab)+ __IP__$',
    '(?:\\S+ )? __IP__$', '(?:a\\d)+ __IP__$', '(x__IP__)+', '(?:[0-9]{1,3}\\.){3} __IP__$']) {
    assert.doesNotThrow(() => compilePattern(line, at), line)
  }
})

test('pattern-regex - regex errors name file:line with a hint', () => {
  const cases: Array<[string, string, string]> = [
    ['x'.repeat(2001), 'the regex is 2001 characters long (at most 2000)', 'shorter'],
    ['from __IP__ \\', 'the regex ends with a single "\\"', '"\\\\"'],
    ['\\Afrom __IP__', '"\\A" is not supported in JavaScript regular expressions', 'Use "^"'],
    ['from __IP__\\z', '"\\z" is not supported in JavaScript regular expressions', 'Use "$"'],
    ['from __IP__\\Z', '"\\Z" is not supported in JavaScript regular expressions', 'Use "$"'],
    ['\\h+ from __IP__', '"\\h" is not supported in JavaScript regular expressions', '[0-9a-fA-F]'],
    ['[\\h] from __IP__', '"\\h" is not supported in JavaScript regular expressions', '[0-9a-fA-F]'],
    ['\\K from __IP__', '"\\K" is not supported in JavaScript regular expressions', 'Remove it'],
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
    ['(?<user>a)(?<user>b) from __IP__', 'invalid regular expression: Duplicate capture group name', 'flag u'],
    ['[\\3] from __IP__', 'invalid regular expression: Invalid class escape', 'flag u'],
  ]
  for (const [line, reason, hint] of cases) {
    const e = configErrorOf(() => compilePattern(line, at))
    assert.equal(e.message, `${F}:3: ${reason}`, line)
    assert.ok(e.hint?.includes(hint), `${line}: hint ${JSON.stringify(e.hint)} lacks ${JSON.stringify(hint)}`)
  }
})

test('pattern-regex - what the linear-time engine cannot run is refused with file:line and a hint', () => {
  const linear = 'the regex cannot run in linear time: a counted repetition copies its body more than 16 times (like "(.*a){25}"; nested counts multiply)'
  const look = 'lookarounds ("(?=…)", "(?!…)", "(?<=…)", "(?<!…)") cannot run in linear time'
  const cases: Array<[string, string, string]> = [
    ['^x(.*a){25}b __IP__$', linear, 'Lower the count'], // one 41-character line pinned the daemon at 100 % CPU
    ['^x(?:(?:.*a){4}){5}b __IP__$', linear, '"*" or "+"'],
    ['^x(?:ab){17,} __IP__$', linear, 'Lower the count'],
    ['id=[0-9]{17} from __IP__', linear, '"[0-9]+"'],
    ['(?:\\d{1,5}){0,4} from __IP__', linear, '16 copies at most'],
    ['(a)\\1 from __IP__', 'back-references ("\\1") cannot run in linear time', 'Repeat the pattern'],
    ['\\3(a) from __IP__', 'back-references ("\\3") cannot run in linear time', 'Repeat the pattern'],
    ['\\01 from __IP__', 'back-references ("\\0") cannot run in linear time', 'Repeat the pattern'],
    ['(?<n>a)\\k<n> from __IP__', 'named back-references ("\\k<name>") cannot run in linear time', 'Repeat the pattern'],
    ['\\k<nope> from __IP__', 'named back-references ("\\k<name>") cannot run in linear time', 'Repeat the pattern'],
    ['(?=x)x from __IP__', look, '"[^\\s-]\\S*"'],
    ['(?!x)\\S+ from __IP__', look, '"[^\\s-]\\S*"'],
    ['(?<=x)y from __IP__', look, 'Match the text'],
    ['(?<!x)y from __IP__', look, 'Match the text'],
    ['\\p{L}+ from __IP__', 'Unicode property escapes ("\\p{…}") are not supported: pattern regexes run in a linear-time engine without the u flag', '[A-Za-z]'],
    ['[\\p{L}] from __IP__', 'Unicode property escapes ("\\p{…}") are not supported: pattern regexes run in a linear-time engine without the u flag', '[A-Za-z]'],
    ['\\u{1F600} from __IP__', '"\\u{…}" is not supported: pattern regexes run in a linear-time engine without the u flag', '\\uHHHH'],
    ['[\u{1F600}x] from __IP__', 'a character beyond U+FFFF inside a character class "[…]"', 'UTF-16'],
    ['x\u{1F600}+ from __IP__', '"+" after a character beyond U+FFFF', '(?:😀)+'],
  ]
  for (const [line, reason, hint] of cases) {
    const e = configErrorOf(() => compilePattern(line, at))
    assert.equal(e.message, `${F}:3: ${reason}`, line)
    assert.ok(e.hint?.includes(hint), `${line}: hint ${JSON.stringify(e.hint)} lacks ${JSON.stringify(hint)}`)
  }
})
