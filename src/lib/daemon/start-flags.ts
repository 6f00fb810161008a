/**
 * Imported first by bin/run.js and bin/dev.js, before oclif is loaded: when the command line runs the
 * daemon (`diswall daemon …`), V8's young generation is held at its start size (heap.ts) before the
 * start-up allocation grows it for the life of the process. Other commands are left as they are: they
 * live for a fraction of a second. (The original DisWall's daemon flags without `daemon` start the
 * daemon without the early hold: it then uses ~30 MB more.) Only node:v8 is loaded here, so that no
 * command starts slower for it; the daemon registers the flag again when it starts (heap.ts), so that
 * its worker threads keep it.
 */
import {setFlagsFromString} from 'node:v8'

/** The V8 flag that holds the young generation at its size (see heap.ts). */
export const HOLD_YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1'

/** Whether `argv` (without node and the script) runs the daemon. Pure. */
export function runsDaemon(argv: readonly string[]): boolean {
  return argv[0] === 'daemon'
}

if (runsDaemon(process.argv.slice(2))) setFlagsFromString(HOLD_YOUNG_GENERATION_FLAG)
