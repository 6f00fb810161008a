import {configFlag, DiswallCommand} from '../../base-command.js'
import {firewallBoot} from '../../lib/install/index.js'
import type {BootReport} from '../../lib/install/index.js'

export default class FirewallBoot extends DiswallCommand<BootReport> {
  static override description = 'What diswall-firewall.service runs at boot, before the network: creates the kernel sets, restores the bans and allow entries of the daemon\'s snapshot and journal, then applies the firewall directory (rolled back on failure).'
  static override flags = {config: configFlag}
  static override hidden = true
  static override requiresRoot = true
  static override summary = 'Restore the kernel sets and apply the firewall directory (boot).'

  async run(): Promise<BootReport> {
    const {flags} = await this.parse(FirewallBoot)
    const config = await this.readConfig(flags.config)
    const report = await firewallBoot(config, {onWarning: (w) => this.warnUser(w)})
    for (const p of report.problems) this.warnUser(p)
    this.log(`restored ${report.restored} entries; ${report.disabled ? 'firewall directory disabled: no ruleset applied' : `ruleset applied (${report.backend})`}`)
    return report
  }
}
