import {DiswallCommand, oclifArg, oclifFlags} from '../base-command.js'
import {WHY} from '../cli/spec.js'
import {runWhy} from '../cli/why.js'
import type {WhyReport} from '../lib/install/index.js'

export default class Why extends DiswallCommand<WhyReport> {
  static override args = {address: oclifArg(WHY.arg!)}
  static override description = 'Asks the kernel sets about this one address (never listing a large set), reads whitelist.d, blacklist.d and the rule files of the firewall directory, the daemon\'s journal and snapshot (since and until when), the running daemon\'s last bans (reason and source), and runs the never-ban check (allow list, ignore_ips, own addresses, special ranges, SSH peers). Changes nothing.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7',
    '<%= config.bin %> <%= command.id %> 2001:db8::7 --json',
  ]

  static override flags = oclifFlags(WHY.flags)
  static override requiresRoot = WHY.requiresRoot
  static override summary = 'Is this address blocked or allowed here, since when, until when, and why.'

  async run(): Promise<WhyReport> {
    const {args, flags} = await this.parse(Why)
    return runWhy(this.io(), args.address as string, flags as unknown as {config: string})
  }
}
