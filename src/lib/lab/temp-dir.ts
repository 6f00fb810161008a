import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {registerCleanup} from './cleanup.js'

/** A temporary directory of the lab: removed by remove(), or with the other lab resources (cleanup, exit). */
export interface TempDir {
  readonly path: string
  /** Removes the directory and everything in it. Safe to call more than once. */
  remove(): void
}

/** Creates a directory under the system's temporary directory (`PREFIX` + random suffix), registered for cleanup. */
export function makeTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix))
  const removeSync = (): void => rmSync(path, {force: true, recursive: true})
  const unregister = registerCleanup({description: `directory ${path}`, removeSync})
  return {
    path,
    remove() {
      removeSync()
      unregister()
    },
  }
}
