#!/usr/bin/env node
import {Config, Errors, execute, handle} from '@oclif/core'

import {legacyHint, translateLegacyArgv} from '../dist/lib/legacy-argv.js'

const {args, commandId, unavailable} = translateLegacyArgv(process.argv.slice(2))
if (unavailable.length > 0 || commandId !== undefined) {
  // A legacy flag whose command this version does not have gets a clear error, not a crash.
  const config = unavailable.length > 0 ? undefined : await Config.load(import.meta.url)
  if (unavailable.length > 0 || !config?.findCommand(commandId.replaceAll(' ', ':'))) {
    const flag = unavailable[0]
    const message = flag
      ? `the original DisWall flag ${flag} is not supported by diswall`
      : `"diswall ${commandId}" (from the original DisWall flags) is not available yet in this version of diswall`
    await handle(new Errors.CLIError(message, {
      code: 'E_NOT_AVAILABLE',
      exit: 2,
      suggestions: [(flag && legacyHint(flag)) || 'Run "diswall --help" to see the commands this version has.'],
    }))
  }
}

await execute({args, dir: import.meta.url})
