#!/usr/bin/env node
// First, before oclif loads: when the command is the daemon, V8 young generation is held at its start size (src/lib/daemon/heap.ts).
import '../dist/lib/daemon/start-flags.js'
import {execute} from '@oclif/core'

import {legacyHint, translateLegacyArgv} from '../dist/lib/legacy-argv.js'

const argv = process.argv.slice(2)
const {args, unavailable} = translateLegacyArgv(argv)
if (unavailable.length > 0) {
  // A flag only the original DisWall had gets a clear error, not a crash. A translated command this
  // version lacks (`--server`) reaches the command_not_found hook, which reports E_NOT_AVAILABLE.
  const flag = unavailable[0]
  const {jsonRequested, reportError} = await import('../dist/base-command.js')
  const {DiswallError, ExitCode} = await import('../dist/lib/errors.js')
  const error = new DiswallError(`the original DisWall flag ${flag} is not supported by diswall`, 'E_NOT_AVAILABLE',
    ExitCode.USAGE, legacyHint(flag) ?? 'Run "diswall --help" to see the commands this version has.')
  process.exitCode = reportError(error, jsonRequested(argv))
} else {
  await execute({args, dir: import.meta.url})
}
