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
  static override description = 'Prints the file with every key, defaults filled in, as commented TOML; with --json as an object.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
  ]
  static override flags = {
    config: configFlag,
  }
  static override summary = 'Show the effective configuration.'

  async run(): Promise<ConfigShowResult> {
    const {flags} = await this.parse(ConfigShow)
    const {config, warnings} = await loadConfig(flags.config)
    for (const w of warnings) this.warnUser(w)
    this.log(renderConfig(config).replace(/\n$/, ''))
    return {config: toFileValues(config), file: flags.config}
  }
}
