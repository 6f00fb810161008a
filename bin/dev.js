#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build), for development and the benchmarks.
// First, before oclif loads: when the command is the daemon, V8 young generation is held at its start size (src/lib/daemon/heap.ts).
import '../src/lib/daemon/start-flags.js'
import {execute} from '@oclif/core'

import {legacyHint, translateLegacyArgv} from '../src/lib/legacy-argv.js'

const argv = process.argv.slice(2)
const {args, unavailable} = translateLegacyArgv(argv)
if (unavailable.length > 0) {
  const flag = unavailable[0]
  const {jsonRequested, reportError} = await import('../src/base-command.js')
  const {DiswallError, ExitCode} = await import('../src/lib/errors.js')
  const error = new DiswallError(`the original DisWall flag ${flag} is not supported by diswall`, 'E_NOT_AVAILABLE',
    ExitCode.USAGE, legacyHint(flag) ?? 'Run "diswall --help" to see the commands this version has.')
  process.exitCode = reportError(error, jsonRequested(argv))
} else {
  await execute({args, development: true, dir: import.meta.url})
}
