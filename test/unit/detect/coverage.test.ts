import assert from 'node:assert/strict'
import {test} from 'node:test'

import {shippedPatternFiles, testPatterns} from '../../../src/lib/detect/index.js'
import type {PatternLevel, PatternTestResult} from '../../../src/lib/detect/index.js'

// Real-format lines of Debian 12's daemons (OpenSSH 9.2p1, Postfix 3.7, Dovecot 2.3.19, Exim 4.96,
// nginx 1.22), run through the detection engine as the daemon runs them (testPatterns: one engine,
// every shipped file), at both levels.

const FILES = shippedPatternFiles()

/** `May  1 09:14:04 web1 PROG[PID]: ` */
const h = (prog: string, pid: number): string => `May  1 09:14:04 web1 ${prog}[${pid}]: `
const sshd = (pid: number, msg: string): string => `${h('sshd', pid)}${msg}`

async function run(lines: readonly string[], level: PatternLevel = 'normal'): Promise<PatternTestResult> {
  return testPatterns(FILES, lines, {level})
}

/** The address each input line counted against (`-` when it did not count), one entry per line. */
async function counted(lines: readonly string[], level: PatternLevel = 'normal'): Promise<string[]> {
  const result = await run(lines, level)
  return lines.map((_, i) => {
    const m = result.matches.find((x) => x.line === i + 1 && (x.outcome === 'counted' || x.outcome === 'banned'))
    return m?.address ?? '-'
  })
}

/** Each line on its own (a process of its own), the address it counts against at `level`. */
async function single(line: string, level: PatternLevel = 'normal'): Promise<string> {
  return (await counted([line], level))[0]!
}

test('coverage openssh - current forms count at level normal, with the offender from the fixed text', async () => {
  const cases: Array<[string, string]> = [
    [sshd(1, 'Failed password for root from 203.0.113.7 port 51234 ssh2'), '203.0.113.7'],
    [sshd(2, 'Failed publickey for invalid user git from 203.0.113.8 port 51234 ssh2: ED25519 SHA256:Jq3c8f3dgdj2hJ0xqk'), '203.0.113.8'],
    [sshd(3, 'Failed hostbased for invalid user x from 203.0.113.9 port 40000 ssh2: RSA SHA256:abc'), '203.0.113.9'],
    [sshd(4, 'Failed keyboard-interactive/pam for invalid user oracle from 2001:db8:bad::4 port 2222 ssh2'), '2001:db8:bad::4'],
    [sshd(5, 'User root from 203.0.113.10 not allowed because not listed in AllowUsers'), '203.0.113.10'],
    [sshd(6, 'User bob from 203.0.113.11 not allowed because listed in DenyUsers'), '203.0.113.11'],
    [sshd(7, 'User bob from 203.0.113.12 not allowed because none of user\'s groups are listed in AllowGroups'), '203.0.113.12'],
    [sshd(8, 'User bob from 203.0.113.13 not allowed because a group is listed in DenyGroups'), '203.0.113.13'],
    [sshd(9, 'error: PAM: Authentication failure for root from 203.0.113.14'), '203.0.113.14'],
    [sshd(10, 'error: PAM: User not known to the underlying authentication module for illegal user zz from 203.0.113.15'), '203.0.113.15'],
    [sshd(11, 'Received disconnect from 203.0.113.16 port 40022:3: com.jcraft.jsch.JSchException: Auth fail [preauth]'), '203.0.113.16'],
    [sshd(12, 'error: maximum authentication attempts exceeded for root from 203.0.113.17 port 1 ssh2 [preauth]'), '203.0.113.17'],
    [sshd(13, 'Disconnecting authenticating user root 203.0.113.18 port 1: Too many authentication failures [preauth]'), '203.0.113.18'],
    [sshd(14, 'Invalid user admin from 203.0.113.19 port 51234'), '203.0.113.19'],
    // RFC 5424 (rsyslog RSYSLOG_SyslogProtocol23Format), with and without structured data
    ['<38>1 2024-05-01T09:14:04.123456+00:00 web1 sshd 31337 - - Failed password for root from 203.0.113.20 port 5 ssh2', '203.0.113.20'],
    ['<38>1 2024-05-01T09:14:04Z web1 sshd 31338 - [meta sequenceId="1"] Invalid user a from 203.0.113.21 port 5', '203.0.113.21'],
    // journald MESSAGE (no header)
    ['Failed password for invalid user admin from 203.0.113.22 port 5 ssh2', '203.0.113.22'],
  ]
  for (const [line, ip] of cases) assert.equal(await single(line), ip, line)
})

test('coverage openssh - pre-auth noise counts only at level aggressive', async () => {
  const cases: Array<[string, string]> = [
    [sshd(20, 'Connection closed by authenticating user root 203.0.113.30 port 51234 [preauth]'), '203.0.113.30'],
    [sshd(21, 'Connection reset by authenticating user root 203.0.113.31 port 51234 [preauth]'), '203.0.113.31'],
    [sshd(22, 'Connection closed by invalid user admin 203.0.113.32 port 1 [preauth]'), '203.0.113.32'],
    [sshd(23, 'Disconnected from invalid user admin 203.0.113.33 port 1 [preauth]'), '203.0.113.33'],
    [sshd(24, 'Connection closed by 203.0.113.34 port 1 [preauth]'), '203.0.113.34'],
    [sshd(25, 'error: Received disconnect from 203.0.113.35 port 1:14: No supported authentication methods available [preauth]'), '203.0.113.35'],
    [sshd(26, 'Unable to negotiate with 203.0.113.36 port 1: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1 [preauth]'),
      '203.0.113.36'],
    [sshd(27, 'Did not receive identification string from 203.0.113.37 port 1'), '203.0.113.37'],
    [sshd(28, 'banner exchange: Connection from 203.0.113.38 port 1: invalid format'), '203.0.113.38'],
  ]
  for (const [line, ip] of cases) {
    assert.equal(await single(line, 'normal'), '-', `normal: ${line}`)
    assert.equal(await single(line, 'aggressive'), ip, `aggressive: ${line}`)
  }
})

test('coverage openssh - address-less lines take the address of their sshd process, bounded to it', async () => {
  // Key spraying: no "Failed" line, only the disconnect without an address (older sshd).
  const spray = [
    sshd(300, 'Connection from 203.0.113.40 port 5 on 198.51.100.1 port 22 rdomain ""'),
    sshd(300, 'Disconnecting: Too many authentication failures [preauth]'),
  ]
  assert.deepEqual(await counted(spray), ['-', '203.0.113.40'])
  // The key-exchange error comes before the line with the address: held, then counted once.
  const kex = [
    sshd(301, 'error: kex_exchange_identification: Connection closed by remote host'),
    sshd(302, 'Accepted publickey for ops from 198.51.100.3 port 1 ssh2: ED25519 SHA256:x'),
    sshd(301, 'Connection closed by 203.0.113.41 port 4444'),
  ]
  const aggressive = await run(kex, 'aggressive')
  assert.deepEqual(aggressive.matches.filter((m) => m.line !== 2).map((m) => [m.line, m.address, m.outcome]),
    [[1, null, 'held'], [3, '203.0.113.41', 'tracked']])
  assert.equal(aggressive.files.find((f) => f.path.endsWith('/openssh.patterns'))!.regexes.find((r) => r.source.includes('kex_exchange_identification'))!.matches, 1)
  assert.deepEqual(aggressive.bans, [])
  const normal = await run(kex, 'normal')
  assert.deepEqual(normal.matches.filter((m) => m.file.endsWith('/openssh.patterns')).map((m) => m.outcome), ['tracked'])
  // Another process, or no process at all, gets nothing.
  assert.deepEqual(await counted([sshd(303, 'Connection from 203.0.113.42 port 5 on 198.51.100.1 port 22'),
    sshd(304, 'Disconnecting: Too many authentication failures [preauth]')]), ['-', '-'])
  assert.deepEqual(await counted(['Disconnecting: Too many authentication failures [preauth]']), ['-'])
})

test('coverage openssh - the held evidence of address-less lines bans at the threshold', async () => {
  const lines: string[] = []
  for (let pid = 400; pid < 405; pid++) {
    lines.push(sshd(pid, 'error: kex_exchange_identification: banner line contains invalid characters'))
    lines.push(sshd(pid, 'banner exchange: Connection from 203.0.113.43 port 1: invalid format'))
  }
  const result = await run(lines, 'aggressive')
  assert.deepEqual(result.bans.map((b) => [b.target, b.line]), [['203.0.113.43', 10]]) // five connections, not ten lines
  assert.deepEqual((await run(lines, 'normal')).bans, [])
})

test('coverage openssh - one attempt counts once: the PAM line beside "Failed password", "Invalid user" before it', async () => {
  const attempt = (pid: number): string[] => [
    sshd(pid, 'Invalid user admin from 203.0.113.50 port 40000'),
    sshd(pid, 'pam_unix(sshd:auth): check pass; user unknown'),
    sshd(pid, 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.50'),
    sshd(pid, 'Failed password for invalid user admin from 203.0.113.50 port 40000 ssh2'),
    sshd(pid, 'Received disconnect from 203.0.113.50 port 40000:11: Bye Bye [preauth]'),
    sshd(pid, 'Disconnected from invalid user admin 203.0.113.50 port 40000 [preauth]'),
  ]
  const four = [500, 501, 502, 503].flatMap(attempt)
  assert.deepEqual((await run(four)).bans, [], 'four attempts are below the threshold of 5')
  const five = [...four, ...attempt(504)]
  assert.deepEqual((await run(five)).bans.map((b) => [b.target, b.line]), [['203.0.113.50', 25]])
  // Several passwords in one connection: each "Failed" counts, the PAM line of the first does not add one.
  const one = [
    sshd(510, 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.51  user=root'),
    sshd(510, 'Failed password for root from 203.0.113.51 port 1 ssh2'),
    sshd(510, 'Failed password for root from 203.0.113.51 port 1 ssh2'),
    sshd(510, 'error: maximum authentication attempts exceeded for root from 203.0.113.51 port 1 ssh2 [preauth]'),
    sshd(510, 'Disconnecting authenticating user root 203.0.113.51 port 1: Too many authentication failures [preauth]'),
    sshd(510, 'PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.51  user=root'),
  ]
  assert.deepEqual(await counted(one), ['203.0.113.51', '-', '203.0.113.51', '-', '-', '-'])
  // In the other order the PAM line is the second report.
  assert.deepEqual(await counted([one[1]!, one[0]!]), ['203.0.113.51', '-'])
  // Without a process id (bare messages) a PAM line cannot be paired: it does not count.
  assert.deepEqual(await counted(['pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.52']), ['-'])
})

test('coverage openssh - forged user names cannot frame another address', async () => {
  const cases: Array<[string, string]> = [
    [sshd(600, 'Failed password for invalid user x from 198.51.100.99 port 22 ssh2 from 203.0.113.60 port 40404 ssh2'), '203.0.113.60'],
    [sshd(601, 'Invalid user x from 198.51.100.99 port 22 from 203.0.113.61 port 40404'), '203.0.113.61'],
    [sshd(602, 'error: PAM: Authentication failure for x from 198.51.100.99 from 203.0.113.62'), '203.0.113.62'],
    [sshd(603, 'Failed publickey for invalid user  from 198.51.100.99 port 1 ssh2: x from 203.0.113.63 port 2 ssh2: ED25519 SHA256:a'), '203.0.113.63'],
    [sshd(604, 'Connection closed by invalid user x 198.51.100.99 port 1 [preauth] 203.0.113.64 port 2 [preauth]'), '203.0.113.64'],
  ]
  for (const [line, ip] of cases) assert.equal(await single(line, 'aggressive'), ip, line)
  // Another program's line, or a header that is not sshd's, counts nothing.
  assert.equal(await single(`${h('alice', 1)}Failed password for root from 198.51.100.77 port 22 ssh2`), '-')
  assert.equal(await single(`${h('sshdx', 1)}Failed password for root from 198.51.100.77 port 22 ssh2`), '-')
})

test('coverage openssh - a login after failures for other user names in the same connection allows nothing and clears nothing', async () => {
  const guessed = [
    sshd(700, 'Failed password for root from 203.0.113.70 port 1 ssh2'),
    sshd(700, 'Failed password for admin from 203.0.113.70 port 1 ssh2'),
    sshd(700, 'Accepted password for deploy from 203.0.113.70 port 1 ssh2'),
    sshd(701, 'Failed password for root from 203.0.113.70 port 2 ssh2'),
    sshd(702, 'Failed password for root from 203.0.113.70 port 3 ssh2'),
    sshd(703, 'Failed password for root from 203.0.113.70 port 4 ssh2'),
  ]
  const result = await run(guessed)
  assert.deepEqual(result.allows, [])
  assert.deepEqual(result.bans.map((b) => [b.target, b.line]), [['203.0.113.70', 6]]) // the two before the login still count
  // The owner who mistyped: same user name, allowed, and the typos are forgiven.
  const typo = [
    sshd(710, 'Failed password for alice from 203.0.113.71 port 1 ssh2'),
    sshd(710, 'Accepted password for alice from 203.0.113.71 port 1 ssh2'),
    sshd(711, 'Failed password for alice from 203.0.113.71 port 2 ssh2'),
    sshd(712, 'Failed password for alice from 203.0.113.71 port 3 ssh2'),
    sshd(713, 'Failed password for alice from 203.0.113.71 port 4 ssh2'),
    sshd(714, 'Failed password for alice from 203.0.113.71 port 5 ssh2'),
  ]
  const ok = await run(typo)
  assert.deepEqual(ok.allows.map((a) => [a.address, a.line]), [['203.0.113.71', 2]])
  assert.deepEqual(ok.bans, [])
})

test('coverage openssh - journald JSON entries: MESSAGE without header, the process from _PID', async () => {
  const entry = (pid: string, message: string): string => JSON.stringify({
    MESSAGE: message, SYSLOG_IDENTIFIER: 'sshd', _EXE: '/usr/sbin/sshd', _PID: pid, _SYSTEMD_UNIT: 'ssh.service', _UID: '0',
    __CURSOR: `s=1;i=${pid}`, __REALTIME_TIMESTAMP: '1714554844000000',
  })
  const lines = [
    entry('800', 'Connection from 203.0.113.80 port 5 on 198.51.100.1 port 22 rdomain ""'),
    entry('800', 'Disconnecting: Too many authentication failures [preauth]'),
    entry('801', 'pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.81  user=root'),
    entry('801', 'Failed password for root from 203.0.113.81 port 1 ssh2'),
  ]
  assert.deepEqual(await counted(lines), ['-', '203.0.113.80', '203.0.113.81', '-'])
})

test('coverage postfix - SASL failures in every spelling; a lost auth server never counts', async () => {
  const cases: Array<[string, string]> = [
    [`${h('postfix/smtpd', 1)}warning: unknown[203.0.113.90]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`, '203.0.113.90'],
    [`${h('postfix/smtpd', 1)}warning: unknown[203.0.113.91]: SASL login authentication failed: authentication failure`, '203.0.113.91'],
    [`${h('postfix/submission/smtpd', 1)}warning: mail.example.net[203.0.113.92]: SASL Plain authentication failed: `, '203.0.113.92'],
    [`${h('postfix/smtps/smtpd', 1)}warning: unknown[203.0.113.93]:51234: SASL PLAIN authentication failed: authentication failure`, '203.0.113.93'],
    [`${h('postfix-out/smtpd', 1)}warning: unknown[2001:db8:90::1]: SASL CRAM-MD5 authentication failed: PDEyMzQ1Njc4OTBAaG9zdD4=`, '2001:db8:90::1'],
    ['warning: unknown[203.0.113.94]: SASL LOGIN authentication failed: UGFzc3dvcmQ6', '203.0.113.94'], // journald MESSAGE
  ]
  for (const [line, ip] of cases) assert.equal(await single(line), ip, line)
  for (const line of [
    `${h('postfix/smtpd', 1)}warning: unknown[203.0.113.95]: SASL LOGIN authentication failed: Connection lost to authentication server`,
    `${h('postfix/smtpd', 1)}warning: unknown[203.0.113.95]: SASL PLAIN authentication failed: Connection lost to authentication server`,
    `${h('postfix/smtpd', 1)}warning: unknown[203.0.113.95]: SASL LOGIN authentication failed: UGFzc3dvcmQ6 from unknown[198.51.100.9]`,
    `${h('postfixx/smtpd', 1)}warning: unknown[203.0.113.95]: SASL LOGIN authentication failed: UGFzc3dvcmQ6`,
  ]) assert.equal(await single(line, 'aggressive'), '-', line)
  assert.equal(await single(`${h('postfix/smtpd', 1)}lost connection after AUTH from unknown[203.0.113.96]`), '-')
  assert.equal(await single(`${h('postfix/smtpd', 1)}lost connection after AUTH from unknown[203.0.113.96]`, 'aggressive'), '203.0.113.96')
})

test('coverage postfix-abuse - protocol abuse counts at level aggressive only', async () => {
  const cases: Array<[string, string]> = [
    [`${h('postfix/smtpd', 1)}NOQUEUE: reject: RCPT from unknown[203.0.113.100]: 554 5.7.1 <x@example.net>: Relay access denied; from=<a@b.c> to=<x@example.net> proto=ESMTP helo=<x>`,
      '203.0.113.100'],
    [`${h('postfix/smtpd', 1)}NOQUEUE: reject: RCPT from unknown[203.0.113.101]:4000: 504 5.5.2 <x>: Helo command rejected: need fully-qualified hostname; from=<a@b.c> to=<u@example.org> proto=ESMTP helo=<x>`,
      '203.0.113.101'],
    [`${h('postfix/smtpd', 1)}NOQUEUE: reject: RCPT from unknown[203.0.113.102]: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in local recipient table; from=<a@b.c> to=<nobody@example.org> proto=ESMTP helo=<x>`,
      '203.0.113.102'],
    [`${h('postfix/smtpd', 1)}NOQUEUE: reject: RCPT from unknown[203.0.113.103]: 554 5.7.1 Service unavailable; Client host [203.0.113.103] blocked using zen.spamhaus.org; from=<a@b.c> to=<u@example.org> proto=ESMTP helo=<x>`,
      '203.0.113.103'],
    [`${h('postfix/smtpd', 1)}improper command pipelining after CONNECT from unknown[203.0.113.104]: GET / HTTP/1.1\\r\\n`, '203.0.113.104'],
    [`${h('postfix/postscreen', 1)}PREGREET 11 after 0.11 from [203.0.113.105]:51234: EHLO x\\r\\n`, '203.0.113.105'],
  ]
  for (const [line, ip] of cases) {
    assert.equal(await single(line), '-', `normal: ${line}`)
    assert.equal(await single(line, 'aggressive'), ip, `aggressive: ${line}`)
  }
})

test('coverage dovecot - every "auth failed" form of the login processes, plaintext, PAM and passdb lines', async () => {
  const d = (msg: string): string => `${h('dovecot', 900)}${msg}`
  const cases: Array<[string, string]> = [
    [d('imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin>, method=PLAIN, rip=203.0.113.110, lip=198.51.100.1, TLS, session=<a1>'),
      '203.0.113.110'],
    [d('pop3-login: Disconnected (auth failed, 3 attempts): user=<info>, method=PLAIN, rip=203.0.113.111, lip=198.51.100.1'), '203.0.113.111'],
    [d('imap-login: Disconnected: Connection closed (auth failed, 2 attempts in 8 secs): user=<a>, method=LOGIN, rip=203.0.113.112, lip=198.51.100.1, TLS: read() failed: Connection reset by peer, session=<b2>'),
      '203.0.113.112'],
    [d('imap-login: Aborted login (auth failed, 1 attempts in 4 secs): user=<a>, method=PLAIN, rip=2001:db8:110::7, lip=2001:db8::1, TLS, session=<c3>'),
      '2001:db8:110::7'],
    [d('submission-login: Client has quit the connection (auth failed, 1 attempts in 2 secs): user=<a>, method=LOGIN, rip=203.0.113.113, lip=198.51.100.1, TLS, session=<d4>'),
      '203.0.113.113'],
    [d('managesieve-login: Disconnected: Too many invalid commands. (auth failed, 1 attempts in 3 secs): user=<a>, method=PLAIN, rip=203.0.113.114, lip=198.51.100.1, session=<e5>'),
      '203.0.113.114'],
    [d('imap-login: Disconnected (tried to use disallowed plaintext auth): user=<>, rip=203.0.113.115, lip=198.51.100.1, session=<f6>'), '203.0.113.115'],
    [`${h('auth', 901)}pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=admin rhost=203.0.113.116  user=admin`,
      '203.0.113.116'],
    [d('auth-worker(1234): sql(admin@example.org,203.0.113.117,<g7>): Password mismatch'), '203.0.113.117'],
    [d('auth: passwd-file(bob,203.0.113.118,<h8>): unknown user'), '203.0.113.118'],
    // journald MESSAGE
    ['imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=203.0.113.119, lip=198.51.100.1, TLS, session=<i9>',
      '203.0.113.119'],
  ]
  for (const [line, ip] of cases) assert.equal(await single(line), ip, line)
  const noAuth = d('imap-login: Disconnected (no auth attempts in 10 secs): user=<>, rip=203.0.113.120, lip=198.51.100.1, TLS handshaking: SSL_accept() failed, session=<j>')
  assert.equal(await single(noAuth), '-')
  assert.equal(await single(noAuth, 'aggressive'), '203.0.113.120')
  // A user name carrying a forged rip= frames nobody; a successful login counts nothing.
  assert.equal(await single(d('imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<x>, method=PLAIN, rip=198.51.100.99, lip=1.2.3.4, ' +
    'session=<a>, method=PLAIN, rip=203.0.113.121, lip=198.51.100.1, TLS, session=<k>')), '203.0.113.121')
  assert.equal(await single(d('auth-worker(1): sql(x,198.51.100.99,<a>): Password mismatch,203.0.113.122,<l>): Password mismatch')), '203.0.113.122')
  assert.equal(await single(d('imap-login: Login: user=<a>, method=PLAIN, rip=203.0.113.123, lip=198.51.100.1, mpid=1, TLS, session=<m>'), 'aggressive'), '-')
})

test('coverage exim - authenticator failures in mainlog and through syslog, AUTH when not advertised', async () => {
  const cases: Array<[string, string]> = [
    ['2024-05-01 12:00:00 dovecot_login authenticator failed for (User) [203.0.113.130]: 535 Incorrect authentication data (set_id=admin)', '203.0.113.130'],
    ['2024-05-01 12:00:00 [1234] dovecot_plain authenticator failed for H=(x) [203.0.113.131]:51234 I=[198.51.100.1]:587: 535 Incorrect authentication data',
      '203.0.113.131'],
    [`${h('exim', 1234)}plain_server authenticator failed for (ylmf-pc) [203.0.113.132]:1000 I=[198.51.100.1]:25: 535 Incorrect authentication data (set_id=a)`,
      '203.0.113.132'],
    ['login authenticator failed for host.example.net (x) [2001:db8:130::1]: 535 Incorrect authentication data (set_id=b)', '2001:db8:130::1'],
    ['2024-05-01 12:00:00 H=(User) [203.0.113.133]:51234 I=[198.51.100.1]:25 AUTH command used when not advertised', '203.0.113.133'],
    [`${h('exim', 1)}SMTP call from (User) [203.0.113.134]:1 I=[198.51.100.1]:25 AUTH command used when not advertised`, '203.0.113.134'],
  ]
  for (const [line, ip] of cases) assert.equal(await single(line), ip, line)
  assert.equal(await single('2024-05-01 12:00:00 login authenticator failed for (x) [198.51.100.99]:1) [203.0.113.135]: 535 Incorrect authentication data'), '-')
  assert.equal(await single(`${h('alice', 1)}plain authenticator failed for (x) [203.0.113.136]: 535 Incorrect authentication data`), '-')
})

test('coverage nginx - error log basic-auth failures and limit_req; scanner paths in any case and with doubled slashes', async () => {
  const err = '2024/05/01 12:00:00 [error] 812#812: '
  const cases: Array<[string, string]> = [
    [`${err}*3 user "admin" was not found in "/etc/nginx/.htpasswd", client: 203.0.113.140, server: example.org, request: "GET / HTTP/1.1", host: "example.org"`,
      '203.0.113.140'],
    [`${err}*4 user "admin": password mismatch, client: 203.0.113.141, server: example.org, request: "GET /x HTTP/1.1", host: "example.org"`, '203.0.113.141'],
    [`${err}*9 limiting requests, excess: 20.480 by zone "one", client: 2001:db8:140::9, server: example.org, request: "GET / HTTP/1.1", host: "example.org"`,
      '2001:db8:140::9'],
    ['203.0.113.142 - - [01/May/2024:12:00:00 +0000] "GET //phpMyAdmin/index.php HTTP/1.1" 404 153 "-" "Mozilla/5.0"', '203.0.113.142'],
    ['203.0.113.143 - - [01/May/2024:12:00:00 +0000] "GET /mysqladmin/ HTTP/1.1" 404 153 "-" "Mozilla/5.0"', '203.0.113.143'],
    ['203.0.113.144 - - [01/May/2024:12:00:00 +0000] "GET /PMA/setup.php HTTP/1.1" 404 153 "-" "Mozilla/5.0"', '203.0.113.144'],
    ['203.0.113.145 - - [01/May/2024:12:00:00 +0000] "POST ///.env HTTP/1.1" 403 153 "-" "curl/8"', '203.0.113.145'],
  ]
  for (const [line, ip] of cases) assert.equal(await single(line), ip, line)
  for (const line of [
    // The user name and the request are the client's words: neither may frame another address.
    `${err}*3 user "x\\", client: 198.51.100.99, server: a" was not found in "/etc/nginx/.htpasswd", client: 203.0.113.146, server: a, request: "GET / HTTP/1.1"`,
    `${err}*3 upstream timed out, client: 203.0.113.147, server: a, request: "GET /user \\"a\\" was not found in \\"/x\\", client: 198.51.100.99, server: b HTTP/1.1"`,
    '203.0.113.148 - - [01/May/2024:12:00:00 +0000] "GET /admin/ HTTP/1.1" 404 153 "-" "Mozilla/5.0"',
    '203.0.113.149 - - [01/May/2024:12:00:00 +0000] "GET /phpmyadmin/ HTTP/1.1" 200 153 "-" "Mozilla/5.0"',
  ]) assert.equal(await single(line, 'aggressive'), '-', line)
})

test('coverage - patterns test reports per regex, the bans at the thresholds and unmatched samples', async () => {
  const lines = [
    ...[1, 2, 3, 4, 5].map((i) => sshd(1000 + i, `Failed password for root from 203.0.113.150 port ${i} ssh2`)),
    'May  1 09:14:04 web1 cron[1]: (root) CMD (true)',
    '{"MESSAGE": null}',
  ]
  const result = await run(lines)
  assert.equal(result.lines, 7)
  assert.equal(result.matched, 5)
  assert.deepEqual(result.bans.map((b) => [b.target, b.reason, b.line]), [['203.0.113.150', 'ssh', 5]])
  assert.deepEqual(result.unmatchedSamples, [{line: 6, text: lines[5]}, {line: 7, text: lines[6]}])
  const failed = result.files.find((f) => f.path.endsWith('/openssh.patterns'))!.regexes[0]!
  assert.equal(failed.matches, 5)
  assert.deepEqual(Object.keys(result.matches[0]!).sort(), ['action', 'address', 'file', 'level', 'line', 'outcome', 'regexLine'])
  assert.deepEqual(result.matches.map((m) => [m.line, m.address, m.regexLine, m.level, m.action]),
    [1, 2, 3, 4, 5].map((i) => [i, '203.0.113.150', failed.line, 'normal', 'ban']))
})
