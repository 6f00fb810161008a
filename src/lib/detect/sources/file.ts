/**
 * Service log files (auth.log, mail.log, nginx's error.log) followed like `tail -F`: rotation,
 * truncation and late creation are handled by ./follow.ts; this module turns the bytes into LogLines.
 * The original DisWall's nginx follower missed `copytruncate`, ended when the file was missing at
 * start, and panicked on some lines.
 */
import type {FileHandle} from 'node:fs/promises'

import {followFile} from './follow.js'
import {HealthTracker, LineSplitter, RunSet} from './internal.js'
import type {LogLine, LogSource, RunHooks, SourceHealth} from './types.js'

/** Longest line kept by default, in bytes; longer lines are dropped and counted as lost. */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024

/** Options of {@link FileSource}. */
export interface FileSourceOptions {
  /** Name in LogLine.source and the health; `file:<path>` by default. */
  name?: string
  /** Read the existing content first instead of starting at the end (tests, one-off scans); false by default. */
  fromStart?: boolean
  /** Milliseconds between stat checks when fs.watch reports nothing; 1000 by default. */
  pollIntervalMs?: number
  /** Longest line kept, in bytes; 64 KiB by default. */
  maxLineBytes?: number
}

/**
 * The lines appended to one log file. Starts at the end of the file (after the last complete line), or
 * at its beginning with `fromStart`; a file that does not exist yet is waited for (state `running`
 * all the same). Lines cut by a rotation or truncation and over-long lines are dropped and counted as
 * `lost`. The iteration throws the file system's error when the file cannot be read (EACCES, EISDIR).
 */
export class FileSource implements LogSource {
  readonly name: string
  private readonly health_: HealthTracker
  private closed = false
  private readonly runs = new RunSet<LogLine>()
  private readonly stop = new AbortController()

  constructor(readonly path: string, private readonly options: FileSourceOptions = {}) {
    this.name = options.name ?? `file:${path}`
    this.health_ = new HealthTracker(this.name)
  }

  /** Starts a run (see {@link LogSource.start}); it begins when first pulled. */
  start(hooks: RunHooks = {}): AsyncGenerator<LogLine> {
    return this.runs.start(() => this.run(hooks))
  }

  private async *run(hooks: RunHooks): AsyncGenerator<LogLine> {
    if (this.closed) return
    const health = this.health_
    const splitter = new LineSplitter(this.options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES)
    // Every run starts at the end (a run after a failure too): what was written while the source was
    // down is skipped rather than guessed at.
    const startPosition = async (size: number, file: FileHandle): Promise<number> => {
      if (size > 0 && !(await endsWithNewline(file, size))) splitter.skipToNextLine() // a line is being written
      return size
    }
    health.state = 'starting'
    let dropped = 0
    try {
      for await (const event of followFile(this.path, {
        fromStart: this.options.fromStart ?? false,
        // Following, or waiting for the file, which is then read from its start: either way nothing
        // written from now on is missed.
        onState: () => {
          health.state = 'running'
          hooks.reading?.()
        },
        pollIntervalMs: this.options.pollIntervalMs,
        signal: this.stop.signal,
        startPosition,
      })) {
        if (event.type === 'reset') splitter.reset()
        const lines = event.type === 'data' ? splitter.push(event.bytes) : []
        health.lost += splitter.dropped - dropped
        dropped = splitter.dropped
        for (const text of lines) {
          health.line()
          yield {source: this.name, text}
        }
      }
      health.state = 'stopped'
    } catch (error) {
      health.fail(error)
      throw error
    }
  }

  /** Stops following; the current iteration ends at its next wait and later runs yield nothing. */
  async close(): Promise<void> {
    this.closed = true
    this.stop.abort()
    await this.runs.returnAll()
    this.health_.state = 'stopped'
  }

  health(): SourceHealth {
    return this.health_.snapshot()
  }
}

async function endsWithNewline(file: FileHandle, size: number): Promise<boolean> {
  const byte = Buffer.alloc(1)
  await file.read(byte, 0, 1, size - 1)
  return byte[0] === 10
}
