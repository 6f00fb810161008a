/**
 * The process-wide registry of everything the lab creates (network namespaces, processes, temporary
 * directories). The demo, tests and benchmarks remove their resources when done (tests in `after`
 * hooks); this registry is the safety net that also removes them when the process exits early, is
 * interrupted (SIGINT, e.g. Ctrl-C), terminated (SIGTERM, SIGHUP) or orphaned (EPIPE on stdout:
 * `node --test` forwards its own SIGINT to the test files as SIGTERM and exits at once), so an aborted
 * run leaves nothing behind. Only SIGKILL defeats it.
 */

/** A resource the registry knows how to remove. */
export interface CleanupEntry {
  /** What is removed, for the message when removing fails ("network namespace dw-1a2b-1f"). */
  readonly description: string
  /** Removes the resource without waiting on the event loop: runs inside `process.on('exit')`. */
  readonly removeSync: () => void
  /** Removes the resource gracefully (e.g. SIGTERM and wait); `removeSync` when absent. */
  readonly remove?: () => Promise<void>
}

/** Exit status for a process ended by a signal, as shells report it (128 + signal number). */
const SIGNAL_EXIT_CODES = {SIGHUP: 129, SIGINT: 130, SIGTERM: 143} as const

const registry = new Set<CleanupEntry>()
let handlersInstalled = false

/**
 * Registers a resource for removal at process exit and on SIGINT, SIGTERM and SIGHUP.
 * Returns the function that unregisters it; call it once the resource is removed normally.
 */
export function registerCleanup(entry: CleanupEntry): () => void {
  installHandlers()
  registry.add(entry)
  return () => {
    registry.delete(entry)
  }
}

/** How many resources are registered and not removed yet (for tests of the lab itself). */
export function registeredCleanupCount(): number {
  return registry.size
}

/**
 * Removes every registered resource synchronously, newest first (processes before the namespaces
 * and directories they use). A failure is reported on stderr and does not stop the others.
 */
export function cleanupAllSync(): void {
  for (const entry of takeAll()) {
    try {
      entry.removeSync()
    } catch (error) {
      reportFailure(entry, error)
    }
  }
}

/**
 * Removes every registered resource gracefully, newest first; for an `after` hook that wants to be
 * sure nothing of the file is left. A resource whose graceful removal fails is removed synchronously.
 * Rejects with an AggregateError listing the failures, if any.
 */
export async function cleanupAll(): Promise<void> {
  const errors: unknown[] = []
  for (const entry of [...registry].reverse()) {
    if (!registry.has(entry)) continue // removed meanwhile, e.g. with the namespace it lived in
    try {
      await (entry.remove ? entry.remove() : entry.removeSync())
    } catch (error) {
      errors.push(new Error(`removing ${entry.description} failed`, {cause: error}))
      try {
        entry.removeSync()
      } catch (syncError) {
        reportFailure(entry, syncError)
      }
    }
    registry.delete(entry)
  }
  if (errors.length > 0) throw new AggregateError(errors, `cleanup failed for ${errors.length} resource(s)`)
}

function takeAll(): CleanupEntry[] {
  const entries = [...registry].reverse()
  registry.clear()
  return entries
}

function reportFailure(entry: CleanupEntry, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`lab cleanup: removing ${entry.description} failed: ${message}\n`)
}

/** How long an interrupted process spends removing resources gracefully before it gives up. */
const INTERRUPT_CLEANUP_DEADLINE_MS = 5000

/** Exit status after the reader of stdout went away (128 + SIGPIPE). */
const BROKEN_PIPE_EXIT_CODE = 141

let interrupted = false

/**
 * Removes everything (gracefully, so that stopped children are reaped by this process and none is
 * left as a zombie; synchronously for whatever remains at the deadline) and exits with `code`.
 * A second SIGINT (an impatient Ctrl-C) skips the rest of the graceful part.
 */
function interrupt(reason: string, code: number, force = false): void {
  const exit = (): never => {
    cleanupAllSync()
    process.exit(code)
  }
  if (interrupted) {
    if (force) exit()
    return
  }
  interrupted = true
  process.exitCode = code
  setTimeout(exit, INTERRUPT_CLEANUP_DEADLINE_MS)
  cleanupAll()
    .catch((error: unknown) => process.stderr.write(`lab cleanup after ${reason}: ${String(error)}\n`))
    .finally(exit)
}

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', cleanupAllSync)
  for (const signal of Object.keys(SIGNAL_EXIT_CODES) as Array<keyof typeof SIGNAL_EXIT_CODES>) {
    process.on(signal, () => interrupt(signal, SIGNAL_EXIT_CODES[signal], signal === 'SIGINT'))
  }
  // Node 20's `node --test` forwards SIGINT to a test file as SIGTERM and exits at once. The file's
  // next write to stdout or stderr then fails with EPIPE, and the runner's own handler of that
  // uncaught error fails too: the process dies with code 7 and no 'exit' event, so nothing would be
  // removed. Take the broken pipe as the interruption it is.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'EPIPE') throw error
      interrupt(`EPIPE on ${stream === process.stdout ? 'stdout' : 'stderr'}`, BROKEN_PIPE_EXIT_CODE)
    })
  }
}
