import {DiswallCommand} from '../base-command.js'
import {renderConfig} from '../lib/config/index.js'

/** What `diswall generate-config --json` returns. */
export interface GenerateConfigResult {
  /** The TOML text that the command prints without --json. */
  config: string
}

export default class GenerateConfig extends DiswallCommand<GenerateConfigResult> {
  static override description = 'Every key is set to its default and documented by a comment. Redirect the output to a file '
    + 'to start a config; keys left out of a config take their defaults.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> > /etc/diswall/diswall.conf',
    '<%= config.bin %> <%= command.id %> | <%= config.bin %> config check -c /dev/stdin',
  ]
  static override summary = 'Print a fresh, commented TOML config with every default.'

  async run(): Promise<GenerateConfigResult> {
    await this.parse(GenerateConfig)
    const config = renderConfig()
    this.log(config.replace(/\n$/, '')) // raw TOML on stdout, so `> file` works
    return {config}
  }
}
