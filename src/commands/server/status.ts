import {Flags} from '@oclif/core'

import {configFlag, DiswallCommand} from '../../base-command.js'
import {formatDuration} from '../../lib/net/index.js'
import {queryServer} from '../../lib/server/index.js'
import type {ServerStatus} from '../../lib/server/index.js'

export default class ServerStatusCommand extends DiswallCommand<ServerStatus> {
  static override description = 'Asks the running server over its local control socket ([server] socket, root only). '
    + 'Exits 4 with E_DAEMON_NOT_RUNNING when no server answers.'
  static override examples = ['<%= config.bin %> <%= command.id %>', '<%= config.bin %> <%= command.id %> --json']
  static override flags = {
    config: configFlag,
    socket: Flags.string({description: 'Control socket of the server; the config file is not read when given.', helpValue: 'PATH'}),
    timeout: Flags.integer({default: 5000, description: 'How long to wait for the answer, milliseconds.', helpValue: 'MS', min: 1}),
  }
  static override summary = 'Show what the running server is doing: entries per account, reports, refusals, broadcasts, store.'

  async run(): Promise<ServerStatus> {
    const {flags} = await this.parse(ServerStatusCommand)
    const socket = flags.socket ?? (await this.readConfig(flags.config)).server.socket
    const status = await queryServer<ServerStatus>(socket, 'status', {timeoutMs: flags.timeout})
    if (!this.jsonEnabled()) for (const line of renderStatus(status)) this.log(line)
    return status
  }
}

function renderStatus(s: ServerStatus): string[] {
  const r = s.reports
  const lines = [
    `diswall server ${s.version} (pid ${s.pid}), up ${formatDuration(Math.max(0, s.uptimeSec))} since ${s.startedAt}`,
    `nats:       ${s.nats.connected ? 'connected' : 'NOT connected'} to ${s.nats.servers} as ${s.nats.user}, max payload ${s.nats.maxPayload} bytes`,
    `store:      ${s.store.kind} ${s.store.path}, ${(s.store.bytes / 2 ** 20).toFixed(1)} MiB, schema ${s.store.schemaVersion}, `
      + `${s.store.commits} commits, ${s.store.pending} pending, ${s.store.swept} swept`,
    `reports:    ${r.total} (${r.perSec}/s), ${r.stored} stored, ${r.deleted} deleted, ${r.invalid} invalid`,
    `refused:    ${r.refused.neverBan} never-ban, ${r.refused.limit} over a list limit, ${r.refused.broad} too broad; `
      + `${r.rateLimited} rate-limited`,
    `broadcasts: ${s.broadcasts}`,
    `init:       ${s.init.requests} requests, ${s.init.entries} entries sent, ${s.init.truncated} cut to one message`,
    `config:     ${s.config.path}, loaded ${s.config.loadedAt}`,
  ]
  // A server started before an upgrade answers without the fields added since.
  const pending = s.pending as ServerStatus['pending'] | undefined
  if (pending !== undefined) {
    lines.splice(2, 0, `pending:    ${pending.messages} messages waiting (limits ${pending.limits.messages} messages, `
      + `${(pending.limits.bytes / 2 ** 20).toFixed(0)} MiB; most ever ${pending.highWater})`)
  }
  if (pending !== undefined && (pending.dropped > 0 || pending.slowSince !== undefined)) {
    lines.push(`SLOW CONSUMER: ${pending.dropped} messages dropped in ${pending.slowConsumerEvents} episode(s)`
      + `${pending.slowSince === undefined ? '' : `, one running since ${pending.slowSince}`}: reports arrive faster than the server handles them.`,
    '            Those reports are not stored (the hosts that sent them did ban); lower [server] account_rate_limit so that no',
    '            account can flood, give the server more CPU or a faster disk, and look at the hosts publishing most.')
  }
  if ((s.nats.disconnects ?? 0) > 0) {
    lines.push(`nats:       ${s.nats.disconnects} disconnect(s) since start: what was published meanwhile did not reach the server `
      + '(nats-server logs "Slow Consumer Detected" when it cut the server off)')
  }
  if (s.config.lastReloadError) lines.push(`            last reload failed: ${s.config.lastReloadError}`)
  if (s.errors > 0) lines.push(`errors:     ${s.errors} (see the log)`)
  lines.push('', s.entries.length === 0 ? 'entries:    none' : 'entries:')
  const width = Math.max(0, ...s.entries.map((e) => e.account.length))
  for (const e of s.entries) lines.push(`  ${e.account.padEnd(width)}  ${e.list.padEnd(5)}  ${e.entries}`)
  const hosts = new Map<string, (typeof s.hostStats)[number]>()
  for (const h of s.hostStats) if (!hosts.has(`${h.account}/${h.host}`)) hosts.set(`${h.account}/${h.host}`, h)
  if (hosts.size > 0) {
    lines.push('', 'host statistics (latest hour reported, last 24 h):')
    for (const [name, h] of hosts) {
      lines.push(`  ${name}  ${new Date(h.hour * 1000).toISOString().slice(0, 13)}h  banned ${h.banned}, dropped ${h.packetsDropped} packets `
        + `(${h.bytesDropped} bytes), accepted ${h.packetsAccepted} packets (${h.bytesAccepted} bytes)`)
    }
  }
  return lines
}
