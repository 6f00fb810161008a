import {Flags} from '@oclif/core'
import {createWriteStream} from 'node:fs'

import {configFlag, DiswallCommand} from '../../base-command.js'
import {runServerService} from '../../lib/server/index.js'
import {createLogger} from '../../lib/service/index.js'

export default class Server extends DiswallCommand<{stopped: boolean}> {
  static override description = [
    'Runs in the foreground until SIGTERM or Ctrl-C (for systemd: Type=simple, logs on stdout).',
    'It stores the bans and allow entries of every account ([server] db, SQLite), escalates repeat offenders,',
    'answers init requests with the current lists, and broadcasts bans on diswall.blacklist.new when a honeypot',
    'account or [server] global_min_accounts accounts report them.',
    'SIGHUP reloads escalation, trust and limits; SIGTERM commits pending writes and exits 0.',
    '`diswall server status` shows what it is doing; `diswall server nats-config` writes the nats-server permissions.',
  ].join(' ')
  static override examples = [
    '<%= config.bin %> <%= command.id %> --config /etc/diswall/diswall.conf',
  ]
  static override flags = {
    config: configFlag,
    debug: Flags.boolean({char: 'd', description: 'Log debug messages too.'}),
    'log-file': Flags.string({description: 'Append the log to this file instead of stdout.', helpValue: 'FILE'}),
  }
  static override requiresRoot = true
  static override summary = 'Run the central server: store, escalation, init replies, broadcast of trusted bans.'

  async run(): Promise<{stopped: boolean}> {
    const {flags} = await this.parse(Server)
    const config = await this.readConfig(flags.config)
    const stream = flags['log-file'] === undefined ? process.stdout : createWriteStream(flags['log-file'], {flags: 'a', mode: 0o640})
    const logger = createLogger({debug: flags.debug, stream})
    try {
      await runServerService({config, configPath: flags.config, logger, version: this.config.version})
    } finally {
      if (stream !== process.stdout) stream.end()
    }
    return {stopped: true}
  }
}
