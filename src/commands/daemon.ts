import {Flags} from '@oclif/core'
import {createWriteStream} from 'node:fs'


import {configFlag, DiswallCommand} from '../base-command.js'
import type {ParsedFlags} from '../base-command.js'
import {applyDaemonFlags, Daemon, isDistributed, openFleet, scheduleStatistics, sendsStatistics} from '../lib/daemon/index.js'
import type {PacketSourceKind} from '../lib/daemon/index.js'
import {runServerService, serverModeLocation} from '../lib/server/index.js'
import {createLogger, runService} from '../lib/service/index.js'

export default class DaemonCommand extends DiswallCommand<{stopped: boolean}> {
  static override description = [
    'Runs in the foreground until SIGTERM or Ctrl-C (for systemd: Type=simple, logs on stdout).',
    'On start it restores the last snapshot of the kernel sets before anything else, then reads the packet log',
    '(/dev/kmsg, journald, the rsyslog pipe, or an NFLOG group through tcpdump) and the service logs of patterns.d,',
    'and bans what the policy says.',
    'SIGHUP reloads the config and the pattern files; on SIGTERM pending bans are written and the journal is kept',
    'for the next start (or the snapshot saved, when the journal may lack a change).',
    '`diswall status` shows what it is doing.',
    'With server_mode = true in the config it runs the central server instead, as `diswall server` does (the original\'s way).',
  ].join(' ')
  static override examples = [
    '<%= config.bin %> <%= command.id %> --local-only',
    '<%= config.bin %> <%= command.id %> --source pipe --pipe-file /var/log/diswall/diswall.pipe',
  ]
  static override flags = {
    'allow-set': Flags.string({char: 'a', description: 'Name of the allow set (overrides ipset_white_list).', helpValue: 'NAME'}),
    'block-set': Flags.string({char: 'b', description: 'Name of the block set (overrides ipset_black_list).', helpValue: 'NAME'}),
    config: configFlag,
    debug: Flags.boolean({char: 'd', description: 'Log debug messages too.'}),
    'local-only': Flags.boolean({char: 'l', description: 'Protect this host only: no NATS (same as local_only = true).'}),
    'log-file': Flags.string({description: 'Append the log to this file instead of stdout.', helpValue: 'FILE'}),
    'nats-name': Flags.string({description: 'NATS account name (overrides [nats] client_name).', helpValue: 'NAME'}),
    'nats-pass': Flags.string({description: 'NATS account password (overrides [nats] client_pass).', helpValue: 'PASS'}),
    'nats-port': Flags.integer({description: 'NATS server port (overrides [nats] port).', helpValue: 'PORT'}),
    'nats-server': Flags.string({description: 'NATS server (overrides [nats] server).', helpValue: 'HOST'}),
    'pipe-file': Flags.string({char: 'f', description: 'Read logged packets from this named pipe (implies --source pipe).', helpValue: 'PATH'}),
    source: Flags.string({description: 'Where logged packets come from (overrides [detect] source).', options: ['kmsg', 'journal', 'pipe', 'nflog']}),
  }
  static override requiresRoot = true
  static override summary = 'Run the per-host agent: detect probes and log patterns, ban in the kernel sets.'

  /** The flags that override the config are checked before root is, as run() checks them. */
  protected override async checkBeforeRoot(_flags: ParsedFlags): Promise<void> {
    const {flags} = await this.parse(DaemonCommand)
    applyDaemonFlags(await this.readConfig(flags.config), flags)
  }

  async run(): Promise<{stopped: boolean}> {
    const {flags} = await this.parse(DaemonCommand)
    const config = applyDaemonFlags(await this.readConfig(flags.config), flags)
    const stream = flags['log-file'] === undefined ? process.stdout : createWriteStream(flags['log-file'], {flags: 'a', mode: 0o640})
    const logger = createLogger({debug: flags.debug, stream})
    if (config.server_mode) {
      // The original ran the server from its one program when the config said so; so does this.
      try {
        const where = await serverModeLocation(config, flags.config, flags['local-only'] === true)
        logger.log('notice', `server_mode = true (${where}): running the central server, as \`diswall server\` does`)
        await runServerService({config, configPath: flags.config, logger, version: this.config.version})
      } finally {
        if (stream !== process.stdout) stream.end()
      }
      return {stopped: true}
    }
    const fleet = isDistributed(config) ? await openFleet(config, logger) : undefined
    const daemon = new Daemon({
      ...fleet,
      config,
      configPath: flags.config,
      logger,
      packetSource: flags['pipe-file'] === undefined ? flags.source as PacketSourceKind | undefined : 'pipe',
      pipePath: flags['pipe-file'],
      timings: flags.debug,
      version: this.config.version,
    })

    let stopStatistics = (): void => {}
    try {
      // runService watches the signals from before the start: a SIGTERM during the start stops the daemon once it is up.
      await runService({
        onSignal(signal, action) {
          if (action === 'stop') logger.log('notice', `${signal}: stopping`)
        },
        reload: () => daemon.reload(),
        async start() {
          await daemon.start()
          if (fleet && sendsStatistics(config)) {
            stopStatistics = scheduleStatistics(fleet.transport, () => daemon.statistics(), logger.log.bind(logger))
          }
        },
        async stop() {
          stopStatistics()
          await daemon.stop()
          logger.log('notice', 'stopped')
        },
      })
    } finally {
      if (stream !== process.stdout) stream.end()
    }
    return {stopped: true}
  }
}
