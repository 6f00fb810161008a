/**
 * Service logs from journald (`journalctl -f -o json` for the units the pattern files name), accepted
 * on journald's trusted fields only. A plain log file believes the syslog tag: any local user can run
 * `logger -t sshd 'Failed password for root from X port 1 ssh2'` and have X banned (or, with an
 * `Accepted …` line and auto-allow, allowed). journald records who wrote each entry in `_`-fields that
 * it fills in itself from the kernel (SCM_CREDENTIALS, /proc/PID, the cgroup), which a client cannot set
 * (systemd.journal-fields(7)); SYSLOG_IDENTIFIER is what the client wrote and is never trusted.
 *
 * An entry is accepted when (see {@link untrustedReason}):
 * - `_SYSTEMD_UNIT` is one of the units the pattern files name: a process is moved into a system
 *   service's cgroup only by root (pam_systemd puts login sessions into `session-N.scope`);
 * - `_UID` is a system account's (below 1000: root, sshd, postfix, Debian-exim, dovecot, www-data), so a
 *   user's shell that stayed in `ssh.service` (a container without pam_systemd) is not believed;
 * - `_EXE` lies in a directory of system daemons (/usr/sbin, /usr/lib, /usr/libexec and their
 *   non-merged and /usr/local twins): sshd, sshd-session (OpenSSH 9.8+), /usr/lib/postfix/sbin/smtpd,
 *   dovecot's /usr/lib/dovecot/auth, exim4 and nginx pass, while `logger` and `systemd-cat`
 *   (/usr/bin) do not, even run by root or a service account inside the unit. `_COMM` is not relied on:
 *   a process renames itself with prctl(PR_SET_NAME).
 * Entries that fail are dropped before any pattern sees them and counted (`untrusted` in the health).
 * Entries whose trusted fields are missing fail too: journald leaves them out when the writer exited
 * before it could be looked up.
 */
import {statSync} from 'node:fs'

import {spawnLines} from '../../system/index.js'
import {parseJournalEntry} from './journal.js'
import type {JournalEntry} from './journal.js'
import {ProgramLineSource} from './program.js'
import type {SpawnLinesFn} from './program.js'
import type {LogLine, SourceHealth} from './types.js'

/** The socket journald receives native entries on; it exists while journald runs (systemd-journald.socket). */
export const JOURNALD_SOCKET = '/run/systemd/journal/socket'

/** Whether the host runs journald: `socket` ({@link JOURNALD_SOCKET} by default) exists and is a socket. Never throws. */
export function hasJournald(socket: string = JOURNALD_SOCKET): boolean {
  try {
    return statSync(socket).isSocket()
  } catch {
    return false
  }
}

/** Lowest uid of a login user (Debian's /etc/login.defs: SYS_UID_MAX 999, UID_MIN 1000). */
export const FIRST_USER_UID = 1000

/** Directories whose programs may write trusted service log entries (the start of `_EXE`). */
export const DAEMON_EXE_DIRS = ['/usr/sbin/', '/usr/lib/', '/usr/libexec/', '/usr/local/sbin/', '/sbin/', '/lib/'] as const

/** LogLine.source of an accepted entry of unit `unit`; pattern files with `unit = UNIT` read it. */
export function unitSource(unit: string): string {
  return `unit:${unit}`
}

/**
 * Why a journal entry must not be believed as a log line of one of `units`, or undefined when its
 * trusted fields (`_SYSTEMD_UNIT`, `_UID`, `_EXE`) show it was written by that service. Pure.
 */
export function untrustedReason(entry: JournalEntry, units: ReadonlySet<string>): string | undefined {
  if (entry.unit === undefined) return 'no _SYSTEMD_UNIT'
  if (!units.has(entry.unit)) return `_SYSTEMD_UNIT ${entry.unit} is not a unit of the pattern files`
  if (entry.uid === undefined || !/^\d{1,10}$/.test(entry.uid)) return 'no _UID'
  if (Number(entry.uid) >= FIRST_USER_UID) return `_UID ${entry.uid} is a login user's`
  if (entry.exe === undefined) return 'no _EXE'
  if (entry.exe.includes('/../') || !DAEMON_EXE_DIRS.some((dir) => entry.exe!.startsWith(dir))) {
    return `_EXE ${entry.exe} is not in a directory of system daemons`
  }
  return undefined
}

/** The fields journalctl prints; __CURSOR and the timestamps always come along. */
const OUTPUT_FIELDS = ['MESSAGE', '_TRANSPORT', '_SYSTEMD_UNIT', '_UID', '_COMM', '_EXE', 'SYSLOG_IDENTIFIER']

/**
 * The arguments of journalctl: the entries of `units`, followed, as JSON, after `cursor`, or else from
 * `sinceMs` (milliseconds since the epoch, rounded down to the second), or else from now.
 * Unit names must be validated (pattern-file.ts): they become `_SYSTEMD_UNIT=NAME` matches.
 */
export function serviceJournalctlArgs(units: readonly string[], cursor?: string, sinceMs?: number): string[] {
  const from = cursor !== undefined ? `--after-cursor=${cursor}`
    : sinceMs === undefined ? '--since=now' : `--since=@${Math.floor(sinceMs / 1000)}`
  return [
    '--follow',
    '--output=json',
    `--output-fields=${OUTPUT_FIELDS.join(',')}`, // systemd 236+
    '--all', // a long MESSAGE would otherwise be printed as null
    '--no-pager',
    '--quiet',
    from,
    // Matches of one field are ORed (journalctl(1)). Not --unit: it also selects systemd's own messages
    // about the unit (UNIT=), which come from PID 1 and would only be counted as untrusted.
    ...units.map((unit) => `_SYSTEMD_UNIT=${unit}`),
  ]
}

/** Options of {@link ServiceJournalSource}. */
export interface ServiceJournalSourceOptions {
  /** The systemd services to read (`unit =` of the pattern files); at least one. */
  units: readonly string[]
  /** Name in the health; `journal-services` by default. */
  name?: string
  /** The program; `journalctl` by default. */
  program?: string
}

/**
 * Service log entries from journald as LogLines with source `unit:NAME`, only those that pass
 * {@link untrustedReason}; the others are counted in `health().untrusted`. Resumes after the last entry
 * seen (`--after-cursor`) when the supervisor restarts it. Errors as {@link JournalSource}'s.
 */
export class ServiceJournalSource extends ProgramLineSource {
  private cursor: string | undefined
  private untrusted = 0
  private readonly units: ReadonlySet<string>

  constructor(private readonly options: ServiceJournalSourceOptions, spawn: SpawnLinesFn = spawnLines) {
    super(options.name ?? 'journal-services', spawn)
    this.units = new Set(options.units)
  }

  protected command(): readonly string[] {
    // Start time taken before journalctl runs, as JournalSource does (the engine de-duplicates repeats).
    return [this.options.program ?? 'journalctl', ...serviceJournalctlArgs([...this.units], this.cursor, Date.now())]
  }

  protected toLogLine(line: string): LogLine | undefined {
    const entry = parseJournalEntry(line)
    if (entry === undefined) return undefined
    if (entry.cursor !== undefined) this.cursor = entry.cursor
    if (untrustedReason(entry, this.units) !== undefined) {
      this.untrusted++
      return undefined
    }
    return {source: unitSource(entry.unit!), text: entry.message, ...(entry.timeMs === undefined ? {} : {time: entry.timeMs})}
  }

  override health(): SourceHealth {
    const health = super.health()
    return this.untrusted > 0 ? {...health, untrusted: this.untrusted} : health
  }
}
