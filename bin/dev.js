#!/usr/bin/env -S node --import tsx
// Runs the TypeScript sources directly (no build), for development and the benchmarks.
import {execute} from '@oclif/core'

import {translateLegacyArgv} from '../src/lib/legacy-argv.ts'

await execute({args: translateLegacyArgv(process.argv.slice(2)).args, development: true, dir: import.meta.url})
