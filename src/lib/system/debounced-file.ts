/**
 * Small state files that follow something changing often (a log position, a journal cursor, the offline
 * queue): a change is only noted, and the file is rewritten as a whole at most once per period, in one
 * atomic write, so the hot path never waits for the disk and a crash loses at most that period.
 */
import {mkdir, rm} from 'node:fs/promises'
import {dirname} from 'node:path'

import {writeFileAtomic} from './files.js'

/** Options of {@link DebouncedFileWriter}. */
export interface DebouncedFileWriterOptions {
  /** The longest time from a change to its write, ms. */
  delayMs: number
  /** Permission bits of the file (0o600 by default). */
  mode?: number
  /** Remove the file instead of writing it empty (a queue that drained). */
  removeWhenEmpty?: boolean
  /** Told of a failed write; the writer goes on, and the next change or flush() tries again. */
  onError?: (error: unknown) => void
}

/**
 * Keeps one file equal to what `render()` returns: `touch()` after each change, `flush()` when the
 * owner stops. `render()` is called only when a write happens, so the owner's state is serialised once
 * per period, not once per change; `undefined` means there is nothing to write. Writes run one after
 * the other (never two at once on the same file), create the directory (0o700) when it is missing, and
 * never reject: errors go to `onError`.
 */
export class DebouncedFileWriter {
  private dirty = false
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(private readonly path: string, private readonly render: () => string | undefined,
    private readonly options: DebouncedFileWriterOptions) {}

  /** Notes a change: the file is written within `delayMs`. Costs one timer per period, nothing per call. */
  touch(): void {
    this.dirty = true
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, this.options.delayMs)
    // A pending write must not keep the process alive; owners flush() when they stop.
    this.timer.unref()
  }

  /** Writes now if anything changed since the last write; resolves when it is on disk. Never rejects. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.writing = this.writing.then(() => this.write())
    return this.writing
  }

  private async write(): Promise<void> {
    if (!this.dirty) return
    this.dirty = false
    try {
      const content = this.render()
      if (content === undefined) return
      if (content === '' && this.options.removeWhenEmpty) {
        await rm(this.path, {force: true})
      } else {
        await mkdir(dirname(this.path), {mode: 0o700, recursive: true})
        await writeFileAtomic(this.path, content, {mode: this.options.mode ?? 0o600})
      }
    } catch (error) {
      this.dirty = true
      this.options.onError?.(error)
    }
  }
}
