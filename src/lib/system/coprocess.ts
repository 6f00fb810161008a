/**
 * Long-running child processes that we talk to through stdin and whose stdout and stderr we read as
 * they come (`ipset -exist -`). Like ./exec.ts, one of the only places that start processes: an
 * argument array, never a shell.
 */

import type { DiswallError} from '../errors.js'
import {CommandFailedError, MissingDependencyError} from '../errors.js'
import {netnsPrefix} from './exec.js'
import {execaModule} from './execa-lazy.js'

/** How a coprocess ended. */
export interface CoprocessExit {
  /** Exit status, when it exited by itself. */
  exitCode?: number
  /** The signal that killed it, e.g. `SIGKILL`. */
  signal?: string
  /**
   * MissingDependencyError when the program is not installed; CommandFailedError (with the end of its
   * stderr) when it exited non-zero or was killed by a signal that close() did not send; undefined
   * after a clean exit or close().
   */
  error?: DiswallError
}

/** A running program with a writable stdin; see {@link spawnCoprocess}. */
export interface Coprocess {
  /** PID of the program (with `wrap: ['ip', 'netns', 'exec', NS]` too: ip replaces itself). */
  readonly pid: number | undefined
  /** Whether it has not exited yet. */
  readonly running: boolean
  /** Settles (never rejects) once the program has exited and its output has been delivered. */
  readonly exited: Promise<CoprocessExit>
  /** Writes text to the program's stdin. Returns false, writing nothing, once it has exited or stdin is ended. */
  write(text: string): boolean
  /** Calls `listener` with each piece of stdout or stderr text, as it arrives (not split into lines). */
  on(stream: 'stderr' | 'stdout', listener: (text: string) => void): void
  /** Sends a signal (SIGTERM by default); SIGKILL follows after the kill grace if it is still there. */
  kill(signal?: NodeJS.Signals): void
  /**
   * Ends stdin, so that the program can finish what it has read and exit; sends SIGTERM if it is still
   * running after `graceMs` (1000 by default), SIGKILL after the kill grace. Resolves once it has exited.
   * Safe to call more than once.
   */
  close(graceMs?: number): Promise<CoprocessExit>
}

/** Options of {@link spawnCoprocess}. */
export interface SpawnCoprocessOptions {
  /**
   * A prefix that runs the program through another one, e.g. `['ip', 'netns', 'exec', 'dw-1']`.
   * The prefix must replace itself with the program (exec), so that `pid` is the program's.
   */
  wrap?: readonly string[]
  /** Extra environment variables (LC_ALL=C is always set). */
  env?: Record<string, string>
  /** Milliseconds between SIGTERM and SIGKILL; 2000 by default. */
  killGraceMs?: number
}

/** The signature of {@link spawnCoprocess}, so that callers can take another one (tests, namespaces). */
export type SpawnCoprocess = (program: string, args: readonly string[], options?: SpawnCoprocessOptions) => Coprocess

/** How much of the program's stderr is kept for the error message, in characters. */
const STDERR_TAIL_CHARS = 4096

/** What `ip netns exec` (iproute2) prints when the program it should run is missing. */
const WRAPPED_NOT_FOUND = /exec of "[^"]*" failed: No such file or directory/

/**
 * Starts `program` with `args` (never a shell) with pipes on stdin, stdout and stderr, for programs that
 * read commands from stdin for a long time. Nothing is buffered: output goes to the `on()` listeners
 * as it arrives. The program is killed when this process exits. Never throws for a failed start: a
 * missing program shows as `exited` with a MissingDependencyError.
 */
export const spawnCoprocess: SpawnCoprocess = (program, args, {env, killGraceMs = 2000, wrap = []} = {}) => {
  const argv = [...wrap, program, ...args]
  const {execa, ExecaError} = execaModule()
  const subprocess = execa(argv[0]!, argv.slice(1), {
    buffer: false,
    // Kill the program when this process exits (execa's default, stated because we rely on it).
    cleanup: true,
    // LC_ALL=C: the output is parsed, so keep it untranslated.
    env: {...env, LC_ALL: 'C'},
    forceKillAfterDelay: killGraceMs,
    stderr: 'pipe',
    stdin: 'pipe',
    stdout: 'pipe',
  })
  const listeners = {stderr: [] as Array<(text: string) => void>, stdout: [] as Array<(text: string) => void>}
  let stderrTail = ''
  for (const name of ['stdout', 'stderr'] as const) {
    const stream = subprocess[name]
    stream.setEncoding('utf8')
    stream.on('data', (text: string) => {
      if (name === 'stderr') stderrTail = (stderrTail + text).slice(-STDERR_TAIL_CHARS)
      for (const listener of listeners[name]) listener(text)
    })
  }

  // A write racing the program's exit fails with EPIPE; the exit itself is reported through `exited`.
  subprocess.stdin.on('error', () => {})

  let running = true
  let closing = false
  const exited: Promise<CoprocessExit> = subprocess.then(
    (): CoprocessExit => ({exitCode: 0}),
    (error: unknown): CoprocessExit => {
      if (!(error instanceof ExecaError)) {
        return {error: new CommandFailedError(program, args, undefined, String(error), {cause: error})}
      }

      const outcome: CoprocessExit = {exitCode: error.exitCode, signal: error.signal}
      if (error.code === 'ENOENT' || (wrap.length > 0 && WRAPPED_NOT_FOUND.test(stderrTail))) {
        return {...outcome, error: new MissingDependencyError(program, undefined, {cause: error})}
      }

      if (closing && error.exitCode === undefined) return outcome // our own SIGTERM/SIGKILL
      return {
        ...outcome,
        error: new CommandFailedError(program, args, error.exitCode, stderrTail, {
          cause: error,
          hint: error.signal ? `It was killed by ${error.signal}.` : undefined,
        }),
      }
    },
  ).finally(() => {
    running = false
  })

  const kill = (signal: NodeJS.Signals = 'SIGTERM'): void => {
    if (running) subprocess.kill(signal)
  }

  let closed: Promise<CoprocessExit> | undefined
  const close = (graceMs = 1000): Promise<CoprocessExit> => {
    closed ??= (async () => {
      closing = true
      subprocess.stdin.end()
      let timer: NodeJS.Timeout | undefined
      const graceOver = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, graceMs)
      })
      try {
        if (await Promise.race([exited.then(() => false), graceOver.then(() => true)])) kill('SIGTERM')
        return await exited
      } finally {
        clearTimeout(timer)
      }
    })()
    return closed
  }

  return {
    close,
    exited,
    kill,
    on(stream, listener) {
      listeners[stream].push(listener)
    },
    pid: subprocess.pid,
    get running() {
      return running
    },
    write(text) {
      if (!running || subprocess.stdin.writableEnded || subprocess.stdin.destroyed) return false
      subprocess.stdin.write(text)
      return true
    },
  }
}

/**
 * A {@link SpawnCoprocess} that starts every program inside the network namespace `name`
 * (`ip netns exec NAME program args…`), like netnsExec(). For tests and benchmarks, which must never
 * touch the host's own firewall.
 */
export function netnsCoprocess(name: string, base: SpawnCoprocess = spawnCoprocess): SpawnCoprocess {
  const prefix = netnsPrefix(name)
  return (program, args, options = {}) => base(program, args, {...options, wrap: [...prefix, ...(options.wrap ?? [])]})
}
