import {Flags} from '@oclif/core'

import {configFlag, DiswallCommand, dirFlag, durationFlag} from '../../base-command.js'
import type {ParsedFlags} from '../../base-command.js'
import type {RulesetDiff} from '../../lib/firewall/ruleset/index.js'
import {applyFromDir, showRuleset} from '../../lib/ops/index.js'
import type {PendingConfirm} from '../../lib/ops/index.js'
import {abortOnStopSignals} from '../../lib/service/index.js'
import {spawnDetached} from '../../lib/system/index.js'

interface FirewallApplyResult {
  applied: boolean
  backend: string
  changed: boolean
  disabled: boolean
  diff?: RulesetDiff
  local?: Array<{name: string}>
  pending?: PendingConfirm
  dryRun?: boolean
  transactions?: Array<{program: string; args: string[]; input: string}>
}

export default class FirewallApply extends DiswallCommand<FirewallApplyResult> {
  static override description = 'Compiles the firewall directory and loads it in one transaction per family (iptables-restore) or one nft transaction, into diswall\'s own chains; then runs local.d. If anything fails, the firewall as it was before is restored and the exit code is 5; SIGINT or SIGTERM restore it too and exit 130 or 143. With --confirm DURATION the previous firewall also comes back after that time unless `diswall firewall confirm` runs first: protection against locking yourself out over SSH.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --confirm 2m   # then, from a new SSH session: diswall firewall confirm',
    '<%= config.bin %> <%= command.id %> --dry-run',
  ]

  static override flags = {
    config: configFlag,
    confirm: durationFlag({description: 'Roll back after this time (seconds or 30s, 5m, 1h; at most 1d) unless `firewall confirm` runs.', maxSec: 86_400, minSec: 1}),
    dir: dirFlag,
    'dry-run': Flags.boolean({description: 'Print what would be loaded; change nothing.', exclusive: ['confirm']}),
    'local-timeout': durationFlag({default: 60, description: 'Kill a local.d script (with everything it started) and roll back when it runs longer than this (seconds or 30s, 5m; at most 1h).', maxSec: 3600, minSec: 1}),
  }

  static override requiresRoot = (flags: ParsedFlags): boolean => flags['dry-run'] !== true // --dry-run only prints
  static override summary = 'Apply the firewall directory atomically, with rollback.'

  async run(): Promise<FirewallApplyResult> {
    const {flags} = await this.parse(FirewallApply)
    const config = await this.readConfig(flags.config)
    const ctx = {config, dir: flags.dir ?? config.firewall.dir, onWarning: (w: string) => this.warnUser(w)}
    if (flags['dry-run']) {
      const rendered = await showRuleset(ctx)
      for (const tx of rendered.transactions) this.log(`# ${tx.program} ${tx.args.join(' ')}\n${tx.input.trimEnd()}`)
      return {applied: false, backend: rendered.backend, changed: false, disabled: false, dryRun: true,
        transactions: rendered.transactions.map(({args, input, program}) => ({args, input, program}))}
    }

    // SIGINT/SIGTERM stop the running transaction or local.d script and roll back; the exit code is then
    // 130 or 143 (E_INTERRUPTED), as a shell reports a stopped command, and nothing the apply started is left.
    const report = await abortOnStopSignals((signal) => applyFromDir(ctx, {
      confirmSec: flags.confirm,
      localTimeoutMs: flags['local-timeout'] * 1000,
      signal,
      startRollbackTimer: (token, afterSec) => {
        // A detached diswall process outlives this command and the SSH session that ran it.
        spawnDetached(process.execPath, [process.argv[1], 'firewall', 'rollback', '--token', token,
          '--after', String(afterSec), '--config', flags.config])
      },
    }))
    if (report.disabled) this.log(`${ctx.dir}/disabled exists: nothing applied`)
    else this.log(`applied (${report.backend})${report.changed ? '' : ', no changes'}${report.local.length > 0 ? `; ran local.d: ${report.local.map((l) => l.name).join(', ')}` : ''}`)
    if (report.pending) {
      this.log(`run "diswall firewall confirm" within ${flags.confirm} s, or the previous firewall comes back`)
    }

    return {applied: report.applied, backend: report.backend, changed: report.changed, diff: report.diff,
      disabled: report.disabled, local: report.local.map((l) => ({name: l.name})), pending: report.pending}
  }
}
