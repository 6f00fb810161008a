/**
 * The fast path's parser of a {@link CommandSpec}: the plain invocations scripts make (`block add ADDR
 * -c FILE --json`). It gives the flags and arguments oclif would give for them; anything else (an
 * unknown flag, `--help`, a missing or bad value, `--`, a flag given twice, bundled short flags) gets
 * `undefined`, and bin/run.js hands the run to oclif, whose parser reports it. Pure.
 */
import {parseDurationSec} from '../lib/net/index.js'
import type {CommandSpec, FlagSpec} from './spec.js'

/** Flags and arguments as oclif's `this.parse()` returns them. */
export interface FastParse {
  /** The positional arguments, in order. */
  argv: string[]
  /** The argument of a command that takes one, by its name. */
  args: Record<string, string | undefined>
  flags: Record<string, boolean | number | string | undefined>
}

/** `--json`, which every diswall command has (oclif's enableJsonFlag). */
const JSON_FLAG: FlagSpec = {description: 'Format output as json.', type: 'boolean'}

/**
 * Parses `argv` (what follows the command's name) by `spec`; `undefined` when the fast path must not
 * decide (see above). `env`: where `env` flags read their value.
 */
export function parseFast(spec: CommandSpec, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): FastParse | undefined {
  const byName = new Map<string, [string, FlagSpec]>([['json', ['json', JSON_FLAG]]])
  const byChar = new Map<string, [string, FlagSpec]>()
  for (const [name, flag] of Object.entries(spec.flags)) {
    byName.set(name, [name, flag])
    for (const alias of flag.aliases ?? []) byName.set(alias, [name, flag])
    if (flag.char !== undefined) byChar.set(flag.char, [name, flag])
  }

  const given = new Map<string, string | true>()
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!
    if (!token.startsWith('-')) {
      positional.push(token)
      continue
    }
    let found: [string, FlagSpec] | undefined
    let inline: string | undefined
    if (token.startsWith('--')) {
      const eq = token.indexOf('=')
      found = byName.get(eq === -1 ? token.slice(2) : token.slice(2, eq))
      inline = eq === -1 ? undefined : token.slice(eq + 1)
    } else if (token.length === 2) {
      found = byChar.get(token.slice(1))
    }
    if (found === undefined) return undefined
    const [name, flag] = found
    if (given.has(name)) return undefined
    if (flag.type === 'boolean') {
      if (inline !== undefined) return undefined
      given.set(name, true)
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined || value === '' || (inline === undefined && value.startsWith('-'))) return undefined
    given.set(name, value)
  }

  const flags: FastParse['flags'] = {}
  for (const [name, flag] of [...byName.values()]) {
    if (name in flags) continue
    const raw = given.get(name) ?? fromEnv(flag, env)
    if (raw === null) return undefined
    if (raw === undefined) {
      if (flag.default !== undefined) flags[name] = flag.default
      continue
    }
    const value = typeof raw === 'string' ? convert(flag, raw) : raw
    if (value === undefined) return undefined
    flags[name] = value
  }

  const {arg} = spec
  if (spec.strict && positional.length > (arg === undefined ? 0 : 1)) return undefined
  // A missing argument: oclif's error, or oclif reading it from piped stdin.
  if (arg !== undefined && positional.length === 0 && (arg.required || !arg.ignoreStdin)) return undefined
  return {args: arg === undefined ? {} : {[arg.name]: positional[0]}, argv: positional, flags}
}

/** The value of an `env` flag from the environment; `null` (fall back) for an empty variable. */
function fromEnv(flag: FlagSpec, env: NodeJS.ProcessEnv): null | string | undefined {
  if (flag.env === undefined || !Object.hasOwn(env, flag.env)) return undefined
  const value = env[flag.env]
  return value === undefined || value === '' ? null : value
}

/** A flag's text as its type says; `undefined` for a value oclif would refuse (it reports it). */
function convert(flag: FlagSpec, text: string): number | string | undefined {
  switch (flag.type) {
    case 'duration': {
      try {
        return parseDurationSec(text)
      } catch {
        return undefined
      }
    }

    case 'integer': {
      if (!/^\d{1,15}$/.test(text)) return undefined
      const n = Number(text)
      return flag.min !== undefined && n < flag.min ? undefined : n
    }

    default: {
      return text
    }
  }
}
