import {configFlag, DiswallCommand} from '../../base-command.js'
import {confirmApply} from '../../lib/ops/index.js'

export default class FirewallConfirm extends DiswallCommand<{changed: boolean; confirmed: boolean}> {
  static override description = 'After `firewall apply --confirm DURATION`, keeps the new ruleset; without this, the previous one comes back after that time. Succeeds (unchanged) when nothing is waiting.'
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override flags = {config: configFlag}
  static override summary = 'Keep the ruleset applied with --confirm.'

  async run(): Promise<{changed: boolean; confirmed: boolean}> {
    const {flags} = await this.parse(FirewallConfirm)
    const confirmed = await confirmApply(await this.readConfig(flags.config))
    this.log(confirmed ? 'confirmed: the new ruleset stays' : 'nothing to confirm')
    return {changed: confirmed, confirmed}
  }
}
