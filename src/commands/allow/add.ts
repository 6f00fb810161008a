import {DiswallCommand, oclifArg, oclifFlags} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import {runAllowAdd} from '../../cli/lists.js'
import type {AllowAddFlags} from '../../cli/lists.js'
import {ALLOW_ADD} from '../../cli/spec.js'
import {checkListGiven} from '../../lib/ops/lists.js'
import type {SharedListChangeResult} from '../../lib/ops/lists.js'

export default class AllowAdd extends DiswallCommand<SharedListChangeResult> {
  // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is
  // given, racing `--file -` for it.
  static override args = {[ALLOW_ADD.arg!.name]: oclifArg(ALLOW_ADD.arg!)}
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7 --comment "office VPN"',
    '<%= config.bin %> <%= command.id %> 198.51.100.0/24 2001:db8:1::/48 --timeout 8d',
    '<%= config.bin %> <%= command.id %> --file partners.txt   # lines "198.51.100.0/24 # partner A"',
  ]
  static override flags = oclifFlags(ALLOW_ADD.flags)
  static override requiresRoot = ALLOW_ADD.requiresRoot
  static override strict = ALLOW_ADD.strict
  static override summary = 'Allow addresses or networks on this host: they pass even when they are in the block set.'

  /** Neither an address nor --file: a usage error, before the root check as every usage error. */
  protected override async checkBeforeRoot(flags: ParsedFlags, argv: readonly string[]): Promise<void> {
    checkListGiven(argv, flags.file as string | undefined)
    await super.checkBeforeRoot(flags, argv)
  }

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(AllowAdd)
    return runAllowAdd(this.io(), argv as string[], flags as unknown as AllowAddFlags)
  }
}
