import {DiswallCommand, oclifArg, oclifFlags} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import {runListDel} from '../../cli/lists.js'
import type {ListDelFlags} from '../../cli/lists.js'
import {ALLOW_DEL} from '../../cli/spec.js'
import {checkListGiven} from '../../lib/ops/lists.js'
import type {SharedListChangeResult} from '../../lib/ops/lists.js'

export default class AllowDel extends DiswallCommand<SharedListChangeResult> {
  static override aliases = ['allow:rm']
  // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is
  // given, racing `--file -` for it.
  static override args = {[ALLOW_DEL.arg!.name]: oclifArg(ALLOW_DEL.arg!)}
  static override examples = ['<%= config.bin %> <%= command.id %> 203.0.113.7', '<%= config.bin %> <%= command.id %> --file office-networks.txt']
  static override flags = oclifFlags(ALLOW_DEL.flags)
  static override requiresRoot = ALLOW_DEL.requiresRoot
  static override strict = ALLOW_DEL.strict
  static override summary = 'Remove addresses from the allow set of this host, in one batch (absent ones are reported as unchanged).'

  /** Neither an address nor --file: a usage error, before the root check as every usage error. */
  protected override async checkBeforeRoot(flags: ParsedFlags, argv: readonly string[]): Promise<void> {
    checkListGiven(argv, flags.file as string | undefined)
    await super.checkBeforeRoot(flags, argv)
  }

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(AllowDel)
    return runListDel(this.io(), 'allow', argv as string[], flags as unknown as ListDelFlags)
  }
}
