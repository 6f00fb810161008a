/**
 * `patterns.d/*.patterns` files (Symbiosis-compatible): which log a file reads, the regexes that find an
 * offender's address in it, and how many matches within which window lead to a ban. Pure: files come
 * in as text, and every mistake is a ConfigError naming `file:line` with a hint.
 *
 * Format, line by line (lines are trimmed; blank lines and `#` lines are ignored):
 *
 * ```
 * file = /var/log/auth.log          # the log this file reads (required, absolute)
 * ports = 22                        # informational: the ports of the service ("all" when missing)
 * ident = sshd, sshd-session        # diswall: journald SYSLOG_IDENTIFIERs this file reads (default: any)
 * unit = ssh.service                # diswall: systemd units whose journald entries this file reads
 * threshold = 5                     # diswall: matches within the window that lead to a ban (default 5)
 * window = 10m                      # diswall: the sliding window (default 10m)
 * ban = 1h                          # diswall: ban time (default [firewall] block_timeout)
 * tag = ssh                         # diswall: the reason sent with the ban (default: the file name)
 * action = ban                      # diswall: "ban", or "allow" for successful logins (auto-allow)
 * level = normal                    # diswall: "normal" (default) or "aggressive" for every regex of the file
 * Failed password for .* from __IP__ port \d+ ssh2$
 * [aggressive] Connection closed by __IP__ port \d+ \[preauth\]$
 * [pid, aggressive] Disconnecting: Too many authentication failures \[preauth\]$
 * ```
 *
 * Every other line is a regex in which `__IP__` stands for the offender's address; pattern-regex.ts
 * compiles it (the named group `ip`, the anchor, what JavaScript regexes refuse). A regex line may start
 * with flags in brackets, `[FLAG, FLAG] REGEX` (lower-case words; a bracket of words that are not all
 * flags is an error, so write a leading character class as `(?:[…])`):
 * - `normal`, `aggressive`: the level of the line (default: the file's `level =`); `[detect] level`
 *   chooses which run: "normal" runs normal lines, "aggressive" both (as fail2ban's modes);
 * - `pid`: the line carries no address (no `__IP__`); it counts against the address that an earlier
 *   line of the same process (syslog `PROG[PID]:` or journald `_PID`) named, or else the next one;
 * - `track`: the line only records the address of its process for `pid` lines; it never counts;
 * - `echo`: the line reports an attempt that another line of the same process reports too (a PAM line
 *   beside sshd's `Failed password`): of the two, one counts. Without a process id it does not count.
 *
 * Differences from
 * Symbiosis in the file itself, on purpose:
 * - a repeated key is an error (Symbiosis turned a second `file =` into a regex); so is a file without
 *   `file =` (Symbiosis ignored it silently).
 * - `unit =` names the systemd services whose journald entries the file reads; the daemon reads those
 *   from journald, trusting only the fields journald sets itself (sources/service-journal.ts). `file =`
 *   stays required even then: the file keeps working unchanged on a host without journald, with
 *   `[detect] service_logs = "files"`, and for Symbiosis.
 *
 * `ports` lists numbers; service names (`ssh, smtp`) need the `lookupService` option (the daemon passes
 * /etc/services), otherwise they are an error. diswall bans on all ports, so `ports` is informational.
 */
import {ConfigError, type SourceLocation} from '../errors.js'
import {IPSET_MAX_TIMEOUT_SEC, parseDurationSec} from '../net/index.js'
import {isValidTag, MAX_TAG_LENGTH} from './kernel-log.js'
import {compilePattern, IP_PLACEHOLDER} from './pattern-regex.js'
import type {CompiledPattern} from './pattern-regex.js'

/** File name suffix of pattern files in `patterns.d/`. */
export const PATTERN_FILE_SUFFIX = '.patterns'
/** Matches within the window that lead to a ban when a file has no `threshold =`. */
export const DEFAULT_THRESHOLD = 5
/** Window when a file has no `window =`: 10 minutes, as fail2ban's `findtime`. */
export const DEFAULT_WINDOW_SEC = 600
/** Longest `window =`: one week (counters keep their hits that long). */
export const MAX_WINDOW_SEC = 604_800
/** Largest `threshold =`. */
export const MAX_THRESHOLD = 1_000_000

/** What a pattern file does with a match: count towards a ban, or allow the address (a login). */
export type PatternAction = 'allow' | 'ban'

/** Detection levels, as fail2ban's modes: `normal` runs the normal regexes, `aggressive` all of them. */
export const PATTERN_LEVELS = ['normal', 'aggressive'] as const
/** The level of a regex line or file. */
export type PatternLevel = (typeof PATTERN_LEVELS)[number]

/**
 * How a regex line counts: `count` (a failure), `echo` (a report of an attempt that another line of the
 * same process reports too: one of them counts), `track` (records its process's address only).
 */
export type PatternKind = 'count' | 'echo' | 'track'

/** One regex line of a pattern file: the compiled regex, its level and how it counts. */
export interface PatternRule extends CompiledPattern {
  readonly level: PatternLevel
  readonly kind: PatternKind
  /** `[pid]`: the line has no address; it is its process's (from an earlier or the next line). */
  readonly pid: boolean
}

/** Whether a rule runs at `level` (aggressive runs every rule). */
export function runsAtLevel(rule: {readonly level: PatternLevel}, level: PatternLevel): boolean {
  return level === 'aggressive' || rule.level === 'normal'
}

/** A parsed and compiled pattern file. */
export interface PatternFile {
  /** Where the file was read from (for messages). */
  readonly path: string
  /** Its base name, e.g. `openssh.patterns`. */
  readonly name: string
  /** `file =`: the log this file reads. */
  readonly file: string
  /** `ident =`: journald SYSLOG_IDENTIFIERs it reads; empty = any. */
  readonly idents: readonly string[]
  /** `unit =`: systemd services whose journald entries it reads (LogLine source `unit:NAME`); may be empty. */
  readonly units: readonly string[]
  /** `ports =`: the service's ports, or 'all'. */
  readonly ports: readonly number[] | 'all'
  /** `action =`. */
  readonly action: PatternAction
  /** `level =`: the default level of its regex lines. */
  readonly level: PatternLevel
  /** `threshold =`: matches within `windowSec` that lead to a ban (default 5; 1 for `action = allow`). */
  readonly threshold: number
  /** `window =`, in seconds. */
  readonly windowSec: number
  /** `ban =`, in seconds, if given. */
  readonly banSec?: number
  /** `tag =`: the ban reason (default: the file name without `.patterns`). */
  readonly tag: string
  /** The regex lines, in file order. */
  readonly patterns: readonly PatternRule[]
}

/** Options of parsePatternFile(). */
export interface PatternParseOptions {
  /** Turns a service name of `ports =` into a port number (e.g. from /etc/services); numbers only without it. */
  lookupService?: (name: string) => number | undefined
}

const KEYS = ['action', 'ban', 'file', 'ident', 'level', 'ports', 'tag', 'threshold', 'unit', 'window'] as const
type Key = (typeof KEYS)[number]
const KEY_LINE = /^([A-Za-z_]+)[ \t]*=[ \t]*(.*)$/
/** A flag prefix of a regex line: `[aggressive] …`, `[pid, aggressive] …`. */
const FLAGS_PREFIX = /^\[([a-z]+(?:[ \t]*,[ \t]*[a-z]+|[ \t]+[a-z]+)*)\][ \t]+(\S.*)$/
const FLAGS = ['aggressive', 'echo', 'normal', 'pid', 'track'] as const
const IDENT = /^[A-Za-z0-9_./@-]{1,64}$/
/**
 * A systemd service name (systemd.unit(5): ASCII letters, digits, `:-_.\\`, one `@` for a template
 * instance, at most 255 characters). It also reaches journalctl's argv as `_SYSTEMD_UNIT=NAME`, so it
 * never starts with `-`.
 */
const UNIT = /^(?=.{1,255}$)[A-Za-z0-9:_.\\][A-Za-z0-9:_.\\-]*(@[A-Za-z0-9:_.\\-]*)?\.service$/
const KEYS_HINT = `Settings are ${KEYS.map((k) => `"${k} ="`).join(', ')}; every other line is a regex containing __IP__.`

/**
 * Parses and compiles one pattern file.
 * @param text the file's content
 * @param path where it was read from; named in errors and used for the default tag
 * @throws ConfigError naming `path:line`, the reason and a hint, for the first problem found.
 */
export function parsePatternFile(text: string, path: string, opts: PatternParseOptions = {}): PatternFile {
  const name = path.slice(path.lastIndexOf('/') + 1)
  const seen = new Map<Key, number>()
  const values = new Map<Key, string>()
  const raw: Array<{flags: string[]; line: string; loc: SourceLocation}> = []
  const lines = text.split('\n')
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].trim()
    if (line === '' || line.startsWith('#')) continue
    const loc: SourceLocation = {file: path, line: n + 1}
    const kv = KEY_LINE.exec(line)
    const key = kv?.[1].toLowerCase()
    if (kv && (KEYS as readonly string[]).includes(key!)) {
      const k = key as Key
      const first = seen.get(k)
      if (first !== undefined) {
        throw new ConfigError(loc, `"${k} =" appears a second time (first on line ${first})`,
          `Keep one "${k} =" line per file; put a second log in a pattern file of its own.`)
      }
      seen.set(k, n + 1)
      values.set(k, kv[2].trim())
      continue
    }
    if (kv && !line.includes(IP_PLACEHOLDER)) {
      throw new ConfigError(loc, `unknown setting "${kv[1]}"`, KEYS_HINT)
    }
    const prefix = FLAGS_PREFIX.exec(line)
    if (prefix === null) raw.push({flags: [], line, loc})
    else raw.push({flags: prefix[1].split(/[ \t,]+/), line: prefix[2], loc})
  }
  const level = parseLevel(values.get('level'), {file: path, line: seen.get('level')})
  const patterns = raw.map(({flags, line, loc}) => compileRule(line, flags, level, loc))

  const at = (k: Key): SourceLocation => ({file: path, line: seen.get(k)})
  const file = values.get('file')
  if (file === undefined) {
    throw new ConfigError({file: path}, 'no "file = PATH" line', 'Name the log this file reads, e.g. "file = /var/log/auth.log".')
  }
  if (!file.startsWith('/')) {
    throw new ConfigError(at('file'), `log file "${file}" is not an absolute path`, 'Write the full path, e.g. "file = /var/log/auth.log".')
  }
  const action = parseAction(values.get('action'), at('action'))
  const defaultTag = name.endsWith(PATTERN_FILE_SUFFIX) ? name.slice(0, -PATTERN_FILE_SUFFIX.length) : name
  const tag = values.get('tag') ?? defaultTag.slice(0, MAX_TAG_LENGTH)
  if (!isValidTag(tag)) {
    const where = values.has('tag') ? at('tag') : {file: path}
    throw new ConfigError(where, `tag ${JSON.stringify(tag)} is not 1 to ${MAX_TAG_LENGTH} printable ASCII characters without "|"`,
      'Write a short tag such as "tag = ssh"; it travels with the ban as its reason.')
  }
  const out: {-readonly [K in keyof PatternFile]: PatternFile[K]} = {
    action,
    file,
    idents: parseIdents(values.get('ident'), at('ident')),
    level,
    name,
    path,
    patterns,
    ports: parsePorts(values.get('ports'), at('ports'), opts.lookupService),
    tag,
    units: parseUnits(values.get('unit'), at('unit')),
    threshold: values.has('threshold') ? parseThreshold(values.get('threshold')!, at('threshold')) : (action === 'allow' ? 1 : DEFAULT_THRESHOLD),
    windowSec: values.has('window') ? parseDuration(values.get('window')!, at('window'), 'window', MAX_WINDOW_SEC) : DEFAULT_WINDOW_SEC,
  }
  if (values.has('ban')) out.banSec = parseDuration(values.get('ban')!, at('ban'), 'ban', IPSET_MAX_TIMEOUT_SEC)
  return out
}

/**
 * Parses several pattern files and returns them sorted by name (byte order), so the order does not
 * depend on how the directory was listed. Only names ending in `.patterns` should be passed.
 * @throws ConfigError for the first file with a problem, naming `path:line`.
 */
export function parsePatternFiles(files: ReadonlyArray<{path: string; text: string}>, opts: PatternParseOptions = {}): PatternFile[] {
  const parsed = files.map((f) => parsePatternFile(f.text, f.path, opts))
  return parsed.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
}

/**
 * Whether a pattern file reads lines of this source: lines of its own `file` (as the path or as
 * `file:PATH`), and journald lines:
 * `journal:IDENT` when the file has no `ident =` or lists IDENT (an ident also covers its
 * sub-identifiers, so `postfix` reads `journal:postfix/smtpd`), and `journal` (identifier unknown),
 * except for `action = allow` files with `ident =`: any local user can put an "Accepted …" line into
 * the journal (`logger`), and an allow entry must not come from that. `unit:NAME` lines (journald
 * entries of service NAME that passed the trusted-field check) are read by the files whose `unit =`
 * lists NAME or, for an instance `NAME@I.service`, its template `NAME@.service`, and only by those.
 */
export function readsSource(file: PatternFile, source: string): boolean {
  if (source.startsWith('unit:')) {
    const unit = source.slice(5)
    if (file.units.includes(unit)) return true
    // An instance (`postfix@-.service`) is read by the files naming its template (`postfix@.service`).
    const at = unit.indexOf('@')
    return at > 0 && unit.endsWith('.service') && file.units.includes(`${unit.slice(0, at)}@.service`)
  }
  if (source === file.file || (source.startsWith('file:') && source.slice(5) === file.file)) return true
  if (source === 'journal') return file.action === 'ban' || file.idents.length === 0
  if (!source.startsWith('journal:')) return false
  if (file.idents.length === 0) return true
  const ident = source.slice(8)
  return file.idents.some((i) => ident === i || (ident.startsWith(i) && ident.charCodeAt(i.length) === 47))
}

/**
 * Whether a line whose syslog header names `program` (`sshd`, `postfix/smtpd`, `postfix-out/smtpd`) is
 * one for this file: always without `ident =`; else when the program is an ident, a sub-identifier of
 * one (`postfix/…`) or of a named instance of one (`postfix-out/…`). Lines without a header are not
 * asked about (journald MESSAGE fields).
 */
export function readsProgram(file: PatternFile, program: string): boolean {
  if (file.idents.length === 0) return true
  return file.idents.some((i) => program === i || (program.startsWith(i) && (program.charCodeAt(i.length) === 47
    || (program.charCodeAt(i.length) === 45 && program.includes('/', i.length)))))
}

// ---- settings ----

function compileRule(line: string, flags: readonly string[], fileLevel: PatternLevel, loc: SourceLocation): PatternRule {
  const unknown = flags.find((f) => !(FLAGS as readonly string[]).includes(f))
  if (unknown !== undefined) {
    throw new ConfigError(loc, `unknown flag "${unknown}" in "[${flags.join(', ')}]"`,
      `Flags are ${FLAGS.map((f) => `"${f}"`).join(', ')}; to start a regex with a character class, write it as "(?:[…])".`)
  }
  const levels = flags.filter((f) => f === 'normal' || f === 'aggressive') as PatternLevel[]
  const kinds = flags.filter((f) => f === 'track' || f === 'echo') as PatternKind[]
  const pid = flags.includes('pid')
  if (levels.length > 1 || kinds.length > 1 || (pid && kinds[0] === 'track') || new Set(flags).size < flags.length) {
    throw new ConfigError(loc, `conflicting flags "[${flags.join(', ')}]"`,
      'Give each flag once, one level ("normal" or "aggressive"), at most one of "track" and "echo", and not "track" with "pid".')
  }
  const compiled = compilePattern(line, loc, {withoutIp: pid})
  return {...compiled, kind: kinds[0] ?? 'count', level: levels[0] ?? fileLevel, pid}
}

function parseLevel(value: string | undefined, loc: SourceLocation): PatternLevel {
  if (value === undefined) return 'normal'
  if ((PATTERN_LEVELS as readonly string[]).includes(value)) return value as PatternLevel
  throw new ConfigError(loc, `level "${value}" is neither "normal" nor "aggressive"`,
    'Write "level = normal" (the default) or "level = aggressive" for a file that only [detect] level = "aggressive" runs.')
}

function parseAction(value: string | undefined, loc: SourceLocation): PatternAction {
  if (value === undefined || value === 'ban') return 'ban'
  if (value === 'allow') return 'allow'
  throw new ConfigError(loc, `action "${value}" is neither "ban" nor "allow"`,
    'Write "action = ban" (the default) or "action = allow" for successful logins.')
}

function parseIdents(value: string | undefined, loc: SourceLocation): string[] {
  if (value === undefined) return []
  const idents = value.split(/[\s,]+/).filter((s) => s !== '')
  for (const ident of idents) {
    if (!IDENT.test(ident)) {
      throw new ConfigError(loc, `ident "${ident}" is not a syslog identifier`,
        'List journald SYSLOG_IDENTIFIERs separated by commas, e.g. "ident = sshd, sshd-session".')
    }
  }
  if (idents.length === 0) throw new ConfigError(loc, 'ident is empty', 'List at least one identifier, or remove the line.')
  return idents
}

function parseUnits(value: string | undefined, loc: SourceLocation): string[] {
  if (value === undefined) return []
  const units = value.split(/[\s,]+/).filter((s) => s !== '')
  if (units.length === 0) throw new ConfigError(loc, 'unit is empty', 'List at least one systemd service, or remove the line.')
  for (const unit of units) {
    if (!UNIT.test(unit)) {
      throw new ConfigError(loc, `unit ${JSON.stringify(unit)} is not a systemd service name`,
        'List service names with their suffix, separated by commas, e.g. "unit = ssh.service" or "unit = postfix@-.service".')
    }
  }
  return [...new Set(units)]
}

function parsePorts(value: string | undefined, loc: SourceLocation, lookup: PatternParseOptions['lookupService']): number[] | 'all' {
  if (value === undefined) return 'all'
  const tokens = value.split(/[^A-Za-z0-9]+/).filter((t) => t !== '')
  if (tokens.length === 0 || tokens.some((t) => t.toLowerCase() === 'all')) return 'all'
  const ports: number[] = []
  for (const t of tokens) {
    let port: number | undefined
    if (/^[0-9]+$/.test(t)) {
      port = t.length <= 5 ? Number(t) : Infinity
      if (port < 1 || port > 65_535 || (t.length > 1 && t.startsWith('0'))) {
        throw new ConfigError(loc, `port ${t} is not a number from 1 to 65535`, 'Write ports as numbers, e.g. "ports = 25, 465, 587".')
      }
    } else {
      port = lookup?.(t)
      if (port === undefined) {
        throw new ConfigError(loc, `unknown service name "${t}"`, lookup === undefined
          ? 'Write the port number instead, e.g. "ports = 22".'
          : 'Use a name from /etc/services or the port number, e.g. "ports = 22".')
      }
    }
    if (!ports.includes(port)) ports.push(port)
  }
  return ports
}

function parseThreshold(value: string, loc: SourceLocation): number {
  const n = /^[0-9]{1,7}$/.test(value) ? Number(value) : NaN
  if (!(n >= 1 && n <= MAX_THRESHOLD)) {
    throw new ConfigError(loc, `threshold "${value}" is not a whole number from 1 to ${MAX_THRESHOLD}`,
      'Write how many matches within the window lead to a ban, e.g. "threshold = 5".')
  }
  return n
}

function parseDuration(value: string, loc: SourceLocation, key: 'ban' | 'window', maxSec: number): number {
  let sec: number
  try {
    sec = parseDurationSec(value)
  } catch (error) {
    const e = error as {hint?: string; message: string}
    throw new ConfigError(loc, `${key}: ${e.message}`, e.hint, {cause: error})
  }
  if (sec < 1 || sec > maxSec) {
    throw new ConfigError(loc, `${key} ${JSON.stringify(value)} is out of range (1s to ${maxSec} seconds)`,
      key === 'ban' ? 'Write a ban time such as "ban = 1h"; ipset cannot hold longer timeouts.' : 'Write a window such as "window = 10m".')
  }
  return sec
}
