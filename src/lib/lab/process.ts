import {type ChildProcess, spawn} from 'node:child_process'
import {setTimeout as sleep} from 'node:timers/promises'

import {registerCleanup} from './cleanup.js'

/** How a process ended: exit code, or the signal that killed it. */
export interface ProcessExit {
  code: number | null
  signal: NodeJS.Signals | null
}

/** Options of {@link spawnProcess}. */
export interface SpawnProcessOptions {
  /** Run the program inside this network namespace (`ip netns exec NAME program args…`). */
  netns?: string
  /** Extra environment variables, added to the test process's environment. */
  env?: Record<string, string>
  /** Working directory; the test process's by default. */
  cwd?: string
}

/** A long-running process started by the test helpers; removed at exit if the test forgets it. */
export interface SpawnedProcess {
  /** PID of the program itself (`ip netns exec` replaces itself with the program). */
  readonly pid: number
  /** The underlying child process (stdout and stderr are captured; stdin is closed). */
  readonly child: ChildProcess
  /**
   * Settles when the process has exited. Reading it makes the process keep the test process alive
   * until then (otherwise a spawned process never does, so a forgotten one cannot hang the run).
   */
  readonly exited: Promise<ProcessExit>
  /** How the process ended, or undefined while it runs. */
  readonly exitStatus: ProcessExit | undefined
  /** What the process wrote so far (the last {@link MAX_CAPTURE_CHARS} characters of each stream). */
  output(): {stdout: string; stderr: string}
  /**
   * Sends SIGTERM to the process and its process group, then SIGKILL if it is still there after
   * `graceMs` (3000 ms by default), and resolves once it has exited. Safe to call more than once.
   */
  stop(graceMs?: number): Promise<ProcessExit>
}

const STDIO_DRAIN_MS = 500

/** Upper bound of the captured stdout and stderr of a spawned process, each, in characters. */
export const MAX_CAPTURE_CHARS = 256 * 1024

/**
 * Starts a long-running program with an argument array (never a shell), optionally inside a network
 * namespace, in its own process group so that stopping it also stops whatever it started.
 * The process is registered for removal at exit and does not keep the test process alive by itself.
 * Throws when the program cannot be started (e.g. `ip` or the program is not installed).
 */
export function spawnProcess(program: string, args: readonly string[] = [], options: SpawnProcessOptions = {}): SpawnedProcess {
  const argv = options.netns === undefined ? [program, ...args] : ['ip', 'netns', 'exec', options.netns, program, ...args]
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: options.cwd,
    detached: true, // its own process group: stop() reaches the program's children too
    env: {...process.env, ...options.env},
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const captured = {stderr: '', stdout: ''}
  child.on('error', (error) => {
    captured.stderr += `\n[spawnProcess] ${error.message}\n`
  })
  const pid = child.pid
  if (pid === undefined) {
    throw new Error(`could not start ${argv[0]}: not installed or not executable (PATH=${process.env.PATH ?? ''})`)
  }

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
      unregister()
      // Settle once the pipes are drained too, so output() has the last words (a failing program's
      // error); a grandchild that keeps them open delays this by at most STDIO_DRAIN_MS.
      const timer = setTimeout(() => resolve(status), STDIO_DRAIN_MS)
      child.once('close', () => {
        clearTimeout(timer)
        resolve(status)
      })
    })
  })
  // An exit is expected at some point; nobody has to await it.
  exited.catch(() => {})

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

  const unregister = registerCleanup({
    description: `process ${pid} (${argv.join(' ')})`,
    remove: async () => {
      await stop()
    },
    removeSync: () => signalGroup('SIGKILL'),
  })

  // Neither the child nor its pipes keep the test process alive: a forgotten process must not hang
  // the run; the exit hook kills it. stop() and `exited` take the reference back while they wait.
  child.unref()
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as {unref?: () => void}).unref?.()

  return {
    child,
    get exitStatus() {
      return exitStatus
    },
    get exited() {
      child.ref()
      return exited
    },
    output: () => ({...captured}),
    pid,
    stop,
  }
}
