import {Args} from '@oclif/core'

import {configFlag, DiswallCommand} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {listDel, shareListChange} from '../../lib/ops/index.js'
import type {SharedListChangeResult} from '../../lib/ops/index.js'

export default class AllowDel extends DiswallCommand<SharedListChangeResult> {
  static override aliases = ['allow:rm']
  static override args = {address: Args.string({description: 'IP address or network to remove from the allow list (several may follow).', required: true})}
  static override examples = ['<%= config.bin %> <%= command.id %> 203.0.113.7']
  static override flags = {config: configFlag}
  static override requiresRoot = true
  static override strict = false
  static override summary = 'Remove addresses from the allow set of this host (absent ones are reported as unchanged).'

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(AllowDel)
    const config = await this.readConfig(flags.config)
    const result = await listDel(await openFirewall(config), 'allow', argv as string[])
    for (const e of result.entries) this.log(`${e.changed ? 'removed' : 'absent '} ${e.target}`)
    const shared = await shareListChange(config, 'allow', 'del', result)
    this.reportShare(shared.shared)
    return shared
  }
}
