/**
 * execa, loaded when a coprocess or a line stream first starts rather than when system/ is imported:
 * its ~130 modules cost ~0.13 s of CPU, which every start of the CLI paid for programs that only the
 * daemon runs. Loaded with require() (synchronous, so spawnCoprocess() and spawnLines() keep their
 * signatures) where Node can require an ES module (20.19+, 22.12+); on an older Node it is imported
 * with this module, as before.
 */
import type * as Execa from 'execa'
import {createRequire} from 'node:module'


type ExecaModule = typeof Execa

/**
 * Imported with this module where require() cannot load it: an older Node, and a process that runs
 * under tsx (the sources in tests, bench/, bin/dev.js), whose require hook resolves execa's own
 * imports with the "require" condition that some of them (unicorn-magic) do not export.
 */
const requireFails = !process.features.require_module || import.meta.url.endsWith('.ts')
  || [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((arg) => arg.includes('tsx'))
const eager: ExecaModule | undefined = requireFails ? await import('execa') : undefined
let loaded: ExecaModule | undefined = eager

/** The execa module, loaded at the first call. */
export function execaModule(): ExecaModule {
  loaded ??= createRequire(import.meta.url)('execa') as ExecaModule
  return loaded
}
