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
 * The start of a message of `program`: the start of the line, optionally after a syslog header
 * `TIME HOST PROGRAM[PID]: ` (journald MESSAGE fields have none).
 */
function head(program: string): string {
  return String.raw`^(?:${TIME} \S+ ${program}(?:\[[0-9]+\])?: )?`
}

const SSHD = head('sshd(?:-session)?')

const OPENSSH = String.raw`# OpenSSH: failed logins and probes before authentication.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/auth.log
ident = sshd, sshd-session
unit = ssh.service, sshd.service
ports = 22
tag = ssh
threshold = 5
window = 10m
# Failed password for root from 203.0.113.7 port 51234 ssh2
${SSHD}Failed (?:password|keyboard-interactive/pam) for .* from __IP__ port \d+ ssh2$
# Invalid user admin from 203.0.113.7 port 51234
${SSHD}Invalid user .* from __IP__ port \d+$
# pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=203.0.113.7  user=root
${SSHD}pam_unix\(sshd:auth\): authentication failure; logname=\S* uid=\d+ euid=\d+ tty=\S* ruser=\S* rhost=__IP__(?: +user=\S+)?$
# Connection closed by authenticating user root 203.0.113.7 port 51234 [preauth]
${SSHD}Connection closed by (?:authenticating|invalid) user .* __IP__ port \d+ \[preauth\]$
# Disconnected from invalid user admin 203.0.113.7 port 51234 [preauth]
${SSHD}Disconnected from (?:authenticating|invalid) user .* __IP__ port \d+ \[preauth\]$
# error: maximum authentication attempts exceeded for root from 203.0.113.7 port 51234 ssh2 [preauth]
${SSHD}error: maximum authentication attempts exceeded for .* from __IP__ port \d+ ssh2 \[preauth\]$
# Unable to negotiate with 203.0.113.7 port 51234: no matching key exchange method found. Their offer: … [preauth]
${SSHD}Unable to negotiate with __IP__ port \d+: no matching (?:key exchange method|host key type|cipher|MAC) found\. Their offer: \S+ \[preauth\]$
# Did not receive identification string from 203.0.113.7 port 51234
${SSHD}Did not receive identification string from __IP__ port \d+$
# banner exchange: Connection from 203.0.113.7 port 51234: invalid format
${SSHD}banner exchange: Connection from __IP__ port \d+: (?:invalid format|could not read protocol version)$
`

const OPENSSH_ACCEPTED = String.raw`# OpenSSH: successful logins allow their address for [detect] auto_allow_ttl (auto_allow = true).
# Anchored at the start of the message: no failed login can pass for one of these lines.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/auth.log
ident = sshd, sshd-session
unit = ssh.service, sshd.service
ports = 22
tag = ssh
action = allow
# Accepted publickey for root from 203.0.113.7 port 51234 ssh2: ED25519 SHA256:…
${SSHD}Accepted (?:password|publickey|keyboard-interactive/pam|gssapi-with-mic|hostbased) for (?<user>\S+) from __IP__ port \d+ ssh2(?:: .+)?$
`

const POSTFIX = String.raw`# Postfix: failed SMTP AUTH (SASL) logins.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/mail.log
ident = postfix
unit = postfix@-.service
ports = 25, 465, 587
tag = smtp
threshold = 5
window = 10m
# postfix/smtpd[1234]: warning: unknown[203.0.113.7]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
${head('postfix(?:/[a-z0-9_-]+)+')}warning: [A-Za-z0-9.-]+\[__IP__\]: SASL [A-Z0-9-]+ authentication failed:
`

const DOVECOT = String.raw`# Dovecot: IMAP, POP3, submission and ManageSieve logins that failed authentication.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/mail.log
ident = dovecot
unit = dovecot.service
ports = 110, 143, 993, 995, 4190
tag = imap
threshold = 5
window = 10m
# imap-login: Disconnected (auth failed, 1 attempts in 2 secs): user=<admin>, method=PLAIN, rip=203.0.113.7, lip=198.51.100.1, TLS, session=<…>
${head('dovecot')}(?:imap|pop3|submission|managesieve)-login: (?:Disconnected|Aborted login|Login aborted)(?:: [A-Za-z ]+)? \(auth failed, \d+ attempts? in \d+ secs?\)(?: \([a-z_]+\))?: user=<.*>, method=[A-Za-z0-9-]+, rip=__IP__, lip=[0-9a-fA-F:.]+(?:, [A-Za-z0-9= ]+){0,4}, session=<[^>]*>$
`

const EXIM = String.raw`# Exim: failed SMTP AUTH logins.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/exim4/mainlog
ident = exim
ports = 25, 465, 587
tag = smtp
threshold = 5
window = 10m
# 2024-05-01 12:00:00 dovecot_login authenticator failed for (User) [203.0.113.7]: 535 Incorrect authentication data (set_id=admin)
^(?:[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{3})?(?: [+-][0-9]{4})?(?: \[[0-9]+\])? |${TIME} \S+ exim(?:\[[0-9]+\])?: )?[A-Za-z0-9_-]+ authenticator failed for (?:H=)?(?:[A-Za-z0-9.-]+ )?(?:\(\S*\) )?\[__IP__\](?::\d+)?(?: I=\[[0-9a-fA-F:.]+\](?::\d+)?)?: 535 Incorrect authentication data
`

const NGINX = String.raw`# nginx (access log, format "combined"): scanners asking for files they should not, and refused
# HTTP basic-auth logins. Behind a proxy, set real_ip_header so that the first field is the client.
# Managed by diswall; edit a copy under another name to change it.
file = /var/log/nginx/access.log
ident = nginx
ports = 80, 443
tag = http
threshold = 5
window = 10m
# 203.0.113.7 - - [01/May/2024:12:00:00 +0000] "GET /.env HTTP/1.1" 404 153 "-" "Mozilla/5.0"
^__IP__ - \S+ \[[^\]]+\] "(?:GET|POST|HEAD) /(?:\.env|\.git/|\.aws/|\.ssh/|\.DS_Store|wp-login\.php|xmlrpc\.php|phpmyadmin|pma/|cgi-bin/|vendor/phpunit/|boaform/|HNAP1|server-status)[^"]* HTTP/[0-9.]+" (?:40[0-9]|444) [0-9]+ "
# 203.0.113.7 - admin [01/May/2024:12:00:00 +0000] "GET /private/ HTTP/1.1" 401 179 "-" "curl/7.88.1"
^__IP__ - [^\s-]\S* \[[^\]]+\] "[^"]*" 401 [0-9]+ "
`

/** The shipped pattern files, in name order. */
export const SHIPPED_PATTERNS: readonly ShippedPatternFile[] = [
  {name: 'dovecot.patterns', text: DOVECOT},
  {name: 'exim4.patterns', text: EXIM},
  {name: 'nginx.patterns', text: NGINX},
  {name: 'openssh-accepted.patterns', text: OPENSSH_ACCEPTED},
  {name: 'openssh.patterns', text: OPENSSH},
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
