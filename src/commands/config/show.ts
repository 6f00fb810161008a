import {Flags} from '@oclif/core'

import {configFlag, DiswallCommand} from '../../base-command.js'
import {loadConfig, renderConfig, toFileValues} from '../../lib/config/index.js'
import type {ConfigFileValues} from '../../lib/config/index.js'

/** What `diswall config show --json` returns. */
export interface ConfigShowResult {
  /** The effective config in file form (durations as text such as "1d"), defaults filled in. */
  config: ConfigFileValues
  file: string
}

export default class ConfigShow extends DiswallCommand<ConfigShowResult> {
  static override description = 'Prints every key, with the defaults of the keys the file leaves out, as commented TOML '
    + '(an object with --json). Passwords are hidden unless --show-secrets is given.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> -c ./diswall.conf --json',
  ]
  static override flags = {
    config: configFlag,
    'show-secrets': Flags.boolean({description: 'Show passwords and salts instead of "(hidden)".'}),
  }
  static override summary = 'Show the effective configuration.'

  async run(): Promise<ConfigShowResult> {
    const {flags} = await this.parse(ConfigShow)
    const {config, warnings} = await loadConfig(flags.config)
    for (const w of warnings) this.warnUser(w)
    const hideSecrets = !flags['show-secrets']
    this.log(renderConfig(config, {hideSecrets}).replace(/\n$/, ''))
    return {config: toFileValues(config, {hideSecrets}), file: flags.config}
  }
}
