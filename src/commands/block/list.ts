import {configFlag, DiswallCommand} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {formatDuration} from '../../lib/net/index.js'
import {listEntries} from '../../lib/ops/index.js'
import type {ListItem} from '../../lib/ops/index.js'

export default class BlockList extends DiswallCommand<{backend: string; count: number; entries: ListItem[]}> {
  static override aliases = ['block:ls']
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {config: configFlag}
  static override requiresRoot = true
  static override summary = 'List the blocked addresses of this host with their remaining time.'

  async run(): Promise<{backend: string; count: number; entries: ListItem[]}> {
    const {flags} = await this.parse(BlockList)
    const config = await this.readConfig(flags.config)
    const result = await listEntries(await openFirewall(config), 'block')
    for (const e of result.entries) this.log(`${e.target.padEnd(40)} ${e.ttlSec === null ? 'never expires' : formatDuration(e.ttlSec)}`)
    this.log(`${result.count} blocked (${result.backend})`)
    return result
  }
}
