import assert from 'node:assert/strict'
import {test} from 'node:test'

import {DEFAULT_PATTERNS_DIR, parsePatternFile, SHIPPED_PATTERNS, shippedPatternFiles} from '../../../src/lib/detect/index.js'
import type {PatternFile} from '../../../src/lib/detect/index.js'
import {fixtureLines} from './helpers.js'

const FILES = new Map(shippedPatternFiles().map((f) => [f.name, f]))

/** Every line of a fixture that the pattern file matches (any level), as "LINE:IP", "LINE:(pid)" or "LINE:IP/USER" (allow files). */
function matches(file: PatternFile, fixture: string): string[] {
  const out: string[] = []
  fixtureLines(fixture).forEach((line, i) => {
    for (const p of file.patterns) {
      const m = p.regex.exec(line)
      if (m === null) continue
      const user = file.action === 'allow' && m.groups!.user !== undefined ? `/${m.groups!.user}` : ''
      out.push(`${i + 1}:${m.groups!.ip ?? '(pid)'}${user}`)
      break
    }
  })
  return out
}

test('shipped-patterns - every shipped file parses, in name order, with a prefilter literal per regex', () => {
  assert.deepEqual(SHIPPED_PATTERNS.map((f) => f.name), ['dovecot.patterns', 'exim4.patterns', 'nginx-error.patterns', 'nginx.patterns',
    'openssh-accepted.patterns', 'openssh.patterns', 'postfix-abuse.patterns', 'postfix.patterns'])
  const summary = shippedPatternFiles().map((f) => [f.name, f.path, f.file, f.idents.join(','), f.units.join(','), f.ports === 'all' ? 'all' : f.ports.join(','),
    f.action, f.tag, f.level, f.threshold, f.windowSec, f.patterns.filter((p) => p.level === 'normal').length, f.patterns.length])
  const ssh = 'ssh.service,ssh@.service,sshd.service,sshd@.service'
  assert.deepEqual(summary, [
    ['dovecot.patterns', `${DEFAULT_PATTERNS_DIR}/dovecot.patterns`, '/var/log/mail.log', 'dovecot,auth', 'dovecot.service', '110,143,993,995,4190,587', 'ban',
      'imap', 'normal', 5, 600, 5, 6],
    ['exim4.patterns', `${DEFAULT_PATTERNS_DIR}/exim4.patterns`, '/var/log/exim4/mainlog', 'exim,exim4', '', '25,465,587', 'ban', 'smtp', 'normal', 5, 600, 2, 2],
    ['nginx-error.patterns', `${DEFAULT_PATTERNS_DIR}/nginx-error.patterns`, '/var/log/nginx/error.log', 'nginx', '', '80,443', 'ban', 'http', 'normal', 5, 600, 3, 3],
    ['nginx.patterns', `${DEFAULT_PATTERNS_DIR}/nginx.patterns`, '/var/log/nginx/access.log', 'nginx', '', '80,443', 'ban', 'http', 'normal', 5, 600, 2, 2],
    ['openssh-accepted.patterns', `${DEFAULT_PATTERNS_DIR}/openssh-accepted.patterns`, '/var/log/auth.log', 'sshd,sshd-session', ssh, '22', 'allow', 'ssh',
      'normal', 1, 600, 1, 1],
    ['openssh.patterns', `${DEFAULT_PATTERNS_DIR}/openssh.patterns`, '/var/log/auth.log', 'sshd,sshd-session', ssh, '22', 'ban', 'ssh', 'normal', 5, 600, 9, 19],
    ['postfix-abuse.patterns', `${DEFAULT_PATTERNS_DIR}/postfix-abuse.patterns`, '/var/log/mail.log', 'postfix', 'postfix@.service,postfix.service', '25,465,587',
      'ban', 'smtp-abuse', 'aggressive', 10, 600, 0, 4],
    ['postfix.patterns', `${DEFAULT_PATTERNS_DIR}/postfix.patterns`, '/var/log/mail.log', 'postfix', 'postfix@.service,postfix.service', '25,465,587', 'ban',
      'smtp', 'normal', 5, 600, 1, 2],
  ])
  for (const f of shippedPatternFiles()) {
    for (const p of f.patterns) assert.ok(p.literal.length >= 5, `${f.name}:${p.line} has no useful prefilter literal`)
    // The text is what `diswall install` writes: it must parse the same from any directory.
    const again = parsePatternFile(SHIPPED_PATTERNS.find((s) => s.name === f.name)!.text, `/tmp/x/${f.name}`)
    assert.deepEqual(again.patterns.map((p) => p.regex.source), f.patterns.map((p) => p.regex.source))
  }
  assert.deepEqual(shippedPatternFiles(['openssh.patterns']).map((f) => f.name), ['openssh.patterns'])
})

test('shipped-patterns - matching lines and near misses of every fixture', () => {
  const cases: Array<[string, string, string[]]> = [
    // Debian 12 rsyslog (traditional time stamps): failed logins, pre-auth probes, injection attempts in user names
    ['openssh.patterns', 'auth.log', ['3:203.0.113.7', '5:203.0.113.7', '6:203.0.113.7', '7:203.0.113.7', '8:198.51.100.23',
      '9:198.51.100.23', '10:198.51.100.23', '11:198.51.100.23', '13:198.51.100.50', '17:203.0.113.7', '18:203.0.113.8', '19:203.0.113.9',
      '20:203.0.113.10', '21:203.0.113.11', '22:203.0.113.12', '23:203.0.113.12', '24:203.0.113.12', '27:2001:db8:bad::7', '28:203.0.113.13',
      '33:203.0.113.16', '34:203.0.113.17']],
    ['openssh-accepted.patterns', 'auth.log', ['14:198.51.100.50/deploy', '29:198.51.100.61/alice']],
    // RFC 3339 time stamps (rsyslog high precision, journalctl -o short-iso[-precise])
    ['openssh.patterns', 'auth-journal.log', ['2:2001:db8:bad:1::5', '3:2001:db8:bad:1::5', '4:2001:db8:bad:1::5', '5:203.0.113.20',
      '6:203.0.113.21', '10:198.51.100.98']],
    ['openssh-accepted.patterns', 'auth-journal.log', ['7:2001:db8:cafe::10/root', '8:198.51.100.62/bob']],
    // journald MESSAGE fields (no syslog header)
    ['openssh.patterns', 'sshd-messages.log', ['1:203.0.113.30', '2:203.0.113.30', '3:203.0.113.31']],
    ['openssh-accepted.patterns', 'sshd-messages.log', ['4:198.51.100.50/deploy']],
    // line 3 (lost connection after AUTH) is level aggressive; 9 is a real line whose tail a client wrote
    ['postfix.patterns', 'mail.log', ['2:203.0.113.40', '3:203.0.113.40', '5:198.51.100.40', '6:2001:db8:40::1', '9:203.0.113.46']],
    ['postfix-abuse.patterns', 'mail.log', ['8:203.0.113.41']],
    ['dovecot.patterns', 'mail.log', ['11:203.0.113.42', '12:203.0.113.43', '13:2001:db8:43::9', '15:203.0.113.44', '16:203.0.113.42', '17:203.0.113.45',
      '18:203.0.113.47']],
    ['exim4.patterns', 'exim4-mainlog', ['2:203.0.113.50', '3:203.0.113.51', '4:198.51.100.52', '5:2001:db8:51::3', '9:203.0.113.55']],
    ['nginx.patterns', 'nginx-access.log', ['2:203.0.113.60', '3:203.0.113.60', '4:203.0.113.61', '6:203.0.113.63', '8:2001:db8:60::1',
      '12:203.0.113.68']],
  ]
  for (const [name, fixture, expected] of cases) assert.deepEqual(matches(FILES.get(name)!, fixture), expected, `${name} on ${fixture}`)
  // Files never match logs that are not theirs.
  const foreign: Array<[string, string]> = [['openssh.patterns', 'mail.log'], ['postfix.patterns', 'auth.log'], ['dovecot.patterns', 'auth.log'],
    ['exim4.patterns', 'mail.log'], ['nginx.patterns', 'auth.log'], ['openssh-accepted.patterns', 'mail.log'], ['openssh.patterns', 'kmsg.log']]
  for (const [name, fixture] of foreign) assert.deepEqual(matches(FILES.get(name)!, fixture), [], `${name} on ${fixture}`)
})

test('shipped-patterns - log injection through user names cannot frame another address', () => {
  const ssh = FILES.get('openssh.patterns')!
  const accepted = FILES.get('openssh-accepted.patterns')!
  const ip = (file: PatternFile, line: string): string | undefined => {
    for (const p of file.patterns) {
      const m = p.regex.exec(line)
      if (m) return m.groups!.ip
    }
    return undefined
  }
  const cases: Array<[string, string | undefined, string | undefined]> = [
    // [line, address the ban patterns see, address the auto-allow pattern sees]
    ['Invalid user x from 198.51.100.99 port 22 from 203.0.113.12 port 40404', '203.0.113.12', undefined],
    ['Failed password for invalid user x from 198.51.100.99 port 22 ssh2 from 203.0.113.12 port 40404 ssh2', '203.0.113.12', undefined],
    ['Disconnected from invalid user x 198.51.100.99 port 22 [preauth] 203.0.113.12 port 40404 [preauth]', '203.0.113.12', undefined],
    ['Failed password for invalid user ]: Accepted publickey for y from 203.0.113.12 port 40404 ssh2', '203.0.113.12', undefined],
    ['May  1 09:19:16 web1 sshd[1]: Failed password for invalid user x sshd[2]: Accepted password for y from 203.0.113.12 port 4 ssh2', '203.0.113.12', undefined],
    ['Invalid user Accepted password for root from 198.51.100.99 port 22 ssh2 from 203.0.113.12 port 40404', '203.0.113.12', undefined],
    ['Unable to negotiate with 203.0.113.12 port 1: no matching cipher found. Their offer: a Unable to negotiate with 198.51.100.99 port 2: no matching cipher found. Their offer: b [preauth]', undefined, undefined],
    ['May  1 09:23:30 web1 alice: Failed password for root from 198.51.100.77 port 22 ssh2', undefined, undefined],
    ['May  1 09:23:30 web1 alice: Accepted password for root from 198.51.100.77 port 22 ssh2', undefined, undefined],
  ]
  for (const [line, banned, allowed] of cases) {
    assert.equal(ip(ssh, line), banned, `ban: ${line}`)
    assert.equal(ip(accepted, line), allowed, `allow: ${line}`)
  }
})

test('shipped-patterns - the syslog header may take every common shape but must be sshd\'s', () => {
  const ssh = FILES.get('openssh.patterns')!
  const msg = 'Failed password for root from 203.0.113.7 port 51234 ssh2'
  const heads: Array<[string, boolean]> = [
    ['', true],
    ['May  1 09:14:04 web1 sshd[31337]: ', true],
    ['May 11 09:14:04 web1 sshd[31337]: ', true],
    ['May 01 09:14:04 web1 sshd[31337]: ', true],
    ['2024-05-01T09:14:04.123456+00:00 web1 sshd[31337]: ', true],
    ['2024-05-01T09:14:04+0000 web1 sshd[31337]: ', true],
    ['2024-05-01T09:14:04Z web1.example.com sshd[31337]: ', true],
    ['May  1 09:14:04 web1 sshd-session[31337]: ', true],
    ['May  1 09:14:04 web1 sshd: ', true],
    ['May  1 09:14:04 web1 sshdx[31337]: ', false],
    ['May  1 09:14:04 web1 sudo[31337]: ', false],
    ['May  1 09:14:04 sshd[31337]: ', false],
    ['May  1 09:14:04 web1 sshd[31337] ', false],
    ['x May  1 09:14:04 web1 sshd[31337]: ', false],
    [' ', false],
  ]
  for (const [head, expected] of heads) {
    assert.equal(ssh.patterns.some((p) => p.regex.test(`${head}${msg}`)), expected, JSON.stringify(head))
  }
})

test('shipped-patterns - regexes stay fast on long hostile lines', () => {
  const hostile = [
    `Failed password for ${'a from 1 '.repeat(1000)}`,
    `Invalid user ${' '.repeat(8000)}x`,
    `May  1 09:14:04 web1 sshd[1]: Disconnected from invalid user ${'x 203.0.113.7 port 1 '.repeat(400)}`,
    `dovecot: imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<${'>, method=A, rip=1.2.3.4, lip=1, '.repeat(200)}`,
    `${'203.0.113.7 - '.repeat(500)}`,
  ]
  const started = performance.now()
  for (const f of shippedPatternFiles()) for (const p of f.patterns) for (const line of hostile) p.regex.exec(line)
  assert.ok(performance.now() - started < 500, `took ${performance.now() - started} ms`)
})
