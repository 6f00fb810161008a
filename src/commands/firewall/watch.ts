import {configFlag, DiswallCommand, dirFlag} from '../../base-command.js'
import {asDiswallError} from '../../lib/errors.js'
import {watchRuleset} from '../../lib/ops/index.js'
import {runService} from '../../lib/service/index.js'

export default class FirewallWatch extends DiswallCommand<{stopped: boolean}> {
  static override description = 'Applies the firewall directory, then again within a second of any change in it (changes are debounced). A broken edit is reported with FILE:LINE and the last good ruleset stays in the kernel. Runs in the foreground until SIGTERM or Ctrl-C.'
  static override examples = ['<%= config.bin %> <%= command.id %>']
  static override flags = {config: configFlag, dir: dirFlag}
  static override requiresRoot = true
  static override summary = 'Re-apply the firewall directory whenever it changes.'

  async run(): Promise<{stopped: boolean}> {
    const {flags} = await this.parse(FirewallWatch)
    const config = await this.readConfig(flags.config)
    const dir = flags.dir ?? config.firewall.dir
    let watcher: Awaited<ReturnType<typeof watchRuleset>> | undefined
    await runService({
      start: async () => {
        watcher = await watchRuleset({config, dir, onWarning: (w) => this.warnUser(w)}, (event) => {
          const files = event.files.filter(Boolean).join(', ')
          if (event.type === 'applied') this.log(`applied${files ? ` after changes to ${files}` : ''}${event.changed ? '' : ' (no changes)'}`)
          else this.logToStderr(`rejected${files ? ` changes to ${files}` : ''}; the last good ruleset stays: ${asDiswallError(event.error).message}`)
        })
        this.log(`watching ${dir}`)
      },
      async stop() {
        watcher?.close()
        await watcher?.idle()
      },
    })
    return {stopped: true}
  }
}
