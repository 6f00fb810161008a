import {execa, ExecaError, execaSync, ExecaSyncError} from 'execa'

import {CommandFailedError, MissingDependencyError} from '../errors.js'
import {runInProcessGroup} from './process.js'

export interface ExecOptions {
  /** Written to the program's stdin (bulk input: restore scripts, nft batches). */
  input?: string
  /**
   * Streamed to the program's stdin as it comes, with back-pressure (a 1M-entry list copy, never held
   * whole). When the stream throws, the program is killed (SIGKILL) before its stdin is closed, so it
   * never sees the end of a cut input (`nft -f -` would commit a half transaction), and the call
   * rejects with the stream's error. Not with `input` or `processGroup`.
   */
  inputStream?: AsyncIterable<string>
  /** Killed after this many milliseconds; 15 s by default. */
  timeoutMs?: number
  /** Extra environment variables (LC_ALL=C is always set). */
  env?: Record<string, string>
  /** Aborting it stops the program (SIGTERM); the call then rejects with `signal.reason`. */
  signal?: AbortSignal
  /**
   * Runs the program in its own process group with stdin closed (no `input`), for programs diswall does
   * not control (local.d scripts): the call settles when the program exits, not when its pipes close, so
   * a process it left in the background cannot hold the caller; on timeout or abort the whole group is
   * killed, also what the program started. See runInProcessGroup().
   */
  processGroup?: boolean
}

export interface ExecResult {
  stdout: string
  stderr: string
  /** With `processGroup`: PIDs of the group still running when the program exited (not waited for). */
  background?: number[]
}

/** The one signature through which every external program runs. Adapters take it as a parameter. */
export type Exec = (program: string, args: readonly string[], options?: ExecOptions) => Promise<ExecResult>

export const DEFAULT_EXEC_TIMEOUT_MS = 15_000

/**
 * Runs one program with an argument array, never a shell.
 * Throws MissingDependencyError when the program is not installed, CommandFailedError (with stderr)
 * when it exits non-zero, is killed or times out, and `signal.reason` when `signal` aborted it.
 */
export const exec: Exec = async (program, args, {env, input, inputStream, processGroup, signal, timeoutMs = DEFAULT_EXEC_TIMEOUT_MS} = {}) => {
  if (processGroup) {
    if (input !== undefined || inputStream !== undefined) {
      throw new TypeError('exec: processGroup runs the program with stdin closed; input is not supported')
    }
    return runInProcessGroup(program, args, {env: {...env, LC_ALL: 'C'}, signal, timeoutMs})
  }
  if (inputStream !== undefined) {
    if (input !== undefined) throw new TypeError('exec: input and inputStream exclude each other')
    return execStreaming(program, args, inputStream, {env, signal, timeoutMs})
  }
  try {
    // LC_ALL=C: we parse the output of ss, ipset and nft, so keep it untranslated.
    const {stderr, stdout} = await execa(program, args, {
      cancelSignal: signal,
      env: {...env, LC_ALL: 'C'},
      input: input ?? '',
      maxBuffer: 512 * 1024 * 1024,
      stripFinalNewline: false,
      timeout: timeoutMs,
    })
    return {stderr, stdout}
  } catch (error) {
    if (signal?.aborted) throw signal.reason
    if (!(error instanceof ExecaError)) throw error
    if (error.code === 'ENOENT') throw new MissingDependencyError(program, undefined, {cause: error})
    throw new CommandFailedError(program, args, error.exitCode, String(error.stderr ?? ''), {
      cause: error,
      timedOut: error.timedOut,
      timeoutMs: error.timedOut ? timeoutMs : undefined,
    })
  }
}

/** exec() with `inputStream`: feeds stdin chunk by chunk, waiting for the pipe to drain. */
async function execStreaming(program: string, args: readonly string[], source: AsyncIterable<string>,
  {env, signal, timeoutMs}: {env?: Record<string, string>; signal?: AbortSignal; timeoutMs: number}): Promise<ExecResult> {
  const subprocess = execa(program, args, {
    cancelSignal: signal,
    env: {...env, LC_ALL: 'C'},
    maxBuffer: 512 * 1024 * 1024,
    stdin: 'pipe',
    stripFinalNewline: false,
    timeout: timeoutMs,
  })
  // Settled at once, so an early exit is no unhandled rejection while the feed still waits on its source.
  const outcome = subprocess.then((result) => ({result}), (error: unknown) => ({error}))
  const stdin = subprocess.stdin
  let gone = false
  let sourceError: {error: unknown} | undefined
  const wake = new Set<() => void>()
  const stop = (): void => {
    gone = true
    for (const resolve of wake) resolve()
  }
  // EPIPE once the program exited (a bad line): its own exit and stderr say why.
  stdin.on('error', stop)
  stdin.on('close', stop)
  try {
    for await (const chunk of source) {
      if (gone) break
      if (!stdin.write(chunk)) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            wake.delete(done)
            stdin.off('drain', done)
            resolve()
          }
          wake.add(done)
          stdin.once('drain', done)
        })
      }
    }
  } catch (error) {
    sourceError = {error}
    // Killed before stdin closes: the program must not take a cut input for a complete one.
    subprocess.kill('SIGKILL')
  }
  if (sourceError === undefined) stdin.end()
  const settled = await outcome
  if (sourceError !== undefined) throw sourceError.error
  if ('result' in settled) return {stderr: String(settled.result.stderr), stdout: String(settled.result.stdout)}
  const {error} = settled
  if (signal?.aborted) throw signal.reason
  if (!(error instanceof ExecaError)) throw error
  if (error.code === 'ENOENT') throw new MissingDependencyError(program, undefined, {cause: error})
  throw new CommandFailedError(program, args, error.exitCode, String(error.stderr ?? ''), {
    cause: error,
    timedOut: error.timedOut,
    timeoutMs: error.timedOut ? timeoutMs : undefined,
  })
}

/** Options of {@link execSync}. */
export interface ExecSyncOptions {
  /** Killed after this many milliseconds; 15 s by default. */
  timeoutMs?: number
}

/**
 * Runs one program with an argument array, never a shell, and blocks until it has exited: only for
 * code that cannot wait on the event loop (inside `process.on('exit')`) or must not be interrupted by a
 * signal between two steps. Everything else uses {@link exec}.
 * Throws MissingDependencyError when the program is not installed, CommandFailedError (with stderr)
 * when it exits non-zero, is killed or times out.
 */
export function execSync(program: string, args: readonly string[], {timeoutMs = DEFAULT_EXEC_TIMEOUT_MS}: ExecSyncOptions = {}): ExecResult {
  try {
    // LC_ALL=C: callers match the program's messages ("File exists"), so keep them untranslated.
    const {stderr, stdout} = execaSync(program, args, {
      env: {LC_ALL: 'C'},
      input: '',
      stripFinalNewline: false,
      timeout: timeoutMs,
    })
    return {stderr, stdout}
  } catch (error) {
    if (!(error instanceof ExecaSyncError)) throw error
    if (error.code === 'ENOENT') throw new MissingDependencyError(program, undefined, {cause: error})
    throw new CommandFailedError(program, args, error.exitCode, String(error.stderr ?? ''), {
      cause: error,
      timedOut: error.timedOut,
    })
  }
}

/** Name of a network namespace as `ip netns` accepts it. */
const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/

/**
 * The prefix that runs a program inside the network namespace `name`: `['ip', 'netns', 'exec', NAME]`
 * (ip execs the program, so it keeps ip's PID). The one place that builds it, for {@link netnsExec},
 * netnsCoprocess() and the `wrap` option of spawnProcess().
 * Throws TypeError for a name `ip netns` would refuse.
 */
export function netnsPrefix(name: string): readonly string[] {
  if (!NETNS_NAME.test(name)) throw new TypeError(`invalid network namespace name: ${JSON.stringify(name)}`)
  return ['ip', 'netns', 'exec', name]
}

/**
 * Wraps an Exec so that every program runs inside the network namespace `name`
 * (`ip netns exec NAME program args…`). Used by tests, the demo and benchmarks, which must never
 * touch the host's own firewall.
 */
export function netnsExec(name: string, base: Exec = exec): Exec {
  const [ip, ...prefix] = netnsPrefix(name)
  return async (program, args, options) => {
    try {
      return await base(ip!, [...prefix, program, ...args], options)
    } catch (error) {
      // Report the program that failed, not the `ip netns exec` wrapper around it.
      if (error instanceof CommandFailedError && error.args.length >= 3 && error.program === 'ip') {
        const notFound = /exec of "[^"]*" failed: No such file or directory/.test(error.stderr)
        if (notFound) throw new MissingDependencyError(program, undefined, {cause: error})
        throw new CommandFailedError(program, args, error.programExitCode, error.stderr, {cause: error})
      }
      throw error
    }
  }
}
