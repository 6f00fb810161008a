/**
 * The log of a long-running command (`diswall daemon`, `diswall server`): one line per event on stdout.
 * Under systemd (JOURNAL_STREAM set) each line starts with its syslog priority (`<4>`), which journald
 * turns into the entry's priority and strips, and has no time stamp (journald adds one); elsewhere lines
 * carry an ISO time stamp and the level in words.
 */
import type {Writable} from 'node:stream'

/** Levels, most severe first; each maps to its syslog priority. */
export const LOG_LEVELS = {error: 3, warning: 4, notice: 5, info: 6, debug: 7} as const
export type LogLevel = keyof typeof LOG_LEVELS

/** Where a long-running command's messages go. */
export interface Logger {
  log(level: LogLevel, message: string): void
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** stdout by default. */
  stream?: Writable
  /** `journal`: `<6>message`; `plain`: `TIME LEVEL message`. Journal when JOURNAL_STREAM is set, by default. */
  format?: 'journal' | 'plain'
  /** Write debug lines too; false by default. */
  debug?: boolean
  /** The clock for time stamps (tests). */
  now?: () => Date
}

/** A logger that writes to a stream (see the module comment). Messages are one line: line breaks become spaces. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stdout
  const format = options.format ?? (process.env.JOURNAL_STREAM ? 'journal' : 'plain')
  const now = options.now ?? (() => new Date())
  return {
    log(level, message) {
      if (level === 'debug' && !options.debug) return
      const text = message.replace(/[\r\n]+/g, ' ')
      stream.write(format === 'journal' ? `<${LOG_LEVELS[level]}>${text}\n` : `${now().toISOString()} ${level.padEnd(7)} ${text}\n`)
    },
  }
}

/** A logger that keeps lines in memory (tests). */
export function memoryLogger(): Logger & {lines: Array<{level: LogLevel; message: string}>} {
  const lines: Array<{level: LogLevel; message: string}> = []
  return {lines, log: (level, message) => void lines.push({level, message})}
}
