/** Helpers for the source tests: pull items from a running source with deadlines instead of sleeps. */

/** Pulls items from one iteration of a source as they come; `take(n)` waits for the next n. */
export class Puller<T> {
  readonly items: T[] = []
  private readonly iterator: AsyncIterator<T>
  private pending: Promise<IteratorResult<T>> | undefined
  ended = false
  error: unknown

  /** Pulls at once, so that the source (a lazy generator) starts running. */
  constructor(iterable: AsyncIterable<T>) {
    this.iterator = iterable[Symbol.asyncIterator]()
    this.pending = this.iterator.next()
    this.pending.catch(() => undefined) // observed by the next take/end
  }

  /** Waits for the next `count` items (within `timeoutMs`) and returns them. */
  async take(count: number, timeoutMs = 3000): Promise<T[]> {
    const out: T[] = []
    const deadline = Date.now() + timeoutMs
    while (out.length < count) {
      const result = await this.next(deadline - Date.now())
      if (result === 'timeout') throw new Error(`timed out after ${timeoutMs} ms with ${out.length}/${count} items: ${JSON.stringify(out)}`)
      if (result.done) throw new Error(`the iteration ended after ${out.length}/${count} items: ${JSON.stringify(out)}`)
      out.push(result.value)
    }
    return out
  }

  /** Resolves with 'nothing' when no item comes within `ms` (the pending pull is kept for later). */
  async nothingWithin(ms: number): Promise<T | 'nothing'> {
    const result = await this.next(ms)
    if (result === 'timeout') return 'nothing'
    if (result.done) throw new Error('the iteration ended')
    return result.value
  }

  /** Waits for the end of the iteration; resolves with the error it threw, if any. */
  async end(timeoutMs = 3000): Promise<unknown> {
    for (;;) {
      let result: IteratorResult<T> | 'timeout'
      try {
        result = await this.next(timeoutMs)
      } catch (error) {
        return error
      }
      if (result === 'timeout') throw new Error(`the iteration did not end within ${timeoutMs} ms`)
      if (result.done) return undefined
      this.items.push(result.value)
    }
  }

  async return(): Promise<void> {
    await this.iterator.return?.()
  }

  private async next(ms: number): Promise<IteratorResult<T> | 'timeout'> {
    this.pending ??= this.iterator.next()
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), Math.max(0, ms))))
    try {
      const result = await Promise.race([this.pending, timeout])
      if (result !== 'timeout') {
        this.pending = undefined
        if (result.done) this.ended = true
        else this.items.push(result.value)
      }
      return result
    } catch (error) {
      this.pending = undefined
      this.ended = true
      this.error = error
      throw error
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Polls `predicate` every 5 ms until it holds; throws after `timeoutMs` naming `what`. */
export async function until(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}
