import {Args, Flags} from '@oclif/core'

import {configFlag, DiswallCommand, durationFlag, listFileFlag} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {checkListGiven, allowAdd, listInputs, readListFile, shareListChange} from '../../lib/ops/lists.js'
import type {SharedListChangeResult} from '../../lib/ops/lists.js'

export default class AllowAdd extends DiswallCommand<SharedListChangeResult> {
  // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is
  // given, racing `--file -` for it.
  static override args = {target: Args.string({description: 'IP address or CIDR network (several may follow).', ignoreStdin: true})}
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7 --comment "office VPN"',
    '<%= config.bin %> <%= command.id %> 198.51.100.0/24 2001:db8:1::/48 --timeout 8d',
    '<%= config.bin %> <%= command.id %> --file partners.txt   # lines "198.51.100.0/24 # partner A"',
  ]

  static override flags = {
    comment: Flags.string({char: 'm', description: 'Note stored with the entries (at most 128 bytes, no quotes); a line of --file with its own comment keeps that one.'}),
    config: configFlag,
    file: listFileFlag,
    force: Flags.boolean({description: 'Allow networks broader than a /8 (IPv4) or /16 (IPv6) too.'}),
    timeout: durationFlag({char: 't', description: 'Remove the entries after this time (seconds or 15m, 1h, 8d); default: never.'}),
  }

  static override requiresRoot = true
  static override strict = false
  static override summary = 'Allow addresses or networks on this host: they pass even when they are in the block set.'

  /** Neither an address nor --file: a usage error, before the root check as every usage error. */
  protected override async checkBeforeRoot(flags: ParsedFlags, argv: readonly string[]): Promise<void> {
    checkListGiven(argv, flags.file as string | undefined)
    await super.checkBeforeRoot(flags, argv)
  }

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(AllowAdd)
    checkListGiven(argv as string[], flags.file)
    const config = await this.readConfig(flags.config)
    const inputs = listInputs(argv as string[], flags.file === undefined ? [] : await readListFile(flags.file))
    const fw = await openFirewall(config)
    const result = await this.withListProgress(`Allowing ${inputs.length.toLocaleString('en-US')} entries`, flags.file !== undefined,
      (onStep) => allowAdd(fw, inputs, {comment: flags.comment, force: flags.force, onStep, timeoutSec: flags.timeout}))
    this.renderListChange(result, {changed: 'allowed', unchanged: 'exists '})
    const shared = await shareListChange(config, 'allow', 'add', result, {comment: flags.comment, ttlSec: flags.timeout})
    if (shared.shared) this.reportShare(shared.shared)
    return shared
  }
}
