import {DiswallCommand, oclifFlags} from '../base-command.js'
import {STATUS} from '../cli/spec.js'
import {runStatus} from '../cli/status.js'
import type {DaemonStatus} from '../lib/daemon/index.js'

export default class Status extends DiswallCommand<DaemonStatus> {
  static override description = 'Asks the running daemon over its local control socket ([daemon] socket, root only). '
    + 'Exits 4 with E_DAEMON_NOT_RUNNING when no daemon answers.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
    '<%= config.bin %> <%= command.id %> --socket /run/diswall/diswall.sock',
  ]
  static override flags = oclifFlags(STATUS.flags)
  static override summary = 'Show what the running daemon is doing: sources, bans, kernel sets, snapshot.'

  async run(): Promise<DaemonStatus> {
    const {flags} = await this.parse(Status)
    return runStatus(this.io(), flags as unknown as {config: string; socket?: string; timeout: number})
  }
}
