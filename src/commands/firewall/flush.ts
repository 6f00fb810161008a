import {configFlag, DiswallCommand} from '../../base-command.js'
import type {FlushReport} from '../../lib/firewall/ruleset/index.js'
import {flushFromConfig} from '../../lib/ops/index.js'

export default class FirewallFlush extends DiswallCommand<FlushReport> {
  static override description = 'Removes the chains of the ruleset and the jumps to them. Rules of other software (Docker, libvirt, fail2ban, nat) are left alone, and the ban and allow sets keep their entries and keep working.'
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override flags = {config: configFlag}
  static override requiresRoot = true
  static override summary = 'Remove diswall\'s ruleset (not its sets).'

  async run(): Promise<FlushReport> {
    const {flags} = await this.parse(FirewallFlush)
    const config = await this.readConfig(flags.config)
    const result = await flushFromConfig({config})
    this.log(result.changed ? `removed ${[...result.removedJumps, ...result.removedChains].join(', ')}` : 'nothing to remove')
    return result
  }
}
