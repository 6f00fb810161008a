import {configFlag, DiswallCommand, dirFlag} from '../../base-command.js'
import {checkRuleset} from '../../lib/ops/index.js'
import type {RulesetSummary} from '../../lib/ops/index.js'

export default class FirewallCheck extends DiswallCommand<RulesetSummary> {
  static override description = 'Reads every file of the firewall directory, resolves names and host names, and renders the ruleset, without touching the kernel. Every problem is reported as FILE:LINE: reason; the exit code is 3 when there is one.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --dir ./firewall --json']
  static override flags = {config: configFlag, dir: dirFlag}
  static override summary = 'Validate the firewall directory.'

  async run(): Promise<RulesetSummary> {
    const {flags} = await this.parse(FirewallCheck)
    const config = await this.readConfig(flags.config)
    const result = await checkRuleset({config, dir: flags.dir ?? config.firewall.dir, onWarning: (w) => this.warnUser(w)})
    const rules = Object.entries(result.rules).map(([k, n]) => `${n} ${k}`).join(', ')
    this.log(`${result.dir}: valid${result.disabled ? ' (disabled: apply changes nothing)' : ''}`)
    this.log(`  ${result.incoming} incoming, ${result.outgoing} outgoing, ${result.whitelist} whitelist, ${result.blacklist} blacklist, ${result.local} local.d; rules: ${rules} (${result.backend})`)
    return result
  }
}
