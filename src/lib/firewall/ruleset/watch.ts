import {watch} from 'node:fs'
import type {FSWatcher} from 'node:fs'

export interface WatchOptions {
  /** Quiet time after the last change before `onChange` runs, ms (editors write in bursts). */
  debounceMs?: number
  /** Runs once per burst of changes; never twice at a time (a burst during a run queues one more). */
  onChange: (changed: string[]) => Promise<void>
  /** Called with errors of the watcher itself (the directory vanished, too many watches, …). */
  onError?: (error: Error) => void
}

export interface DirectoryWatch {
  close(): void
  /** Settles when no run is pending or running (tests, shutdown). */
  idle(): Promise<void>
}

/** Editor and package-manager droppings that are not part of the ruleset. */
function isNoise(name: string): boolean {
  const base = name.split('/').pop() ?? name
  return base.startsWith('.') || base.endsWith('~') || base.endsWith('.swp') || /\.dpkg-\w+$/.test(base) ||
    /^\d+$/.test(base) // vim's write test file "4913"
}

/**
 * Watches a directory tree (fs.watch, recursive) and calls `onChange` once per burst of changes,
 * `debounceMs` after the last one. Runs never overlap: changes during a run lead to exactly one
 * more run afterwards.
 */
export function watchDirectory(dir: string, {debounceMs = 300, onChange, onError}: WatchOptions): DirectoryWatch {
  let timer: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let changed = new Set<string>()

  const run = (): void => {
    timer = undefined
    if (running) {
      again = true
      return
    }

    const batch = [...changed].sort()
    changed = new Set()
    running = onChange(batch).catch((error: unknown) => onError?.(error as Error)).finally(() => {
      running = undefined
      if (again) {
        again = false
        run()
      }
    })
  }

  const watcher: FSWatcher = watch(dir, {persistent: true, recursive: true}, (_event, name) => {
    const file = name ? String(name) : ''
    if (file && isNoise(file)) return
    changed.add(file)
    if (timer) clearTimeout(timer)
    timer = setTimeout(run, debounceMs)
  })
  watcher.on('error', (error) => onError?.(error))

  return {
    close() {
      if (timer) clearTimeout(timer)
      watcher.close()
    },
    async idle() {
      while (timer || running) {
        await (running ?? new Promise((resolve) => setTimeout(resolve, debounceMs)))
      }
    },
  }
}
