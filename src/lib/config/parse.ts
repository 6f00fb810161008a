/**
 * Parsing and validation of the config text against CONFIG_SCHEMA. Pure: text in, Config and warnings
 * out, or an InvalidConfigError naming file, line, key, what was expected and the bad value.
 */
import TOML from '@iarna/toml'

import {ConfigError} from '../errors.js'
import {locateKeys} from './locate.js'
import type {KeyLocator} from './locate.js'
import {CONFIG_SCHEMA, keyName} from './schema.js'
import type {Config, SectionSpec} from './schema.js'
import {BadValueError, closest, isTable, showValue} from './values.js'
import type {KeySpec} from './values.js'

/** One problem in a config file. `line` is 1-based. */
export interface ConfigProblem {
  line?: number
  reason: string
  hint?: string
}

/**
 * A config file that parsed as TOML but does not fit the schema. The message and hint are those of the
 * first problem in the file; `problems` lists all of them, in line order.
 */
export class InvalidConfigError extends ConfigError {
  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    const [first] = problems
    super({file, line: first.line}, first.reason, first.hint)
  }
}

/** The result of parsing a config: the effective config and warnings (`file:line: text`). */
export interface ParsedConfig {
  config: Config
  warnings: string[]
}

const SECTIONS = CONFIG_SCHEMA as unknown as Readonly<Record<string, SectionSpec>>

/** The top-level keys and the section names, for suggestions. */
function allKeyNames(): Array<{key: string; section: string}> {
  const out: Array<{key: string; section: string}> = []
  for (const [section, {keys}] of Object.entries(SECTIONS)) {
    for (const key of Object.keys(keys)) out.push({key, section})
  }
  return out
}

/**
 * Parses and validates a config text; `file` is only used in messages. Missing keys take their defaults.
 * Throws ConfigError for TOML syntax errors (at the parser's line) and InvalidConfigError for unknown
 * sections or keys, wrong types and bad values. Legacy keys that have no effect produce warnings.
 */
export function parseConfig(text: string, file: string): ParsedConfig {
  const raw = parseToml(text, file)
  const locator = locateKeys(text)
  const problems: ConfigProblem[] = []
  const warnings: Array<{line?: number; text: string}> = []
  const config: Record<string, unknown> = {}

  const top = SECTIONS['']
  for (const [name, value] of Object.entries(raw)) {
    if (name in top.keys) continue
    const section = SECTIONS[name]
    const line = locator.lineOf([name])
    if (name !== '' && section) {
      if (!isTable(value)) {
        problems.push({hint: `Write the keys under a [${name}] header.`, line,
          reason: `${name} must be a [${name}] section, got ${showValue(value)}`})
      }
      continue
    }
    problems.push(unknownKey('', name, value, line))
  }

  for (const [sectionName, section] of Object.entries(SECTIONS)) {
    const rawSection = sectionName === '' ? raw : raw[sectionName]
    const values: Record<string, unknown> = sectionName === '' ? config : {}
    if (sectionName !== '') config[sectionName] = values
    const given = isTable(rawSection) ? rawSection : {}
    for (const [key, value] of Object.entries(given)) {
      if (sectionName !== '' && !(key in section.keys)) {
        problems.push(unknownKey(sectionName, key, value, locator.lineOf([sectionName, key])))
      }
    }
    for (const [key, spec] of Object.entries(section.keys)) {
      const present = Object.hasOwn(given, key)
      const path = sectionName === '' ? [key] : [sectionName, key]
      let parsed: unknown
      if (present) {
        try {
          parsed = spec.parse(given[key])
        } catch (error) {
          if (!(error instanceof BadValueError)) throw error
          problems.push({hint: error.hint ?? exampleHint(key, spec), line: locator.lineOf(path, error.index),
            reason: `${keyName(sectionName, key)}: ${error.reason}`})
          continue
        }
        if (spec.ignored) {
          warnings.push({line: locator.lineOf(path), text: `${keyName(sectionName, key)} is ignored: ${spec.ignored}`})
        }
      } else {
        parsed = spec.parse(spec.default)
      }
      if (!spec.ignored) values[key] = parsed
    }
  }

  if (problems.length === 0) crossCheck(config as Config, locator, problems, warnings)
  if (problems.length > 0) {
    throw new InvalidConfigError(file, problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0)))
  }
  return {
    config: config as Config,
    warnings: warnings
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0))
      .map((w) => `${file}${w.line === undefined ? '' : `:${w.line}`}: ${w.text}`),
  }
}

/** The config with every key at its default (what an empty file gives). */
export function defaultConfig(): Config {
  return parseConfig('', '(defaults)').config
}

function parseToml(text: string, file: string): Record<string, unknown> {
  try {
    return TOML.parse(text) as Record<string, unknown>
  } catch (error) {
    const e = error as {col?: unknown; fromTOML?: unknown; line?: unknown; message?: unknown}
    if (!e?.fromTOML || typeof e.line !== 'number') throw error
    // "Unexpected character, expecting ... at row 2, col 5, pos 11:\n<excerpt>"
    const what = String(e.message).split(/ at row \d+/)[0]
    const col = typeof e.col === 'number' ? ` (column ${e.col + 1})` : ''
    const hint = /redefine/i.test(what)
      ? 'Each key, and each [section] header, may appear only once.'
      : 'Fix the TOML syntax: strings need double quotes, lists square brackets, and each key goes on its own line.'
    throw new ConfigError({file, line: e.line + 1}, `invalid TOML: ${what}${col}`, hint, {cause: error})
  }
}

function unknownKey(sectionName: string, key: string, value: unknown, line: number | undefined): ConfigProblem {
  const inSection = sectionName === '' ? undefined : SECTIONS[sectionName]
  if (sectionName === '' && isTable(value)) {
    const sections = Object.keys(SECTIONS).filter((s) => s !== '')
    const guess = closest(key, sections)
    return {hint: guess ? `Did you mean [${guess}]?` : `Known sections: ${sections.map((s) => `[${s}]`).join(', ')}.`,
      line, reason: `unknown section [${key}]`}
  }
  const keys = inSection?.keys ?? SECTIONS[''].keys
  const guessHere = closest(key, Object.keys(keys))
  let hint: string
  if (guessHere) hint = `Did you mean ${keyName(sectionName, guessHere)}?`
  else {
    // The key may belong to another section (or to the top level, written after a header).
    const others = allKeyNames().filter((k) => k.section !== sectionName)
    const elsewhere = others.find((k) => k.key.toLowerCase() === key.toLowerCase())
      ?? others.find((k) => closest(key, [k.key]) !== undefined)
    const current = Object.entries(keys).filter(([, spec]) => !spec.ignored).map(([k]) => k)
    if (elsewhere) {
      const where = elsewhere.section === ''
        ? 'Top-level keys go before the first [section] header.'
        : `It belongs under [${elsewhere.section}].`
      hint = `Did you mean ${keyName(elsewhere.section, elsewhere.key)}? ${where}`
    } else hint = `Known keys ${sectionName === '' ? 'at the top level' : `in [${sectionName}]`}: ${current.join(', ')}.`
  }
  const what = isTable(value) ? `table [${sectionName}.${key}]` : `key ${keyName(sectionName, key)}`
  return {hint, line, reason: `unknown ${what}`}
}

function exampleHint(key: string, spec: KeySpec<unknown>): string | undefined {
  if (spec.default === '' || (Array.isArray(spec.default) && spec.default.length === 0)) return undefined
  return `For example: ${key} = ${formatTomlValue(spec.default)}`
}

/** Rules between keys. */
function crossCheck(
  config: Config,
  locator: KeyLocator,
  problems: ConfigProblem[],
  warnings: Array<{line?: number; text: string}>,
): void {
  if (config.ipset_white_list === config.ipset_black_list) {
    problems.push({hint: 'Give the allow set and the block set different names.',
      line: locator.lineOf(['ipset_black_list']) ?? locator.lineOf(['ipset_white_list']),
      reason: `ipset_black_list: must differ from ipset_white_list, both are "${config.ipset_black_list}"`})
  }
  const {nats} = config
  if ((nats.tls_cert === '') !== (nats.tls_key === '')) {
    const missing = nats.tls_cert === '' ? 'tls_cert' : 'tls_key'
    const other = missing === 'tls_cert' ? 'tls_key' : 'tls_cert'
    problems.push({hint: `Set both [nats] tls_cert and [nats] tls_key, or neither.`,
      line: locator.lineOf(['nats', other]), reason: `[nats] ${other} is set but [nats] ${missing} is not`})
  }
  if (!nats.tls && (nats.tls_ca !== '' || nats.tls_cert !== '')) {
    const key = nats.tls_ca === '' ? 'tls_cert' : 'tls_ca'
    warnings.push({line: locator.lineOf(['nats', key]),
      text: `[nats] ${key} is set but [nats] tls = false: the connection is made without TLS`})
  }
}

/** A value in TOML syntax (strings in double quotes, lists in brackets). */
export function formatTomlValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (Array.isArray(value)) return `[${value.map(formatTomlValue).join(', ')}]`
  return String(value)
}
