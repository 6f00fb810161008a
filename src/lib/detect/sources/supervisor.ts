/**
 * Keeps a source running: when it fails or ends on its own, it is started again after an exponential
 * back-off, and every restart is reported (health and an event). The original DisWall stopped detecting
 * silently when `journalctl` died; a supervised source never does.
 */
import {MissingDependencyError, NotRootError} from '../../errors.js'
import {errorMessage, RunSet} from './internal.js'
import {type LogLine, type LogSource, type RunHooks, type SourceHealth, SourceEndedError} from './types.js'

/** What a supervisor reports, for the daemon's log. */
export type SupervisorEvent =
  | {type: 'started'; source: string; run: number}
  | {type: 'reading'; source: string; run: number}
  | {type: 'restarting'; source: string; error: unknown; delayMs: number; restarts: number}
  | {type: 'failed'; source: string; error: unknown}

/** Options of {@link superviseSource}. */
export interface SuperviseOptions {
  /** First back-off, in milliseconds; 500 by default. Doubles after each failed run. */
  initialDelayMs?: number
  /** Largest back-off, in milliseconds; 30,000 by default. */
  maxDelayMs?: number
  /** A run that lasted at least this many milliseconds resets the back-off; 10,000 by default. */
  stableAfterMs?: number
  /**
   * Errors that no restart can fix: the supervisor stops, reports `failed` and rethrows. By default a
   * missing program or missing privileges.
   */
  isFatal?: (error: unknown) => boolean
  /** Called for every start, restart and fatal failure. Must not throw. */
  onEvent?: (event: SupervisorEvent) => void
}

/** True for errors that restarting cannot fix: a program that is not installed, or not being root. */
export function isFatalSourceError(error: unknown): boolean {
  return error instanceof MissingDependencyError || error instanceof NotRootError
}

/** A source wrapped by {@link superviseSource}. */
export class SupervisedSource<T = LogLine> implements LogSource<T> {
  private closed = false
  private restarts = 0
  private state: 'idle' | 'restarting' | 'failed' | 'stopped' = 'idle'
  private lastError: string | undefined
  private readonly stop = new AbortController()
  private readonly runs = new RunSet<T>()
  private readonly firstReading: Promise<void>
  private settleReading: {resolve: () => void; reject: (error: unknown) => void} | undefined

  constructor(readonly inner: LogSource<T>, private readonly options: SuperviseOptions = {}) {
    this.firstReading = new Promise<void>((resolve, reject) => (this.settleReading = {reject, resolve}))
    // A caller may never ask; a fatal failure must not become an unhandled rejection then.
    this.firstReading.catch(() => {})
  }

  /**
   * Resolves once a run of the inner source reads (see {@link RunHooks.reading}), also when that took
   * restarts; rejects with the fatal error when the supervisor gives up first, or when it is closed first.
   */
  reading(): Promise<void> {
    return this.firstReading
  }

  get name(): string {
    return this.inner.name
  }

  /**
   * Starts a run: the inner source until `close()`, restarting it after each failure or unexpected end with
   * a back-off of `initialDelayMs` doubling up to `maxDelayMs`. Throws only a fatal error
   * ({@link SuperviseOptions.isFatal}), after reporting it.
   */
  start(hooks: RunHooks = {}): AsyncGenerator<T> {
    return this.runs.start(() => this.run(hooks))
  }

  private async *run(hooks: RunHooks): AsyncGenerator<T> {
    const {initialDelayMs = 500, isFatal = isFatalSourceError, maxDelayMs = 30_000, onEvent, stableAfterMs = 10_000} = this.options
    let delayMs = initialDelayMs
    let run = 0
    let told = false
    try {
      while (!this.closed) {
        const startedAt = performance.now()
        let error: unknown
        const thisRun = ++run
        onEvent?.({run: thisRun, source: this.name, type: 'started'})
        this.state = 'idle'
        let reported = false
        const reading = (): void => {
          if (reported || this.closed) return
          reported = true
          onEvent?.({run: thisRun, source: this.name, type: 'reading'})
          this.settleReading?.resolve()
          if (!told) hooks.reading?.()
          told = true
        }
        try {
          for await (const item of this.inner.start({reading})) yield item
          if (this.closed) break
          error = new SourceEndedError(this.name)
        } catch (thrown) {
          if (this.closed) break
          error = thrown
        }

        this.lastError = errorMessage(error)
        if (isFatal(error)) {
          this.state = 'failed'
          this.settleReading?.reject(error)
          onEvent?.({error, source: this.name, type: 'failed'})
          throw error
        }

        if (performance.now() - startedAt >= stableAfterMs) delayMs = initialDelayMs
        this.restarts++
        this.state = 'restarting'
        onEvent?.({delayMs, error, restarts: this.restarts, source: this.name, type: 'restarting'})
        await abortableSleep(delayMs, this.stop.signal)
        delayMs = Math.min(delayMs * 2, maxDelayMs)
      }
    } finally {
      if (this.state !== 'failed') this.state = this.closed ? 'stopped' : 'idle'
    }
  }

  /** Stops the inner source and any pending restart; the iteration of `start()` then ends. */
  async close(): Promise<void> {
    this.closed = true
    this.settleReading?.reject(new SourceEndedError(this.name))
    this.stop.abort()
    await this.inner.close()
    await this.runs.returnAll()
    if (this.state !== 'failed') this.state = 'stopped'
  }

  /** The inner source's health, with the supervisor's state, restart count and last error. */
  health(): SourceHealth {
    const inner = this.inner.health()
    const state = this.state === 'idle' ? inner.state : this.state
    const lastError = this.lastError ?? inner.lastError
    return {...inner, restarts: this.restarts, state, ...(lastError === undefined ? {} : {lastError})}
  }
}

/**
 * Wraps `source` so that it restarts after a failure or an unexpected end, with exponential back-off
 * (0.5 s doubling to 30 s by default; reset after a run of 10 s), reporting each restart through
 * `onEvent` and `health()`. See {@link SupervisedSource}.
 */
export function superviseSource<T>(source: LogSource<T>, options?: SuperviseOptions): SupervisedSource<T> {
  return new SupervisedSource(source, options)
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve()
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    const timer = setTimeout(done, ms)
    signal.addEventListener('abort', done, {once: true})
  })
}
