/**
 * Imported first by bin/run.js and bin/dev.js, before oclif is loaded: when the command line runs the
 * daemon (`diswall daemon …`), V8's young generation is held at its start size (heap.ts) before the
 * start-up allocation grows it for the life of the process. Other commands are left as they are: they
 * live for a fraction of a second. (The original DisWall's daemon flags without `daemon` start the
 * daemon without the hold: it then uses ~30 MB more.)
 */
import {holdYoungGeneration} from './heap.js'

/** Whether `argv` (without node and the script) runs the daemon. Pure. */
export function runsDaemon(argv: readonly string[]): boolean {
  return argv[0] === 'daemon'
}

if (runsDaemon(process.argv.slice(2))) holdYoungGeneration()
