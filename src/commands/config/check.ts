import {configFlag, DiswallCommand} from '../../base-command.js'
import {InvalidConfigError, loadConfig} from '../../lib/config/index.js'
import {formatLocation} from '../../lib/errors.js'

/** What `diswall config check --json` returns. */
export interface ConfigCheckResult {
  file: string
  valid: true
  warnings: string[]
}

export default class ConfigCheck extends DiswallCommand<ConfigCheckResult> {
  static override description = 'Reports the first problem as `FILE:LINE: reason` with a hint and exits 3; further problems '
    + 'are listed as warnings. Legacy DisWall keys that have no effect are reported as warnings.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> -c ./diswall.conf --json',
  ]
  static override flags = {
    config: configFlag,
  }
  static override summary = 'Validate a config file.'

  async run(): Promise<ConfigCheckResult> {
    const {flags} = await this.parse(ConfigCheck)
    let warnings: string[]
    try {
      ;({warnings} = await loadConfig(flags.config))
    } catch (error) {
      if (error instanceof InvalidConfigError) {
        for (const p of error.problems.slice(1)) {
          this.warnUser(`also invalid: ${formatLocation({file: error.file, line: p.line})}: ${p.reason}`)
        }
      }
      throw error
    }
    for (const w of warnings) this.warnUser(w)
    this.log(`${flags.config}: valid`)
    return {file: flags.config, valid: true, warnings}
  }
}
