/** The rows that run the built CLI (`node bin/run.js`) measure dist/, as installed. */
import {readdirSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/**
 * The CLI as installed (dist/, `node bin/run.js`): every row that runs diswall measures it, not the
 * TypeScript loader, whose worker thread and heap would compete with diswall for the machine's CPUs
 * and stretch its latency tail. Call {@link assertFreshBuild} first.
 */
export const RUN_CLI = join(ROOT, 'bin', 'run.js')

/**
 * Refuses a dist/ that is missing or older than the sources rather than measure old code; `what`
 * says which rows need it (in the error).
 */
export function assertFreshBuild(what: string): void {
  const newest = (dir: string): number => Math.max(0, ...readdirSync(dir, {encoding: 'utf8', recursive: true})
    .map((name) => statSync(join(dir, name))).filter((st) => st.isFile()).map((st) => st.mtimeMs))
  let built: number
  try {
    built = statSync(join(ROOT, 'dist', 'commands', 'daemon.js')).mtimeMs
  } catch {
    throw new Error(`dist/ is missing: run \`npm run build\` first (${what})`)
  }
  if (newest(join(ROOT, 'src')) > built) throw new Error(`dist/ is older than src/: run \`npm run build\` first (${what})`)
}
