import {Flags} from '@oclif/core'

import {configFlag, DiswallCommand} from '../../base-command.js'
import {rollbackAfter} from '../../lib/ops/index.js'

export default class FirewallRollback extends DiswallCommand<{rolledBack: boolean}> {
  static override flags = {
    after: Flags.integer({default: 0, description: 'Seconds to wait first.', min: 0}),
    config: configFlag,
    token: Flags.string({description: 'The pending apply to roll back.', required: true}),
  }

  static override hidden = true // started by `firewall apply --confirm`
  static override summary = 'Restore the firewall saved by apply --confirm unless it was confirmed.'

  async run(): Promise<{rolledBack: boolean}> {
    const {flags} = await this.parse(FirewallRollback)
    const rolledBack = await rollbackAfter(await this.readConfig(flags.config), flags.token, flags.after)
    this.log(rolledBack ? 'not confirmed in time: the previous firewall was restored' : 'confirmed: nothing to do')
    return {rolledBack}
  }
}
