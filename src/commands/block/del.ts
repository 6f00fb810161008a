import {Args} from '@oclif/core'

import {configFlag, DiswallCommand} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {listDel, shareListChange} from '../../lib/ops/index.js'
import type {SharedListChangeResult} from '../../lib/ops/index.js'

export default class BlockDel extends DiswallCommand<SharedListChangeResult> {
  static override aliases = ['block:rm']
  static override args = {address: Args.string({description: 'IP address to unblock (several may follow).', required: true})}
  static override examples = ['<%= config.bin %> <%= command.id %> 203.0.113.7']
  static override flags = {config: configFlag}
  static override requiresRoot = true
  static override strict = false
  static override summary = 'Remove addresses from the block set of this host (absent ones are reported as unchanged).'

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(BlockDel)
    const config = await this.readConfig(flags.config)
    const result = await listDel(await openFirewall(config), 'block', argv as string[])
    for (const e of result.entries) this.log(`${e.changed ? 'removed' : 'absent '} ${e.target}`)
    const shared = await shareListChange(config, 'block', 'del', result)
    this.reportShare(shared.shared)
    return shared
  }
}
