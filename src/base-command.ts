import {Command, Errors, Flags} from '@oclif/core'

import {asDiswallError, DiswallError, ExitCode} from './lib/errors.js'
import {DEFAULT_CONFIG_PATH, loadConfig} from './lib/config/index.js'
import type {Config} from './lib/config/index.js'

/** What every command prints on stdout with --json (or DISWALL_CONTENT_TYPE=json). */
export type JsonEnvelope<T> =
  | {ok: false; error: {code: string; hint?: string; message: string}; warnings: string[]}
  | {ok: true; result: T; warnings: string[]}

/** `-c/--config FILE`, shared by every command that reads the config. */
export const configFlag = Flags.string({
  char: 'c',
  default: DEFAULT_CONFIG_PATH,
  description: 'Path of the diswall config file.',
  env: 'DISWALL_CONFIG',
  helpValue: 'FILE',
})

/** `--dir DIR`, the firewall directory of every `firewall` command; `[firewall] dir` by default. */
export const dirFlag = Flags.string({
  description: 'Firewall directory (default: [firewall] dir of the config, /etc/diswall/firewall).',
  helpValue: 'DIR',
})

/**
 * The base of every diswall command: the --json envelope, warnings, and one way of rendering errors
 * (message, "Try this:" hint, stable code, exit code from src/lib/errors.ts).
 */
export abstract class DiswallCommand<T extends object> extends Command {
  static override enableJsonFlag = true
  private readonly warnings: string[] = []

  /** Records a warning: printed on stderr for people, carried in the envelope for scripts. */
  protected warnUser(message: string): void {
    this.warnings.push(message)
    if (!this.jsonEnabled()) this.logToStderr(`warning: ${message}`)
  }

  /** Loads and validates the config file; its warnings (ignored legacy keys, …) go through warnUser. */
  protected async readConfig(path: string): Promise<Config> {
    const {config, warnings} = await loadConfig(path)
    for (const w of warnings) this.warnUser(w)
    return config
  }

  protected override toSuccessJson(result: unknown): JsonEnvelope<T> {
    return {ok: true, result: result as T, warnings: this.warnings}
  }

  protected override toErrorJson(err: unknown): JsonEnvelope<T> {
    const {code, hint, message} = fromOclif(err)
    return {error: {code, hint, message}, ok: false, warnings: this.warnings}
  }

  protected override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    const e = fromOclif(err)
    process.exitCode = e.exitCode
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err))
      return undefined
    }
    throw new Errors.CLIError(e.message, {code: e.code, exit: e.exitCode, suggestions: e.hint ? [e.hint] : undefined})
  }
}

/** oclif's own parse errors (unknown flag, missing argument) keep exit 2 and become E_USAGE. */
function fromOclif(err: unknown): DiswallError {
  if (err instanceof DiswallError) return err
  const oclif = (err as {oclif?: {exit?: number}} | undefined)?.oclif
  if (err instanceof Error && oclif?.exit === ExitCode.USAGE) {
    return new DiswallError(err.message, 'E_USAGE', ExitCode.USAGE, 'See --help for the flags and arguments.')
  }
  return asDiswallError(err)
}
