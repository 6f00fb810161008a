/**
 * A persistent `nft -i` process that applies small nft batches in about half a millisecond, instead of
 * the ~8 ms that starting `nft -f -` costs. The daemon's ban path uses it through NftBackend; one-shot
 * commands keep using `nft -f -`.
 */
import {CommandFailedError, MissingDependencyError} from '../errors.js'
import {spawnCoprocess} from '../system/index.js'
import type {Coprocess, SpawnCoprocess} from '../system/index.js'
import {SessionClosedError} from './ipset-session.js'

/** What NftBackend needs of a session: {@link NftSession}, or a fake in tests. */
export interface NftBatchRunner {
  /** Applies the statements as one transaction; resolves when it is done, rejects if it failed. */
  run(statements: readonly string[]): Promise<void>
  /** Ends the session and waits for its process to exit. */
  close(): Promise<void>
}

/** Makes the session of a backend. */
export type NftSessionFactory = () => NftBatchRunner

/** Options of {@link NftSession}. */
export interface NftSessionOptions {
  /** Starts the process; spawnCoprocess by default (netnsCoprocess(NS) in tests and benchmarks). */
  spawn?: SpawnCoprocess
  /** A batch not answered within this many milliseconds is failed and the process killed; 30000 by default. */
  timeoutMs?: number
  /** How long close() lets the process finish after stdin is ended before SIGTERM, ms; 1000 by default. */
  closeGraceMs?: number
  /** Batches per process: the next batch after this many starts a new one; 1000 by default. */
  maxBatches?: number
}

/** Thrown by NftSession.run() after close(); a SessionClosedError like the ipset session's. */
export class NftSessionClosedError extends SessionClosedError {
  constructor() {
    super()
    this.message = 'the nft session is closed'
  }
}

/**
 * How long a batch may wait for its marker by default, ms. A single ban takes ~0.4 ms, but nft 1.0.6
 * fetches every element of the table's interval sets for each `add element` (~0.5 s at 50k IPv6 bans),
 * so big tables make every batch slow, through `nft -f -` as much as here.
 */
export const NFT_SESSION_TIMEOUT_MS = 30_000

/**
 * Batches per process. nft 1.0.6 `-i` (libedit) keeps every line in its history, so each batch costs
 * ~0.3 KB and a little time for good (seen: +0.08 ms per batch for every 1000 batches before it); a new
 * process every 1000 batches bounds both, for one start (~3 ms) per 1000 batches.
 */
export const NFT_SESSION_MAX_BATCHES = 1000

/** The program and arguments of the session: read commands from stdin, one line at a time. */
const SESSION_ARGS = ['-i'] as const

/**
 * nft -i reads its history from $HOME/.nft.history at start and writes every line back at exit: under a
 * HOME that cannot hold a file, both fail quietly, so bans are not written to root's home directory.
 */
const SESSION_ENV = {HOME: '/dev/null'}

/** The marker line of batch N; never a valid nft command, so nft answers it with a syntax error. */
const MARKER_PREFIX = 'diswall-batch-end-'
const MARKER_LINE = /^diswall-batch-end-\d+$/

/** The line under an echoed command that points at the error (`   ^^^^`, `~~~~`). */
const INDICATOR_LINE = /^[\s^~]*$/

/** Text nft reads as one line of commands: printable ASCII, see {@link NftSession.run}. */
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

/** The batch that waits for its marker. */
interface Running {
  marker: string
  /** stderr lines of the batch so far: every one belongs to an error of the batch. */
  errors: string[]
  timer: NodeJS.Timeout
  resolve(): void
  reject(error: unknown): void
}

/**
 * Runs nft batches through one long-running `nft -i`, one batch at a time.
 *
 * nft 1.0.6 `-i` with a piped stdin reads one line at a time and runs it as its own transaction,
 * writes errors on stderr (`Error: …`, the line, a `^^^` pointer) and goes on after them; it prints
 * nothing for the commands diswall sends. So the statements of a batch are joined with `; ` into one
 * line (one transaction, all or nothing, like `nft -f -`), followed by the marker line
 * `diswall-batch-end-N`: it is not nft syntax, so nft fails it in the parser, before any cache or
 * kernel work, and echoes it on stderr. Everything the batch wrote on stderr comes before that echo on
 * the same pipe; the echo is a whole line no batch can print (run() refuses such lines), and N tells a
 * batch from the one before. So the echo ends the batch, and any other stderr text before it (except
 * the marker's own `Error:` line) means the batch failed, with nothing of it applied.
 *
 * A process that exits (someone killed it) fails the running batch, and the next batch starts a fresh
 * process; so does one that has run {@link NFT_SESSION_MAX_BATCHES} batches. The process starts with
 * the first batch, not before.
 */
export class NftSession implements NftBatchRunner {
  private readonly spawn: SpawnCoprocess
  private readonly timeoutMs: number
  private readonly closeGraceMs: number
  private readonly maxBatches: number
  private child: Coprocess | undefined
  /** Batches sent to the current process. */
  private batchesOnChild = 0
  /** Whether the current process has answered a marker yet. */
  private answered = false
  /** Processes being ended after maxBatches; close() waits for them. */
  private readonly retiring = new Set<Promise<unknown>>()
  private running: Running | undefined
  /** Text after the last newline of stderr: lines are judged whole. */
  private partial = ''
  /** Whether the next stderr line may be the pointer line under a marker's echo. */
  private afterMarker = false
  private sequence = 0
  private tail: Promise<void> = Promise.resolve()
  private closed = false
  /** Set when nft is missing, or when a process never answered a marker: later batches fail at once. */
  private unusable: Error | undefined

  constructor({closeGraceMs = 1000, maxBatches = NFT_SESSION_MAX_BATCHES, spawn = spawnCoprocess,
    timeoutMs = NFT_SESSION_TIMEOUT_MS}: NftSessionOptions = {}) {
    if (!Number.isInteger(maxBatches) || maxBatches < 1) throw new TypeError(`invalid maxBatches: ${maxBatches}`)
    this.spawn = spawn
    this.timeoutMs = timeoutMs
    this.closeGraceMs = closeGraceMs
    this.maxBatches = maxBatches
  }

  /** PID of the current process, or undefined when none runs (before the first batch, after a failure). */
  get pid(): number | undefined {
    return this.child?.running ? this.child.pid : undefined
  }

  /**
   * Applies `statements` (nft commands without the leading `nft`) as one transaction, after the
   * batches before it. Resolves when it is done. Rejects with CommandFailedError carrying nft's stderr
   * when it failed (nothing of it was applied), the process exited or the batch timed out (the process
   * is then killed: the batch may or may not have been applied); with MissingDependencyError when nft
   * is not installed; with NftSessionClosedError after close(). Throws TypeError for a statement that
   * is not printable ASCII (nft 1.0.6 -i drops other bytes in the C locale), ends with a backslash (a
   * continuation line), has a `#` outside quotes (it would comment out the statements after it) or
   * looks like the marker.
   */
  run(statements: readonly string[]): Promise<void> {
    for (const statement of statements) {
      const problem = statementProblem(statement)
      if (problem) throw new TypeError(`an nft session statement ${problem}: ${JSON.stringify(statement)}`)
    }

    if (this.closed) return Promise.reject(new NftSessionClosedError())
    const done = this.tail.then(() => this.runNow(statements))
    this.tail = done.catch(() => {})
    return done
  }

  /**
   * Ends the session: the batches given before are finished, then stdin is closed so that nft exits
   * (SIGTERM after the grace). Batches given after are rejected with NftSessionClosedError. Resolves
   * once the process has exited. Safe to call more than once.
   */
  async close(): Promise<void> {
    this.closed = true
    await this.tail
    await this.child?.close(this.closeGraceMs)
    await Promise.all(this.retiring)
  }

  private runNow(statements: readonly string[]): Promise<void> {
    if (this.unusable) return Promise.reject(this.unusable)
    if (this.child?.running && this.batchesOnChild >= this.maxBatches) this.retire(this.child)
    const child = this.child?.running ? this.child : this.start()
    this.batchesOnChild++
    const marker = `${MARKER_PREFIX}${++this.sequence}`
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const stderr = this.running?.errors.join('\n') ?? ''
        // A process that never answered a marker does not speak the way this class expects (another
        // nft version?): stop using it rather than wait this long for every batch.
        const neverAnswered = !this.answered
        const error = new CommandFailedError('nft', SESSION_ARGS, undefined, stderr, {
          hint: neverAnswered
            ? 'nft -i never answered; the session is given up and commits use nft -f.'
            : 'The nft session did not answer; it was killed and the next batch starts a new one.',
          timedOut: true,
        })
        if (neverAnswered) this.unusable = error
        this.settle(error)
        this.detach(child)
        child.kill('SIGKILL')
      }, this.timeoutMs)
      this.running = {errors: [], marker, reject, resolve, timer}
      const line = statements.filter((s) => s.trim() !== '').join('; ')
      // A failed write means the process is gone: its exit (or the timeout) fails the batch.
      child.write(`${line === '' ? '' : `${line}\n`}${marker}\n`)
    })
  }

  private start(): Coprocess {
    const child = this.spawn('nft', SESSION_ARGS, {env: SESSION_ENV})
    this.child = child
    this.batchesOnChild = 0
    this.answered = false
    this.partial = ''
    this.afterMarker = false
    // nft prints nothing on stdout for the commands we send: read, never parsed.
    child.on('stdout', () => {})
    child.on('stderr', (text) => {
      if (this.child === child) this.onStderr(text)
    })
    void child.exited.then((exit) => {
      if (this.child !== child) return
      this.detach(child)
      if (exit.error instanceof MissingDependencyError) this.unusable = exit.error
      const stderr = [...(this.running?.errors ?? []), this.partial].filter(Boolean).join('\n')
      this.settle(exit.error instanceof MissingDependencyError ? exit.error : new CommandFailedError('nft', SESSION_ARGS, exit.exitCode, stderr, {
        cause: exit.error,
        hint: exit.signal ? `The nft session was killed by ${exit.signal}; the next batch starts a new one.` : 'The nft session ended; the next batch starts a new one.',
      }))
    })
    return child
  }

  private onStderr(text: string): void {
    const lines = (this.partial + text).split('\n')
    this.partial = lines.pop() ?? ''
    for (const line of lines) {
      if (this.afterMarker) {
        this.afterMarker = false
        if (INDICATOR_LINE.test(line)) continue
      }

      const running = this.running
      if (MARKER_LINE.test(line)) {
        // The echo of a marker: the line before it is the marker's own "Error: syntax error, …".
        if (running && /Error: /.test(running.errors.at(-1) ?? '')) running.errors.pop()
        this.afterMarker = true
        if (running?.marker !== line) continue
        this.answered = true
        if (running.errors.length === 0) this.settle()
        else {
          this.settle(new CommandFailedError('nft', SESSION_ARGS, undefined, running.errors.join('\n') + '\n', {
            hint: 'The batch was not applied; the nft session goes on.',
          }))
        }

        continue
      }

      running?.errors.push(line) // with nothing asked, not ours to judge
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

  /** Lets `child` finish and exit (it has nothing left to do), in the background; close() waits for it. */
  private retire(child: Coprocess): void {
    this.detach(child)
    const exited = child.close(this.closeGraceMs).finally(() => this.retiring.delete(exited))
    this.retiring.add(exited)
  }
}

/** Whether `statement` can travel on one `nft -i` line; NftSession.run() throws TypeError for one that cannot. */
export function isNftSessionStatement(statement: string): boolean {
  return statementProblem(statement) === undefined
}

/** Why a statement cannot travel on one `nft -i` line (see NftSession.run), or undefined. */
function statementProblem(statement: string): string | undefined {
  if (!PRINTABLE_ASCII.test(statement)) return 'must be printable ASCII'
  if (statement.endsWith('\\')) return 'cannot end with a backslash'
  if (statement.replaceAll(/"[^"]*"/g, '""').includes('#')) return 'cannot hold # outside quotes'
  if (MARKER_LINE.test(statement.trim())) return 'cannot look like the end-of-batch marker'
  return undefined
}
