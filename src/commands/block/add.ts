import {Args, Flags} from '@oclif/core'

import {configFlag, DiswallCommand, durationFlag} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {blockAdd, shareListChange} from '../../lib/ops/index.js'
import type {SharedListChangeResult} from '../../lib/ops/index.js'

export default class BlockAdd extends DiswallCommand<SharedListChangeResult> {
  static override args = {address: Args.string({description: 'IP address to block (several may follow).', required: true})}
  static override description = 'Adds addresses to the block set of this host. An address that is already blocked gets its timeout refreshed and is reported as unchanged. Loopback, link-local, private (with skip_private), ignore_ips, allow-listed and own addresses are refused unless --force is given; then nothing changes.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7',
    '<%= config.bin %> <%= command.id %> 203.0.113.7 2001:db8::7 --timeout 1h --reason "manual" --kill',
  ]

  static override flags = {
    config: configFlag,
    force: Flags.boolean({description: 'Block even addresses that the never-ban list protects.'}),
    kill: Flags.boolean({char: 'k', description: 'Also cut the established connections of the addresses.'}),
    reason: Flags.string({description: 'Why the addresses are blocked (shown in the output and its --json).'}),
    timeout: durationFlag({char: 't', description: 'How long the ban lasts: seconds or a duration like 15m, 1h, 1d; 0 = until removed. Default: [firewall] block_timeout.'}),
  }

  static override requiresRoot = true
  static override strict = false
  static override summary = 'Block addresses on this host.'

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(BlockAdd)
    const config = await this.readConfig(flags.config)
    const fw = await openFirewall(config)
    const result = await blockAdd(config, fw, argv as string[], {
      force: flags.force,
      kill: flags.kill,
      reason: flags.reason,
      timeoutSec: flags.timeout,
    })
    const why = flags.reason === undefined ? '' : ` (${flags.reason})`
    for (const e of result.entries) this.log(`${e.changed ? 'blocked' : 'exists '} ${e.target}${why}`)
    for (const k of result.killed ?? []) this.log(`killed  ${k.target}: ${k.sockets} sockets, ${k.conntrack} conntrack entries`)
    const shared = await shareListChange(config, 'block', 'add', result, {reason: flags.reason, ttlSec: flags.timeout ?? config.firewall.block_timeout})
    this.reportShare(shared.shared)
    return shared
  }
}
