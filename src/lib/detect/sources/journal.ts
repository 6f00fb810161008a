/**
 * The kernel log through journald: `journalctl -k -f -o json`, for machines where /dev/kmsg cannot be
 * read. Only entries with `_TRANSPORT=kernel` are kept, so `logger` run by any local user cannot forge a
 * packet log line (the original DisWall grepped all of the journal as text and could be fooled that way).
 * A journalctl that dies ends the run with an error; the supervisor restarts it, after the last entry
 * seen (`--after-cursor`), so nothing is skipped or repeated.
 */
import {spawnLines} from '../../system/index.js'
import {ProgramLineSource} from './program.js'
import type {SpawnLinesFn} from './program.js'
import type {LogLine} from './types.js'

/** One journal entry, reduced to what the sources use. */
export interface JournalEntry {
  /** MESSAGE, decoded (journalctl gives binary or non-UTF-8 values as an array of bytes). */
  message: string
  /** _TRANSPORT: `kernel`, `syslog`, `journal`, `stdout`, … */
  transport?: string
  /** __REALTIME_TIMESTAMP in milliseconds since the epoch. */
  timeMs?: number
  /** __CURSOR, to resume after this entry. */
  cursor?: string
  /** _SYSTEMD_UNIT: the unit of the writing process's cgroup (trusted: journald sets it). */
  unit?: string
  /** _UID: the writing process's uid, as journald found it (trusted). */
  uid?: string
  /** _COMM: the writing process's name (trusted). */
  comm?: string
  /** _EXE: the writing process's executable (trusted). */
  exe?: string
  /** SYSLOG_IDENTIFIER: the tag the writer chose (`logger -t` sets any): never trusted. */
  identifier?: string
  /** _PID: the writing process's id (trusted). */
  pid?: string
}

/** Fields of JournalEntry read as they are (decoded like MESSAGE); `__` fields are handled apart. */
const PLAIN_FIELDS = {
  comm: '_COMM', exe: '_EXE', identifier: 'SYSLOG_IDENTIFIER', pid: '_PID', transport: '_TRANSPORT', uid: '_UID', unit: '_SYSTEMD_UNIT',
} as const

/**
 * Parses one line of `journalctl -o json`. MESSAGE may be a string, an array of bytes, or (a field
 * given several times) an array of those, of which the first is taken. Pure. Returns undefined for a
 * line that is not a JSON object or has no usable MESSAGE (null: a value journalctl did not print).
 */
export function parseJournalEntry(line: string): JournalEntry | undefined {
  let doc: unknown
  try {
    doc = JSON.parse(line)
  } catch {
    return undefined
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return undefined
  const fields = doc as Record<string, unknown>
  const message = decodeField(fields.MESSAGE)
  if (message === undefined) return undefined
  const realtime = fields.__REALTIME_TIMESTAMP
  const cursor = fields.__CURSOR
  const entry: JournalEntry = {message}
  for (const [key, field] of Object.entries(PLAIN_FIELDS) as Array<[keyof typeof PLAIN_FIELDS, string]>) {
    const value = decodeField(fields[field])
    if (value !== undefined) entry[key] = value
  }
  return {
    ...entry,
    ...(typeof realtime === 'string' && /^\d+$/.test(realtime) ? {timeMs: Number(realtime) / 1000} : {}),
    ...(typeof cursor === 'string' ? {cursor} : {}),
  }
}

/** A journal field's value as text: a string, or an array of bytes (UTF-8), or the first of several values. */
export function decodeField(value: unknown): string | undefined {
  if (typeof value === 'string') return value
  if (!Array.isArray(value) || value.length === 0) return undefined
  if (value.every((b) => Number.isInteger(b) && b >= 0 && b <= 255)) return Buffer.from(value as number[]).toString('utf8')
  return decodeField(value[0])
}

export type {SpawnLinesFn} from './program.js'

/** Options of {@link JournalSource}. */
export interface JournalSourceOptions {
  /** Keep only messages that contain one of these strings (e.g. `['diswall-log: ']`); all by default. */
  match?: readonly string[]
  /** Name in LogLine.source and the health; `journal` by default. */
  name?: string
  /** The program; `journalctl` by default. */
  program?: string
}

/**
 * The arguments of journalctl: kernel messages only, followed, as JSON, after `cursor`, or else from
 * `sinceMs` (milliseconds since the epoch, rounded down to the second), or else from now.
 */
export function journalctlArgs(cursor?: string, sinceMs?: number): string[] {
  const from = cursor !== undefined ? `--after-cursor=${cursor}`
    : sinceMs === undefined ? '--since=now' : `--since=@${Math.floor(sinceMs / 1000)}`
  return [
    '--dmesg', // = -k: _TRANSPORT=kernel of the current boot
    '--follow',
    '--output=json',
    '--output-fields=MESSAGE,_TRANSPORT', // systemd 236+; __CURSOR and the timestamps always come along
    '--all', // a long MESSAGE would otherwise be printed as null
    '--no-pager',
    '--quiet',
    from,
  ]
}

/**
 * Kernel messages from the journal as LogLines (`time` is the journal's receive time). The iteration
 * throws MissingDependencyError when journalctl is not installed and CommandFailedError when it exits
 * with an error; when journalctl exits with status 0 the iteration just ends (a supervisor restarts it).
 */
export class JournalSource extends ProgramLineSource {
  private cursor: string | undefined
  private readonly match: readonly string[]

  constructor(private readonly options: JournalSourceOptions = {}, spawn: SpawnLinesFn = spawnLines) {
    super(options.name ?? 'journal', spawn)
    this.match = options.match ?? []
  }

  protected command(): readonly string[] {
    // The start time is taken before journalctl runs, not by journalctl (`--since=now`): the run then
    // reads from the moment it was spawned, however long journalctl takes to start, so it can say it
    // reads at once. Up to a second of earlier entries may come again; the engine de-duplicates them.
    return [this.options.program ?? 'journalctl', ...journalctlArgs(this.cursor, Date.now())]
  }

  protected toLogLine(line: string): LogLine | undefined {
    const entry = parseJournalEntry(line)
    if (entry === undefined) return undefined
    if (entry.cursor !== undefined) this.cursor = entry.cursor
    // Defence in depth: -k already selects the kernel transport.
    if (entry.transport !== 'kernel') return undefined
    if (this.match.length > 0 && !this.match.some((m) => entry.message.includes(m))) return undefined
    return {source: this.name, text: entry.message, ...(entry.timeMs === undefined ? {} : {time: entry.timeMs})}
  }
}
