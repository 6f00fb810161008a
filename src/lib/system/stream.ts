/**
 * Long-running child processes whose standard output is read line by line (`journalctl -f`). Like
 * ./exec.ts, this is one of the only places that start processes: an argument array, never a shell.
 */

import {CommandFailedError, MissingDependencyError} from '../errors.js'
import {execaModule} from './execa-lazy.js'

/** The output of a running program, one line at a time (without the newline). Iterate it once. */
export interface LineStream extends AsyncIterable<string> {
  /** PID of the program, or undefined when it could not be started. */
  readonly pid: number | undefined
  /**
   * Stops the program (SIGTERM, SIGKILL after the grace period) and resolves once it has exited. The
   * iteration then ends without an error. Safe to call more than once.
   */
  close(): Promise<void>
}

/** Options of {@link spawnLines}. */
export interface SpawnLinesOptions {
  /** Extra environment variables (LC_ALL=C is always set). */
  env?: Record<string, string>
  /** Milliseconds between SIGTERM and SIGKILL when the stream is closed; 3000 by default. */
  killGraceMs?: number
  /** Called with each chunk of the program's stderr as it comes (e.g. to see that it has started). */
  onStderr?: (text: string) => void
}

/** How much of the program's stderr is kept for the error message, in characters. */
const STDERR_TAIL_CHARS = 4096

/**
 * Starts `program` with `args` (never a shell; stdin closed) and returns its stdout as lines. Nothing is
 * buffered beyond what the reader has not consumed yet, so it suits programs that never exit. Breaking
 * out of the iteration or calling `close()` kills the program; it is also killed when this process exits.
 * The iteration throws MissingDependencyError when the program is not installed, and CommandFailedError
 * (with the end of its stderr) when it exits non-zero or is killed by someone else; it ends normally when
 * the program exits with status 0.
 */
export function spawnLines(program: string, args: readonly string[], {env, killGraceMs = 3000, onStderr}: SpawnLinesOptions = {}): LineStream {
  const {execa, ExecaError} = execaModule()
  const subprocess = execa(program, args, {
    buffer: false,
    // LC_ALL=C: the output is parsed, so keep it untranslated.
    env: {...env, LC_ALL: 'C'},
    forceKillAfterDelay: killGraceMs,
    stderr: 'pipe',
    stdin: 'ignore',
    stdout: 'pipe',
  })
  // The outcome is read through the iteration; never leave the promise's rejection unhandled.
  const settled = subprocess.then(
    () => undefined,
    (error: unknown) => error,
  )
  let stderrTail = ''
  subprocess.stderr?.setEncoding('utf8')
  subprocess.stderr?.on('data', (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_CHARS)
    onStderr?.(chunk)
  })

  let closing = false
  let iterated = false
  const close = async (): Promise<void> => {
    closing = true
    subprocess.kill()
    await settled
  }

  const toTypedError = (error: unknown): unknown => {
    if (!(error instanceof ExecaError)) return error
    if (error.code === 'ENOENT') return new MissingDependencyError(program, undefined, {cause: error})
    return new CommandFailedError(program, args, error.exitCode, stderrTail || String(error.stderr ?? ''), {
      cause: error,
      hint: error.signal ? `It was killed by ${error.signal}.` : undefined,
    })
  }

  async function* lines(): AsyncGenerator<string> {
    if (iterated) throw new TypeError(`the output of ${program} can be iterated only once`)
    iterated = true
    // Iterated by hand, not with for-await: when the reader stops early, this generator's finally
    // must kill the program before execa's iterator is released (which would throw EPIPE at it).
    const output = subprocess.iterable({from: 'stdout'})[Symbol.asyncIterator]()
    let finished = false
    try {
      for (;;) {
        let result: IteratorResult<string>
        try {
          result = await output.next()
        } catch (error) {
          finished = true
          if (closing) return
          throw toTypedError(error)
        }
        if (result.done) break
        yield result.value
      }
      finished = true
      const error = await settled
      if (error !== undefined && !closing) throw toTypedError(error)
    } finally {
      if (!finished) {
        await close()
        await output.return?.().catch(() => undefined)
      }
    }
  }

  return {
    [Symbol.asyncIterator]: () => lines(),
    close,
    pid: subprocess.pid,
  }
}
