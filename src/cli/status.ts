/** The body of `status`, for oclif (src/commands/status.ts) and the fast path of bin/run.js. */
import {queryDaemon} from '../lib/daemon/status.js'
import type {DaemonStatus} from '../lib/daemon/status.js'
import {formatDuration} from '../lib/net/index.js'
import type {CommandIo} from './io.js'
import {readConfig} from './io.js'

/** How many of the recent bans the human summary of `status` shows (--json has all the daemon keeps). */
const SHOWN_BANS = 10

/** `status`: asks the running daemon over its control socket. */
export async function runStatus(io: CommandIo, flags: {config: string; socket?: string; timeout: number}): Promise<DaemonStatus> {
  const socket = flags.socket ?? (await readConfig(io, flags.config)).daemon.socket
  const status = await queryDaemon<DaemonStatus>(socket, 'status', {timeoutMs: flags.timeout})
  if (!io.json) for (const line of renderStatus(status)) io.log(line)
  return status
}

/** The human summary, one string per line. */
function renderStatus(s: DaemonStatus): string[] {
  const lines = [
    `diswall ${s.version} (pid ${s.pid}), up ${duration(s.uptimeSec)} since ${s.startedAt}`,
    `mode:     ${s.mode}`,
    `backend:  ${s.backend.name} (${s.backend.reason})`,
    `config:   ${s.config.path}, loaded ${s.config.loadedAt}`,
  ]
  if (s.config.lastReloadError) lines.push(`          last reload failed: ${s.config.lastReloadError}`)
  if (s.nats) {
    const n = s.nats
    const sum = (r: Record<string, number>): number => Object.values(r).reduce((a, b) => a + b, 0)
    lines.push(`nats:     ${n.state}${n.server ? ` to ${n.server}` : ''} as ${n.account}/${n.host}, ${n.queued} queued` +
      `${n.queueDropped > 0 ? ` (${n.queueDropped} dropped)` : ''}, ${n.published} published, ${sum(n.received)} received, ` +
      `${sum(n.applied)} applied, ${sum(n.refused)} refused`)
    for (const list of ['block', 'allow'] as const) {
      const i = n.init[list]
      lines.push(`          init ${list}: ${i.at === undefined ? 'not yet' : `${i.entries} entries at ${i.at}`}${i.lastError ? `; last try: ${i.lastError}` : ''}`)
    }
  }

  lines.push('', 'sources:')
  if (s.sources.length === 0) lines.push('  (none)')
  const nameWidth = Math.max(0, ...s.sources.map((src) => src.name.length))
  for (const src of s.sources) {
    const lost = src.lost ? `, ${src.lost} lost` : ''
    const untrusted = src.untrusted ? `, ${src.untrusted} untrusted dropped` : ''
    lines.push(`  ${src.name.padEnd(nameWidth)}  ${src.state.padEnd(10)} ${src.lines} lines, ${src.restarts} restarts${lost}${untrusted}`)
    if (src.lastError) lines.push(`  ${''.padEnd(nameWidth)}  last error: ${src.lastError}`)
  }

  const reasons = Object.entries(s.bans.byReason).sort(([, a], [, b]) => b - a).map(([reason, n]) => `${reason} ${n}`)
  lines.push('', `bans:     ${s.bans.total} since start${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}, ${s.bans.failed} failed`,
    `allows:   ${s.allows.total} since start, ${s.allows.failed} failed`,
    `sets:     block ${setSize(s.sets.block)}, allow ${setSize(s.sets.allow)}`,
    `writer:   ${s.writer.batches} batches (${s.writer.failedBatches} failed), ${s.writer.added} added, `
      + `${s.writer.removed} removed, ${s.writer.pending} pending`,
    `detect:   ${s.detect.lines} lines, ${s.detect.packets} packets, ${s.detect.matches} matches, `
      + `${s.detect.duplicates} duplicates, ${s.detect.protected} protected, ${s.detect.pending} pending`)
  if (s.killed.sockets > 0 || s.killed.conntrack > 0) {
    lines.push(`killed:   ${s.killed.sockets} sockets, ${s.killed.conntrack} conntrack entries`)
  }

  const builtIn = s.patternFiles.some((f) => f.builtIn)
  lines.push(`patterns: ${s.patternFiles.length === 0 ? 'none' : s.patternFiles.map((f) => f.name).join(', ')}`
    + (builtIn ? ' (built-in: no patterns.d)' : ''))
  const snap = s.snapshot
  lines.push(`snapshot: ${snap.path}, ${snap.loaded} loaded at start`
    + (snap.loadedSavedAt ? ` (saved ${snap.loadedSavedAt})` : '')
    + (snap.replayed ? ` + ${snap.replayed} journal changes` : '')
    + ', ' + (snap.savedAt ? `last saved ${snap.savedAt} (${snap.saved ?? 0} entries)` : 'not saved yet'))
  if (snap.journalChanges !== undefined) lines.push(`          journal: ${snap.journalChanges} changes since the last snapshot`)
  if (snap.lastError) lines.push(`          last save failed: ${snap.lastError}`)

  lines.push('', s.lastBans.length === 0 ? 'last bans: none' : 'last bans:')
  const shown = s.lastBans.slice(0, SHOWN_BANS)
  const targetWidth = Math.max(0, ...shown.map((b) => b.target.length))
  for (const b of shown) {
    lines.push(`  ${b.at}  ${b.target.padEnd(targetWidth)}  ${b.reason} (${b.source}, ${duration(b.ttlSec)})`)
  }
  if (s.lastBans.length > shown.length) lines.push(`  … ${s.lastBans.length - shown.length} more with --json`)
  return lines
}

function duration(sec: number): string {
  return Number.isFinite(sec) && sec >= 0 ? formatDuration(Math.floor(sec)) : `${sec}s`
}

function setSize(n: number): string {
  return n < 0 ? 'unreadable' : `${n} entries`
}
