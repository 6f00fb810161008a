import {join} from 'node:path'

import type {Config} from '../config/index.js'
import {
  applyRuleset,
  confirmPending,
  diffRuleset,
  flushRuleset,
  neighbourDiscoveryWarning,
  newRollbackToken,
  renderRuleset,
  rollbackIfPending,
  writePendingRollback,readRuleset,watchDirectory,
} from '../firewall/ruleset/index.js'
import type {ApplyReport, FlushReport, RenderedRuleset, RulesetDiff, RulesetModel,RulesetProblem,DirectoryWatch} from '../firewall/ruleset/index.js'
import {kernelNames, openFirewall} from '../firewall/sets/index.js'
import type {Firewall} from '../firewall/sets/index.js'
import {exec as defaultExec, withLock} from '../system/index.js'
import type {Exec} from '../system/index.js'

/** Where the ruleset comes from and where it goes. */
export interface RulesetContext {
  config: Config
  /** The firewall directory; `[firewall] dir` by default. */
  dir: string
  exec?: Exec
  /** Non-fatal findings of the reader (skipped local.d files, …). */
  onWarning?: (message: string) => void
}

/** What `firewall check` reports. */
export interface RulesetSummary {
  dir: string
  backend: 'ipset' | 'nftables'
  disabled: boolean
  incoming: number
  outgoing: number
  whitelist: number
  blacklist: number
  local: number
  /** Rules per transaction (per family with iptables). */
  rules: Record<string, number>
}

/** Reads the directory and picks the backend (no kernel change). */
async function load(ctx: RulesetContext): Promise<{backend: 'ipset' | 'nftables'; fw: Firewall; model: RulesetModel}> {
  const model = await readRuleset(ctx.dir, {
    onWarning: (w: RulesetProblem) => ctx.onWarning?.(`${w.location.file}${w.location.line ? `:${w.location.line}` : ''}: ${w.reason}`),
  })
  const fw = await openFirewall(ctx.config, ctx.exec ?? defaultExec)
  return {backend: fw.choice.backend, fw, model}
}

function target(ctx: RulesetContext, backend: 'ipset' | 'nftables') {
  const {detect} = ctx.config
  return {
    backend,
    exec: ctx.exec ?? defaultExec,
    logPrefix: detect.log_prefix,
    names: kernelNames(ctx.config),
    // The packet source reads the `log` rules' packets from this NFLOG group instead of the kernel log.
    nflogGroup: detect.source === 'nflog' ? detect.nflog_group : undefined,
  }
}

/** Reads and renders the directory without touching the kernel (`firewall check`). */
export async function checkRuleset(ctx: RulesetContext): Promise<RulesetSummary> {
  const {backend, model} = await load(ctx)
  const rendered = renderRuleset(model, target(ctx, backend))
  warnAboutModel(ctx, model)
  const rules: Record<string, number> = {}
  for (const tx of rendered.transactions) {
    rules[tx.family === undefined ? 'nft' : `ipv${tx.family}`] = tx.chains.reduce((n, c) => n + c.rules.length, 0)
  }

  return {
    backend,
    blacklist: model.blacklist.entries.length,
    dir: ctx.dir,
    disabled: model.disabled,
    incoming: model.incoming.length,
    local: model.local.length,
    outgoing: model.outgoing.length,
    rules,
    whitelist: model.whitelist.entries.length,
  }
}

/** The rendered transactions (`firewall show`, `apply --dry-run`). */
export async function showRuleset(ctx: RulesetContext): Promise<RenderedRuleset> {
  const {backend, model} = await load(ctx)
  return renderRuleset(model, target(ctx, backend))
}

/** Reports what is valid but probably unintended (IPv6 neighbour discovery dropped). Call after rendering. */
function warnAboutModel(ctx: RulesetContext, model: RulesetModel): void {
  const nd = neighbourDiscoveryWarning(model)
  if (nd !== undefined) ctx.onWarning?.(nd)
}

/** What an apply would change in the kernel (`firewall diff`). */
export async function diffFromDir(ctx: RulesetContext): Promise<RulesetDiff> {
  const {backend, model} = await load(ctx)
  return diffRuleset(model, target(ctx, backend))
}

/** An apply waiting for `firewall confirm`. */
export interface PendingConfirm {
  token: string
  deadlineMs: number
}

/** Options of {@link applyFromDir}. */
export interface ApplyFromDirOptions {
  confirmSec?: number
  startRollbackTimer?: (token: string, afterSec: number) => void
  /** How long each local.d script may run, in milliseconds; 60 s by default (LOCAL_SCRIPT_TIMEOUT_MS). */
  localTimeoutMs?: number
  /** Stops the apply and rolls it back (SIGINT/SIGTERM; see applyRuleset()). */
  signal?: AbortSignal
}

/**
 * Applies the directory atomically with rollback (`firewall apply`). With `confirmSec`, the previous
 * state is saved as a pending rollback in `[daemon] state_dir`, and `startRollbackTimer` is called to
 * start the process that restores it unless `firewall confirm` runs in time. A local.d script that left
 * processes running in the background is reported through `ctx.onWarning`.
 */
export async function applyFromDir(ctx: RulesetContext, options: ApplyFromDirOptions = {}): Promise<ApplyReport & {pending?: PendingConfirm}> {
  const {backend, fw, model} = await load(ctx)
  // One apply at a time (firewall watch and an operator's apply): each saves the state the other changes.
  const report = await withLock(join(ctx.config.daemon.state_dir, 'firewall.lock'),
    () => applyRuleset(model, {...target(ctx, backend), fwBackend: fw.backend, localTimeoutMs: options.localTimeoutMs, signal: options.signal}))
  for (const run of report.local) {
    if (run.background.length === 0) continue
    ctx.onWarning?.(`local.d/${run.name} left ${run.background.length === 1 ? 'a process' : `${run.background.length} processes`} running in the background (PID ${run.background.join(', ')}); diswall did not wait for ${run.background.length === 1 ? 'it' : 'them'} and no longer reads ${run.background.length === 1 ? 'its' : 'their'} output`)
  }
  if (report.applied) warnAboutModel(ctx, model)
  if (options.confirmSec === undefined || !report.applied || !report.previous) return report
  const token = newRollbackToken()
  const deadlineMs = Date.now() + options.confirmSec * 1000
  await writePendingRollback(ctx.config.daemon.state_dir, report.previous, deadlineMs, {token})
  options.startRollbackTimer?.(token, options.confirmSec)
  return {...report, pending: {deadlineMs, token}}
}

/** `firewall confirm`: keeps the applied ruleset; true when an apply was waiting. */
export async function confirmApply(config: Config): Promise<boolean> {
  return confirmPending(config.daemon.state_dir)
}

/** The hidden `firewall rollback`: waits `afterSec`, then restores the saved state if still pending. */
export async function rollbackAfter(config: Config, token: string, afterSec: number, exec: Exec = defaultExec): Promise<boolean> {
  await new Promise((resolve) => setTimeout(resolve, afterSec * 1000))
  return rollbackIfPending(config.daemon.state_dir, token, exec)
}

/** `firewall flush`: removes diswall's rules and chains; the sets and their entries stay. */
export async function flushFromConfig(ctx: Omit<RulesetContext, 'dir'>): Promise<FlushReport> {
  const exec = ctx.exec ?? defaultExec
  const fw = await openFirewall(ctx.config, exec)
  const report = await flushRuleset({backend: fw.choice.backend, exec, names: kernelNames(ctx.config)})
  // Without diswall-in the guard chain makes the sets effective again.
  await fw.backend.init()
  return report
}

/** One event of `firewall watch`. */
export type WatchEvent =
  | {changed: boolean; files: string[]; type: 'applied'}
  | {error: Error; files: string[]; type: 'rejected'}

/**
 * `firewall watch`: applies the directory now, then again within a second of every change
 * (debounced). A broken edit is reported and the last good ruleset stays in the kernel.
 */
export async function watchRuleset(ctx: RulesetContext, onEvent: (e: WatchEvent) => void,
  debounceMs = 300): Promise<DirectoryWatch> {
  const report = await applyFromDir(ctx)
  onEvent({changed: report.changed, files: [], type: 'applied'})
  return watchDirectory(ctx.dir, {
    debounceMs,
    async onChange(files) {
      try {
        const r = await applyFromDir(ctx)
        onEvent({changed: r.changed, files, type: 'applied'})
      } catch (error) {
        onEvent({error: error as Error, files, type: 'rejected'})
      }
    },
    onError: (error) => onEvent({error, files: [], type: 'rejected'}),
  })
}
