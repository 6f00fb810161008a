/**
 * Watches a namespace's nftables sets for new elements (`nft monitor elements`), so the demo, tests and
 * benchmarks learn the moment an address lands in a kernel set without polling: the kernel reports
 * the change over netlink as the transaction commits, and the time is taken when the line arrives.
 */
import {netnsPrefix, spawnLines} from '../system/index.js'
import {registerCleanup} from './cleanup.js'
import {LabError} from './errors.js'
import type {Netns} from './netns.js'

/** An element that appeared in a set. */
export interface SetAddition {
  readonly table: string
  readonly set: string
  /** The element as nft prints it, without timeout/expires (`198.18.0.5`, `2001:db8::/64`). */
  readonly element: string
  /** `performance.timeOrigin + performance.now()` when the line was read: wall-clock ms, sub-ms resolution. */
  readonly at: number
}

/** A running watcher; stop() ends the monitor process. */
export interface BanWatch {
  /** Resolves with the first addition of `element` to `set` (also one seen before the call); rejects after `timeoutMs`. */
  waitFor(set: string, element: string, timeoutMs: number): Promise<SetAddition>
  /** Every addition seen so far. */
  additions(): readonly SetAddition[]
  stop(): Promise<void>
}

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of one machine. */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now()
}

const ADD_ELEMENT = /^add element (\S+) (\S+) (\S+) \{ (.*) \}$/

/**
 * Parses one line of `nft monitor elements` into the additions it reports (one line may hold several
 * elements); other lines (deletions, tables) give none. Pure.
 */
export function parseMonitorLine(line: string, at: number): SetAddition[] {
  const match = ADD_ELEMENT.exec(line.trim())
  if (!match) return []
  const [, , table, set, body] = match
  return body!.split(',').map((part) => part.trim().split(/\s+/)[0]!).filter((e) => e !== '')
    .map((element) => ({at, element, set: set!, table: table!}))
}

/**
 * Starts `nft monitor elements` inside `netns`. Resolves once the monitor is listening: it adds and
 * removes a probe element of a throwaway set and waits to see it, so no later addition can be missed.
 */
export async function watchSetAdditions(netns: Netns, {readyTimeoutMs = 5000} = {}): Promise<BanWatch> {
  const seen: SetAddition[] = []
  const waiters = new Set<{set: string; element: string; resolve: (a: SetAddition) => void}>()
  const [program, ...prefix] = [...netnsPrefix(netns.name), 'nft']
  const lines = spawnLines(program!, [...prefix, 'monitor', 'elements'], {killGraceMs: 1000})
  const unregister = registerCleanup({
    description: `nft monitor in ${netns.name}`,
    remove: () => lines.close(),
    removeSync() {
      if (lines.pid !== undefined) process.kill(lines.pid, 'SIGKILL')
    },
  })
  const stop = async (): Promise<void> => {
    await lines.close()
    unregister()
  }

  void (async () => {
    try {
      for await (const line of lines) {
        for (const addition of parseMonitorLine(line, preciseNow())) {
          seen.push(addition)
          for (const waiter of waiters) {
            if (waiter.set === addition.set && waiter.element === addition.element) {
              waiters.delete(waiter)
              waiter.resolve(addition)
            }
          }
        }
      }
    } catch {
      // The monitor ended (stop(), or the namespace went away): waiters time out on their own.
    }
  })()

  const watch: BanWatch = {
    additions: () => seen,
    stop,
    waitFor(set, element, timeoutMs) {
      const found = seen.find((a) => a.set === set && a.element === element)
      if (found) return Promise.resolve(found)
      return new Promise((resolve, reject) => {
        const waiter = {element, resolve: (a: SetAddition) => {
          clearTimeout(timer)
          resolve(a)
        }, set}
        const timer = setTimeout(() => {
          waiters.delete(waiter)
          reject(new LabError(`${element} did not appear in set ${set} of ${netns.name} within ${timeoutMs} ms`))
        }, timeoutMs)
        waiters.add(waiter)
      })
    },
  }

  // Readiness: a table of our own, one element in and out, seen by the monitor.
  const table = `dwwatch${process.pid}`
  try {
    await netns.run('nft', ['add', 'table', 'inet', table])
    await netns.run('nft', ['add', 'set', 'inet', table, 'ready', '{ type ipv4_addr; }'])
    const deadline = Date.now() + readyTimeoutMs
    let ready = false
    while (!ready && Date.now() < deadline) {
      await netns.run('nft', ['add', 'element', 'inet', table, 'ready', '{ 192.0.2.1 }'])
      ready = await watch.waitFor('ready', '192.0.2.1', 200).then(() => true, () => false)
      await netns.run('nft', ['flush', 'set', 'inet', table, 'ready'])
    }

    if (!ready) throw new LabError(`nft monitor in ${netns.name} reported nothing within ${readyTimeoutMs} ms`)
  } catch (error) {
    await stop()
    throw error
  } finally {
    await netns.run('nft', ['delete', 'table', 'inet', table]).catch(() => {})
  }

  seen.length = 0
  return watch
}
