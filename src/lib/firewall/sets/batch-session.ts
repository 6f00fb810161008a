/**
 * The life cycle that IpsetSession and NftSession share: one long-running program that reads commands
 * on stdin and answers on stderr, fed one batch at a time. What a batch looks like on stdin and how
 * stderr lines are judged is up to each session.
 */
import {CommandFailedError, MissingDependencyError} from '../../errors.js'
import type {Coprocess, SpawnCoprocess} from '../../system/index.js'

/** What a {@link CoprocessBatchSession} is told by its subclass. */
export interface CoprocessBatchSessionSetup {
  /** The program and its arguments, e.g. `ipset` and `['-exist', '-']`. */
  program: string
  args: readonly string[]
  /** Extra environment of the program. */
  env?: Record<string, string>
  spawn: SpawnCoprocess
  /** A batch not answered within this many milliseconds is failed and the process killed. */
  timeoutMs: number
  /** How long close() lets the process finish after stdin is ended before SIGTERM, ms. */
  closeGraceMs: number
  /** The error of a batch given after close(). */
  closedError: () => Error
}

/** The batch that waits for its answer. */
interface Running {
  /** stderr lines of the batch so far, kept by the subclass's judgeLine(). */
  errors: string[]
  timer: NodeJS.Timeout
  resolve(): void
  reject(error: unknown): void
}

/**
 * Runs batches through one long-running program, one batch at a time. The process starts with the
 * first batch, not before. A batch ends when the subclass's judgeLine() sees its answer on stderr; a
 * process that exits fails the running batch, and one that does not answer within the timeout is
 * killed and fails it; either way the next batch starts a fresh process. A missing program fails every
 * later batch at once.
 */
export abstract class CoprocessBatchSession<Batch> {
  private readonly setup: CoprocessBatchSessionSetup
  private child: Coprocess | undefined
  private running: Running | undefined
  /** Text after the last newline of stderr: lines are judged whole. */
  private partial = ''
  private tail: Promise<void> = Promise.resolve()
  private closed = false
  /** Set when the program is missing (or by a subclass): later batches fail at once with it. */
  protected unusable: Error | undefined

  protected constructor(setup: CoprocessBatchSessionSetup) {
    this.setup = setup
  }

  /** PID of the current process, or undefined when none runs (before the first batch, after a failure). */
  get pid(): number | undefined {
    return this.child?.running ? this.child.pid : undefined
  }

  /**
   * Ends the session: the batches given before are finished, then stdin is closed so that the program
   * exits (SIGTERM after the grace). Batches given after are rejected with the closed error. Resolves
   * once the process has exited. Safe to call more than once.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.tail
    await this.child?.close(this.setup.closeGraceMs)
  }

  /** Queues `batch` after the batches before it; rejects with the closed error after close(). */
  protected enqueue(batch: Batch): Promise<void> {
    if (this.closed) return Promise.reject(this.setup.closedError())
    const done = this.tail.then(() => this.runNow(batch))
    this.tail = done.catch(() => {})
    return done
  }

  /** The text that sends `batch` and asks for its answer; called once per batch, just before it is written. */
  protected abstract batchText(batch: Batch): string

  /**
   * Judges one whole stderr line of the current process. `errors` holds the running batch's lines so
   * far (undefined when no batch runs); call endBatch() when the line is the batch's answer.
   */
  protected abstract judgeLine(line: string, errors: string[] | undefined): void

  /** Called when a new process has started, to reset what the subclass keeps per process. */
  protected onStart(): void {}

  /** Whether the next batch may go to `child`, the running process; a subclass may retire() it instead. */
  protected reuse(_child: Coprocess): boolean {
    return true
  }

  /** The error of a batch that was not answered in time (the process is then killed). */
  protected timeoutError(stderr: string): Error {
    return this.failed(undefined, stderr, {
      hint: `The ${this.setup.program} session did not answer; it was killed and the next batch starts a new one.`,
      timedOut: true,
    })
  }

  /** A CommandFailedError of the session's program. */
  protected failed(exitCode: number | undefined, stderr: string, options: ErrorOptions & {timedOut?: boolean; hint?: string}): CommandFailedError {
    return new CommandFailedError(this.setup.program, this.setup.args, exitCode, stderr, options)
  }

  /** Ends the running batch on its answer: resolved with no error lines, else rejected with them and `hint`. */
  protected endBatch(hint: string): void {
    const errors = this.running?.errors
    if (!errors) return
    if (errors.length === 0) this.settle()
    else this.settle(this.failed(undefined, errors.join('\n') + '\n', {hint}))
  }

  /** Lets `child` finish and exit (it has nothing left to do); resolves once it has. Later batches start a new one. */
  protected retire(child: Coprocess): Promise<unknown> {
    this.detach(child)
    return child.close(this.setup.closeGraceMs)
  }

  private runNow(batch: Batch): Promise<void> {
    if (this.unusable) return Promise.reject(this.unusable)
    const child = this.child?.running && this.reuse(this.child) ? this.child : this.start()
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(this.timeoutError(this.running?.errors.join('\n') ?? ''))
        this.detach(child)
        child.kill('SIGKILL')
      }, this.setup.timeoutMs)
      this.running = {errors: [], reject, resolve, timer}
      // A failed write means the process is gone: its exit (or the timeout) fails the batch.
      child.write(this.batchText(batch))
    })
  }

  private start(): Coprocess {
    const {args, env, program} = this.setup
    const child = this.setup.spawn(program, args, env ? {env} : undefined)
    this.child = child
    this.partial = ''
    this.onStart()
    // stdout is read, never parsed: the sessions' commands answer on stderr.
    child.on('stdout', () => {})
    child.on('stderr', (text) => {
      if (this.child === child) this.onStderr(text)
    })
    void child.exited.then((exit) => {
      if (this.child !== child) return
      this.detach(child)
      if (exit.error instanceof MissingDependencyError) this.unusable = exit.error
      const stderr = [...(this.running?.errors ?? []), this.partial].filter(Boolean).join('\n')
      this.settle(exit.error instanceof MissingDependencyError ? exit.error : this.failed(exit.exitCode, stderr, {
        cause: exit.error,
        hint: exit.signal ? `The ${program} session was killed by ${exit.signal}; the next batch starts a new one.` : `The ${program} session ended; the next batch starts a new one.`,
      }))
    })
    return child
  }

  private onStderr(text: string): void {
    const lines = (this.partial + text).split('\n')
    this.partial = lines.pop() ?? ''
    for (const line of lines) this.judgeLine(line, this.running?.errors)
  }

  /** Resolves the running batch, or rejects it with `error`. */
  private settle(error?: unknown): void {
    const running = this.running
    if (!running) return
    this.running = undefined
    clearTimeout(running.timer)
    if (error === undefined) running.resolve()
    else running.reject(error)
  }

  /** Forgets `child`: whatever it still says or does is ignored, and the next batch starts a new one. */
  private detach(child: Coprocess): void {
    if (this.child === child) this.child = undefined
  }
}
