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
 * sure nothing of the file is left. Rejects with an AggregateError listing the failures, if any.
 */
export async function cleanupAll(): Promise<void> {
  const errors: unknown[] = []
  for (const entry of takeAll()) {
    try {
      await (entry.remove ? entry.remove() : entry.removeSync())
    } catch (error) {
      errors.push(new Error(`removing ${entry.description} failed`, {cause: error}))
    }
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

function installHandlers(): void {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', cleanupAllSync)
  for (const signal of Object.keys(SIGNAL_EXIT_CODES) as Array<keyof typeof SIGNAL_EXIT_CODES>) {
    // `once`: a second Ctrl-C gets the default behaviour and kills the process at once.
    process.once(signal, () => {
      cleanupAllSync()
      process.exitCode = SIGNAL_EXIT_CODES[signal]
      // Exit on the next turn, so listeners registered after this one still see the signal.
      setImmediate(() => process.exit(SIGNAL_EXIT_CODES[signal]))
    })
  }
}
