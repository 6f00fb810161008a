import {readFileSync} from 'node:fs'

import {defaultConfig} from '../../../src/lib/config/index.js'
import type {Config} from '../../../src/lib/config/index.js'
import {ConfigError} from '../../../src/lib/errors.js'

/** The lines of a file in test/fixtures/logs/ (without the final empty line). */
export function fixtureLines(name: string): string[] {
  const text = readFileSync(new URL(`../../fixtures/logs/${name}`, import.meta.url), 'utf8')
  return text.split('\n').filter((line, i, all) => i < all.length - 1 || line !== '')
}

/** The default config with some [detect] and [firewall] keys changed. */
export function configWith(detect: Partial<Config['detect']> = {}, firewall: Partial<Config['firewall']> = {},
  ignoreIps: Config['ignore_ips'] = []): Config {
  const config = defaultConfig()
  return {...config, detect: {...config.detect, ...detect}, firewall: {...config.firewall, ...firewall}, ignore_ips: ignoreIps}
}

/** Asserts that `fn` throws a ConfigError with exactly this message and a hint (containing `hint` when given). */
export function configErrorOf(fn: () => unknown): {message: string; hint: string | undefined; code: string} {
  try {
    fn()
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error
    return {code: error.code, hint: error.hint, message: error.message}
  }
  throw new Error('expected a ConfigError, nothing was thrown')
}
