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
 *
 * A template name in `unit =` (`ssh@.service`) stands for all its instances (`ssh@0-192.0.2.1:22-203.0.113.7:51234.service`,
 * one per connection when sshd is socket-activated); journalctl selects those by their slice
 * (`_SYSTEMD_SLICE=system-ssh.slice`), and the trusted-field check requires an instance of the template.
 *
 * With a cursor file (`[daemon] state_dir`/journal.cursor), the source resumes after the last entry it
 * saw when the daemon starts again, so what the services logged while it restarted is read; see
 * journal-cursor.ts.
 */
import {statSync} from 'node:fs'

import {spawnLines} from '../../system/index.js'
import {JournalCursorWriter, JOURNAL_RESUME_MAX_AGE_SEC, loadJournalCursor} from './journal-cursor.js'
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

/** Whether `unit` is a template name (`ssh@.service`), which stands for all its instances. */
export function isTemplateUnit(unit: string): boolean {
  return unit.endsWith('@.service')
}

/**
 * The name in `units` that the unit `actual` of an entry counts as: itself, or the template it is an
 * instance of (`ssh@1-2.service` → `ssh@.service`); undefined when none. Pure.
 */
export function matchUnit(actual: string, units: ReadonlySet<string>): string | undefined {
  if (units.has(actual)) return actual
  const at = actual.indexOf('@')
  if (at <= 0 || !actual.endsWith('.service') || at + 1 >= actual.length - '.service'.length) return undefined
  const template = `${actual.slice(0, at)}@.service`
  return units.has(template) ? template : undefined
}

/**
 * Why a journal entry must not be believed as a log line of one of `units`, or undefined when its
 * trusted fields (`_SYSTEMD_UNIT`, `_UID`, `_EXE`) show it was written by that service (or an
 * instance of a template in `units`). Pure.
 */
export function untrustedReason(entry: JournalEntry, units: ReadonlySet<string>): string | undefined {
  if (entry.unit === undefined) return 'no _SYSTEMD_UNIT'
  if (matchUnit(entry.unit, units) === undefined) return `_SYSTEMD_UNIT ${entry.unit} is not a unit of the pattern files`
  if (entry.uid === undefined || !/^\d{1,10}$/.test(entry.uid)) return 'no _UID'
  if (Number(entry.uid) >= FIRST_USER_UID) return `_UID ${entry.uid} is a login user's`
  if (entry.exe === undefined) return 'no _EXE'
  if (entry.exe.includes('/../') || !DAEMON_EXE_DIRS.some((dir) => entry.exe!.startsWith(dir))) {
    return `_EXE ${entry.exe} is not in a directory of system daemons`
  }
  return undefined
}

/** The fields journalctl prints; __CURSOR and the timestamps always come along. */
const OUTPUT_FIELDS = ['MESSAGE', '_TRANSPORT', '_SYSTEMD_UNIT', '_UID', '_COMM', '_EXE', '_PID', 'SYSLOG_IDENTIFIER']

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
    ...unitMatches(units),
  ]
}

/**
 * journalctl matches for `units`: `_SYSTEMD_UNIT=NAME` for each service, and for each template the slice
 * its instances run in (`system-ssh.slice`; a `-` of the name is escaped as `\x2d`, systemd.unit(5)).
 * Matches of one field are ORed, `+` ORs the two groups (journalctl(1)). Not `--unit`: it also selects
 * systemd's own messages about the unit (UNIT=), and its globs expand only to the units already in the
 * journal when journalctl starts, not to the instances that come while it follows.
 */
function unitMatches(units: readonly string[]): string[] {
  const plain = units.filter((u) => !isTemplateUnit(u)).map((unit) => `_SYSTEMD_UNIT=${unit}`)
  const slices = units.filter(isTemplateUnit)
    .map((unit) => `_SYSTEMD_SLICE=system-${unit.slice(0, -'@.service'.length).replaceAll('-', '\\x2d')}.slice`)
  if (plain.length === 0 || slices.length === 0) return [...plain, ...slices]
  return [...plain, '+', ...slices]
}

/** Options of {@link ServiceJournalSource}. */
export interface ServiceJournalSourceOptions {
  /** The systemd services to read (`unit =` of the pattern files); at least one. */
  units: readonly string[]
  /** Name in the health; `journal-services` by default. */
  name?: string
  /** The program; `journalctl` by default. */
  program?: string
  /**
   * Where the cursor of the last entry is kept across daemon restarts (`[daemon] state_dir`/journal.cursor);
   * without it, a new source starts at now.
   */
  cursorFile?: string
  /** Called when the cursor file cannot be written (the source goes on). */
  onCursorError?: (error: unknown) => void
}

/**
 * Service log entries from journald as LogLines with source `unit:NAME`, only those that pass
 * {@link untrustedReason}; the others are counted in `health().untrusted`. Resumes after the last entry
 * seen (`--after-cursor`) when the supervisor restarts it. Errors as {@link JournalSource}'s.
 */
export class ServiceJournalSource extends ProgramLineSource {
  private cursor: string | undefined
  private cursorLoaded = false
  private untrusted = 0
  private readonly units: ReadonlySet<string>
  private readonly cursorWriter: JournalCursorWriter | undefined

  constructor(private readonly options: ServiceJournalSourceOptions, spawn: SpawnLinesFn = spawnLines) {
    super(options.name ?? 'journal-services', spawn)
    this.units = new Set(options.units)
    if (options.cursorFile !== undefined) this.cursorWriter = new JournalCursorWriter(options.cursorFile, options.onCursorError)
  }

  protected command(): readonly string[] {
    const now = Date.now()
    let since = now
    if (!this.cursorLoaded && this.options.cursorFile !== undefined) {
      this.cursorLoaded = true
      const saved = loadJournalCursor(this.options.cursorFile)
      // A recent cursor: resume after it. An old one: the last JOURNAL_RESUME_MAX_AGE_SEC only.
      if (saved !== undefined && now - saved.timeMs <= JOURNAL_RESUME_MAX_AGE_SEC * 1000) this.cursor = saved.cursor
      else if (saved !== undefined) since = now - JOURNAL_RESUME_MAX_AGE_SEC * 1000
    }
    // Start time taken before journalctl runs, as JournalSource does (the engine de-duplicates repeats).
    return [this.options.program ?? 'journalctl', ...serviceJournalctlArgs([...this.units], this.cursor, since)]
  }

  protected toLogLine(line: string): LogLine | undefined {
    const entry = parseJournalEntry(line)
    if (entry === undefined) return undefined
    if (entry.cursor !== undefined) {
      this.cursor = entry.cursor
      this.cursorWriter?.note(entry.cursor, entry.timeMs ?? Date.now())
    }
    if (untrustedReason(entry, this.units) !== undefined) {
      this.untrusted++
      return undefined
    }
    const pid = entry.pid !== undefined && /^[1-9][0-9]{0,9}$/.test(entry.pid) ? Number(entry.pid) : undefined
    return {
      source: unitSource(matchUnit(entry.unit!, this.units)!),
      text: entry.message,
      ...(entry.timeMs === undefined ? {} : {time: entry.timeMs}),
      ...(pid === undefined ? {} : {pid}),
    }
  }

  override async close(): Promise<void> {
    await super.close()
    await this.cursorWriter?.flush()
  }

  override health(): SourceHealth {
    const health = super.health()
    return this.untrusted > 0 ? {...health, untrusted: this.untrusted} : health
  }
}
