/** The body of `why`, for oclif (src/commands/why.ts) and the fast path of bin/run.js. */
import {whyAddress} from '../lib/install/index.js'
import type {WhyReport} from '../lib/install/index.js'
import type {CommandIo} from './io.js'
import {readConfig} from './io.js'

/** `why ADDR`. */
export async function runWhy(io: CommandIo, address: string, flags: {config: string}): Promise<WhyReport> {
  const config = await readConfig(io, flags.config)
  const r = await whyAddress(config, address)
  io.log(`${r.address}: ${r.verdict}`)
  if (r.kernel.error) io.log(`  kernel sets (${r.kernel.backend}): unreadable: ${r.kernel.error}`)
  else io.log(`  kernel sets (${r.kernel.backend}): ${r.kernel.blocked ? 'in the block set' : 'not in the block set'}, ${r.kernel.allowed ? 'in the allow set' : 'not in the allow set'}`)
  for (const m of [...r.files.whitelist, ...r.files.blacklist, ...r.files.rules]) {
    io.log(`  ${m.file}${m.line === undefined ? '' : `:${m.line}`}: ${m.entry}${m.disabled ? ' (disabled: no effect)' : ''}`)
  }
  if (r.ban) {
    const since = r.ban.sinceSec === undefined ? 'since before the last snapshot' : `since ${when(r.ban.sinceSec)}`
    io.log(`  banned ${since}, ${r.ban.untilSec === null ? 'without end' : `until ${when(r.ban.untilSec)}`} (${r.ban.recordedIn})`)
    if (r.ban.reason) io.log(`  reason: ${r.ban.reason} (source ${r.ban.source})`)
  }
  if (!r.daemon.running) io.log(`  daemon: not answering (${r.daemon.error ?? 'no reason given'}); reasons of bans unknown`)
  io.log(r.protectedBy === null ? '  can be banned: nothing protects it' : `  protected, never banned: ${r.protectedBy}`)
  return r
}

function when(sec: number): string {
  return new Date(sec * 1000).toISOString().replace('.000Z', 'Z')
}
