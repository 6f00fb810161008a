/**
 * The value kinds of the config schema: each one checks a raw TOML value, turns it into the value the
 * program uses, and turns that value back into TOML text. Pure; no I/O.
 */
import {InvalidValueError} from '../errors.js'
import {broadNetworkReason, formatDuration, parseAddress, parseDurationSec, parseTarget} from '../net/index.js'
import type {Target} from '../net/index.js'

/** A value as written in the config file (what TOML gives us for the keys we accept). */
export type FileValue = boolean | number | string | readonly FileValue[]

/** An `ignore_ips`-style entry: the parsed address or network, and the text as written in the file. */
export interface TargetEntry {
  /** The entry as written in the file, e.g. "10.0.0.0/8". */
  readonly text: string
  /** The parsed address or network. */
  readonly target: Target
}

/** Thrown by a value kind when a raw value does not fit; the parser adds file, line and key. */
export class BadValueError extends Error {
  constructor(
    readonly reason: string,
    readonly hint?: string,
    /** Index of the offending element, for list values. */
    readonly index?: number,
  ) {
    super(reason)
    this.name = 'BadValueError'
  }
}

/**
 * One key of the schema. `T` is the type of the parsed value, as found in `Config`.
 * `default` is the value as written in the file; it is the only place where defaults are defined.
 */
export interface KeySpec<T = unknown> {
  /** Short type label for tables, e.g. "integer 1..65535". */
  readonly type: string
  /** The default, in file form. */
  readonly default: FileValue
  /** One line of documentation (rendered as a comment above the key). */
  readonly doc: string
  /** Set for legacy keys that are accepted but have no effect: why they are ignored. */
  readonly ignored?: string
  /** A password or salt: hidden when the effective config is shown. */
  readonly secret?: boolean
  /** Checks a raw TOML value and returns the parsed value. Throws BadValueError. */
  parse(raw: unknown): T
  /** Turns a parsed value back into file form. */
  format(value: T): FileValue
}

/** A legacy key: accepted and type-checked, but it has no effect and its use produces a warning. */
export type IgnoredKeySpec<T = unknown> = KeySpec<T> & {readonly ignored: string}

/** The parsed type of a key spec. */
export type ParsedValue<S> = S extends KeySpec<infer T> ? T : never

const identity = <T extends FileValue>(value: T): FileValue => value

/** Shows a raw value in an error message: `"abc" (a string)`, `70000`, `a table`. */
export function showValue(raw: unknown, withType = true): string {
  const type = typeName(raw)
  let text: string
  if (typeof raw === 'string') text = JSON.stringify(raw.length > 60 ? `${raw.slice(0, 57)}...` : raw)
  else if (typeof raw === 'number' || typeof raw === 'bigint' || typeof raw === 'boolean') text = String(raw)
  else if (raw instanceof Date) text = raw.toISOString()
  else if (Array.isArray(raw)) {
    const inner = raw.map((v) => (isTable(v) || Array.isArray(v) ? '…' : showValue(v, false))).join(', ')
    text = `[${inner.length > 60 ? `${inner.slice(0, 57)}...` : inner}]`
  } else return type
  return withType ? `${text} (${type})` : text
}

/** "a string", "an integer", "a table", … */
export function typeName(raw: unknown): string {
  if (typeof raw === 'string') return 'a string'
  if (typeof raw === 'bigint') return 'an integer'
  if (typeof raw === 'number') return Number.isInteger(raw) ? 'an integer' : 'a float'
  if (typeof raw === 'boolean') return 'a boolean'
  if (raw instanceof Date) return 'a date'
  if (Array.isArray(raw)) return 'an array'
  return 'a table'
}

/** True for a TOML table (a plain object, not an array or a date). */
export function isTable(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw) && !(raw instanceof Date)
}

function expected(what: string, raw: unknown, hint?: string): BadValueError {
  return new BadValueError(`expected ${what}, got ${showValue(raw)}`, hint)
}

/** Marks a spec as a legacy key that is accepted with a warning. */
export function ignored<T>(spec: KeySpec<T>, reason: string): IgnoredKeySpec<T> {
  return {...spec, ignored: reason}
}

/** `true` / `false`. */
export function bool(def: boolean, doc: string): KeySpec<boolean> {
  return {
    default: def,
    doc,
    format: identity,
    parse(raw) {
      if (typeof raw !== 'boolean') throw expected('true or false', raw, 'Write true or false without quotes.')
      return raw
    },
    type: 'boolean',
  }
}

function checkInt(raw: unknown, min: number, max: number): number {
  const what = `an integer from ${min} to ${max}`
  if (typeof raw === 'bigint') throw expected(what, raw)
  if (typeof raw === 'string' && /^[+-]?\d+$/.test(raw.trim())) {
    throw expected(what, raw, `Write the number without quotes: ${raw.trim()}`)
  }
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min || raw > max) throw expected(what, raw)
  return raw
}

/** An integer within [min, max]. */
export function int(def: number, doc: string, {max, min}: {max: number; min: number}): KeySpec<number> {
  return {default: def, doc, format: identity, parse: (raw) => checkInt(raw, min, max), type: `integer ${min}..${max}`}
}

/** A TCP/UDP port number, 1..65535. */
export function port(def: number, doc: string): KeySpec<number> {
  return {...int(def, doc, {max: 65_535, min: 1}), type: 'port'}
}

/** A string; `check` returns a BadValueError for strings that do not fit. */
export function str(
  def: string,
  doc: string,
  check?: {type?: string; validate: (value: string) => BadValueError | undefined},
): KeySpec<string> {
  return {
    default: def,
    doc,
    format: identity,
    parse(raw) {
      if (typeof raw !== 'string') throw expected('a string', raw, 'Put the value in double quotes.')
      const problem = check?.validate(raw)
      if (problem) throw problem
      return raw
    },
    type: check?.type ?? 'string',
  }
}

/** A password or similar string, hidden by `diswall config show`. */
export function secret(def: string, doc: string): KeySpec<string> {
  return {...str(def, doc), secret: true}
}

/** One of a fixed set of strings. */
export function oneOf<const V extends readonly string[]>(values: V, def: V[number], doc: string): KeySpec<V[number]> {
  const list = values.map((v) => JSON.stringify(v)).join(', ')
  return {
    default: def,
    doc,
    format: identity,
    parse(raw) {
      if (typeof raw !== 'string' || !values.includes(raw)) {
        const close = typeof raw === 'string' ? closest(raw, values) : undefined
        throw expected(`one of ${list}`, raw, close ? `Did you mean "${close}"?` : `Use one of ${list}.`)
      }
      return raw as V[number]
    },
    type: values.join(' | '),
  }
}

/** An absolute file system path; `optional` paths may be "" (unset). */
export function path(def: string, doc: string, {optional = false} = {}): KeySpec<string> {
  return str(def, doc, {
    type: optional ? 'path or ""' : 'path',
    validate: (value) => checkPath(value, optional),
  })
}

function checkPath(value: string, optional: boolean): BadValueError | undefined {
  if (value === '' && optional) return undefined
  // The daemon runs from systemd with an arbitrary working directory; DisWall's relative diswall.db
  // ended up wherever the server was started.
  if (!value.startsWith('/') || value.includes('\0')) {
    return new BadValueError(`expected an absolute path${optional ? ' or ""' : ''}, got ${showValue(value)}`,
      'Write the full path, starting with "/".')
  }
  return undefined
}

/** An array of items, each checked by `item` (which returns the parsed item or throws BadValueError). */
function list<T>(
  def: readonly FileValue[],
  doc: string,
  type: string,
  what: string,
  item: (raw: unknown) => T,
  format: (value: T) => FileValue,
): KeySpec<T[]> {
  return {
    default: def,
    doc,
    format: (values) => values.map(format),
    parse(raw) {
      if (!Array.isArray(raw)) {
        throw expected(`an array of ${what}`, raw, 'Write a list in square brackets, e.g. ["a", "b"], or [] for none.')
      }
      return raw.map((element, index) => {
        try {
          return item(element)
        } catch (error) {
          if (!(error instanceof BadValueError)) throw error
          throw new BadValueError(`element ${index + 1}: ${error.reason}`, error.hint, index)
        }
      })
    },
    type,
  }
}

/** An array of strings, each optionally validated. */
export function strList(
  def: readonly string[],
  doc: string,
  check?: {type?: string; validate: (value: string) => BadValueError | undefined},
): KeySpec<string[]> {
  const one = str('', '', check)
  return list(def, doc, check?.type ?? 'list of strings', 'strings', (raw) => one.parse(raw), identity)
}

/** An array of absolute paths. */
export function pathList(def: readonly string[], doc: string): KeySpec<string[]> {
  return strList(def, doc, {type: 'list of paths', validate: (value) => checkPath(value, false)})
}

/** An array of IPv4/IPv6 addresses or CIDR networks; parsed into TargetEntry values. */
export function targetList(def: readonly string[], doc: string): KeySpec<TargetEntry[]> {
  const what = 'IP addresses or CIDR networks'
  return list(def, doc, 'list of addresses/networks', what, (raw) => {
    if (typeof raw !== 'string') throw expected('an IP address or CIDR network in quotes', raw)
    let target: Target
    try {
      target = parseTarget(raw.trim())
    } catch (error) {
      throw fromInvalidValue(error, 'an IP address or CIDR network', raw, 'Write e.g. "203.0.113.7" or "10.0.0.0/8".')
    }
    const broad = broadNetworkReason(target)
    if (broad !== undefined) {
      throw new BadValueError(`${broad}: that would exempt a large part of the internet`,
        'List the networks you mean; the broadest entry accepted is a /8 (IPv4) or a /16 (IPv6).')
    }
    return {target, text: raw}
  }, (entry) => entry.text)
}

/** Durations take units (s m h d w, e.g. "1h30m"); a bare integer counts seconds. */
function checkDuration(raw: unknown, minSec: number, maxSec: number | undefined, maxWhy?: string): number {
  const what = 'a duration such as "90s", "15m", "1h30m" or "1d"'
  const hint = 'Write a number with a unit (s, m, h, d, w) in quotes, e.g. "1h30m".'
  let sec: number
  if (typeof raw === 'number' && Number.isInteger(raw)) sec = raw
  else if (typeof raw === 'string') {
    try {
      sec = parseDurationSec(raw.trim())
    } catch (error) {
      throw fromInvalidValue(error, what, raw, hint)
    }
  } else throw expected(what, raw, hint)
  if (sec < minSec) {
    throw new BadValueError(`must be at least ${formatDuration(minSec)}, got ${showValue(raw, false)}`)
  }
  if (maxSec !== undefined && sec > maxSec) {
    const why = maxWhy ? `, ${maxWhy}` : ''
    throw new BadValueError(`must be at most ${formatDuration(maxSec)} (${maxSec} s${why}), got ${showValue(raw, false)}`)
  }
  return sec
}

/** A duration; the parsed value is a number of seconds. */
export function duration(
  def: string,
  doc: string,
  {maxSec, maxWhy, minSec = 1}: {maxSec?: number; maxWhy?: string; minSec?: number} = {},
): KeySpec<number> {
  return {
    default: def,
    doc,
    format: (sec) => formatDuration(sec),
    parse: (raw) => checkDuration(raw, minSec, maxSec, maxWhy),
    type: 'duration',
  }
}

/** A non-empty list of durations in non-decreasing order; parsed into seconds. */
export function durationList(def: readonly string[], doc: string): KeySpec<number[]> {
  const base = list(def, doc, 'list of durations', 'durations', (raw) => checkDuration(raw, 1, undefined),
    (sec) => formatDuration(sec))
  return {
    ...base,
    parse(raw) {
      const values = base.parse(raw)
      if (values.length === 0) throw new BadValueError('expected at least one duration, got []', 'Write e.g. ["15m", "1h", "1d"].')
      for (let i = 1; i < values.length; i++) {
        if (values[i] < values[i - 1]) {
          throw new BadValueError(`element ${i + 1}: ${showValue((raw as unknown[])[i], false)} is shorter than the step before it`,
            'List the steps from the shortest to the longest.', i)
        }
      }
      return values
    },
  }
}

/** net/ parsers name the bad text and the reason in their message, e.g. `"1x" is not a valid duration: …`. */
function fromInvalidValue(error: unknown, what: string, raw: string, hint: string): BadValueError {
  if (!(error instanceof InvalidValueError)) throw error
  const reason = error.message.includes(raw.trim()) ? error.message : `expected ${what}, got ${showValue(raw, false)}: ${error.message}`
  return new BadValueError(reason, error.hint ?? hint)
}

// ---- string checks used by the schema ----

/** ipset set names: diswall appends "6" (IPv6 twin) and a staging suffix, and ipset stops at 31 characters. */
export function checkSetName(value: string): BadValueError | undefined {
  if (/^[A-Za-z0-9_.-]{1,26}$/.test(value)) return undefined
  return new BadValueError(`expected a set name of 1 to 26 characters from A-Z a-z 0-9 _ . -, got ${showValue(value, false)}`,
    'Keep it short: diswall adds "6" for the IPv6 twin and a staging suffix, and ipset allows 31 characters.')
}

/** One NATS subject token: no dots (they separate tokens), no spaces, no wildcards. */
export function checkSubjectToken(value: string, {optional = false} = {}): BadValueError | undefined {
  if (value === '' && optional) return undefined
  if (value !== '' && /^[^\s.*>]+$/u.test(value)) return undefined
  return new BadValueError(
    `expected one NATS subject token (no ".", spaces, "*" or ">"), got ${showValue(value, false)}`,
    value.includes('.') ? `Replace the dots, e.g. "${value.replaceAll('.', '_')}".` : 'Use letters, digits, "-" and "_".')
}

const HOST_LABEL = /^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$/

/** True for a DNS host name (RFC 1123 labels) or an IPv4/IPv6 address. */
export function isHost(value: string): boolean {
  const name = value.endsWith('.') ? value.slice(0, -1) : value
  if (name.length > 0 && name.length <= 253 && name.split('.').every((label) => HOST_LABEL.test(label))) return true
  try {
    parseAddress(value)
    return true
  } catch (error) {
    if (error instanceof InvalidValueError) return false
    throw error
  }
}

/** A NATS server: a host name or an address, or "" for none. */
export function checkHost(value: string): BadValueError | undefined {
  if (value === '' || isHost(value)) return undefined
  const hint = /^[a-z]+:\/\//i.test(value) || /:\d+$/.test(value)
    ? 'Write only the host name; the port goes in [nats] port.'
    : 'Write a host name such as "nats.example.com" or an address such as "192.0.2.10".'
  return new BadValueError(`expected a host name or IP address, got ${showValue(value, false)}`, hint)
}

/** "HOST:PORT" (IPv6 in brackets) or "" for off. */
export function checkListen(value: string): BadValueError | undefined {
  if (value === '') return undefined
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(value)
  const host = match?.[1] ?? match?.[2]
  const portNumber = Number(match?.[3])
  const hostOk = host !== undefined && (match?.[1] === undefined ? isHost(host) : host.includes(':') && isHost(host))
  if (match && hostOk && portNumber >= 1 && portNumber <= 65_535) return undefined
  return new BadValueError(`expected "HOST:PORT" or "", got ${showValue(value, false)}`,
    'Write e.g. "127.0.0.1:9100", or "[::1]:9100" for IPv6.')
}

/** iptables 1.8.9: `--log-prefix` takes at most 29 characters (the kernel's 30 bytes with the NUL); nft 1.0.6 takes 127. */
export const LOG_PREFIX_MAX = 29

/** The program a log prefix goes to; `any` (the config, whose backend may be either) must suit both. */
export type LogPrefixProgram = 'any' | 'iptables' | 'nft'

/**
 * The one check of a firewall log prefix (`[detect] log_prefix`, and the renderers' `logPrefix`): 1 to
 * {@link LOG_PREFIX_MAX} printable ASCII characters, as iptables' LOG target takes them; for nft (and `any`)
 * also none of `"`, `\` and `$`, because nft 1.0.6 strings know no escapes, keep `\` as it is and expand
 * `$NAME` even inside quotes. Pure. Returns the problem, or undefined for a usable prefix.
 */
export function checkLogPrefix(value: string, program: LogPrefixProgram = 'any'): BadValueError | undefined {
  const text = typeof value === 'string' ? value : ''
  const printable = typeof value === 'string' && text.length <= LOG_PREFIX_MAX && /^[\x20-\x7e]+$/.test(text)
  if (printable && (program === 'iptables' || !/["\\$]/.test(text))) return undefined
  if (program === 'iptables' || !printable) {
    const chars = program === 'iptables' ? 'printable ASCII characters' : 'printable ASCII characters without ", \\ or $'
    return new BadValueError(`expected 1 to ${LOG_PREFIX_MAX} ${chars}, got ${showValue(value, false)} (${text.length} characters)`,
      `iptables limits the LOG prefix to ${LOG_PREFIX_MAX} printable ASCII characters; the default is "diswall-log: ".`)
  }
  return new BadValueError(`expected a prefix without ", \\ or $ (nft cannot carry them), got ${showValue(value, false)}`,
    'Use letters, digits, spaces and "-_:." as in the default "diswall-log: ".')
}

/** nftables table name: an identifier diswall can write unquoted into `nft -f` scripts. */
export function checkNftName(value: string): BadValueError | undefined {
  if (/^[A-Za-z][A-Za-z0-9_]{0,31}$/.test(value)) return undefined
  return new BadValueError(`expected a name of 1 to 32 characters from A-Z a-z 0-9 _ starting with a letter, got ${showValue(value, false)}`)
}

/** Edit distance (optimal string alignment: a swap of two neighbours counts 1), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  const d: number[][] = Array.from({length: x.length + 1}, (_, i) => [i])
  for (let j = 1; j <= y.length; j++) d[0][j] = j
  for (let i = 1; i <= x.length; i++) {
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[x.length][y.length]
}

/**
 * The candidate closest to `word` if it is a likely typo of it (a few edits, fewer for short words), or
 * the only candidate that starts with it ("nft" → "nftables").
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const list = [...candidates]
  let best: string | undefined
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of list) {
    const d = editDistance(word, candidate)
    if (d < bestDistance) {
      best = candidate
      bestDistance = d
    }
  }
  const limit = word.length <= 4 ? 1 : Math.max(2, Math.floor(word.length / 3))
  // Two edits turn many short words into a key ("bogus" → "logs"); a typo of that size keeps its first
  // letter ("sauce" → "source"). A far-fetched suggestion misleads more than none.
  const plausible = bestDistance < 2 || best?.[0]?.toLowerCase() === word[0]?.toLowerCase()
  if (bestDistance <= limit && plausible) return best
  const prefixed = list.filter((c) => word.length >= 2 && c.toLowerCase().startsWith(word.toLowerCase()))
  return prefixed.length === 1 ? prefixed[0] : undefined
}
