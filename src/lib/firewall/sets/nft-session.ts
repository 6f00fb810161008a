/**
 * A persistent `nft -i` process that applies small nft batches in about half a millisecond, instead of
 * the ~8 ms that starting `nft -f -` costs. The daemon's ban path uses it through NftBackend; one-shot
 * commands keep using `nft -f -`.
 */
import {spawnCoprocess} from '../../system/index.js'
import type {Coprocess, SpawnCoprocess} from '../../system/index.js'
import {CoprocessBatchSession} from './batch-session.js'
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
export class NftSession extends CoprocessBatchSession<readonly string[]> implements NftBatchRunner {
  private readonly maxBatches: number
  /** Batches sent to the current process. */
  private batchesOnChild = 0
  /** Whether the current process has answered a marker yet. */
  private answered = false
  /** Processes being ended after maxBatches; close() waits for them. */
  private readonly retiring = new Set<Promise<unknown>>()
  /** The marker of the running batch. */
  private marker = ''
  /** Whether the next stderr line may be the pointer line under a marker's echo. */
  private afterMarker = false
  private sequence = 0

  constructor({closeGraceMs = 1000, maxBatches = NFT_SESSION_MAX_BATCHES, spawn = spawnCoprocess,
    timeoutMs = NFT_SESSION_TIMEOUT_MS}: NftSessionOptions = {}) {
    if (!Number.isInteger(maxBatches) || maxBatches < 1) throw new TypeError(`invalid maxBatches: ${maxBatches}`)
    super({args: SESSION_ARGS, closedError: () => new NftSessionClosedError(), closeGraceMs, env: SESSION_ENV, program: 'nft', spawn, timeoutMs})
    this.maxBatches = maxBatches
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

    return this.enqueue(statements)
  }

  /** Ends the session like the base close(), and waits for the processes retired after maxBatches too. */
  override async close(): Promise<void> {
    await super.close()
    await Promise.all(this.retiring)
  }

  protected override onStart(): void {
    this.batchesOnChild = 0
    this.answered = false
    this.afterMarker = false
  }

  /** A process that has run maxBatches batches is let finish and exit in the background; close() waits for it. */
  protected override reuse(child: Coprocess): boolean {
    if (this.batchesOnChild < this.maxBatches) return true
    const exited = this.retire(child).finally(() => this.retiring.delete(exited))
    this.retiring.add(exited)
    return false
  }

  /** The statements joined with `; ` into one line (one transaction), then the batch's marker line. */
  protected override batchText(statements: readonly string[]): string {
    this.batchesOnChild++
    this.marker = `${MARKER_PREFIX}${++this.sequence}`
    const line = statements.filter((s) => s.trim() !== '').join('; ')
    return `${line === '' ? '' : `${line}\n`}${this.marker}\n`
  }

  /** The echo of the batch's marker ends it; other lines, but the marker's own error and pointer, are errors of it. */
  protected override judgeLine(line: string, errors: string[] | undefined): void {
    if (this.afterMarker) {
      this.afterMarker = false
      if (INDICATOR_LINE.test(line)) return
    }

    if (!MARKER_LINE.test(line)) {
      errors?.push(line) // with nothing asked, not ours to judge
      return
    }

    // The echo of a marker: the line before it is the marker's own "Error: syntax error, …".
    if (errors && /Error: /.test(errors.at(-1) ?? '')) errors.pop()
    this.afterMarker = true
    if (!errors || this.marker !== line) return
    this.answered = true
    this.endBatch('The batch was not applied; the nft session goes on.')
  }

  /**
   * A process that never answered a marker does not speak the way this class expects (another nft
   * version?): stop using it rather than wait this long for every batch.
   */
  protected override timeoutError(stderr: string): Error {
    if (this.answered) return super.timeoutError(stderr)
    this.unusable = this.failed(undefined, stderr, {
      hint: 'nft -i never answered; the session is given up and commits use nft -f.',
      timedOut: true,
    })
    return this.unusable
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
