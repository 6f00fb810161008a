import {Args, Flags} from '@oclif/core'

import {configFlag, DiswallCommand, durationFlag, listFileFlag} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import {openFirewall} from '../../lib/firewall/sets/index.js'
import {checkListGiven, blockAdd, listInputs, readListFile, shareListChange} from '../../lib/ops/lists.js'
import type {SharedListChangeResult} from '../../lib/ops/lists.js'

export default class BlockAdd extends DiswallCommand<SharedListChangeResult> {
  // ignoreStdin: without it, oclif 4 takes piped stdin (after a 10 ms wait) as the argument when none is
  // given, racing `--file -` for it.
  static override args = {address: Args.string({description: 'IP address to block (several may follow).', ignoreStdin: true})}
  static override description = 'Adds addresses to the block set of this host, all in one batch. An address that is already blocked gets its timeout refreshed and is reported as unchanged. Loopback, link-local, private (with skip_private), ignore_ips, allow-listed and own addresses are refused unless --force is given: given as arguments, they refuse the whole call and nothing changes; in a --file list, they are left out and reported as refused, and the rest is blocked.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7',
    '<%= config.bin %> <%= command.id %> 203.0.113.7 2001:db8::7 --timeout 1h --reason "manual" --kill',
    '<%= config.bin %> <%= command.id %> --file feed.txt --json',
    'curl -s https://example.org/feed.txt | <%= config.bin %> <%= command.id %> --file -',
  ]

  static override flags = {
    config: configFlag,
    file: listFileFlag,
    force: Flags.boolean({description: 'Block even addresses that the never-ban list protects.'}),
    kill: Flags.boolean({char: 'k', description: 'Also cut the established connections of the addresses.'}),
    reason: Flags.string({description: 'Why the addresses are blocked (shown in the output and its --json).'}),
    timeout: durationFlag({char: 't', description: 'How long the ban lasts: seconds or a duration like 15m, 1h, 1d; 0 = until removed. Default: [firewall] block_timeout.'}),
  }

  static override requiresRoot = true
  static override strict = false
  static override summary = 'Block addresses on this host.'

  /** Neither an address nor --file: a usage error, before the root check as every usage error. */
  protected override async checkBeforeRoot(flags: ParsedFlags, argv: readonly string[]): Promise<void> {
    checkListGiven(argv, flags.file as string | undefined)
    await super.checkBeforeRoot(flags, argv)
  }

  async run(): Promise<SharedListChangeResult> {
    const {argv, flags} = await this.parse(BlockAdd)
    checkListGiven(argv as string[], flags.file)
    const config = await this.readConfig(flags.config)
    const inputs = listInputs(argv as string[], flags.file === undefined ? [] : await readListFile(flags.file))
    const fw = await openFirewall(config)
    const result = await this.withListProgress(`Blocking ${inputs.length.toLocaleString('en-US')} addresses`, flags.file !== undefined,
      (onStep) => blockAdd(config, fw, inputs, {
        force: flags.force,
        kill: flags.kill,
        onStep,
        reason: flags.reason,
        timeoutSec: flags.timeout,
      }))
    this.renderListChange(result, {changed: 'blocked', unchanged: 'exists '}, flags.reason === undefined ? '' : ` (${flags.reason})`)
    for (const k of result.killed ?? []) this.log(`killed  ${k.target}: ${k.sockets} sockets, ${k.conntrack} conntrack entries`)
    const shared = await shareListChange(config, 'block', 'add', result, {reason: flags.reason, ttlSec: flags.timeout ?? config.firewall.block_timeout})
    if (shared.shared) this.reportShare(shared.shared)
    return shared
  }
}
