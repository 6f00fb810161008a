#!/usr/bin/env node
// First, before anything else loads: when the command is the daemon, V8 young generation is held at its
// start size (src/lib/daemon/heap.ts).
import '../dist/lib/daemon/start-flags.js'
import module from 'node:module'

// Node 22.1+ keeps the compiled code of diswall and its packages on disk between runs; older Node
// lacks the function and compiles as before.
module.enableCompileCache?.()

const {legacyHint, translateLegacyArgv} = await import('../dist/lib/legacy-argv.js')

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
  // The commands scripts run in loops (block/allow add|del|list, status, why) start without oclif;
  // anything else, and whatever the fast path does not take plainly (--help, errors of usage), runs in oclif.
  const {runFast} = await import('../dist/cli/fast.js')
  if (!(await runFast(args))) {
    const {execute} = await import('@oclif/core')
    await execute({args, dir: import.meta.url})
  }
}
