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

const eager: ExecaModule | undefined = process.features.require_module ? undefined : await import('execa')
let loaded: ExecaModule | undefined = eager

/** The execa module, loaded at the first call. */
export function execaModule(): ExecaModule {
  loaded ??= createRequire(import.meta.url)('execa') as ExecaModule
  return loaded
}
