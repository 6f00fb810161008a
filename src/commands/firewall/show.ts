import {configFlag, DiswallCommand, dirFlag} from '../../base-command.js'
import type {RenderedRuleset} from '../../lib/firewall/ruleset/index.js'
import {showRuleset} from '../../lib/ops/index.js'

export default class FirewallShow extends DiswallCommand<RenderedRuleset> {
  static override description = 'Prints what `firewall apply` would feed to iptables-restore / ip6tables-restore (one transaction per family) or to nft -f (one transaction), without touching the kernel.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dir ./firewall']
  static override flags = {config: configFlag, dir: dirFlag}
  static override summary = 'Print the rendered ruleset.'

  async run(): Promise<RenderedRuleset> {
    const {flags} = await this.parse(FirewallShow)
    const config = await this.readConfig(flags.config)
    const result = await showRuleset({config, dir: flags.dir ?? config.firewall.dir, onWarning: (w) => this.warnUser(w)})
    for (const tx of result.transactions) {
      this.log(`# ${tx.program} ${tx.args.join(' ')}`)
      this.log(tx.input.trimEnd())
    }

    return result
  }
}
