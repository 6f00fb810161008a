import {Args, Flags} from '@oclif/core'

import {configFlag, DiswallCommand, durationFlag} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {allowAdd, shareListChange} from '../../lib/ops/index.js'
import type {SharedListChangeResult} from '../../lib/ops/index.js'

export default class AllowAdd extends DiswallCommand<SharedListChangeResult> {
  static override args = {target: Args.string({description: 'IP address or CIDR network (several may follow).', required: true})}
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7 --comment "office VPN"',
    '<%= config.bin %> <%= command.id %> 198.51.100.0/24 2001:db8:1::/48 --timeout 8d',
  ]

  static override flags = {
    comment: Flags.string({char: 'm', description: 'Note stored with the entries (at most 128 bytes, no quotes).'}),
    config: configFlag,
    force: Flags.boolean({description: 'Allow networks broader than a /8 (IPv4) or /16 (IPv6) too.'}),
    timeout: durationFlag({char: 't', description: 'Remove the entries after this time (seconds or 15m, 1h, 8d); default: never.'}),
  }

  static override requiresRoot = true
  static override strict = false
  static override summary = 'Allow addresses or networks on this host: they pass even when they are in the block set.'

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(AllowAdd)
    const config = await this.readConfig(flags.config)
    const result = await allowAdd(await openFirewall(config), argv as string[], {
      comment: flags.comment,
      force: flags.force,
      timeoutSec: flags.timeout,
    })
    for (const e of result.entries) this.log(`${e.changed ? 'allowed' : 'exists '} ${e.target}`)
    const shared = await shareListChange(config, 'allow', 'add', result, {comment: flags.comment, ttlSec: flags.timeout})
    this.reportShare(shared.shared)
    return shared
  }
}
