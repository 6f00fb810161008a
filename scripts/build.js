#!/usr/bin/env node
// `npm run build`: compiles src/ beside the current build (dist.next/), then swaps it in with two
// renames, and writes oclif.manifest.json (the command cache) from the new build. A CLI or daemon that
// runs from this checkout during the build keeps working: dist/ is never missing or half written.
import {spawnSync} from 'node:child_process'
import {existsSync, renameSync, rmSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const at = (name) => fileURLToPath(new URL(`../${name}`, import.meta.url))
const run = (args) => {
  const result = spawnSync(process.execPath, args, {cwd: root, stdio: 'inherit'})
  if (result.status !== 0) process.exit(result.status ?? 1)
}

rmSync(at('dist.next'), {force: true, recursive: true})
run([at('node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json', '--outDir', 'dist.next'])
// A stale manifest would hide new commands from the manifest generator; without one oclif reads dist/.
rmSync(at('oclif.manifest.json'), {force: true})
rmSync(at('dist.old'), {force: true, recursive: true})
if (existsSync(at('dist'))) renameSync(at('dist'), at('dist.old'))
renameSync(at('dist.next'), at('dist'))
rmSync(at('dist.old'), {force: true, recursive: true})
run([at('scripts/manifest.js')])
