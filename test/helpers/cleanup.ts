/**
 * The process-wide registry of everything the test helpers create (network namespaces, processes,
 * temporary directories). Tests remove their resources in `after` hooks; this registry is the
 * safety net that also removes them when the test process exits early, is interrupted (SIGINT,
 * e.g. Ctrl-C) or terminated (SIGTERM: `node --test` sends it to the test files when it is
 * interrupted itself), so an aborted run leaves nothing behind. Only SIGKILL defeats it.
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

/** How many resources are registered and not removed yet (for tests of the harness itself). */
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
  process.stderr.write(`test cleanup: removing ${entry.description} failed: ${message}\n`)
}

/** How long an interrupted process spends removing resources gracefully before it gives up. */
const SIGNAL_CLEANUP_DEADLINE_MS = 5000

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', cleanupAllSync)
  let interrupted = false
  for (const signal of Object.keys(SIGNAL_EXIT_CODES) as Array<keyof typeof SIGNAL_EXIT_CODES>) {
    const code = SIGNAL_EXIT_CODES[signal]
    process.on(signal, () => {
      const exit = (): never => {
        cleanupAllSync()
        process.exit(code)
      }
      // A second signal (an impatient Ctrl-C) ends the graceful removal.
      if (interrupted) exit()
      interrupted = true
      process.exitCode = code
      // Gracefully first: stopped children are then reaped by this process, so none is left as a
      // zombie; whatever remains at the deadline is removed synchronously.
      setTimeout(exit, SIGNAL_CLEANUP_DEADLINE_MS)
      cleanupAll()
        .catch((error: unknown) => process.stderr.write(`test cleanup after ${signal}: ${String(error)}\n`))
        .finally(exit)
    })
  }
}
