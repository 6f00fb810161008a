import {Listr} from 'listr2'

import {configFlag, DiswallCommand} from '../../base-command.js'
import {syncInit} from '../../lib/ops/index.js'
import type {SyncInitResult} from '../../lib/ops/index.js'

export default class SyncInit extends DiswallCommand<SyncInitResult> {
  static override description = [
    'Asks the diswall server (over NATS) for the current block and allow lists of this host and replaces the kernel sets with them,',
    'each in one atomic swap. Entries the never-ban list protects (own addresses, the NATS server, SSH peers, the allow list,',
    'ignore_ips) are left out. The daemon does the same after every (re)connect. If no server answers, the sets stay as they are',
    'and the command exits 6.',
  ].join(' ')
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {config: configFlag}
  static override requiresRoot = true
  static override summary = 'Load the current block and allow lists from the server into the kernel sets.'

  async run(): Promise<SyncInitResult> {
    const {flags} = await this.parse(SyncInit)
    const config = await this.readConfig(flags.config)
    let result: SyncInitResult | undefined
    if (process.stdout.isTTY && !this.jsonEnabled()) {
      await new Listr([{
        task: async (_ctx, task) => {
          const seen = {allow: 0, block: 0}
          result = await syncInit(config, {onProgress(list, received) {
            seen[list] = received
            task.output = `block ${seen.block} entries, allow ${seen.allow} entries`
          }})
        },
        title: `sync init from ${config.nats.server}:${config.nats.port}`,
      }], {exitOnError: true, rendererOptions: {collapseErrors: false}}).run()
    } else {
      result = await syncInit(config)
    }
    const r = result!
    for (const list of ['block', 'allow'] as const) {
      const l = r.lists[list]
      this.log(`${list}: ${l.loaded} entries loaded (${l.received} received, ${l.protected} protected left out, ${l.malformed} malformed) in ${l.ms} ms`)
    }
    return r
  }
}
