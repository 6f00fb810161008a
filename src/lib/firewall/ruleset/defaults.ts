/**
 * The default contents of the firewall directory, in one place: what `diswall install` creates.
 */
import {mkdir, writeFile} from 'node:fs/promises'
import {dirname, join} from 'node:path'

import {describeFsError, RulesetError} from './resolve.js'

/** The sub-directories of a firewall directory, created empty when missing. */
export const DEFAULT_FIREWALL_DIRS = ['incoming.d', 'outgoing.d', 'whitelist.d', 'blacklist.d', 'local.d', 'rule.d'] as const

const README = `diswall firewall directory
==========================

The host firewall is compiled from the files here: \`diswall firewall check\` reads them and reports
problems as file:line, \`diswall firewall apply\` applies them atomically (all or nothing).

incoming.d/, outgoing.d/   Rule files NN-NAME, applied in byte order of the file name (100-x before
                           20-x). NAME is a user template (rule.d/NAME.incoming or .outgoing), a
                           built-in template (accept, drop, reject, established, related, new,
                           invalid, ping, icmp, icmpv6, essential-icmpv6, syn-ack-flood-protection,
                           dns, ftp, log, reject-www-data), a service name from /etc/services, a port
                           (5000) or a range (5000:5010); add .tcp or .udp to pick the protocol.
                           Content: addresses, networks or host names, one per line, "#" comments.
                           An empty file applies to everyone.
whitelist.d/, blacklist.d/ One file per address or network: 192.0.2.7, 192.0.2.0|24, 2001:db8::|64
                           (.auto files are written by diswall and expire). Content: ports (22, ssh,
                           5000:5010) or all; empty = all ports.
local.d/                   Executables run after every successful apply (names of letters, digits,
                           "_" and "-" only); a failure rolls the firewall back.
rule.d/                    Your own templates, one rule per line, e.g.
                             proto=tcp dport=$PORT state=new accept
disabled                   If this file exists, apply changes nothing (flush still works).
whitelist.d/disabled       The allow (block) list files are not applied; diswall writes no .auto
blacklist.d/disabled       files there.

Dotfiles, editor backups (*~, *.bak) and dpkg leftovers (*.dpkg-*) are ignored everywhere.
Anything that does not parse stops the apply, and the running rules stay as they are.
`

/**
 * Default files by path relative to the firewall directory. The rule files are the Symbiosis defaults,
 * empty (= everyone), except that incoming traffic ends in `98-log` and `99-drop` instead of `99-reject`:
 * a fresh host is stealthy (probes get no answer) and its log feeds the detection. Outgoing traffic stays
 * open.
 */
export const DEFAULT_FIREWALL_FILES: Readonly<Record<string, string>> = {
  README,
  ...Object.fromEntries([
    '00-established', '00-related', '00-syn-ack-flood-protection', '05-essential-icmpv6', '05-ping', '07-ssh',
    '10-http', '10-https', '20-ftp', '30-imap', '30-imaps', '40-pop3', '40-pop3s', '50-smtp', '50-smtps',
    '50-submission', '60-sieve', '98-log', '99-drop',
  ].map((name) => [`incoming.d/${name}`, ''])),
  ...Object.fromEntries(['00-established', '00-related', '05-essential-icmpv6'].map((name) => [`outgoing.d/${name}`, ''])),
}

/**
 * Creates the firewall directory with the defaults, never overwriting anything: missing directories are
 * created, and a default file is written only when it does not exist and its directory did not exist
 * before this call (files in the top directory: only when missing). So rule files an operator deleted
 * from an existing `incoming.d/` do not come back on a re-install. Returns the created paths, relative to
 * `dir` (directories with a trailing `/`), in creation order.
 * @throws RulesetError naming the path when a directory or file cannot be created (e.g. permission denied).
 */
export async function writeDefaultFirewallDir(dir: string): Promise<string[]> {
  const created: string[] = []
  const fresh = new Set<string>()
  if (await makeDir(dir)) created.push('./')
  for (const sub of DEFAULT_FIREWALL_DIRS) {
    if (await makeDir(join(dir, sub))) {
      created.push(`${sub}/`)
      fresh.add(sub)
    }
  }
  for (const [relative, content] of Object.entries(DEFAULT_FIREWALL_FILES)) {
    const parent = dirname(relative)
    if (parent !== '.' && !fresh.has(parent)) continue
    const file = join(dir, relative)
    try {
      await writeFile(file, content, {flag: 'wx', mode: 0o644})
      created.push(relative)
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw cannotCreate(file, error)
    }
  }
  return created
}

/** Creates one directory (and its missing parents); true if it did not exist. */
async function makeDir(path: string): Promise<boolean> {
  try {
    await mkdir(path, {mode: 0o755})
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'EEXIST') return false
    if (code !== 'ENOENT') throw cannotCreate(path, error)
  }
  try {
    await mkdir(path, {mode: 0o755, recursive: true})
    return true
  } catch (error) {
    throw cannotCreate(path, error)
  }
}

function cannotCreate(path: string, error: unknown): RulesetError {
  const {hint, reason} = describeFsError(error)
  return new RulesetError({file: path}, `cannot create: ${reason}`, hint, {cause: error})
}
