/**
 * A persistent `ipset -exist -` process that applies small batches of ipset command lines in well under
 * a millisecond, instead of the ~3 ms that starting `ipset restore` costs. The daemon's ban path uses it
 * through IpsetBackend; one-shot commands keep using `ipset restore`.
 */
import {CommandFailedError, DiswallError, ExitCode, MissingDependencyError} from '../errors.js'
import {spawnCoprocess} from '../system/index.js'
import type {Coprocess, SpawnCoprocess} from '../system/index.js'

/** What IpsetBackend needs of a session: {@link IpsetSession}, or a fake in tests. */
export interface IpsetBatchRunner {
  /** Applies the lines in order; resolves when all are done, rejects if any failed. */
  run(lines: readonly string[]): Promise<void>
  /** Ends the session and waits for its process to exit. */
  close(): Promise<void>
}

/** Makes the session of a backend; `sentinelSet` is a set that exists (the IPv4 block set). */
export type IpsetSessionFactory = (sentinelSet: string) => IpsetBatchRunner

/** Options of {@link IpsetSession}. */
export interface IpsetSessionOptions {
  /** An existing set that the end-of-batch `test` line asks about (the IPv4 block set). */
  sentinelSet: string
  /** Starts the process; spawnCoprocess by default (netnsCoprocess(NS) in tests and benchmarks). */
  spawn?: SpawnCoprocess
  /** A batch not answered within this many milliseconds is failed and the process killed; 5000 by default. */
  timeoutMs?: number
  /** How long close() lets the process finish after stdin is ended before SIGTERM, ms; 1000 by default. */
  closeGraceMs?: number
}

/** Thrown by IpsetSession.run() after close(). */
export class SessionClosedError extends DiswallError {
  constructor() {
    super('the ipset session is closed', 'E_SESSION_CLOSED', ExitCode.INTERNAL)
  }
}

/** How long a batch may wait for its sentinel answer by default, ms; a single ban takes ~0.2 ms. */
export const IPSET_SESSION_TIMEOUT_MS = 5000

/** The program and arguments of the session: read commands from stdin, ignore "already added" and the like. */
const SESSION_ARGS = ['-exist', '-'] as const

/** Never a banned address in practice; whatever the answer, it marks the end of a batch. */
const SENTINEL_ADDRESS = '255.255.255.255'

/** The batch that waits for its sentinel answer. */
interface Running {
  /** stderr lines of the batch so far: anything but the sentinel answer is an error. */
  errors: string[]
  timer: NodeJS.Timeout
  resolve(): void
  reject(error: unknown): void
}

/**
 * Runs batches of ipset command lines through one long-running `ipset -exist -`, one batch at a time.
 *
 * ipset 7.17 in this mode reads one command per line, writes errors on stderr and goes on after
 * them; `test SET ADDR` answers on stderr too. So each batch is followed by `test SENTINEL
 * 255.255.255.255`: its answer ends the batch, and any other stderr text before it means a line of
 * the batch failed (the batch is rejected with that text; the lines before and after it were still
 * applied). A process that exits (other ipset versions stop at an error; someone killed it) fails
 * the running batch, and the next batch starts a fresh process. The process starts with the first
 * batch, not before.
 */
export class IpsetSession implements IpsetBatchRunner {
  private readonly sentinelSet: string
  private readonly spawn: SpawnCoprocess
  private readonly timeoutMs: number
  private readonly closeGraceMs: number
  private readonly sentinelAnswer: RegExp
  private child: Coprocess | undefined
  private running: Running | undefined
  /** Text after the last newline of stderr: lines are judged whole. */
  private partial = ''
  private tail: Promise<void> = Promise.resolve()
  private closed = false
  private missing: MissingDependencyError | undefined

  constructor({closeGraceMs = 1000, sentinelSet, spawn = spawnCoprocess, timeoutMs = IPSET_SESSION_TIMEOUT_MS}: IpsetSessionOptions) {
    if (!/^[A-Za-z0-9_.-]{1,31}$/.test(sentinelSet)) throw new TypeError(`invalid ipset set name: ${JSON.stringify(sentinelSet)}`)
    this.sentinelSet = sentinelSet
    this.spawn = spawn
    this.timeoutMs = timeoutMs
    this.closeGraceMs = closeGraceMs
    // ipset 7.17: "255.255.255.255 is NOT in set S." or "Warning: 255.255.255.255 is in set S."; other
    // versions may put "ipset vX: " in front.
    this.sentinelAnswer = new RegExp(`(?:^|: )${SENTINEL_ADDRESS.replaceAll('.', '\\.')} is (?:NOT )?in set ${sentinelSet.replaceAll('.', '\\.')}\\.$`)
  }

  /** PID of the current process, or undefined when none runs (before the first batch, after a failure). */
  get pid(): number | undefined {
    return this.child?.running ? this.child.pid : undefined
  }

  /**
   * Applies `lines` (ipset commands without the leading `ipset`, one per line) after the batches before
   * it. Resolves when every line is done. Rejects with CommandFailedError carrying ipset's stderr when a
   * line failed, the process exited or the batch timed out (the process is then killed); with
   * MissingDependencyError when ipset is not installed; with SessionClosedError after close().
   * Throws TypeError for a line with a newline.
   */
  run(lines: readonly string[]): Promise<void> {
    for (const line of lines) if (/[\r\n]/.test(line)) throw new TypeError(`an ipset line cannot hold a newline: ${JSON.stringify(line)}`)
    if (this.closed) return Promise.reject(new SessionClosedError())
    const done = this.tail.then(() => this.runNow(lines))
    this.tail = done.catch(() => {})
    return done
  }

  /**
   * Ends the session: the batches given before are finished, then stdin is closed so that ipset exits
   * (SIGTERM after the grace). Batches given after are rejected with SessionClosedError. Resolves once
   * the process has exited. Safe to call more than once.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.tail
    await this.child?.close(this.closeGraceMs)
  }

  private runNow(lines: readonly string[]): Promise<void> {
    if (this.missing) return Promise.reject(this.missing)
    const child = this.child?.running ? this.child : this.start()
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.settle(new CommandFailedError('ipset', SESSION_ARGS, undefined, this.running?.errors.join('\n') ?? '', {
          hint: 'The ipset session did not answer; it was killed and the next batch starts a new one.',
          timedOut: true,
        }))
        this.detach(child)
        child.kill('SIGKILL')
      }, this.timeoutMs)
      this.running = {errors: [], reject, resolve, timer}
      const script = lines.length > 0 ? `${lines.join('\n')}\n` : ''
      // A failed write means the process is gone: its exit (or the timeout) fails the batch.
      child.write(`${script}test ${this.sentinelSet} ${SENTINEL_ADDRESS}\n`)
    })
  }

  private start(): Coprocess {
    const child = this.spawn('ipset', SESSION_ARGS)
    this.child = child
    this.partial = ''
    // stdout carries only the prompts ("ipset> ", block-buffered by ipset 7.17): read, never parsed.
    child.on('stdout', () => {})
    child.on('stderr', (text) => {
      if (this.child === child) this.onStderr(text)
    })
    void child.exited.then((exit) => {
      if (this.child !== child) return
      this.detach(child)
      if (exit.error instanceof MissingDependencyError) this.missing = exit.error
      const stderr = [...(this.running?.errors ?? []), this.partial].filter(Boolean).join('\n')
      this.settle(exit.error instanceof MissingDependencyError ? exit.error : new CommandFailedError('ipset', SESSION_ARGS, exit.exitCode, stderr, {
        cause: exit.error,
        hint: exit.signal ? `The ipset session was killed by ${exit.signal}; the next batch starts a new one.` : 'The ipset session ended; the next batch starts a new one.',
      }))
    })
    return child
  }

  private onStderr(text: string): void {
    const lines = (this.partial + text).split('\n')
    this.partial = lines.pop() ?? ''
    for (const line of lines) {
      const running = this.running
      if (!running) continue // nothing asked: not ours to judge
      if (!this.sentinelAnswer.test(line)) {
        running.errors.push(line)
        continue
      }

      if (running.errors.length === 0) this.settle()
      else {
        this.settle(new CommandFailedError('ipset', SESSION_ARGS, undefined, running.errors.join('\n') + '\n', {
          hint: 'The ipset session goes on: the other lines of the batch were applied.',
        }))
      }
    }
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
