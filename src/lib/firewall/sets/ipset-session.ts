/**
 * A persistent `ipset -exist -` process that applies small batches of ipset command lines in well under
 * a millisecond, instead of the ~3 ms that starting `ipset restore` costs. The daemon's ban path uses it
 * through IpsetBackend; one-shot commands keep using `ipset restore`.
 */
import {DiswallError, ExitCode} from '../../errors.js'
import {spawnCoprocess} from '../../system/index.js'
import type {SpawnCoprocess} from '../../system/index.js'
import {CoprocessBatchSession} from './batch-session.js'

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

/**
 * Runs batches of ipset command lines through one long-running `ipset -exist -`, one batch at a time.
 *
 * ipset 7.17 in this mode reads one command per line, writes errors on stderr and goes on after
 * them; `test SET ADDR` answers on stderr too. So each batch is followed by `test SENTINEL
 * 255.255.255.255`: its answer ends the batch, and any other stderr text before it means a line of
 * the batch failed (the batch is rejected with that text; the lines before and after it were still
 * applied). A process that exits (other ipset versions stop at an error; someone killed it) fails
 * the running batch, and the next batch starts a fresh process. The process starts with the first
 * batch, not before. stdout carries only the prompts ("ipset> ", block-buffered by ipset 7.17): read,
 * never parsed.
 */
export class IpsetSession extends CoprocessBatchSession<readonly string[]> implements IpsetBatchRunner {
  private readonly sentinelSet: string
  private readonly sentinelAnswer: RegExp

  constructor({closeGraceMs = 1000, sentinelSet, spawn = spawnCoprocess, timeoutMs = IPSET_SESSION_TIMEOUT_MS}: IpsetSessionOptions) {
    if (!/^[A-Za-z0-9_.-]{1,31}$/.test(sentinelSet)) throw new TypeError(`invalid ipset set name: ${JSON.stringify(sentinelSet)}`)
    super({args: SESSION_ARGS, closedError: () => new SessionClosedError(), closeGraceMs, program: 'ipset', spawn, timeoutMs})
    this.sentinelSet = sentinelSet
    // ipset 7.17: "255.255.255.255 is NOT in set S." or "Warning: 255.255.255.255 is in set S."; other
    // versions may put "ipset vX: " in front.
    this.sentinelAnswer = new RegExp(`(?:^|: )${SENTINEL_ADDRESS.replaceAll('.', '\\.')} is (?:NOT )?in set ${sentinelSet.replaceAll('.', '\\.')}\\.$`)
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
    return this.enqueue(lines)
  }

  /** The lines, then the sentinel `test` whose answer ends the batch. */
  protected override batchText(lines: readonly string[]): string {
    const script = lines.length > 0 ? `${lines.join('\n')}\n` : ''
    return `${script}test ${this.sentinelSet} ${SENTINEL_ADDRESS}\n`
  }

  /** The sentinel answer ends the batch; any other line before it is an error of the batch. */
  protected override judgeLine(line: string, errors: string[] | undefined): void {
    if (!errors) return // nothing asked: not ours to judge
    if (this.sentinelAnswer.test(line)) this.endBatch('The ipset session goes on: the other lines of the batch were applied.')
    else errors.push(line)
  }
}
