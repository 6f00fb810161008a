import {Args} from '@oclif/core'

import {configFlag, DiswallCommand, listFileFlag} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {checkListGiven, listDel, listInputs, readListFile, shareListChange} from '../../lib/ops/lists.js'
import type {SharedListChangeResult} from '../../lib/ops/lists.js'

export default class AllowDel extends DiswallCommand<SharedListChangeResult> {
  static override aliases = ['allow:rm']
  // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is
  // given, racing `--file -` for it.
  static override args = {address: Args.string({description: 'IP address or network to remove from the allow list (several may follow).', ignoreStdin: true})}
  static override examples = ['<%= config.bin %> <%= command.id %> 203.0.113.7', '<%= config.bin %> <%= command.id %> --file office-networks.txt']
  static override flags = {config: configFlag, file: listFileFlag}
  static override requiresRoot = true
  static override strict = false
  static override summary = 'Remove addresses from the allow set of this host, in one batch (absent ones are reported as unchanged).'

  /** Neither an address nor --file: a usage error, before the root check as every usage error. */
  protected override async checkBeforeRoot(flags: ParsedFlags, argv: readonly string[]): Promise<void> {
    checkListGiven(argv, flags.file as string | undefined)
    await super.checkBeforeRoot(flags, argv)
  }

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(AllowDel)
    checkListGiven(argv as string[], flags.file)
    const config = await this.readConfig(flags.config)
    const inputs = listInputs(argv as string[], flags.file === undefined ? [] : await readListFile(flags.file))
    const fw = await openFirewall(config)
    const result = await this.withListProgress(`Removing ${inputs.length.toLocaleString('en-US')} allow entries`, flags.file !== undefined,
      (onStep) => listDel(fw, 'allow', inputs, {onStep}))
    this.renderListChange(result, {changed: 'removed', unchanged: 'absent '})
    const shared = await shareListChange(config, 'allow', 'del', result)
    if (shared.shared) this.reportShare(shared.shared)
    return shared
  }
}
