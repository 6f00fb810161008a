import {Args, Command, Errors, Flags, ux} from '@oclif/core'
import type {Interfaces} from '@oclif/core'

import {errorEnvelope, fromOclif, readConfig, renderListChange, withListProgress} from './cli/io.js'
import type {CommandIo, JsonEnvelope, ListChangeWords} from './cli/io.js'
import {reportShare} from './cli/lists.js'
import {CONFIG_FLAG, LIST_FILE_FLAG} from './cli/spec.js'
import type {ArgSpec, FlagSpec} from './cli/spec.js'
import type {Config} from './lib/config/index.js'
import type { DiswallError} from './lib/errors.js'
import {InvalidValueError, NotRootError} from './lib/errors.js'
import {formatDuration, parseDurationSec} from './lib/net/index.js'
import type {ListChangeResult, ListStep, ShareReport} from './lib/ops/lists.js'
import {isRoot} from './lib/system/index.js'

export {errorEnvelope, fromOclif, jsonRequested} from './cli/io.js'
export type {JsonEnvelope} from './cli/io.js'
export type {ListChangeWords} from './cli/io.js'

/** `-c/--config FILE`, shared by every command that reads the config. */
export const configFlag = Flags.string({...oclifOptions(CONFIG_FLAG), default: CONFIG_FLAG.default as string, env: CONFIG_FLAG.env})

/** `--dir DIR`, the firewall directory of every `firewall` command; `[firewall] dir` by default. */
export const dirFlag = Flags.string({
  description: 'Firewall directory (default: [firewall] dir of the config, /etc/diswall/firewall).',
  helpValue: 'DIR',
})

/**
 * `--file FILE` of `allow|block add|del`: the entries of a list file, one per line ("-" = stdin),
 * besides or instead of the arguments.
 */
export const listFileFlag = Flags.string(oclifOptions(LIST_FILE_FLAG))

/** Parsed flags as the root check sees them (any command's). */
export type ParsedFlags = Record<string, unknown>

/** Bounds of a {@link durationFlag}, in seconds. */
export type DurationBounds = {
  maxSec?: number
  minSec?: number
}

/**
 * A duration flag (`--timeout 1h`), parsed to whole seconds by parseDurationSec: plain seconds (`900`) or
 * amounts with units, largest first (`90s`, `15m`, `1h30m`, `1d`, `2w`), within `minSec`/`maxSec` if given.
 * A bad value is E_INVALID_VALUE (exit 2) naming the flag and the value, with a hint, before run().
 */
export const durationFlag = Flags.custom<number, DurationBounds>({
  helpValue: 'DURATION',
  async parse(input, _context, {maxSec, minSec}) {
    const sec = parseDurationSec(input)
    if ((minSec !== undefined && sec < minSec) || (maxSec !== undefined && sec > maxSec)) {
      const range = `from ${formatDuration(minSec ?? 0)}${maxSec === undefined ? '' : ` to ${formatDuration(maxSec)}`}`
      throw new InvalidValueError(`${JSON.stringify(input)} is out of range: the duration must be ${range}`,
        `Give a duration ${range}, in seconds or with units (e.g. 90s, 15m, 1h).`)
    }
    return sec
  },
})

/**
 * The base of every diswall command: the --json envelope, warnings, the root check, and one way of
 * rendering errors (message, "Try this:" hint, stable code, exit code from src/lib/errors.ts).
 */
export abstract class DiswallCommand<T extends object> extends Command {
  static override enableJsonFlag = true
  /**
   * Whether the command needs root (kernel sets and rules need CAP_NET_ADMIN): `true`, or a test on the
   * parsed flags for commands that need root only sometimes (`firewall apply` without `--dry-run`).
   * Checked by init() before run(), after the flags parse and the config loads (see checkBeforeRoot).
   */
  static requiresRoot: boolean | ((flags: ParsedFlags) => boolean) = false
  private readonly warnings: string[] = []

  /** Refuses to run a command that needs root without it: NotRootError (E_NOT_ROOT, exit 4) naming the command. */
  protected override async init(): Promise<void> {
    await super.init()
    const {requiresRoot} = this.ctor as typeof DiswallCommand
    // Root costs nothing here: no second parse of the flags on the path of a `block add`.
    if (requiresRoot === false || isRoot()) return
    // The same order of errors as for root: a usage error first, then a config error, then "needs root".
    const {argv, flags} = await this.parse(this.ctor)
    if (requiresRoot !== true && !requiresRoot(flags)) return
    await this.checkBeforeRoot(flags, argv as string[])
    throw new NotRootError(this.commandName())
  }

  /**
   * What a command that needs root checks before the root check, so that a user without root sees the
   * same usage and config errors as root: by default, the config file of `--config`. Its warnings are
   * shown, as run() would show them. `argv`: the arguments (commands that take a list check them).
   */
  protected async checkBeforeRoot(flags: ParsedFlags, _argv: readonly string[] = []): Promise<void> {
    if (typeof flags.config === 'string') await this.readConfig(flags.config)
  }

  /** The command as people type it: `block add`, `firewall watch`; a top-level one with the program, `diswall daemon`. */
  protected commandName(): string {
    const id = (this.id ?? this.ctor.id ?? '').replaceAll(':', ' ')
    return id.includes(' ') ? id : `${this.config.bin} ${id}`.trim()
  }

  /** Records a warning: printed on stderr for people, carried in the envelope for scripts. */
  protected warnUser(message: string): void {
    this.warnings.push(message)
    if (!this.jsonEnabled()) this.logToStderr(`warning: ${message}`)
  }

  /**
   * Says what became of sharing a list change over NATS: a line when it was published; a warning and
   * exit code 8 (E_NOT_SHARED) when the server could not be reached (the local change stays).
   */
  protected reportShare(report: ShareReport): void {
    reportShare(this.io(), report)
  }

  /** Loads and validates the config file; its warnings (ignored legacy keys, …) go through warnUser. */
  protected async readConfig(path: string): Promise<Config> {
    return readConfig(this.io(), path)
  }

  /** This command's output for the shared command bodies of src/cli (log, warnUser, --json). */
  protected io(): CommandIo {
    return {json: this.jsonEnabled(), log: (m) => this.log(m), warn: (m) => this.warnUser(m)}
  }

  /**
   * Runs a list change, with a listr2 progress display when people watch (stdout is a TTY, no --json)
   * and the list is long (`bulk`); otherwise as is. listr2 is loaded only then.
   */
  protected async withListProgress<R>(title: string, bulk: boolean,
    work: (onStep: (step: ListStep, count: number) => void) => Promise<R>): Promise<R> {
    return withListProgress(this.io(), title, bulk, work)
  }

  /**
   * Prints a list change for people: one line per entry for a short list, a summary for a long one;
   * refused entries with their reason and `FILE:LINE` (the first few of them for a long list).
   */
  protected renderListChange(result: ListChangeResult, words: ListChangeWords, suffix = ''): void {
    renderListChange(this.io(), result, words, suffix)
  }

  /**
   * The --json envelope on stdout: coloured by oclif on a terminal; plain JSON (the same text without
   * colour codes) in a pipe, where oclif's colouring tokenizer would cost ~2 s of CPU and twice that in
   * garbage collection for the 100,000 entries of a long list, for colours nobody sees.
   */
  protected override logJson(json: unknown): void {
    if (process.stdout.isTTY) {
      super.logJson(json)
      return
    }

    process.stdout.write(JSON.stringify(json, null, 2) + '\n')
  }

  protected override toSuccessJson(result: unknown): JsonEnvelope<T> {
    return {ok: true, result: result as T, warnings: this.warnings}
  }

  protected override toErrorJson(err: unknown): JsonEnvelope<T> {
    return errorEnvelope(fromOclif(err), this.warnings)
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    if (err instanceof Errors.ExitError) throw err // this.exit(): no message, its own exit code
    const e = fromOclif(err)
    process.exitCode = e.exitCode
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err))
      return undefined
    }
    process.stderr.write(renderErrorText(e))
    throw new Errors.ExitError(e.exitCode)
  }
}

/**
 * An error as people read it on stderr: the message, its code, and the hint as "Try this:". Lines are
 * never wrapped (oclif wraps at the terminal width, or 80 columns in a pipe), so a `file:line` in the
 * message stays whole for grep and for a terminal that opens it on click.
 */
export function renderErrorText(e: DiswallError): string {
  const bang = ux.colorize('red', '›')
  const lines = [`Error: ${e.message}`, `Code: ${e.code}`, ...(e.hint ? [`Try this: ${e.hint}`] : [])]
  return lines.flatMap((l) => l.split('\n')).map((l) => ` ${bang}   ${l}`.trimEnd()).join('\n') + '\n'
}

/**
 * Reports an error that no command's catch() saw (an unknown command, a legacy flag this version
 * lacks) as a command would: the envelope on stdout with `json`, the text on stderr otherwise. Returns
 * the exit code.
 */
export function reportError(err: unknown, json: boolean): number {
  const e = fromOclif(err)
  if (json) ux.stdout(ux.colorizeJson(errorEnvelope(e), {pretty: true}))
  else process.stderr.write(renderErrorText(e))
  return e.exitCode
}

/** A single-letter flag name as oclif types it. */
type FlagChar = NonNullable<Parameters<typeof Flags.boolean>[0]>['char']

/** What every oclif flag takes from its plain definition in src/cli/spec.ts. */
function oclifOptions(spec: FlagSpec): {aliases?: string[]; char?: FlagChar; description: string; helpValue?: string} {
  return {
    ...(spec.aliases === undefined ? {} : {aliases: [...spec.aliases]}),
    ...(spec.char === undefined ? {} : {char: spec.char as FlagChar}),
    description: spec.description,
    ...(spec.helpValue === undefined ? {} : {helpValue: spec.helpValue}),
  }
}

/**
 * The oclif flags of a command from their plain definitions in src/cli/spec.ts, which the fast path of
 * bin/run.js parses too. `config` is {@link configFlag}.
 */
export function oclifFlags(specs: Readonly<Record<string, FlagSpec>>): Interfaces.FlagInput {
  const flag = (spec: FlagSpec) => {
    if (spec === CONFIG_FLAG) return configFlag
    const options = oclifOptions(spec)
    switch (spec.type) {
      case 'boolean': { return Flags.boolean(options) }
      case 'duration': { return durationFlag(options) }
      case 'integer': {
        return Flags.integer({...options, ...(typeof spec.default === 'number' ? {default: spec.default} : {}), ...(spec.min === undefined ? {} : {min: spec.min})})
      }
      case 'string': { return Flags.string({...options, ...(spec.env === undefined ? {} : {env: spec.env})}) }
    }
  }
  return Object.fromEntries(Object.entries(specs).map(([name, spec]) => [name, flag(spec)])) as Interfaces.FlagInput
}

/** The oclif argument of a command from its plain definition in src/cli/spec.ts. */
export function oclifArg(spec: ArgSpec) {
  return Args.string({description: spec.description, ...(spec.ignoreStdin ? {ignoreStdin: true} : {}), ...(spec.required ? {required: true} : {})})
}
