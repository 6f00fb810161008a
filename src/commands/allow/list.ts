import {DiswallCommand, oclifFlags} from '../../base-command.js'
import {runList} from '../../cli/lists.js'
import type {ListResult} from '../../cli/lists.js'
import {LIST} from '../../cli/spec.js'

export default class AllowList extends DiswallCommand<ListResult> {
  static override aliases = ['allow:ls']
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = oclifFlags(LIST.flags)
  static override requiresRoot = LIST.requiresRoot
  static override summary = 'List the allow entries of this host with their comments and remaining time.'

  async run(): Promise<ListResult> {
    const {flags} = await this.parse(AllowList)
    return runList(this.io(), 'allow', flags as unknown as {config: string})
  }
}
