/**
 * Writing configs: the commented TOML file of `diswall generate-config` (and `config show`), the
 * file-form values of a Config, and the Markdown key table for the README. All derive from CONFIG_SCHEMA.
 */
import {isDeepStrictEqual} from 'node:util'

import {defaultConfig, formatTomlValue} from './parse.js'
import {CONFIG_SCHEMA, keyName} from './schema.js'
import type {Config, SectionSpec} from './schema.js'
import type {FileValue} from './values.js'

const SECTIONS = CONFIG_SCHEMA as unknown as Readonly<Record<string, SectionSpec>>

/** A config in file form: what the TOML file says, e.g. durations as "1d", ignore_ips as strings. */
export type ConfigFileValues = Record<string, FileValue | Record<string, FileValue>>

/** The text that replaces a non-empty secret (passwords, salt) when `hideSecrets` is set. */
export const HIDDEN_SECRET = '(hidden)'

/**
 * Turns a Config back into file form (durations as text such as "1h30m", address lists as their text).
 * Values equal to the default are written exactly as the schema's default. With `hideSecrets`, non-empty
 * passwords and salts are replaced by HIDDEN_SECRET.
 */
export function toFileValues(config: Config, {hideSecrets = false}: {hideSecrets?: boolean} = {}): ConfigFileValues {
  const out: ConfigFileValues = {}
  const values = config as unknown as Record<string, Record<string, unknown>>
  for (const [sectionName, {keys}] of Object.entries(SECTIONS)) {
    const source = sectionName === '' ? (config as unknown as Record<string, unknown>) : values[sectionName]
    const target: Record<string, FileValue> = sectionName === '' ? (out as Record<string, FileValue>) : {}
    if (sectionName !== '') out[sectionName] = target
    for (const [key, spec] of Object.entries(keys)) {
      if (spec.ignored) continue
      const value = source?.[key]
      if (hideSecrets && spec.secret && value !== '') target[key] = HIDDEN_SECRET
      else target[key] = value === undefined || isDeepStrictEqual(value, spec.parse(spec.default))
        ? spec.default
        : spec.format(value)
    }
  }
  return out
}

/**
 * A complete, commented TOML config, grouped by section, with each key's one-line doc as a comment.
 * Without a config every value is the default (`diswall generate-config`). The text parses back to
 * exactly the given config, unless `hideSecrets` replaced passwords by HIDDEN_SECRET.
 */
export function renderConfig(config?: Config, {hideSecrets = false}: {hideSecrets?: boolean} = {}): string {
  const values = toFileValues(config ?? defaultConfig(), {hideSecrets})
  const lines = [
    '# diswall configuration (TOML), normally /etc/diswall/diswall.conf.',
    config === undefined
      ? '# Every value below is the default; keys left out take their default too.'
      : '# The effective configuration: keys left out of the file show their default.',
    '# Check a change with: diswall config check -c FILE',
  ]
  for (const [sectionName, {doc, keys}] of Object.entries(SECTIONS)) {
    const sectionValues = (sectionName === '' ? values : values[sectionName]) as Record<string, FileValue>
    lines.push('', `# ${doc}`)
    if (sectionName !== '') lines.push(`[${sectionName}]`)
    for (const [key, spec] of Object.entries(keys)) {
      if (spec.ignored) continue
      lines.push(`# ${spec.doc}`, `${key} = ${formatTomlValue(sectionValues[key])}`)
    }
  }
  return lines.join('\n') + '\n'
}

/** The keys as a Markdown table (key, type, default, description), for the README. */
export function renderConfigReference(): string {
  const lines = ['| key | type | default | description |', '|---|---|---|---|']
  for (const [sectionName, {keys}] of Object.entries(SECTIONS)) {
    for (const [key, spec] of Object.entries(keys)) {
      const description = spec.ignored ? `Ignored (${spec.ignored}).` : spec.doc
      lines.push(`| \`${keyName(sectionName, key)}\` | ${spec.type.replaceAll('|', '\\|')} | \`${formatTomlValue(spec.default)}\` | ${description.replaceAll('|', '\\|')} |`)
    }
  }
  return lines.join('\n') + '\n'
}
