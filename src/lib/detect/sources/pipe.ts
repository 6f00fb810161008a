/**
 * The named pipe of the original DisWall, fed by rsyslog (`:msg, contains, "diswall-log: "
 * |/var/log/diswall/diswall.pipe;DisWallSrcIpPort`), for hosts that keep that set-up.
 *
 * Fixed here (the original's bugs): a missing FIFO is created instead of being fatal; the FIFO is
 * opened read-write, so it always has a writer and never reaches end-of-file when rsyslog restarts
 * (the original re-read a closed pipe every 2 ms); it is read through libuv's event loop (epoll), so an
 * idle pipe costs no CPU; and a FIFO that others could write to is refused, since every line may ban.
 */
import {constants, openSync, type Stats} from 'node:fs'
import {lstat, mkdir} from 'node:fs/promises'
import {Socket} from 'node:net'
import {dirname} from 'node:path'

import {MissingDependencyError} from '../../errors.js'
import {exec as defaultExec, type Exec} from '../../system/index.js'
import {DEFAULT_PATHS} from '../../system/index.js'
import {DEFAULT_MAX_LINE_BYTES} from './file.js'
import {HealthTracker, LineSplitter, RunSet} from './internal.js'
import {type LogLine, type LogSource, LogSourceError, type RunHooks, type SourceHealth} from './types.js'

/** The original DisWall's FIFO (`[detect] pipe_path`). */
export const DEFAULT_PIPE_PATH = DEFAULT_PATHS.pipe

/** Options of {@link PipeSource}. */
export interface PipeSourceOptions {
  /** The FIFO; {@link DEFAULT_PIPE_PATH} by default. */
  path?: string
  /** Name in LogLine.source and the health; `pipe` by default. */
  name?: string
  /** Longest line kept, in bytes; 64 KiB by default. */
  maxLineBytes?: number
}

/**
 * Makes sure `path` is a FIFO that only this user can write: creates its directory (mode 0700) and the
 * FIFO (`mkfifo -m 0600`) when missing. Returns whether it was created. Throws LogSourceError when
 * `path` is something else, belongs to another user or is writable by group or others, and
 * MissingDependencyError when mkfifo is not installed.
 */
export async function ensureFifo(path: string, exec: Exec = defaultExec): Promise<{created: boolean}> {
  await mkdir(dirname(path), {mode: 0o700, recursive: true})
  let created = false
  let info = await lstatIfExists(path)
  if (info === undefined) {
    try {
      // Node has no mkfifo(3).
      await exec('mkfifo', ['-m', '0600', path])
      created = true
    } catch (error) {
      if (error instanceof MissingDependencyError) throw new MissingDependencyError('mkfifo', 'coreutils', {cause: error})
      if ((await lstatIfExists(path)) === undefined) throw error // not just created by someone else meanwhile
    }
    info = await lstat(path)
  }

  if (!info.isFIFO()) {
    throw new LogSourceError(`${path} exists and is not a named pipe`, 'Remove it, or set [detect] pipe_path to another path.')
  }
  const uid = process.getuid?.()
  if (uid !== undefined && info.uid !== uid) {
    throw new LogSourceError(`the named pipe ${path} belongs to uid ${info.uid}, not to uid ${uid} that runs diswall`,
      `Remove it and let diswall create it, or run: chown ${uid} ${path}`)
  }
  if ((info.mode & 0o022) !== 0) {
    throw new LogSourceError(
      `the named pipe ${path} is writable by group or others (mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}), so anyone could forge log lines`,
      `Run: chmod 600 ${path}`)
  }
  return {created}
}

/**
 * Lines written to the FIFO by rsyslog (or anything else allowed to write it), as LogLines. The
 * FIFO is created when missing (see {@link ensureFifo}); writers may come and go without ending the
 * stream. The iteration throws LogSourceError or MissingDependencyError from {@link ensureFifo}.
 */
export class PipeSource implements LogSource {
  readonly name: string
  readonly path: string
  private readonly health_: HealthTracker
  private closed = false
  private readonly runs = new RunSet<LogLine>()
  private socket: Socket | undefined

  constructor(private readonly options: PipeSourceOptions = {}, private readonly exec: Exec = defaultExec) {
    this.name = options.name ?? 'pipe'
    this.path = options.path ?? DEFAULT_PIPE_PATH
    this.health_ = new HealthTracker(this.name)
  }

  /** Starts a run (see {@link LogSource.start}); it begins when first pulled. */
  start(hooks: RunHooks = {}): AsyncGenerator<LogLine> {
    return this.runs.start(() => this.run(hooks))
  }

  private async *run(hooks: RunHooks): AsyncGenerator<LogLine> {
    if (this.closed) return
    const health = this.health_
    health.state = 'starting'
    let socket: Socket | undefined
    const splitter = new LineSplitter(this.options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES)
    let dropped = 0
    try {
      await ensureFifo(this.path, this.exec)
      if (this.closed) return
      // O_RDWR: this process is a writer too, so the FIFO never reports end-of-file when the last
      // other writer closes it (Linux defines O_RDWR on a FIFO; it never blocks). O_NONBLOCK: libuv
      // reads it through epoll, like a socket.
      const fd = openSync(this.path, constants.O_RDWR | constants.O_NONBLOCK)
      socket = new Socket({fd, readable: true, writable: false})
      this.socket = socket
      health.state = 'running'
      // The FIFO is open, so a writer's lines wait in it until they are read.
      hooks.reading?.()
      for await (const chunk of socket as AsyncIterable<Buffer>) {
        const lines = splitter.push(chunk)
        health.lost += splitter.dropped - dropped
        dropped = splitter.dropped
        for (const text of lines) {
          health.line()
          yield {source: this.name, text}
        }
      }
      health.state = 'stopped'
    } catch (error) {
      // close() destroys the socket, which ends the iteration with ERR_STREAM_PREMATURE_CLOSE.
      if (this.closed) return
      health.fail(error)
      throw error
    } finally {
      socket?.destroy()
      if (this.socket === socket) this.socket = undefined
      if (this.closed) health.state = 'stopped'
    }
  }

  /** Closes the FIFO; the current iteration ends and later runs yield nothing. The FIFO itself stays. */
  async close(): Promise<void> {
    this.closed = true
    this.socket?.destroy()
    await this.runs.returnAll()
    this.health_.state = 'stopped'
  }

  health(): SourceHealth {
    return this.health_.snapshot()
  }
}

async function lstatIfExists(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
