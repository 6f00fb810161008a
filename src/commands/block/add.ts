import {DiswallCommand, oclifArg, oclifFlags} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import {runBlockAdd} from '../../cli/lists.js'
import type {BlockAddFlags} from '../../cli/lists.js'
import {BLOCK_ADD} from '../../cli/spec.js'
import {checkListGiven} from '../../lib/ops/lists.js'
import type {SharedListChangeResult} from '../../lib/ops/lists.js'

export default class BlockAdd extends DiswallCommand<SharedListChangeResult> {
  // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is
  // given, racing `--file -` for it.
  static override args = {[BLOCK_ADD.arg!.name]: oclifArg(BLOCK_ADD.arg!)}
  static override description = 'Adds addresses to the block set of this host, all in one batch. An address that is already blocked gets its timeout refreshed and is reported as unchanged. Loopback, link-local, private (with skip_private), ignore_ips, allow-listed and own addresses are refused unless --force is given: given as arguments, they refuse the whole call and nothing changes; in a --file list, they are left out and reported as refused, and the rest is blocked.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7',
    '<%= config.bin %> <%= command.id %> 203.0.113.7 2001:db8::7 --timeout 1h --reason "manual" --kill',
    '<%= config.bin %> <%= command.id %> --file feed.txt --json',
    'curl -s https://example.org/feed.txt | <%= config.bin %> <%= command.id %> --file -',
  ]
  static override flags = oclifFlags(BLOCK_ADD.flags)
  static override requiresRoot = BLOCK_ADD.requiresRoot
  static override strict = BLOCK_ADD.strict
  static override summary = 'Block addresses on this host.'

  /** Neither an address nor --file: a usage error, before the root check as every usage error. */
  protected override async checkBeforeRoot(flags: ParsedFlags, argv: readonly string[]): Promise<void> {
    checkListGiven(argv, flags.file as string | undefined)
    await super.checkBeforeRoot(flags, argv)
  }

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(BlockAdd)
    return runBlockAdd(this.io(), argv as string[], flags as unknown as BlockAddFlags)
  }
}
