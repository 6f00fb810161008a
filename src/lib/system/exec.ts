// node:child_process, not execa: these are plain runs (argument array, stdin text, captured output), and
// execa's ~130 modules cost ~0.13 s of CPU at every start of the CLI (a `block add` in a script's loop).
import {spawn, spawnSync} from 'node:child_process'
import type {Writable} from 'node:stream'

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

/** Output (stdout and stderr together) beyond which a run is stopped and fails: far above any list. */
const MAX_OUTPUT_CHARS = 512 * 1024 * 1024
/** Milliseconds between the SIGTERM of a timeout or abort and the SIGKILL that follows it. */
const FORCE_KILL_AFTER_MS = 5000

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
  if (input !== undefined && inputStream !== undefined) throw new TypeError('exec: input and inputStream exclude each other')
  signal?.throwIfAborted()
  // LC_ALL=C: we parse the output of ss, ipset and nft, so keep it untranslated.
  const child = spawn(program, args, {env: {...process.env, ...env, LC_ALL: 'C'}, stdio: ['pipe', 'pipe', 'pipe']})
  const out = {stderr: [] as string[], stdout: [] as string[]}
  let size = 0
  let failure: 'maxBuffer' | 'timeout' | undefined
  let forceKill: NodeJS.Timeout | undefined
  const stop = (): void => {
    if (child.exitCode !== null || child.signalCode !== null) return
    child.kill('SIGTERM')
    // As execa did: SIGKILL when SIGTERM did not end the program within 5 s.
    forceKill ??= setTimeout(() => child.kill('SIGKILL'), FORCE_KILL_AFTER_MS)
    forceKill.unref()
  }
  for (const name of ['stdout', 'stderr'] as const) {
    child[name].setEncoding('utf8')
    child[name].on('data', (text: string) => {
      size += text.length
      if (size > MAX_OUTPUT_CHARS) {
        failure ??= 'maxBuffer'
        stop()
        return
      }
      out[name].push(text)
    })
  }
  // A program that exits without reading all its input: its exit status tells what happened.
  child.stdin.on('error', () => {})
  let sourceError: {error: unknown} | undefined
  if (inputStream === undefined) child.stdin.end(input ?? '')
  else {
    feed(child.stdin, inputStream).then(() => child.stdin.end(), (error: unknown) => {
      sourceError = {error}
      // Killed before stdin closes: the program must not take a cut input for a complete one.
      child.kill('SIGKILL')
    })
  }
  const timer = setTimeout(() => {
    failure ??= 'timeout'
    stop()
  }, timeoutMs)
  const onAbort = (): void => stop()
  signal?.addEventListener('abort', onAbort, {once: true})
  try {
    const {code, error} = await new Promise<{code: number | null; error?: NodeJS.ErrnoException}>((resolve) => {
      child.once('error', (e: NodeJS.ErrnoException) => resolve({code: null, error: e}))
      child.once('close', (c: number | null) => resolve({code: c}))
    })
    const stderr = out.stderr.join('')
    if (sourceError !== undefined) throw sourceError.error
    if (signal?.aborted) throw signal.reason
    if (error?.code === 'ENOENT') throw new MissingDependencyError(program, undefined, {cause: error})
    if (error) throw new CommandFailedError(program, args, undefined, stderr, {cause: error})
    if (failure === 'timeout') {
      throw new CommandFailedError(program, args, code ?? undefined, stderr, {timedOut: true, timeoutMs})
    }
    if (failure === 'maxBuffer') {
      throw new CommandFailedError(program, args, code ?? undefined, `${stderr}\noutput longer than ${MAX_OUTPUT_CHARS} characters`)
    }
    if (code !== 0) throw new CommandFailedError(program, args, code ?? undefined, stderr)
    return {stderr, stdout: out.stdout.join('')}
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * Writes a stream into a program's stdin chunk by chunk, waiting for the pipe to drain; stops early
 * once the pipe is gone (the program exited: its own exit status and stderr say why). Rejects with the
 * stream's error.
 */
async function feed(stdin: Writable, source: AsyncIterable<string>): Promise<void> {
  let gone = false
  const wake = new Set<() => void>()
  const stop = (): void => {
    gone = true
    for (const resolve of wake) resolve()
  }
  stdin.on('error', stop)
  stdin.on('close', stop)
  for await (const chunk of source) {
    if (gone) return
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
  // LC_ALL=C: callers match the program's messages ("File exists"), so keep them untranslated.
  const r = spawnSync(program, args, {
    encoding: 'utf8',
    env: {...process.env, LC_ALL: 'C'},
    input: '',
    killSignal: 'SIGTERM',
    maxBuffer: MAX_OUTPUT_CHARS,
    timeout: timeoutMs,
  })
  const error = r.error as NodeJS.ErrnoException | undefined
  if (error?.code === 'ENOENT') throw new MissingDependencyError(program, undefined, {cause: error})
  const timedOut = error?.code === 'ETIMEDOUT'
  if (error || r.status !== 0) {
    throw new CommandFailedError(program, args, r.status ?? undefined, String(r.stderr ?? ''), {cause: error, timedOut})
  }
  return {stderr: r.stderr, stdout: r.stdout}
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
