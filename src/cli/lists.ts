/**
 * The bodies of `block add|del|list` and `allow add|del|list`, written once for oclif (src/commands) and
 * for the fast path of bin/run.js: each takes the parsed flags and arguments and a {@link CommandIo},
 * and returns what `--json` prints as `result`.
 */
import {openFirewall} from '../lib/firewall/sets/index.js'
import {formatDuration} from '../lib/net/index.js'
import {allowAdd, blockAdd, checkListGiven, describeShare, listDel, listEntries, listInputs, readListFile, shareListChange} from '../lib/ops/lists.js'
import type {ListItem, SharedListChangeResult, ShareReport} from '../lib/ops/lists.js'
import type {CommandIo} from './io.js'
import {formatCount, readConfig, renderListChange, withListProgress} from './io.js'

/** Flags of `block add`. */
export interface BlockAddFlags {
  config: string
  file?: string
  force?: boolean
  kill?: boolean
  local?: boolean
  reason?: string
  timeout?: number
}

/** Flags of `allow add`. */
export interface AllowAddFlags {
  comment?: string
  config: string
  file?: string
  force?: boolean
  local?: boolean
  timeout?: number
}

/** Flags of `block del` and `allow del`. */
export interface ListDelFlags {
  config: string
  file?: string
  local?: boolean
}

/** What `block list` and `allow list` return. */
export interface ListResult {
  backend: string
  count: number
  entries: ListItem[]
}

/**
 * Says what became of sharing a list change over NATS: a line when it was published; a warning and
 * exit code 8 (E_NOT_SHARED) when the server could not be reached (the local change stays).
 */
export function reportShare(io: CommandIo, report: ShareReport): void {
  const {exitCode, message, warning} = describeShare(report)
  if (message !== undefined) io.log(message)
  if (warning !== undefined) io.warn(warning)
  if (exitCode !== undefined) process.exitCode = exitCode
}

/** `block add ADDR… [--file FILE]`. */
export async function runBlockAdd(io: CommandIo, argv: readonly string[], flags: BlockAddFlags): Promise<SharedListChangeResult> {
  checkListGiven(argv, flags.file)
  const config = await readConfig(io, flags.config)
  const inputs = listInputs(argv, flags.file === undefined ? [] : await readListFile(flags.file))
  const fw = await openFirewall(config, undefined, {onMarkError: (message) => io.warn(message)})
  const result = await withListProgress(io, `Blocking ${formatCount(inputs.length)} addresses`, flags.file !== undefined,
    (onStep) => blockAdd(config, fw, inputs, {
      force: flags.force,
      kill: flags.kill,
      onStep,
      reason: flags.reason,
      timeoutSec: flags.timeout,
    }))
  renderListChange(io, result, {changed: 'blocked', unchanged: 'exists '}, flags.reason === undefined ? '' : ` (${flags.reason})`)
  for (const k of result.killed ?? []) io.log(`killed  ${k.target}: ${k.sockets} sockets, ${k.conntrack} conntrack entries`)
  // --local: this host only, as with local_only = true.
  if (flags.local) return result
  const shared = await shareListChange(config, 'block', 'add', result, {reason: flags.reason, ttlSec: flags.timeout ?? config.firewall.block_timeout})
  if (shared.shared) reportShare(io, shared.shared)
  return shared
}

/** `allow add TARGET… [--file FILE]`. */
export async function runAllowAdd(io: CommandIo, argv: readonly string[], flags: AllowAddFlags): Promise<SharedListChangeResult> {
  checkListGiven(argv, flags.file)
  const config = await readConfig(io, flags.config)
  const inputs = listInputs(argv, flags.file === undefined ? [] : await readListFile(flags.file))
  const fw = await openFirewall(config, undefined, {onMarkError: (message) => io.warn(message)})
  const result = await withListProgress(io, `Allowing ${formatCount(inputs.length)} entries`, flags.file !== undefined,
    (onStep) => allowAdd(fw, inputs, {comment: flags.comment, force: flags.force, onStep, timeoutSec: flags.timeout}))
  renderListChange(io, result, {changed: 'allowed', unchanged: 'exists '})
  if (flags.local) return result
  const shared = await shareListChange(config, 'allow', 'add', result, {comment: flags.comment, ttlSec: flags.timeout})
  if (shared.shared) reportShare(io, shared.shared)
  return shared
}

/** `block del` and `allow del`: ADDR… [--file FILE]. */
export async function runListDel(io: CommandIo, list: 'allow' | 'block', argv: readonly string[], flags: ListDelFlags): Promise<SharedListChangeResult> {
  checkListGiven(argv, flags.file)
  const config = await readConfig(io, flags.config)
  const inputs = listInputs(argv, flags.file === undefined ? [] : await readListFile(flags.file))
  const fw = await openFirewall(config, undefined, {onMarkError: (message) => io.warn(message)})
  const title = list === 'block' ? `Unblocking ${formatCount(inputs.length)} addresses`
    : `Removing ${formatCount(inputs.length)} allow entries`
  const result = await withListProgress(io, title, flags.file !== undefined, (onStep) => listDel(fw, list, inputs, {onStep}))
  renderListChange(io, result, {changed: 'removed', unchanged: 'absent '})
  if (flags.local) return result
  const shared = await shareListChange(config, list, 'del', result)
  if (shared.shared) reportShare(io, shared.shared)
  return shared
}

/** `block list` and `allow list`. */
export async function runList(io: CommandIo, list: 'allow' | 'block', flags: {config: string}): Promise<ListResult> {
  const config = await readConfig(io, flags.config)
  const result = await listEntries(await openFirewall(config, undefined, {markChanges: false}), list)
  for (const e of result.entries) {
    if (list === 'block') {
      io.log(`${e.target.padEnd(40)} ${e.ttlSec === null ? 'never expires' : formatDuration(e.ttlSec)}`)
    } else {
      const ttl = e.ttlSec === null ? 'permanent' : `expires in ${formatDuration(e.ttlSec)}`
      io.log(`${e.target.padEnd(43)} ${ttl.padEnd(20)} ${e.comment ?? ''}`.trimEnd())
    }
  }

  io.log(`${result.count} ${list === 'block' ? 'blocked' : 'allowed'} (${result.backend})`)
  return result
}
