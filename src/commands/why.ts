import {Args} from '@oclif/core'

import {configFlag, DiswallCommand} from '../base-command.js'
import {whyAddress} from '../lib/install/index.js'
import type {WhyReport} from '../lib/install/index.js'

function when(sec: number): string {
  return new Date(sec * 1000).toISOString().replace('.000Z', 'Z')
}

export default class Why extends DiswallCommand<WhyReport> {
  static override args = {address: Args.string({description: 'IPv4 or IPv6 address.', required: true})}
  static override description = 'Asks the kernel sets about this one address (never listing a large set), reads whitelist.d, blacklist.d and the rule files of the firewall directory, the daemon\'s journal and snapshot (since and until when), the running daemon\'s last bans (reason and source), and runs the never-ban check (allow list, ignore_ips, own addresses, special ranges, SSH peers). Changes nothing.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> 203.0.113.7',
    '<%= config.bin %> <%= command.id %> 2001:db8::7 --json',
  ]

  static override flags = {config: configFlag}
  static override requiresRoot = true
  static override summary = 'Is this address blocked or allowed here, since when, until when, and why.'

  async run(): Promise<WhyReport> {
    const {args, flags} = await this.parse(Why)
    const config = await this.readConfig(flags.config)
    const r = await whyAddress(config, args.address)
    this.log(`${r.address}: ${r.verdict}`)
    if (r.kernel.error) this.log(`  kernel sets (${r.kernel.backend}): unreadable: ${r.kernel.error}`)
    else this.log(`  kernel sets (${r.kernel.backend}): ${r.kernel.blocked ? 'in the block set' : 'not in the block set'}, ${r.kernel.allowed ? 'in the allow set' : 'not in the allow set'}`)
    for (const m of [...r.files.whitelist, ...r.files.blacklist, ...r.files.rules]) {
      this.log(`  ${m.file}${m.line === undefined ? '' : `:${m.line}`}: ${m.entry}${m.disabled ? ' (disabled: no effect)' : ''}`)
    }
    if (r.ban) {
      const since = r.ban.sinceSec === undefined ? 'since before the last snapshot' : `since ${when(r.ban.sinceSec)}`
      this.log(`  banned ${since}, ${r.ban.untilSec === null ? 'without end' : `until ${when(r.ban.untilSec)}`} (${r.ban.recordedIn})`)
      if (r.ban.reason) this.log(`  reason: ${r.ban.reason} (source ${r.ban.source})`)
    }
    if (!r.daemon.running) this.log(`  daemon: not answering (${r.daemon.error ?? 'no reason given'}); reasons of bans unknown`)
    this.log(r.protectedBy === null ? '  can be banned: nothing protects it' : `  protected, never banned: ${r.protectedBy}`)
    return r
  }
}
