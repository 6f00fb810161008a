/**
 * What the list, status and why commands print, written once for both ways they run: as oclif commands
 * (DiswallCommand gives its log, warnUser and jsonEnabled) and on the fast path of bin/run.js.
 */
import {loadConfig} from '../lib/config/index.js'
import type {Config} from '../lib/config/index.js'
import {asDiswallError, DiswallError, ExitCode} from '../lib/errors.js'
import type {ListChangeResult, ListStep} from '../lib/ops/lists.js'

/**
 * 1234567 → "1,234,567", as toLocaleString('en-US') prints it, without loading the ICU data
 * (~15 ms of a one-address `block add`).
 */
export function formatCount(n: number): string {
  return Number.isInteger(n) ? String(n).replace(/\B(?=(\d{3})+$)/g, ',') : String(n)
}

/** What every command prints on stdout with --json (or DISWALL_CONTENT_TYPE=json). */
export type JsonEnvelope<T> =
  | {ok: false; error: {code: string; hint?: string; message: string}; warnings: string[]}
  | {ok: true; result: T; warnings: string[]}

/** Where a command prints: stdout lines for people, warnings (stderr and the envelope), --json. */
export interface CommandIo {
  /** Whether the run prints the --json envelope (then `log` prints nothing). */
  readonly json: boolean
  /** A line on stdout for people (nothing with --json). */
  log(message: string): void
  /** A warning: on stderr for people, in the envelope's `warnings` for scripts. */
  warn(message: string): void
}

/** What a list change printed per entry: the verb of a changed entry and of an unchanged one. */
export interface ListChangeWords {
  changed: string
  unchanged: string
}

/** Up to this many entries, a list change prints one line per entry; beyond, a summary. */
const LIST_LINES_MAX = 20

const STEP_TEXT: Record<ListStep, (count: number) => string> = {
  apply: (n) => `writing ${formatCount(n)} entries to the kernel in one batch`,
  check: (n) => `checking ${formatCount(n)} addresses against the never-ban list`,
  compare: (n) => `comparing ${formatCount(n)} entries with the kernel set`,
  kill: (n) => `cutting the connections of ${formatCount(n)} addresses`,
}

/**
 * Whether a run wants the --json envelope: `--json` among its arguments (before a `--`), or
 * DISWALL_CONTENT_TYPE=json, as oclif decides it for a command.
 */
export function jsonRequested(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.DISWALL_CONTENT_TYPE?.toLowerCase() === 'json') return true
  const end = argv.indexOf('--')
  const json = argv.indexOf('--json')
  return json !== -1 && (end === -1 || json < end)
}

/** Loads and validates the config file; its warnings (ignored legacy keys, …) go to `io.warn`. */
export async function readConfig(io: CommandIo, path: string): Promise<Config> {
  const {config, warnings} = await loadConfig(path)
  for (const w of warnings) io.warn(w)
  return config
}

/**
 * Runs a list change, with a listr2 progress display when people watch (stdout is a TTY, no --json)
 * and the list is long (`bulk`); otherwise as is. listr2 is loaded only then.
 */
export async function withListProgress<R>(io: CommandIo, title: string, bulk: boolean,
  work: (onStep: (step: ListStep, count: number) => void) => Promise<R>): Promise<R> {
  if (!bulk || io.json || !process.stdout.isTTY) return work(() => {})
  const {Listr} = await import('listr2')
  let result: R | undefined
  await new Listr([{
    task: async (_ctx, task) => {
      result = await work((step, count) => {
        task.output = STEP_TEXT[step](count)
      })
    },
    title,
  }], {rendererOptions: {collapseErrors: false}}).run()
  return result as R
}

/**
 * Prints a list change for people: one line per entry for a short list, a summary for a long one;
 * refused entries with their reason and `FILE:LINE` (the first few of them for a long list).
 */
export function renderListChange(io: CommandIo, result: ListChangeResult, words: ListChangeWords, suffix = ''): void {
  const short = result.entries.length <= LIST_LINES_MAX
  let refusedShown = 0
  for (const e of result.entries) {
    if (e.refused !== undefined) {
      if (short || refusedShown++ < LIST_LINES_MAX) io.warn(`refused ${e.target}${e.at ? ` (${e.at})` : ''}: ${e.refused}`)
    } else if (short) {
      io.log(`${e.changed ? words.changed : words.unchanged} ${e.target}${suffix}`)
    }
  }

  if (!short) {
    // An add counts added entries, a del removed ones; the other count is 0.
    const done = `${words.changed.trim()} ${result.added + result.removed}`
    const refused = result.refused > 0 ? `, refused ${result.refused}` : ''
    io.log(`${done}, unchanged ${result.unchanged}${refused} (${result.backend})${suffix}`)
  }
}

/** The --json envelope of an error. */
export function errorEnvelope(e: DiswallError, warnings: string[] = []): JsonEnvelope<never> {
  const {code, hint, message} = e
  return {error: {code, hint, message}, ok: false, warnings}
}

/** How oclif 4 rewrites the message of an error thrown by a flag's parse function. */
const OCLIF_FLAG_PARSE_MESSAGE = /^Parsing --(\S+) \n\t([\s\S]*)\nSee more help with --help$/

/**
 * oclif's own parse errors (unknown flag, missing argument) keep exit 2 and become E_USAGE. A DiswallError
 * from a flag's parse function (durationFlag) keeps its code and hint, with the flag in front of its message.
 */
export function fromOclif(err: unknown): DiswallError {
  if (err instanceof DiswallError) {
    const wrapped = OCLIF_FLAG_PARSE_MESSAGE.exec(err.message)
    if (wrapped) err.message = `--${wrapped[1]}: ${wrapped[2]}`
    return err
  }
  const oclif = (err as {oclif?: {exit?: number}} | undefined)?.oclif
  if (err instanceof Error && oclif?.exit === ExitCode.USAGE) {
    return new DiswallError(err.message, 'E_USAGE', ExitCode.USAGE, 'See --help for the flags and arguments.')
  }
  return asDiswallError(err)
}
