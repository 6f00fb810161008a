/**
 * The common part of the sources that read the output of one long-running program, line by line:
 * journalctl (./journal.ts) and tcpdump (./nflog.ts). A subclass names the program and turns its lines
 * into LogLines; starting, stopping and health are done here.
 */
import {type LineStream, spawnLines, type SpawnLinesOptions} from '../../system/index.js'
import {HealthTracker, RunSet} from './internal.js'
import type {LogLine, LogSource, RunHooks, SourceHealth} from './types.js'

/** Starts a program and reads its stdout as lines (spawnLines; tests pass a fake). */
export type SpawnLinesFn = (program: string, args: readonly string[], options?: Pick<SpawnLinesOptions, 'onStderr'>) => LineStream

/** How much of the program's stderr is searched for {@link ProgramLineSource.readingOn}, in characters. */
const STDERR_WATCH_CHARS = 4096

/**
 * A source over a program's output. Each run starts the program (command() is asked anew, so a run may
 * resume where the last one stopped) and ends with an error when the program fails; close() stops it.
 */
export abstract class ProgramLineSource implements LogSource {
  private readonly health_: HealthTracker
  private closed = false
  private readonly runs = new RunSet<LogLine>()
  private stream: LineStream | undefined

  constructor(readonly name: string, private readonly spawn: SpawnLinesFn = spawnLines) {
    this.health_ = new HealthTracker(name)
  }

  /** PID of the running program, if one runs. */
  get pid(): number | undefined {
    return this.stream?.pid
  }

  /** The program and its arguments for the next run. */
  protected abstract command(): readonly string[]

  /**
   * When a run reads: `spawn` (the default) once the program runs, which suits a program told where
   * to start (journalctl after a cursor or a time); a string, once the program printed it on stderr
   * (tcpdump's `listening on …`).
   */
  protected readingOn(): 'spawn' | string {
    return 'spawn'
  }

  /** The error a failed run ends with: `error` by default; a subclass may explain it (who holds what). */
  protected async explainFailure(error: unknown): Promise<unknown> {
    return error
  }

  /** One line of the program's output as a LogLine, or undefined to skip it. */
  protected abstract toLogLine(line: string): LogLine | undefined

  /** Starts a run (see {@link LogSource.start}); it begins when first pulled. */
  start(hooks: RunHooks = {}): AsyncGenerator<LogLine> {
    return this.runs.start(() => this.run(hooks))
  }

  private async *run(hooks: RunHooks): AsyncGenerator<LogLine> {
    if (this.closed) return
    const health = this.health_
    health.state = 'starting'
    const [program, ...args] = this.command()
    const marker = this.readingOn()
    let stderr = ''
    let reading = false
    const onStderr = (text: string): void => {
      if (reading || marker === 'spawn') return
      stderr = (stderr + text).slice(-STDERR_WATCH_CHARS)
      if (!stderr.includes(marker)) return
      reading = true
      health.state = 'running'
      hooks.reading?.()
    }
    const stream = this.spawn(program!, args, {onStderr})
    this.stream = stream
    try {
      if (stream.pid !== undefined && marker === 'spawn') {
        health.state = 'running'
        hooks.reading?.()
      }
      for await (const line of stream) {
        const logLine = this.toLogLine(line)
        if (logLine === undefined) continue
        health.line()
        yield logLine
      }
      health.state = 'stopped'
    } catch (thrown) {
      const error = await this.explainFailure(thrown)
      health.fail(error)
      throw error
    } finally {
      if (this.stream === stream) this.stream = undefined
      await stream.close()
      if (this.closed) health.state = 'stopped'
    }
  }

  /** Stops the program; the current iteration ends and later runs yield nothing. */
  async close(): Promise<void> {
    this.closed = true
    await this.stream?.close()
    await this.runs.returnAll()
    this.health_.state = 'stopped'
  }

  health(): SourceHealth {
    return this.health_.snapshot()
  }
}
