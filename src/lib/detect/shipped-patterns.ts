/**
 * The pattern files diswall ships, as text in the `patterns.d` format, so that `diswall install` can
 * write them and tests can parse them. Formats are those of Debian 12 (OpenSSH 9.2, Postfix 3.7,
 * Dovecot 2.3, Exim 4.96, nginx 1.22).
 *
 * Every regex is anchored where the text an attacker controls cannot reach: at the start of the
 * message (after an optional syslog header, which has a fixed shape) or at the end of the line, right
 * after the fixed text that follows the address. So a user name such as
 * `x from 198.51.100.9 port 22 ssh2` cannot make another address the offender, and no failed login
 * can look like the `Accepted …` line of the auto-allow file.
 *
 * `unit =` names the systemd services whose journald entries a file reads instead of its `file =`
 * where the host has journald: `ssh.service` (Debian; `sshd.service` elsewhere; Debian's `sshd.service`
 * is only an alias, and journald records the real name), `postfix@-.service` (Debian runs Postfix as
 * this instance; `postfix.service` is a dummy) and `dovecot.service`. Exim and nginx name no unit:
 * Debian's exim4 writes /var/log/exim4/mainlog and nginx its access log itself, not to journald, so
 * those files stay the source.
 */
import {DEFAULT_PATHS} from '../system/paths.js'
import type {PatternFile, PatternParseOptions} from './pattern-file.js'
import {parsePatternFiles} from './pattern-file.js'

/** One shipped pattern file: its name in `patterns.d/` and its content. */
export interface ShippedPatternFile {
  readonly name: string
  readonly text: string
}

/** Where the shipped files go: `patterns.d/` of the default firewall directory. */
export const DEFAULT_PATTERNS_DIR = DEFAULT_PATHS.patternsDir

/** A syslog time stamp: traditional (`May  1 12:00:00`) or RFC 3339 (`2024-05-01T12:00:00.123456+00:00`). */
const TIME = String.raw`(?:[A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2}|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(?:Z|[+-][0-9]{2}:?[0-9]{2})?)`

/**
 * The start of a message of `program`: the start of the line, optionally after a syslog header, either
 * `TIME HOST PROGRAM[PID]: ` (rsyslog's traditional and RFC 3339 forms) or RFC 5424's
 * `<PRI>1 TIME HOST PROGRAM PROCID MSGID STRUCTURED-DATA ` (journald MESSAGE fields have none).
 */
function head(program: string): string {
  return String.raw`^(?:${TIME} \S+ ${program}(?:\[[0-9]+\])?: |(?:<[0-9]{1,3}>)?1 ${TIME} \S+ ${program} (?:[0-9]+|-) \S+ (?:-|\[[^\[\]]*\](?:\[[^\[\]]*\])*) (?:\uFEFF)?)?`
}

const SSHD = head('sshd(?:-session)?')
const SSH_UNITS = 'ssh.service, ssh@.service, sshd.service, sshd@.service'

const OPENSSH = String.raw`# OpenSSH: failed logins (level normal) and probes before authentication (level aggressive).
# Managed by diswall; edit a copy under another name to change it.
# One attempt counts once: "Invalid user", "not allowed because", the PAM lines and "maximum authentication
# attempts exceeded" are [echo] lines of the "Failed ..." line of the same sshd process.
file = /var/log/auth.log
ident = sshd, sshd-session
unit = ${SSH_UNITS}
ports = 22
tag = ssh
threshold = 5
window = 10m
# Failed password for root from 203.0.113.7 port 51234 ssh2
# Failed publickey for invalid user git from 203.0.113.7 port 51234 ssh2: ED25519 SHA256:…
${SSHD}Failed (?:password|publickey|hostbased|keyboard-interactive/pam|gssapi-with-mic|none) for (?:invalid user )?(?<user>.*) from __IP__ port \d+ ssh2(?:: \S+ \S+)?$
# Invalid user admin from 203.0.113.7 port 51234
[echo] ${SSHD}Invalid user (?<user>.*) from __IP__ port \d+$
# User root from 203.0.113.7 not allowed because not listed in AllowUsers (listed in DenyUsers, group forms, shell)
[echo] ${SSHD}User (?<user>.*) from __IP__ not allowed because (?:not listed in AllowUsers|listed in DenyUsers|not in any group|a group is listed in DenyGroups|none of user's groups are listed in AllowGroups|shell \S+ (?:does not exist|is not executable))$
# pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root
[echo] ${SSHD}pam_unix\(sshd:auth\): authentication failure; logname=\S* uid=\d+ euid=\d+ tty=\S* ruser=\S* rhost=__IP__(?: +user=(?<user>\S+))?$
# error: PAM: Authentication failure for root from 203.0.113.7
# error: maximum authentication attempts exceeded for root from 203.0.113.7 port 51234 ssh2 [preauth]
[echo] ${SSHD}error: (?:PAM: [A-Za-z ]+ for (?:illegal user )?|maximum authentication attempts exceeded for (?:invalid user )?)(?<user>.*) from __IP__(?: port \d+ ssh2 \[preauth\])?$
# Disconnecting authenticating user root 203.0.113.7 port 51234: Too many authentication failures [preauth]
[echo] ${SSHD}Disconnecting (?:authenticating|invalid) user (?<user>.*) __IP__ port \d+: Too many authentication failures \[preauth\]$
# Disconnecting: Too many authentication failures [preauth] (older sshd: no address; the process's)
[pid, echo] ${SSHD}Disconnecting: Too many authentication failures(?: for (?:invalid user )?(?<user>.*))? \[preauth\]$
# Received disconnect from 203.0.113.7 port 51234:3: com.jcraft.jsch.JSchException: Auth fail [preauth]
[echo] ${SSHD}Received disconnect from __IP__ port \d+:3: .*: Auth fail(?: \[preauth\])?$
# Addresses of the process for the address-less lines (they never count themselves):
# Connection closed by 203.0.113.7 port 51234 / Connection from 203.0.113.7 port 51234 on 198.51.100.1 port 22 rdomain ""
[track] ${SSHD}Connection (?:(?:closed|reset) by|from) __IP__ port \d+(?: on [0-9a-fA-F:.]+ port \d+(?: rdomain "\S*")?)?$
# ---- aggressive: pre-auth noise ----
# Connection closed by authenticating user root 203.0.113.7 port 51234 [preauth] (also "reset", "invalid user")
[aggressive] ${SSHD}Connection (?:closed|reset) by (?:authenticating|invalid) user (?<user>.*) __IP__ port \d+ \[preauth\]$
# Disconnected from invalid user admin 203.0.113.7 port 51234 [preauth]
[aggressive] ${SSHD}Disconnected from (?:authenticating|invalid) user (?<user>.*) __IP__ port \d+ \[preauth\]$
# Connection closed by 203.0.113.7 port 51234 [preauth] (no authentication attempt)
[aggressive] ${SSHD}(?:Connection (?:closed|reset) by|Disconnected from) __IP__ port \d+ \[preauth\]$
# error: Received disconnect from 203.0.113.7 port 51234:14: No supported authentication methods available [preauth]
[aggressive] ${SSHD}(?:error: )?Received disconnect from __IP__ port \d+:14: No(?: supported)? authentication methods available(?: \[preauth\])?$
# Unable to negotiate with 203.0.113.7 port 51234: no matching key exchange method found. Their offer: … [preauth]
[aggressive] ${SSHD}Unable to negotiate with __IP__(?: port \d+)?: no matching (?:key exchange method|host key type|cipher|MAC) found\. Their offer: \S+(?: \[preauth\])?$
# fatal: Unable to negotiate a key exchange method [preauth] (older sshd: no address)
[pid, aggressive] ${SSHD}(?:fatal: )?Unable to negotiate a key exchange method(?: \[preauth\])?$
# error: kex_exchange_identification: Connection closed by remote host (the address follows: "Connection closed by …")
[pid, echo, aggressive] ${SSHD}(?:error: )?kex_exchange_identification: .+$
# Did not receive identification string from 203.0.113.7 port 51234
[aggressive] ${SSHD}Did not receive identification string from __IP__(?: port \d+)?$
# banner exchange: Connection from 203.0.113.7 port 51234: invalid format
[aggressive] ${SSHD}banner exchange: Connection from __IP__ port \d+: [A-Za-z ]+$
# error: Bad remote protocol version identification: 'GET / HTTP/1.1' (older sshd: no address)
[pid, echo, aggressive] ${SSHD}(?:error: )?Bad (?:remote )?protocol version identification: .*$
`

const OPENSSH_ACCEPTED = String.raw`# OpenSSH: successful logins allow their address for [detect] auto_allow_ttl (auto_allow = true).
# Anchored at the start of the message: no failed login can pass for one of these lines. A login after
# failures for other user names in the same connection (sshd process) allows nothing.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/auth.log
ident = sshd, sshd-session
unit = ${SSH_UNITS}
ports = 22
tag = ssh
action = allow
# Accepted publickey for root from 203.0.113.7 port 51234 ssh2: ED25519 SHA256:…
${SSHD}Accepted (?:password|publickey|keyboard-interactive/pam|gssapi-with-mic|hostbased) for (?<user>\S+) from __IP__ port \d+ ssh2(?:: .+)?$
`

const POSTFIX_HEAD = head('postfix(?:-[A-Za-z0-9_.]+)?(?:/[a-z0-9_-]+)+')
/** `CLIENT[IP]` or `CLIENT[IP]:PORT` (smtpd_client_port_logging); Postfix validates the client's name. */
const POSTFIX_CLIENT = String.raw`[A-Za-z0-9._-]+\[__IP__\](?::\d+)?`

const POSTFIX = String.raw`# Postfix: failed SMTP AUTH (SASL) logins; "lost connection after AUTH" at level aggressive.
# "SASL … authentication failed: Connection lost to authentication server" is logged for every user
# while the auth backend is down: it never counts.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/mail.log
ident = postfix
unit = postfix@.service, postfix.service
ports = 25, 465, 587
tag = smtp
threshold = 5
window = 10m
# postfix/smtpd[1234]: warning: unknown[203.0.113.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
# postfix-out/submission/smtpd[1234]: warning: host.example[203.0.113.7]:51234: SASL Plain authentication failed: authentication failure
${POSTFIX_HEAD}warning: ${POSTFIX_CLIENT}: SASL [A-Za-z0-9_-]+ authentication failed:(?: (?:authentication failure|generic failure|Invalid authentication mechanism|[A-Za-z0-9+/]+=*))? ?(?:, sasl_username=.*)?$
# postfix/smtpd[1234]: lost connection after AUTH from unknown[203.0.113.7]
[aggressive] ${POSTFIX_HEAD}(?:lost connection|timeout) after AUTH from ${POSTFIX_CLIENT}$
`

const POSTFIX_ABUSE = String.raw`# Postfix: protocol abuse (relay attempts, rejected HELO, senders and recipients, RBL hits, pipelining).
# A whole file of level aggressive: read only with [detect] level = "aggressive". A misconfigured legitimate
# server can trip these; the threshold is higher than for failed logins.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/mail.log
ident = postfix
unit = postfix@.service, postfix.service
ports = 25, 465, 587
tag = smtp-abuse
level = aggressive
threshold = 10
window = 10m
# postfix/smtpd[1234]: NOQUEUE: reject: RCPT from unknown[203.0.113.7]: 554 5.7.1 <x@example.net>: Relay access denied; from=<a@b> to=<x@example.net> proto=ESMTP helo=<x>
${POSTFIX_HEAD}(?:NOQUEUE|[0-9A-Za-z]+): reject: (?:RCPT|MAIL|EHLO|HELO|DATA|VRFY|ETRN|CONNECT) from ${POSTFIX_CLIENT}: [45][0-9][0-9] [45]\.[0-9]\.[0-9]+ <[^>]*>: (?:Relay access denied|Helo command rejected|Sender address rejected|Recipient address rejected|Client host rejected)
# postfix/smtpd[1234]: NOQUEUE: reject: RCPT from unknown[203.0.113.7]: 554 5.7.1 Service unavailable; Client host [203.0.113.7] blocked using zen.spamhaus.org; …
${POSTFIX_HEAD}(?:NOQUEUE|[0-9A-Za-z]+): reject: (?:RCPT|MAIL|EHLO|HELO|DATA|CONNECT) from ${POSTFIX_CLIENT}: [45][0-9][0-9] [45]\.[0-9]\.[0-9]+ Service unavailable; Client host \[[0-9a-fA-F:.]+\] blocked using
# postfix/smtpd[1234]: improper command pipelining after CONNECT from unknown[203.0.113.7]: …
${POSTFIX_HEAD}improper command pipelining after \S+ from ${POSTFIX_CLIENT}:
# postfix/postscreen[1234]: PREGREET 11 after 0.1 from [203.0.113.7]:51234: EHLO x\r\n
${POSTFIX_HEAD}(?:PREGREET [0-9]+ after [0-9.]+|COMMAND PIPELINING|BARE NEWLINE|NON-SMTP COMMAND) from \[__IP__\]:\d+
`

const DOVECOT_HEAD = head('dovecot')
/** What follows `user=<…>` in a login process line; the last `rip=` wins, so a user name cannot frame another address. */
const DOVECOT_TAIL = String.raw`user=<(?<user>.*)>, (?:method=\S+, )?rip=__IP__, lip=[0-9a-fA-F:.]+(?:,.*)?$`

/** `auth-worker(1234): sql(USER,IP,<SESSION>` of the passdb lines (auth_verbose = yes); the last `,IP` wins. */
const DOVECOT_PASSDB = String.raw`auth(?:-worker)?(?:\([0-9]+\))?: (?:Info: )?(?:passwd-file|passwd|shadow|sql|ldap|checkpassword|bsdauth|lua|oauth2)\((?<user>.*),__IP__(?:,<[^<>]*>)?`

const DOVECOT = String.raw`# Dovecot: IMAP, POP3, submission, LMTP and ManageSieve logins that failed authentication.
# With auth_verbose = yes the auth process also logs each failed attempt (passdb lines): a connection
# with N failed attempts then counts N + 1 (the attempts and the disconnect summary).
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/mail.log
ident = dovecot, auth
unit = dovecot.service
ports = 110, 143, 993, 995, 4190, 587
tag = imap
threshold = 5
window = 10m
# imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin>, method=PLAIN, rip=203.0.113.7, lip=198.51.100.1, TLS, session=<…>
# submission-login: Client has quit the connection (auth failed, 1 attempts in 4 secs): user=<a>, method=LOGIN, rip=…, lip=…, TLS: read() failed: …, session=<…>
${DOVECOT_HEAD}[a-z0-9]+-login: (?:Info: )?(?:Disconnected|Aborted login|Login aborted|Client has quit the connection)(?:: [^()]+)? \(auth failed, \d+ attempts?(?: in \d+ secs?)?\)(?: \([a-z_]+\))?: ${DOVECOT_TAIL}
# imap-login: Disconnected (tried to use disallowed plaintext auth): user=<>, rip=203.0.113.7, lip=198.51.100.1, session=<…>
${DOVECOT_HEAD}[a-z0-9]+-login: (?:Info: )?(?:Disconnected|Aborted login|Login aborted)(?:: [^()]+)? \(tried to use disallowed plaintext auth\): ${DOVECOT_TAIL}
# auth: pam_unix(dovecot:auth): authentication failure; logname= uid=0 euid=0 tty=dovecot ruser=admin rhost=203.0.113.7  user=admin
${head('(?:dovecot|auth|auth-worker)')}(?:auth(?:-worker)?(?:\([0-9]+\))?: )?pam_unix\(dovecot:auth\): authentication failure; logname=\S* uid=\d+ euid=\d+ tty=\S* ruser=\S* rhost=__IP__(?: +user=(?<user>\S+))?$
# auth-worker(1234): sql(admin,203.0.113.7,<session>): Password mismatch (auth_verbose = yes)
# auth: passwd-file(admin@example.org,203.0.113.7,<session>): unknown user
${DOVECOT_HEAD}${DOVECOT_PASSDB}\): Password mismatch(?: \(.*\))?$
${DOVECOT_HEAD}${DOVECOT_PASSDB}\): unknown user(?: \(.*\))?$
# ---- aggressive ----
# imap-login: Disconnected (no auth attempts in 10 secs): user=<>, rip=203.0.113.7, lip=198.51.100.1, TLS handshaking: …, session=<…>
[aggressive] ${DOVECOT_HEAD}[a-z0-9]+-login: (?:Info: )?(?:Disconnected|Aborted login|Login aborted)(?:: [^()]+)? \(no auth attempts(?: in \d+ secs?)?\): ${DOVECOT_TAIL}
`

/** Exim's own time stamp (mainlog), optionally with its process id, or a syslog header of exim. */
const EXIM_HEAD = String.raw`^(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?(?: [+-][0-9]{4})?(?: \[[0-9]+\])? |${head('exim4?').slice(4, -2)})?(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})? )?`
/** `H=NAME (HELO) [IP]:PORT I=[IP]:PORT `; NAME is looked up, HELO is the client's word (no spaces). */
const EXIM_HOST = String.raw`(?:H=)?(?:[A-Za-z0-9.-]+ )?(?:\(\S*\) )?\[__IP__\](?::\d+)?(?: I=\[[0-9a-fA-F:.]+\](?::\d+)?)?`

const EXIM = String.raw`# Exim: failed SMTP AUTH logins, in /var/log/exim4/mainlog or through syslog (log_file_path = syslog).
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/exim4/mainlog
ident = exim, exim4
ports = 25, 465, 587
tag = smtp
threshold = 5
window = 10m
# 2024-05-01 12:00:00 dovecot_login authenticator failed for (User) [203.0.113.7]: 535 Incorrect authentication data (set_id=admin)
${EXIM_HEAD}[A-Za-z0-9_-]+ authenticator failed for ${EXIM_HOST}: 535 Incorrect authentication data
# 2024-05-01 12:00:00 H=(User) [203.0.113.7]:51234 I=[198.51.100.1]:25 AUTH command used when not advertised
${EXIM_HEAD}(?:SMTP call from )?${EXIM_HOST} AUTH command used when not advertised
`

/** Scanner paths, case-insensitive where scanners vary the case (phpMyAdmin, MySQLAdmin), after one or more "/". */
const SCANNED = String.raw`(?:\.env|\.git/|\.aws/|\.ssh/|\.DS_Store|wp-login\.php|xmlrpc\.php|[pP][hH][pP][mM][yY][aA][dD][mM][iI][nN]|[mM][yY][sS][qQ][lL][aA][dD][mM][iI][nN]|[mM][yY][aA][dD][mM][iI][nN]|[pP][mM][aA]/|[dD][bB][aA][dD][mM][iI][nN]|[sS][qQ][lL][aA][dD][mM][iI][nN]|cgi-bin/|vendor/phpunit/|boaform/|HNAP1|server-status)`

const NGINX = String.raw`# nginx (access log, format "combined"): scanners asking for files they should not, and refused
# HTTP basic-auth logins. Behind a proxy, set real_ip_header so that the first field is the client.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/nginx/access.log
ident = nginx
ports = 80, 443
tag = http
threshold = 5
window = 10m
# 203.0.113.7 - - [01/May/2024:12:00:00 +0000] "GET //phpMyAdmin/ HTTP/1.1" 404 153 "-" "Mozilla/5.0"
^__IP__ - \S+ \[[^\]]+\] "(?:GET|POST|HEAD) /+${SCANNED}[^"]* HTTP/[0-9.]+" (?:40[0-9]|444) [0-9]+ "
# 203.0.113.7 - admin [01/May/2024:12:00:00 +0000] "GET /private/ HTTP/1.1" 401 179 "-" "curl/7.88.1"
^__IP__ - [^\s-]\S* \[[^\]]+\] "[^"]*" 401 [0-9]+ "
`

/** nginx's error log header: `2024/05/01 12:00:00 [error] 1234#1234: *5 `. */
const NGINX_ERROR_HEAD = String.raw`^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \[(?:error|warn|notice|info|crit|alert|emerg)\] [0-9]+#[0-9]+: (?:\*[0-9]+ )?`

const NGINX_ERROR = String.raw`# nginx (error log): refused HTTP basic-auth logins and clients over a limit_req rate.
# Anchored at the start: the user name and the request that nginx logs cannot frame another address.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/nginx/error.log
ident = nginx
ports = 80, 443
tag = http
threshold = 5
window = 10m
# 2024/05/01 12:00:00 [error] 812#812: *3 user "admin" was not found in "/etc/nginx/.htpasswd", client: 203.0.113.7, server: example.org, request: "GET / HTTP/1.1", host: "example.org"
${NGINX_ERROR_HEAD}user "[^"]*" was not found in "[^"]*", client: __IP__, server: 
# 2024/05/01 12:00:00 [error] 812#812: *4 user "admin": password mismatch, client: 203.0.113.7, server: example.org, …
${NGINX_ERROR_HEAD}user "[^"]*": password mismatch, client: __IP__, server: 
# 2024/05/01 12:00:00 [error] 812#812: *9 limiting requests, excess: 20.480 by zone "one", client: 203.0.113.7, server: example.org, …
${NGINX_ERROR_HEAD}limiting requests, excess: [0-9.]+ by zone "[^"]*", client: __IP__, server: 
`

/** The shipped pattern files, in name order. */
export const SHIPPED_PATTERNS: readonly ShippedPatternFile[] = [
  {name: 'dovecot.patterns', text: DOVECOT},
  {name: 'exim4.patterns', text: EXIM},
  {name: 'nginx-error.patterns', text: NGINX_ERROR},
  {name: 'nginx.patterns', text: NGINX},
  {name: 'openssh-accepted.patterns', text: OPENSSH_ACCEPTED},
  {name: 'openssh.patterns', text: OPENSSH},
  {name: 'postfix-abuse.patterns', text: POSTFIX_ABUSE},
  {name: 'postfix.patterns', text: POSTFIX},
]

/**
 * The shipped pattern files, parsed and compiled, as if read from `dir`. `names` picks some of them
 * (e.g. `['openssh.patterns']`); all by default.
 * @throws ConfigError only if a shipped file is broken (a bug; the unit tests parse them all).
 */
export function shippedPatternFiles(names?: readonly string[], dir = DEFAULT_PATTERNS_DIR, opts: PatternParseOptions = {}): PatternFile[] {
  const picked = names === undefined ? SHIPPED_PATTERNS : SHIPPED_PATTERNS.filter((f) => names.includes(f.name))
  return parsePatternFiles(picked.map((f) => ({path: `${dir}/${f.name}`, text: f.text})), opts)
}
