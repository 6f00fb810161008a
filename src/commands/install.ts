import {Flags} from '@oclif/core'
import {Listr} from 'listr2'
import {realpathSync} from 'node:fs'
import {resolve} from 'node:path'


import {DiswallCommand, durationFlag} from '../base-command.js'
import type {ParsedFlags} from '../base-command.js'
import {enableUnits, installFiles, protectAndApply} from '../lib/install/index.js'
import type {InstallFilesReport, InstallItem, ProtectReport} from '../lib/install/index.js'
import {spawnDetached} from '../lib/system/index.js'

interface InstallResult {
  changed: boolean
  root: string
  live: boolean
  items: InstallItem[]
  firewall?: ProtectReport
  unitsEnabled?: string[]
}

export default class Install extends DiswallCommand<InstallResult> {
  static override description = 'Writes /etc/diswall/diswall.conf (only when missing: an existing config is never overwritten), the firewall directory with the shipped patterns.d files (existing files, whitelist.d, blacklist.d and disabled flags are left alone), the state directory and the systemd units diswall.service, diswall-firewall.service (restores the sets and the ruleset at boot, before the network) and, with --server, diswall-server.service. On the live system it then allows the SSH peers of the current sessions, applies the firewall with a rollback unless confirmed (--confirm, 5 minutes by default; --yes applies without), and enables and starts the units. With --root DIR it only writes the files under DIR: no systemctl, no firewall. Idempotent: it reports each path as created, changed or unchanged.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>   # then, from a new SSH session: diswall firewall confirm',
    '<%= config.bin %> <%= command.id %> --server --backend nftables --yes',
    '<%= config.bin %> <%= command.id %> --root /tmp/stage --json',
  ]

  static override flags = {
    backend: Flags.string({description: '[firewall] backend of a new config (an existing config is not changed).', options: ['auto', 'ipset', 'nftables']}),
    confirm: durationFlag({default: 300, description: 'Roll the firewall back after this time unless `diswall firewall confirm` runs (live system only).', maxSec: 86_400, minSec: 30}),
    root: Flags.string({description: 'Install the files under this directory (packaging, tests); touch nothing of the live system.', helpValue: 'DIR'}),
    server: Flags.boolean({description: 'Install diswall-server.service too (the central server).'}),
    yes: Flags.boolean({char: 'y', description: 'Apply the firewall without waiting for `diswall firewall confirm`.'}),
  }

  static override requiresRoot = (flags: ParsedFlags): boolean => flags.root === undefined
  static override summary = 'Install diswall on this host: config, firewall directory, state directory, systemd units.'

  async run(): Promise<InstallResult> {
    const {flags} = await this.parse(Install)
    const root = flags.root === undefined ? '/' : resolve(flags.root)
    const live = flags.root === undefined
    // The units run this very installation: node and bin/run.js by their real paths.
    const command = [process.execPath, realpathSync(process.argv[1]!)]
    const result: InstallResult = {changed: false, items: [], live, root}
    let files: InstallFilesReport | undefined
    const steps: Array<{title: string; task: () => Promise<void>}> = [{
      task: async () => {
        files = await installFiles({backend: flags.backend as 'auto' | 'ipset' | 'nftables' | undefined, command, root, server: flags.server})
        result.items = files.items
        result.changed = files.changed
      },
      title: `Files under ${root}`,
    }]
    if (live) {
      steps.push({
        task: async () => {
          result.firewall = await protectAndApply(files!.config, {
            confirmSec: flags.yes ? undefined : flags.confirm,
            onWarning: (w) => this.warnUser(w),
            startRollbackTimer: (token, afterSec) => {
              spawnDetached(process.execPath, [process.argv[1]!, 'firewall', 'rollback', '--token', token, '--after', String(afterSec)])
            },
          })
          if (result.firewall.changed || result.firewall.allowedSshPeers.length > 0) result.changed = true
        },
        title: 'Kernel sets, SSH sessions allowed, firewall applied',
      }, {
        task: async () => {
          await enableUnits(flags.server)
          result.unitsEnabled = ['diswall-firewall.service', 'diswall.service', ...(flags.server ? ['diswall-server.service'] : [])]
        },
        title: 'systemd units enabled and started',
      })
    }

    if (process.stdout.isTTY && !this.jsonEnabled()) {
      await new Listr(steps, {concurrent: false, exitOnError: true, rendererOptions: {collapseSubtasks: false}}).run()
    } else {
      for (const step of steps) await step.task()
    }

    for (const item of result.items) this.log(`${item.action.padEnd(9)} ${item.path}${item.note ? `  (${item.note})` : ''}`)
    if (result.firewall) {
      const fw = result.firewall
      for (const peer of fw.allowedSshPeers) this.log(`allowed   ${peer}  (SSH session)`)
      this.log(fw.disabled ? 'firewall directory disabled: nothing applied' : `firewall applied (${fw.backend})${fw.changed ? '' : ', no changes'}`)
      if (fw.pending) this.log(`run "diswall firewall confirm" from a new SSH session within ${flags.confirm} s, or the previous firewall comes back`)
    }
    if (!live) this.log(`installed under ${root}; nothing of the live system was touched`)
    return result
  }
}
