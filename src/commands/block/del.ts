import {DiswallCommand, oclifArg, oclifFlags} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import {runListDel} from '../../cli/lists.js'
import type {ListDelFlags} from '../../cli/lists.js'
import {BLOCK_DEL} from '../../cli/spec.js'
import {checkListGiven} from '../../lib/ops/lists.js'
import type {SharedListChangeResult} from '../../lib/ops/lists.js'

export default class BlockDel extends DiswallCommand<SharedListChangeResult> {
  static override aliases = ['block:rm']
  // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is
  // given, racing `--file -` for it.
  static override args = {[BLOCK_DEL.arg!.name]: oclifArg(BLOCK_DEL.arg!)}
  static override examples = ['<%= config.bin %> <%= command.id %> 203.0.113.7', '<%= config.bin %> <%= command.id %> --file feed.txt']
  static override flags = oclifFlags(BLOCK_DEL.flags)
  static override requiresRoot = BLOCK_DEL.requiresRoot
  static override strict = BLOCK_DEL.strict
  static override summary = 'Remove addresses from the block set of this host, in one batch (absent ones are reported as unchanged).'

  /** Neither an address nor --file: a usage error, before the root check as every usage error. */
  protected override async checkBeforeRoot(flags: ParsedFlags, argv: readonly string[]): Promise<void> {
    checkListGiven(argv, flags.file as string | undefined)
    await super.checkBeforeRoot(flags, argv)
  }

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(BlockDel)
    return runListDel(this.io(), 'block', argv as string[], flags as unknown as ListDelFlags)
  }
}
