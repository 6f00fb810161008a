import {configFlag, DiswallCommand} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {formatDuration} from '../../lib/net/index.js'
import {listEntries} from '../../lib/ops/index.js'
import type {ListItem} from '../../lib/ops/index.js'

export default class AllowList extends DiswallCommand<{backend: string; count: number; entries: ListItem[]}> {
  static override aliases = ['allow:ls']
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {config: configFlag}
  static override requiresRoot = true
  static override summary = 'List the allow entries of this host with their comments and remaining time.'

  async run(): Promise<{backend: string; count: number; entries: ListItem[]}> {
    const {flags} = await this.parse(AllowList)
    const config = await this.readConfig(flags.config)
    const result = await listEntries(await openFirewall(config), 'allow')
    for (const e of result.entries) {
      const ttl = e.ttlSec === null ? 'permanent' : `expires in ${formatDuration(e.ttlSec)}`
      this.log(`${e.target.padEnd(43)} ${ttl.padEnd(20)} ${e.comment ?? ''}`.trimEnd())
    }

    this.log(`${result.count} allowed (${result.backend})`)
    return result
  }
}
