/**
 * Gives back the memory of a bulk load at once. Restoring 1,000,000 bans from the snapshot leaves
 * ~100 MB of dead parsed entries and restore scripts in the heap; with no allocation pressure after it
 * (a quiet daemon), V8 collects them only when its memory reducer gets round to it, minutes later, and
 * the process holds ~250 MB of RSS meanwhile (measured: bench P6). One full collection right after the
 * load, while nothing waits on the daemon (it is not ready yet), brings it back to the live set.
 */
import {setFlagsFromString} from 'node:v8'
import {runInNewContext} from 'node:vm'

import {setV8Flag} from '../system/index.js'
import {HOLD_YOUNG_GENERATION_FLAG} from './start-flags.js'

let collect: (() => void) | undefined | null

/**
 * Runs one full garbage collection; does nothing where the runtime refuses (`--expose-gc` cannot be
 * set at run time): the memory then comes back later, as it would without this call.
 */
export function collectGarbage(): void {
  if (collect === undefined) {
    try {
      // `gc` is installed on new contexts once the flag is set; this process's own global stays as it was.
      setFlagsFromString('--expose-gc')
      const gc: unknown = runInNewContext('gc')
      collect = typeof gc === 'function' ? (gc as () => void) : null
    } catch {
      collect = null
    }
  }
  collect?.()
}

/**
 * Keeps V8's young generation at the size it has now (1 MB semi-spaces when the process starts)
 * instead of letting a burst of allocation double it up to 16 MB: the daemon's young objects (a line,
 * its match, a ban order) die within one scavenge, and a grown young generation is never given back
 * (V8 shrinks it only in memory-reducing collections, which a daemon that wakes 8 times a second may
 * never get). It must run before start-up allocates: loading the CLI alone grows it to the maximum,
 * so bin/run.js sets the flag (./start-flags.ts) before oclif is loaded, and the daemon calls this
 * before it starts its worker threads, which re-apply it. Measured (bench P6, 1M bans
 * restored, 100k addresses counted): the young generation stays at 2 MB instead of 34 MB, and the
 * daemon's RSS is ~30 MB lower. The price is more scavenges, each copying only the survivors: in a
 * P1-log run of 100 bans (one every 125 ms) 7 minor collections instead of 1, which on a saturated
 * machine overlapped a sample by up to 5 ms (the ban path allocates ~60 KB per ban: less of it is
 * what would make them rare again).
 * Worker threads started later would undo it: they re-apply it (system/v8-flags.ts). Does nothing
 * where the runtime lacks the flag (V8 then says so on stderr once).
 */
export function holdYoungGeneration(): void {
  if (heldYoung) return
  heldYoung = true
  setV8Flag(HOLD_YOUNG_GENERATION_FLAG)
}

let heldYoung = false
