import {configFlag, DiswallCommand, dirFlag} from '../../base-command.js'
import type {RulesetDiff} from '../../lib/firewall/ruleset/index.js'
import {diffFromDir} from '../../lib/ops/index.js'

export default class FirewallDiff extends DiswallCommand<RulesetDiff> {
  static override description = 'Compares the rendered ruleset with diswall\'s chains in the kernel and prints the rules an apply would add (+) and remove (-). Nothing changes.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {config: configFlag, dir: dirFlag}
  static override requiresRoot = true
  static override summary = 'Show what firewall apply would change.'

  async run(): Promise<RulesetDiff> {
    const {flags} = await this.parse(FirewallDiff)
    const config = await this.readConfig(flags.config)
    const result = await diffFromDir({config, dir: flags.dir ?? config.firewall.dir, onWarning: (w) => this.warnUser(w)})
    for (const chain of result.chains) {
      this.log(`${chain.family ? `IPv${chain.family} ` : ''}${chain.chain}${chain.exists ? '' : ' (new chain)'}`)
      for (const line of chain.removed) this.log(`- ${line}`)
      for (const line of chain.added) this.log(`+ ${line}`)
    }

    if (!result.changed) this.log('no changes')
    return result
  }
}
