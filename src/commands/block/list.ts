import {DiswallCommand, oclifFlags} from '../../base-command.js'
import {runList} from '../../cli/lists.js'
import type {ListResult} from '../../cli/lists.js'
import {LIST} from '../../cli/spec.js'

export default class BlockList extends DiswallCommand<ListResult> {
  static override aliases = ['block:ls']
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = oclifFlags(LIST.flags)
  static override requiresRoot = LIST.requiresRoot
  static override summary = 'List the blocked addresses of this host with their remaining time.'

  async run(): Promise<ListResult> {
    const {flags} = await this.parse(BlockList)
    return runList(this.io(), 'block', flags as unknown as {config: string})
  }
}
