/**
 * The typed error hierarchy of diswall. Lib code throws these; only src/base-command.ts renders them.
 * `code` is a stable string scripts may match; `hint` is one sentence on what to do next.
 */

/** Exit codes that scripts can rely on. Never renumber. */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  CONFIG: 3,
  ENVIRONMENT: 4,
  COMMAND_FAILED: 5,
  TRANSPORT: 6,
  STORE: 7,
  /** A list command changed this host, but could not share the change over NATS (E_NOT_SHARED). */
  NOT_SHARED: 8,
  /** Stopped by SIGINT (Ctrl-C): 128 + 2, as shells report it. */
  INTERRUPTED: 130,
  /** Stopped by SIGTERM (systemd, kill): 128 + 15, as shells report it. */
  TERMINATED: 143,
} as const
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode]

export class DiswallError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly exitCode: number,
    readonly hint?: string,
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = new.target.name
  }
}

/** A bad flag, argument or value typed by the user (exit 2). */
export class UsageError extends DiswallError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, 'E_USAGE', ExitCode.USAGE, hint, options)
  }
}

/** A text that is not a valid address, network, port or duration (exit 2). */
export class InvalidValueError extends DiswallError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, 'E_INVALID_VALUE', ExitCode.USAGE, hint, options)
  }
}

/** A feature whose command does not exist yet (exit 2). */
export class NotAvailableError extends DiswallError {
  constructor(what: string, hint?: string) {
    super(`${what} is not available yet in this version of diswall`, 'E_NOT_AVAILABLE', ExitCode.USAGE, hint)
  }
}

/** A command this version of diswall does not know, e.g. a typo (exit 2). The hint suggests the closest one. */
export class UnknownCommandError extends DiswallError {
  constructor(readonly command: string, hint?: string) {
    super(`unknown command "${command}"`, 'E_UNKNOWN_COMMAND', ExitCode.USAGE, hint)
  }
}

/** Where in a file a problem is; line is 1-based. */
export interface SourceLocation {
  file: string
  line?: number
}

/** An invalid or unreadable config file (exit 3). The message starts with `file:line:`. */
export class ConfigError extends DiswallError {
  constructor(
    readonly location: SourceLocation,
    reason: string,
    hint?: string,
    options?: ErrorOptions,
  ) {
    super(`${formatLocation(location)}: ${reason}`, 'E_CONFIG', ExitCode.CONFIG, hint, options)
  }
}

/** `file:line` or just `file`. */
export function formatLocation({file, line}: SourceLocation): string {
  return line === undefined ? file : `${file}:${line}`
}

/** A program diswall needs is not installed (exit 4). */
export class MissingDependencyError extends DiswallError {
  constructor(readonly program: string, debianPackage: string = packageOf(program), options?: ErrorOptions) {
    super(`required program "${program}" was not found in PATH`, 'E_MISSING_PROGRAM', ExitCode.ENVIRONMENT,
      `Install it: apt-get install ${debianPackage}`, options)
  }
}

/** The command needs root (exit 4). */
export class NotRootError extends DiswallError {
  constructor(what: string) {
    super(`${what} needs root privileges`, 'E_NOT_ROOT', ExitCode.ENVIRONMENT, 'Run it as root, e.g. with sudo.')
  }
}

/** An external program ran and failed (exit 5). The message carries its stderr. */
export class CommandFailedError extends DiswallError {
  constructor(
    readonly program: string,
    readonly args: readonly string[],
    readonly programExitCode: number | undefined,
    readonly stderr: string,
    options?: ErrorOptions & {timedOut?: boolean; timeoutMs?: number; hint?: string},
  ) {
    const after = options?.timeoutMs === undefined ? '' : ` after ${formatMs(options.timeoutMs)}`
    const how = options?.timedOut ? `timed out${after}` : `exited with code ${programExitCode ?? 'unknown'}`
    const detail = firstLines(stderr, 5)
    super(`${[program, ...args].join(' ')} ${how}${detail ? `: ${detail}` : ''}`, 'E_COMMAND_FAILED',
      ExitCode.COMMAND_FAILED, options?.hint, options)
    this.timedOut = options?.timedOut === true
  }

  /** Whether the program was killed because it ran out of time. */
  readonly timedOut: boolean
}

/** `1500 ms`, `60 s`: a timeout as people read it. */
function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

/** The signals that stop a command cleanly, and the exit code of each. */
export const STOP_SIGNAL_EXIT_CODES = {SIGINT: ExitCode.INTERRUPTED, SIGTERM: ExitCode.TERMINATED} as const
export type StopSignal = keyof typeof STOP_SIGNAL_EXIT_CODES

/**
 * The command was stopped by SIGINT or SIGTERM before it finished (exit 130 or 143). Used as the reason
 * of the AbortSignal that stops the work, so whatever was interrupted rejects with it.
 */
export class InterruptedError extends DiswallError {
  constructor(readonly signal: StopSignal, options?: ErrorOptions) {
    super(`interrupted by ${signal}`, 'E_INTERRUPTED', STOP_SIGNAL_EXIT_CODES[signal],
      'The command was stopped before it finished; run it again to complete it.', options)
  }
}

/** NATS unreachable, a timeout or no responders (exit 6). */
export class TransportError extends DiswallError {
  constructor(message: string, code = 'E_NATS', hint?: string, options?: ErrorOptions) {
    super(message, code, ExitCode.TRANSPORT, hint, options)
  }
}

/** The server store failed (exit 7). */
export class StoreError extends DiswallError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, 'E_STORE', ExitCode.STORE, hint, options)
  }
}

/** Turns anything thrown into a DiswallError; unknown errors become E_INTERNAL (exit 1). */
export function asDiswallError(error: unknown): DiswallError {
  if (error instanceof DiswallError) return error
  const message = error instanceof Error ? error.message : String(error)
  return new DiswallError(message, 'E_INTERNAL', ExitCode.INTERNAL,
    'This is a bug in diswall; please report it with the command you ran.', {cause: error})
}

const PACKAGES: Record<string, string> = {
  conntrack: 'conntrack',
  ip: 'iproute2',
  ip6tables: 'iptables',
  'ip6tables-restore': 'iptables',
  'ip6tables-save': 'iptables',
  ipset: 'ipset',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  'iptables-save': 'iptables',
  'nats-server': 'nats-server',
  nft: 'nftables',
  ss: 'iproute2',
}

function packageOf(program: string): string {
  return PACKAGES[program] ?? program
}

function firstLines(text: string, count: number): string {
  const lines = text.trim().split('\n').filter((l) => l.trim() !== '')
  const shown = lines.slice(0, count).join('; ')
  return lines.length > count ? `${shown}; …` : shown
}
