/**
 * Programs that run beside diswall for a while and whose output is kept, not parsed as it comes
 * (nats-server, a daemon under test, a server script inside a namespace), and programs that must
 * outlive diswall (the rollback timer of `firewall apply --confirm`). Like ./exec.ts, one of the only
 * places that start processes: an argument array, never a shell.
 *
 * node:child_process rather than execa here: these children get their own process group (detached),
 * and a detached child is outside execa's exit cleanup anyway (execa 9 skips `cleanup` for detached
 * children); the callers keep their own registry of what to stop (src/lib/lab/cleanup.ts).
 */
import {type ChildProcess, spawn} from 'node:child_process'
import {readdirSync, readFileSync} from 'node:fs'
import {setTimeout as sleep} from 'node:timers/promises'

import {CommandFailedError, MissingDependencyError} from '../errors.js'

/** How a process ended: exit code, or the signal that killed it. */
export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Options of {@link spawnProcess}. */
export interface SpawnProcessOptions {
  /**
   * A prefix that runs the program through another one, e.g. `['ip', 'netns', 'exec', 'dw-1']`
   * ({@link netnsPrefix}). The prefix must replace itself with the program (exec), so that `pid` is the
   * program's.
   */
  wrap?: readonly string[]
  /** Extra environment variables, added to this process's environment. */
  env?: Record<string, string>
  /** Working directory; this process's by default. */
  cwd?: string
}

/** A long-running program started by {@link spawnProcess}. */
export interface SpawnedProcess {
  /** PID of the program itself (a `wrap` prefix such as `ip netns exec` replaces itself with it). */
  readonly pid: number
  /**
   * Settles when the process has exited and its output is read. Reading it makes the process keep
   * this process alive until then (otherwise a spawned process never does, so a forgotten one
   * cannot hang its parent).
   */
  readonly exited: Promise<ProcessExit>
  /** How the process ended, or undefined while it runs. */
  readonly exitStatus: ProcessExit | undefined
  /** Calls `listener` once the process has exited and its output is read, without keeping this process alive. */
  onExit(listener: (exit: ProcessExit) => void): void
  /** What the process wrote so far (the last {@link MAX_CAPTURE_CHARS} characters of each stream). */
  output(): {stdout: string; stderr: string}
  /**
   * Sends `signal` to the process and its process group at once, without waiting; nothing after it
   * has exited. Safe inside `process.on('exit')`.
   */
  signal(signal: NodeJS.Signals): void
  /**
   * Sends SIGTERM to the process and its process group, then SIGKILL if it is still there after
   * `graceMs` (3000 ms by default), and resolves once it has exited. Safe to call more than once.
   */
  stop(graceMs?: number): Promise<ProcessExit>
}

/** The signature of {@link spawnProcess}. */
export type SpawnProcess = (program: string, args?: readonly string[], options?: SpawnProcessOptions) => SpawnedProcess

/** Upper bound of the captured stdout and stderr of a spawned process, each, in characters. */
export const MAX_CAPTURE_CHARS = 256 * 1024

/** How long the exit waits for the pipes to close when a grandchild keeps them open. */
const STDIO_DRAIN_MS = 500

/**
 * Starts a long-running program with an argument array (never a shell), stdin closed and stdout and
 * stderr captured, in its own process group so that stopping it also stops whatever it started.
 * It does not keep this process alive by itself and is not stopped when this process exits: the
 * caller stops it (`stop()`, or `signal('SIGKILL')` at exit).
 * @throws MissingDependencyError when the program (or the first word of `wrap`) cannot be started.
 */
export const spawnProcess: SpawnProcess = (program, args = [], {cwd, env, wrap = []} = {}) => {
  const argv = [...wrap, program, ...args]
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd,
    detached: true, // its own process group: stop() reaches the program's children too
    env: {...process.env, ...env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const captured = {stderr: '', stdout: ''}
  child.on('error', (error) => {
    captured.stderr += `\n[spawnProcess] ${error.message}\n`
  })
  const pid = child.pid
  // Node reports a failed spawn (ENOENT, EACCES) by leaving pid undefined; the 'error' event follows.
  if (pid === undefined) throw new MissingDependencyError(argv[0]!)

  for (const stream of ['stdout', 'stderr'] as const) {
    const readable = child[stream]!
    readable.setEncoding('utf8')
    readable.on('data', (chunk: string) => {
      captured[stream] = (captured[stream] + chunk).slice(-MAX_CAPTURE_CHARS)
    })
  }

  let exitStatus: ProcessExit | undefined
  const exited = new Promise<ProcessExit>((resolve) => {
    child.once('exit', (code, signal) => {
      const status = {code, signal}
      exitStatus = status
      // Settle once the pipes are drained too, so output() has the last words (a failing program's
      // error); a grandchild that keeps them open delays this by at most STDIO_DRAIN_MS.
      const timer = setTimeout(() => resolve(status), STDIO_DRAIN_MS)
      child.once('close', () => {
        clearTimeout(timer)
        resolve(status)
      })
    })
  })

  const signalGroup = (signal: NodeJS.Signals): void => {
    if (exitStatus !== undefined) return
    try {
      process.kill(-pid, signal)
    } catch {
      try {
        process.kill(pid, signal)
      } catch {
        // Already gone.
      }
    }
  }

  let stopping: Promise<ProcessExit> | undefined
  const stop = (graceMs = 3000): Promise<ProcessExit> => {
    stopping ??= (async () => {
      if (exitStatus !== undefined) return exitStatus
      child.ref()
      signalGroup('SIGTERM')
      const ac = new AbortController()
      const killed = sleep(graceMs, undefined, {signal: ac.signal}).then(
        () => {
          signalGroup('SIGKILL')
          return exited
        },
        () => exited,
      )
      const status = await Promise.race([exited, killed])
      ac.abort()
      return status
    })()
    return stopping
  }

  unrefAll(child)

  return {
    get exitStatus() {
      return exitStatus
    },
    get exited() {
      child.ref()
      return exited
    },
    onExit(listener) {
      void exited.then(listener)
    },
    output: () => ({...captured}),
    pid,
    signal: signalGroup,
    stop,
  }
}

/**
 * Starts `program` with `args` (never a shell) detached from this process: its own session, stdio
 * ignored, not waited for, so that it outlives this process and the terminal that ran it. Returns its PID.
 * @throws MissingDependencyError when the program cannot be started.
 */
export function spawnDetached(program: string, args: readonly string[]): number {
  const child = spawn(program, args, {detached: true, stdio: 'ignore'})
  // Without a listener, a failed start would be an uncaught 'error' event; it is reported below.
  child.on('error', () => {})
  if (child.pid === undefined) throw new MissingDependencyError(program)
  child.unref()
  return child.pid
}

/** Neither the child nor its pipes keep this process alive; `stop()` and `exited` take the reference back. */
function unrefAll(child: ChildProcess): void {
  child.unref()
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as {unref?: () => void} | null)?.unref?.()
}

/**
 * PIDs of the live processes of process group `pgid`, read from /proc (Linux). Zombies are left out:
 * they have exited and only wait to be reaped, and where PID 1 does not reap orphans (some container
 * inits) they would otherwise make a group look alive forever.
 */
export function processGroupMembers(pgid: number): number[] {
  const members: number[] = []
  let entries: string[]
  try {
    entries = readdirSync('/proc')
  } catch {
    return members
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue
    try {
      // comm (field 2) is in parentheses and may hold spaces or parentheses; the fields after it are fixed.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') members.push(Number(entry))
    } catch {
      // Exited while we listed /proc.
    }
  }
  return members
}

/** How often {@link killProcessGroup} looks whether the group is empty, in milliseconds. */
const GROUP_POLL_MS = 25

/** How long {@link killProcessGroup} waits for the group to vanish after SIGKILL, in milliseconds. */
const GROUP_SIGKILL_WAIT_MS = 2000

/**
 * Ends every process of process group `pgid`, whether or not its leader still runs: SIGTERM to the
 * group, SIGKILL to what is left after `graceMs`. Resolves with the PIDs still alive after that
 * (empty unless a process is stuck in the kernel), at most ~2 s after the SIGKILL.
 */
export async function killProcessGroup(pgid: number, graceMs = 2000): Promise<number[]> {
  const send = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-pgid, signal)
    } catch {
      // ESRCH: the group is gone.
    }
  }
  const waitEmpty = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms
    for (;;) {
      if (processGroupMembers(pgid).length === 0) return true
      if (Date.now() >= deadline) return false
      await sleep(GROUP_POLL_MS)
    }
  }
  if (processGroupMembers(pgid).length === 0) return []
  send('SIGTERM')
  if (await waitEmpty(graceMs)) return []
  send('SIGKILL')
  await waitEmpty(GROUP_SIGKILL_WAIT_MS)
  return processGroupMembers(pgid)
}

/** Options of {@link runInProcessGroup}. */
export interface RunInProcessGroupOptions {
  /** Extra environment variables, added to this process's environment. */
  env?: Record<string, string>
  /** The group is killed after this many milliseconds and the run fails as timed out. */
  timeoutMs: number
  /** Aborting it kills the group; the run then rejects with `signal.reason`. */
  signal?: AbortSignal
  /** Between SIGTERM and SIGKILL when the group is killed, in milliseconds; 2000 by default. */
  graceMs?: number
  /** A prefix that execs the program, as in {@link SpawnProcessOptions.wrap}. */
  wrap?: readonly string[]
}

/** Result of {@link runInProcessGroup}. */
export interface GroupRunResult {
  stdout: string
  stderr: string
  /** PIDs of the group still running when the program exited (started in the background, not waited for). */
  background: number[]
}

/**
 * Runs a program to its end in its own process group (and session), stdin closed, with an argument array,
 * never a shell. It settles when the program itself exits (plus at most {@link STDIO_DRAIN_MS} for its
 * last output), not when its pipes close: a process it left in the background that keeps stdout open
 * does not hold the caller. Such processes are left running and reported in `background`, as a shell
 * leaves `cmd &` running; their later output is not collected. On timeout or abort the whole group is
 * killed ({@link killProcessGroup}), also what the program started.
 * @throws MissingDependencyError when the program cannot be started; CommandFailedError when it exits
 * non-zero, is killed by a signal, or times out (`timedOut`); `signal.reason` when aborted.
 */
export async function runInProcessGroup(program: string, args: readonly string[],
  {env, graceMs, signal, timeoutMs, wrap = []}: RunInProcessGroupOptions): Promise<GroupRunResult> {
  signal?.throwIfAborted()
  const proc = spawnProcess(program, args, {env, wrap})
  let ending: Promise<number[]> | undefined
  let timedOut = false
  const endGroup = (): void => {
    ending ??= killProcessGroup(proc.pid, graceMs)
  }
  const timer = setTimeout(() => {
    timedOut = true
    endGroup()
  }, timeoutMs)
  const onAbort = (): void => endGroup()
  signal?.addEventListener('abort', onAbort, {once: true})
  let exit: ProcessExit
  try {
    exit = await proc.exited
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
  // The program ended on its own before the kill found it, or the kill is still reaching its group.
  if (ending) await ending
  const {stderr, stdout} = proc.output()
  const argv = [...wrap, program, ...args]
  if (signal?.aborted) throw signal.reason
  if (timedOut) {
    throw new CommandFailedError(argv[0]!, argv.slice(1), undefined, stderr, {timedOut: true, timeoutMs})
  }
  if (exit.code !== 0) {
    const stderrWithSignal = exit.signal === null ? stderr : `${stderr}${stderr.endsWith('\n') || stderr === '' ? '' : '\n'}killed by ${exit.signal}`
    throw new CommandFailedError(argv[0]!, argv.slice(1), exit.code ?? undefined, stderrWithSignal)
  }
  return {background: processGroupMembers(proc.pid), stderr, stdout}
}
