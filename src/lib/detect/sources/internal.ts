/**
 * Small building blocks the sources share: health counters, a wake-up signal for followers and an
 * unbounded single-consumer queue. Not part of the public surface.
 */
import type {SourceHealth, SourceState} from './types.js'

/** The mutable health of one source; `snapshot()` gives the plain data. */
export class HealthTracker {
  state: SourceState = 'stopped'
  restarts = 0
  lines = 0
  lost = 0
  lastError: string | undefined
  lastLineAt: number | undefined

  constructor(readonly name: string) {}

  /** Counts one yielded item. */
  line(): void {
    this.lines++
    this.lastLineAt = Date.now()
  }

  fail(error: unknown): void {
    this.state = 'failed'
    this.lastError = errorMessage(error)
  }

  snapshot(): SourceHealth {
    return {
      lines: this.lines,
      name: this.name,
      restarts: this.restarts,
      state: this.state,
      ...(this.lost > 0 ? {lost: this.lost} : {}),
      ...(this.lastError === undefined ? {} : {lastError: this.lastError}),
      ...(this.lastLineAt === undefined ? {} : {lastLineAt: this.lastLineAt}),
    }
  }
}

/** The message of anything thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/**
 * A level-triggered wake-up: `notify()` before or during `wait()` makes the next `wait()` return at
 * once. Followers wait on it between reads, woken by fs.watch, a poll timer or close().
 */
export class Wakeup {
  private pending = false
  private resolve: (() => void) | undefined

  notify(): void {
    if (this.resolve) {
      const resolve = this.resolve
      this.resolve = undefined
      resolve()
    } else {
      this.pending = true
    }
  }

  /** Resolves on `notify()`, after `timeoutMs`, or when `signal` aborts; never rejects. */
  async wait(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.pending || signal.aborted) {
      this.pending = false
      return
    }
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        signal.removeEventListener('abort', done)
        this.resolve = undefined
        resolve()
      }
      const timer = setTimeout(done, timeoutMs)
      signal.addEventListener('abort', done, {once: true})
      this.resolve = done
    })
    this.pending = false
  }
}

/**
 * A single-consumer queue fed by callbacks (worker messages): `push` items, then `end()` or
 * `fail(error)`. Iterating it yields the items in order and then ends or throws. Bounding it is the
 * producer's job (see the kmsg worker's back-pressure).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items: T[] = []
  private head = 0
  private done = false
  private error: unknown
  private failed = false
  private waiter: (() => void) | undefined

  constructor(private readonly onTake?: () => void) {}

  push(item: T): void {
    if (this.done) return
    this.items.push(item)
    this.wake()
  }

  end(): void {
    this.done = true
    this.wake()
  }

  fail(error: unknown): void {
    if (this.done) return
    this.failed = true
    this.error = error
    this.done = true
    this.wake()
  }

  get size(): number {
    return this.items.length - this.head
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.head < this.items.length) {
        const item = this.items[this.head++] as T
        // Compact now and then instead of shift(), which is O(n) per item.
        if (this.head >= 1024 && this.head * 2 >= this.items.length) {
          this.items.splice(0, this.head)
          this.head = 0
        }
        this.onTake?.()
        yield item
        continue
      }
      if (this.done) {
        if (this.failed) throw this.error
        return
      }
      await new Promise<void>((resolve) => (this.waiter = resolve))
    }
  }

  private wake(): void {
    const waiter = this.waiter
    this.waiter = undefined
    waiter?.()
  }
}

/**
 * Splits a byte stream into lines (UTF-8, without `\n` or a trailing `\r`), holding at most
 * `maxLineBytes` of an unfinished line: a longer line is dropped whole and counted in `dropped`, never
 * cut (a cut line could end inside an address and ban the wrong one).
 */
export class LineSplitter {
  /** Lines dropped because they were too long or left unfinished by a reset. */
  dropped = 0
  private parts: Buffer[] = []
  private partLength = 0
  private skipping = false

  constructor(private readonly maxLineBytes: number) {}

  /** The complete lines in `chunk` (which may be reused by the caller afterwards). */
  push(chunk: Buffer): string[] {
    const lines: string[] = []
    let start = 0
    for (;;) {
      const nl = chunk.indexOf(10, start)
      if (nl < 0) break
      const piece = chunk.subarray(start, nl)
      if (this.skipping) {
        this.skipping = false
      } else if (this.partLength + piece.length > this.maxLineBytes) {
        this.dropped++
      } else {
        lines.push(decodeLine(this.parts.length === 0 ? piece : Buffer.concat([...this.parts, piece])))
      }
      this.parts = []
      this.partLength = 0
      start = nl + 1
    }
    if (start < chunk.length && !this.skipping) {
      const rest = chunk.subarray(start)
      if (this.partLength + rest.length > this.maxLineBytes) {
        this.dropped++
        this.parts = []
        this.partLength = 0
        this.skipping = true
      } else {
        this.parts.push(Buffer.from(rest))
        this.partLength += rest.length
      }
    }
    return lines
  }

  /** Drops the unfinished line, if any (the file was rotated or truncated under it). */
  reset(): void {
    if (this.partLength > 0) this.dropped++
    this.parts = []
    this.partLength = 0
    this.skipping = false
  }

  /** Ignores everything up to the next newline: reading starts in the middle of a line. */
  skipToNextLine(): void {
    this.reset()
    this.skipping = true
  }
}

function decodeLine(bytes: Buffer): string {
  const end = bytes.length > 0 && bytes[bytes.length - 1] === 13 ? bytes.length - 1 : bytes.length
  return bytes.toString('utf8', 0, end)
}

/**
 * The runs (generators) a source's `start()` handed out and that have not finished. `close()` ends them
 * with `return()`, so that a run whose consumer stopped pulling (suspended at a yield) still releases
 * its file, watcher, socket or thread at once instead of at garbage collection.
 */
export class RunSet<T> {
  private readonly runs = new Set<AsyncGenerator<T>>()

  /** Wraps the generator made by `run` and tracks it until it finishes. */
  start(run: () => AsyncGenerator<T>): AsyncGenerator<T> {
    const runs = this.runs
    const self: {run?: AsyncGenerator<T>} = {}
    const tracked = (async function* () {
      try {
        yield* run()
      } finally {
        if (self.run) runs.delete(self.run)
      }
    })()
    self.run = tracked
    runs.add(tracked)
    return tracked
  }

  /** Ends every tracked run (each after its pending step, if one is under way). */
  async returnAll(): Promise<void> {
    const runs = [...this.runs]
    this.runs.clear()
    await Promise.all(runs.map((run) => run.return(undefined).catch(() => undefined)))
  }
}
