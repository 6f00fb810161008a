import {Flags} from '@oclif/core'
import {resolve} from 'node:path'


import {DiswallCommand} from '../base-command.js'
import type {ParsedFlags} from '../base-command.js'
import {defaultConfig, loadConfig} from '../lib/config/index.js'
import {UsageError} from '../lib/errors.js'
import {disableUnits, removeKernelState, uninstallFiles} from '../lib/install/index.js'
import type {InstallItem, TeardownReport} from '../lib/install/index.js'
import {defaultPaths} from '../lib/system/index.js'

interface UninstallResult {
  changed: boolean
  root: string
  live: boolean
  purge: boolean
  items: InstallItem[]
  unitsStopped?: string[]
  kernel?: TeardownReport
}

export default class Uninstall extends DiswallCommand<UninstallResult> {
  static override description = 'Stops and removes the systemd units, then removes diswall from the kernel in an order that keeps the host reachable: the rules that jump to diswall\'s chains first (the chains keep accept policies), then the chains, then the guard rules that use the sets, then the sets (nftables: the inet diswall table). The config, the firewall directory and the state stay unless --purge. With --root DIR it only removes files under DIR.'
  static override examples = [
    '<%= config.bin %> <%= command.id %> --yes',
    '<%= config.bin %> <%= command.id %> --purge --yes',
    '<%= config.bin %> <%= command.id %> --root /tmp/stage --purge',
  ]

  static override flags = {
    purge: Flags.boolean({description: 'Remove the config, the firewall directory and the state directory too.'}),
    root: Flags.string({description: 'Remove the files under this directory only (packaging, tests).', helpValue: 'DIR'}),
    yes: Flags.boolean({char: 'y', description: 'Do it without asking (required on the live system when stdin is not a terminal).'}),
  }

  static override requiresRoot = (flags: ParsedFlags): boolean => flags.root === undefined
  static override summary = 'Remove diswall from this host: units, rules, chains and sets (config and state with --purge).'

  async run(): Promise<UninstallResult> {
    const {flags} = await this.parse(Uninstall)
    const live = flags.root === undefined
    const root = live ? '/' : resolve(flags.root!)
    if (live && !flags.yes) {
      throw new UsageError('uninstall removes diswall\'s firewall from this host; confirm with --yes',
        'Run "diswall uninstall --yes" (add --purge to remove the config and the state too).')
    }
    const result: UninstallResult = {changed: false, items: [], live, purge: flags.purge, root}
    if (live) {
      result.unitsStopped = await disableUnits()
      const configFile = defaultPaths(root).configFile
      // Without a readable config the default names are diswall's: the kernel objects still go.
      const {config} = await loadConfig(configFile).catch(() => ({config: defaultConfig()}))
      result.kernel = await removeKernelState(config)
      result.changed = result.unitsStopped.length > 0 || result.kernel.ruleset.changed
    }
    const files = await uninstallFiles({purge: flags.purge, root})
    result.items = files.items
    result.changed ||= files.changed
    for (const unit of result.unitsStopped ?? []) this.log(`stopped   ${unit}`)
    if (result.kernel) this.log(`removed   diswall's rules, chains and sets (${result.kernel.backend})`)
    for (const item of result.items) this.log(`${item.action.padEnd(9)} ${item.path}${item.note ? `  (${item.note})` : ''}`)
    return result
  }
}
