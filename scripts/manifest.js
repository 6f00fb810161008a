#!/usr/bin/env node
// Writes oclif.manifest.json (the command cache oclif reads instead of loading every command) from
// the built commands in dist/. Part of `npm run build`.
import {Config} from '@oclif/core'
import {writeFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const config = await Config.load(root)
const manifest = config.getPluginsList().find((p) => p.root === config.root)?.manifest
if (!manifest || Object.keys(manifest.commands).length === 0) {
  console.error('manifest: no commands found under dist/commands (did tsc run?)')
  process.exit(1)
}
writeFileSync(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(manifest, null, 2) + '\n')
console.log(`oclif.manifest.json: ${Object.keys(manifest.commands).length} commands`)
