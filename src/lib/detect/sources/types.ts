/**
 * What every detection source has in common: it yields items (log lines, logins) while it runs, can be
 * closed, and reports its health so that a stopped source is never silent.
 */
import {DiswallError, ExitCode} from '../../errors.js'
import type {LogLine} from '../types.js'

/** The detection engine's input, which the line sources produce (see ../types.ts for the `source` names). */
export type {LogLine} from '../types.js'

/** Life cycle of a source. `restarting` is only reported by a supervised source (see ./supervisor.ts). */
export type SourceState = 'starting' | 'running' | 'restarting' | 'failed' | 'stopped'

/** Health of a source, for `diswall status`, metrics and logs; plain data, serialisable as JSON. */
export interface SourceHealth {
  name: string
  state: SourceState
  /** How often a supervisor restarted the source after it failed or ended. */
  restarts: number
  /** Message of the last error, if any. */
  lastError?: string
  /** Items yielded so far, over all runs. */
  lines: number
  /** Items known to be lost (kernel ring buffer overruns, over-long lines dropped), over all runs. */
  lost?: number
  /** Items dropped because the source could not trust their writer (journald service entries), over all runs. */
  untrusted?: number
  /** When the last item was yielded, in milliseconds since the epoch. */
  lastLineAt?: number
}

/** What a run of a source reports while it starts (see {@link LogSource.start}). */
export interface RunHooks {
  /**
   * Called once per run, when the run reads: its input is open and positioned, so that every item
   * written from then on is yielded (the kmsg thread has found its place in the ring buffer, tcpdump
   * listens on its group). The daemon says `ready` only when every source got here.
   */
  reading?: () => void
}

/**
 * A detection source. `start()` begins one run and returns its items; the iteration ends when
 * `close()` is called and throws when the source fails. Breaking out of the iteration ends the run and
 * releases what it holds; `start()` may then be called again for a new run (a supervisor does this).
 * A run begins when first pulled, and calls `hooks.reading` once it reads.
 */
export interface LogSource<T = LogLine> {
  readonly name: string
  start(hooks?: RunHooks): AsyncIterable<T>
  /** Ends the current run (its iteration finishes without an error) and every later one. */
  close(): Promise<void>
  health(): SourceHealth
}

/** A detection source that cannot run: missing device, wrong file type, unsafe permissions (exit 4). */
export class LogSourceError extends DiswallError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, 'E_LOG_SOURCE', ExitCode.ENVIRONMENT, hint, options)
  }
}

/** A source whose items ended although nobody closed it (a follower that exited with status 0). */
export class SourceEndedError extends DiswallError {
  constructor(readonly source: string) {
    super(`log source ${source} ended unexpectedly`, 'E_LOG_SOURCE_ENDED', ExitCode.INTERNAL,
      'It is restarted automatically; if this repeats, check the system log for the reason.')
  }
}
