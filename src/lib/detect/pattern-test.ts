/**
 * `diswall patterns test`: runs pattern files over a log offline (no root, no kernel, no daemon) through
 * the detection engine the daemon uses, and reports per regex how many lines it matched, the addresses
 * that would be banned (or allowed) at the files' thresholds, and samples of the lines nothing matched.
 * The log may be a plain log (lines with a syslog header, RFC 5424 headers, or bare messages) or a
 * journal export (`journalctl -o json`, one object per line; its MESSAGE is matched, its `_PID` ties
 * address-less lines to their process). Every pattern file reads every line: `file =`, `unit =` and
 * `ident =` say where the daemon reads, not what a regex accepts.
 */
import {createReadStream} from 'node:fs'
import {readFile} from 'node:fs/promises'
import {createInterface} from 'node:readline'

import {defaultConfig} from '../config/index.js'
import type {Config} from '../config/index.js'
import {ConfigError, UsageError} from '../errors.js'
import {DetectEngine} from './engine.js'
import type {PatternMatchReport} from './engine.js'
import type {PatternAction, PatternFile, PatternKind, PatternLevel} from './pattern-file.js'
import {parsePatternFile} from './pattern-file.js'
import {shippedPatternFiles} from './shipped-patterns.js'
import {parseJournalEntry} from './sources/index.js'
import type {LogLine} from './types.js'

/** The source every line of a pattern test gets; every file is pointed at it. */
const TEST_SOURCE = '-'
/** How many lines no regex matched are kept as samples. */
export const UNMATCHED_SAMPLES = 10

/** One regex line of a file, with how many lines it matched. */
export interface PatternTestRegex {
  /** Its line in the pattern file. */
  readonly line: number
  readonly level: PatternLevel
  readonly kind: PatternKind
  readonly pid: boolean
  /** The regex as written. */
  readonly source: string
  /** Whether it ran at the chosen level. */
  readonly active: boolean
  /** Input lines it matched (the first matching regex of a file takes the line). */
  matches: number
}

/** One line a regex matched, for scripts (`--json`). */
export interface PatternTestMatch {
  /** 1-based line number in the input. */
  readonly line: number
  /** The address the match counts against, or null when its process has not named it (yet). */
  readonly address: string | null
  /** The pattern file's path. */
  readonly file: string
  /** The regex's line number in the pattern file. */
  readonly regexLine: number
  readonly level: PatternLevel
  /** The file's action (`ban`, or `allow` for login files). */
  readonly action: PatternAction
  /** What the match did: counted, banned, allowed, echo (a second report of one attempt), held, tracked, ignored. */
  readonly outcome: PatternMatchReport['outcome']
}

/** What {@link testPatterns} found. */
export interface PatternTestResult {
  readonly level: PatternLevel
  /** Input lines read (journal entries without MESSAGE included). */
  readonly lines: number
  /** Lines at least one regex matched. */
  readonly matched: number
  readonly files: ReadonlyArray<{readonly path: string; readonly action: PatternAction; readonly threshold: number; readonly windowSec: number;
    readonly regexes: readonly PatternTestRegex[]}>
  /** Addresses (or IPv6 groups) banned at the thresholds, in order: what, why, and the input line that completed it. */
  readonly bans: ReadonlyArray<{readonly target: string; readonly address: string; readonly reason: string; readonly file: string; readonly line: number}>
  /** Addresses that login files would allow (with `auto_allow_from_logs`). */
  readonly allows: ReadonlyArray<{readonly address: string; readonly file: string; readonly line: number}>
  /** Every matching line (the `--json` list). */
  readonly matches: readonly PatternTestMatch[]
  /** The first lines nothing matched. */
  readonly unmatchedSamples: ReadonlyArray<{readonly line: number; readonly text: string}>
}

/** Options of {@link testPatterns}. */
export interface PatternTestOptions {
  /** `normal` or `aggressive`, as `[detect] level`. */
  level: PatternLevel
  /** The config whose never-ban settings and de-duplication apply; the defaults otherwise. */
  config?: Config
}

/**
 * Turns one input line into the LogLine the daemon would see: a `journalctl -o json` object becomes its
 * MESSAGE with `_PID` and the entry's time; other lines are matched as they are. Undefined for a JSON
 * object without a MESSAGE. Pure.
 */
export function patternTestLine(text: string): LogLine | undefined {
  if (!text.startsWith('{')) return {source: TEST_SOURCE, text}
  const entry = parseJournalEntry(text)
  if (entry === undefined) return {source: TEST_SOURCE, text}
  const pid = entry.pid !== undefined && /^[1-9][0-9]{0,9}$/.test(entry.pid) ? Number(entry.pid) : undefined
  return {source: TEST_SOURCE, text: entry.message, ...(entry.timeMs === undefined ? {} : {time: entry.timeMs}),
    ...(pid === undefined ? {} : {pid})}
}

/**
 * Runs `files` over `input` (the log's lines, without line breaks) at `level`. Windows are measured on
 * the entries' times where a journal export gives them, else lines are taken as written within one
 * second each (a log file's time stamps lack the year and the zone). Pure apart from the clock it builds.
 */
export async function testPatterns(files: readonly PatternFile[], input: AsyncIterable<string> | Iterable<string>,
  options: PatternTestOptions): Promise<PatternTestResult> {
  const base = options.config ?? defaultConfig()
  const config: Config = {...base, detect: {...base.detect, auto_allow: true, auto_allow_from_logs: true, level: options.level}}
  const regexes = new Map<string, PatternTestRegex>()
  const results = files.map((f) => ({
    action: f.action,
    path: f.path,
    regexes: f.patterns.map((p) => {
      const r: PatternTestRegex = {active: options.level === 'aggressive' || p.level === 'normal', kind: p.kind, level: p.level, line: p.line,
        matches: 0, pid: p.pid, source: p.source}
      regexes.set(`${f.path}:${p.line}`, r)
      return r
    }),
    threshold: f.threshold,
    windowSec: f.windowSec,
  }))
  let clockMs = 0
  let lineNo = 0
  let matchedThisLine = false
  const matches: PatternTestMatch[] = []
  const engine = new DetectEngine({
    config,
    now: () => clockMs,
    onPatternMatch: (m) => {
      matchedThisLine = true
      regexes.get(`${m.file.path}:${m.rule.line}`)!.matches++
      matches.push({action: m.file.action, address: m.address?.text ?? null, file: m.file.path, level: m.rule.level, line: lineNo,
        outcome: m.outcome, regexLine: m.rule.line})
    },
    // Every file reads the test's one source; the engine takes `file =` as the source's name.
    patterns: files.map((f) => ({...f, file: TEST_SOURCE, units: []})),
  })
  const bans: Array<PatternTestResult['bans'][number]> = []
  const allows: Array<PatternTestResult['allows'][number]> = []
  const unmatchedSamples: Array<{line: number; text: string}> = []
  let matched = 0
  for await (const text of input) {
    lineNo++
    const line = patternTestLine(text)
    if (line === undefined) continue
    clockMs = line.time ?? clockMs + 1000
    matchedThisLine = false
    const event = engine.handleLine({...line, source: TEST_SOURCE})
    if (matchedThisLine) matched++
    else if (unmatchedSamples.length < UNMATCHED_SAMPLES && line.text.trim() !== '') unmatchedSamples.push({line: lineNo, text: line.text})
    if (event?.kind === 'ban') {
      const file = matches.at(-1)?.file ?? ''
      bans.push({address: event.address.text, file, line: lineNo, reason: event.reason, target: event.target.text})
    } else if (event?.kind === 'allow') {
      allows.push({address: event.address.text, file: matches.at(-1)?.file ?? '', line: lineNo})
    }
  }
  return {allows, bans, files: results, level: options.level, lines: lineNo, matched, matches, unmatchedSamples}
}

/** Options of {@link runPatternTest}. */
export interface RunPatternTestOptions extends PatternTestOptions {
  /** Pattern files to read; the shipped ones when empty. */
  patternFiles: readonly string[]
  /** The log to read, or `-` for `stdin`. */
  log: string
  /** Read when `log` is `-`; process.stdin by default. */
  stdin?: NodeJS.ReadableStream
}

/**
 * Reads the pattern files (or takes the shipped ones) and runs {@link testPatterns} over the log.
 * @throws UsageError (exit 2) for a pattern file or log that cannot be read; ConfigError (exit 3) naming
 *   `file:line` for a pattern file that does not parse.
 */
export async function runPatternTest(options: RunPatternTestOptions): Promise<PatternTestResult> {
  const files: PatternFile[] = []
  for (const path of options.patternFiles) {
    let text: string
    try {
      text = await readFile(path, 'utf8')
    } catch (error) {
      throw new UsageError(`cannot read pattern file ${path}: ${(error as Error).message}`,
        'Name an existing pattern file, e.g. /etc/diswall/firewall/patterns.d/openssh.patterns, or none for the shipped ones.', {cause: error})
    }
    files.push(parsePatternFile(text, path)) // ConfigError with file:line
  }
  if (files.length === 0) files.push(...shippedPatternFiles())
  let stream: NodeJS.ReadableStream
  if (options.log === '-') {
    stream = options.stdin ?? process.stdin
  } else {
    const file = createReadStream(options.log, {encoding: 'utf8'})
    try {
      await new Promise<void>((resolve, reject) => {
        file.once('error', reject)
        file.once('open', () => resolve())
      })
    } catch (error) {
      throw new UsageError(`cannot read log ${options.log}: ${(error as Error).message}`,
        'Name a readable log file, "-" for standard input, or pipe `journalctl -o json` in.', {cause: error})
    }
    stream = file
  }
  const lines = createInterface({crlfDelay: Infinity, input: stream})
  try {
    return await testPatterns(files, lines, options)
  } catch (error) {
    if (error instanceof ConfigError) throw error
    throw new UsageError(`cannot read log ${options.log}: ${(error as Error).message}`, 'Check that the log is a readable text file.', {cause: error})
  } finally {
    lines.close()
  }
}
