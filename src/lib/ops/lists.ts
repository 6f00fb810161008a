import type {Config} from '../config/index.js'
import {Enforcer, HostFacts} from '../enforce/index.js'
import {DiswallError, ExitCode, InvalidValueError, UsageError} from '../errors.js'
import {isValidComment, killConnections, MAX_COMMENT_BYTES} from '../firewall/sets/index.js'
import type {Firewall, FirewallBackend, KillReport, ListedEntry, ListKind} from '../firewall/sets/index.js'
import {broadNetworkReason, containsAddress, formatDuration, IPSET_MAX_TIMEOUT_SEC, isAddress, parseTarget, toNetwork} from '../net/index.js'
import type {Address, Target} from '../net/index.js'
import {exec as defaultExec} from '../system/index.js'
import type {Exec} from '../system/index.js'
import type {WireEntry} from '../transport/index.js'
import {publishEntries} from './publish.js'
import type {PublishOptions, ShareReport} from './publish.js'

/** An address the never-ban list protects was given without --force (exit 2, nothing changed). */
export class ProtectedAddressError extends DiswallError {
  constructor(readonly address: string, reason: string) {
    super(`refusing to block ${address}: ${reason}`, 'E_PROTECTED', ExitCode.USAGE,
      'Leave it out, or pass --force if you really mean to block it.')
  }
}

/** One item of a list command's result. */
export interface ListChange {
  target: string
  /** False when the entry was already there (add) or already absent (del). */
  changed: boolean
}

export interface ListChangeResult {
  backend: 'ipset' | 'memory' | 'nftables'
  changed: boolean
  entries: ListChange[]
  /** Connections cut per address, with --kill. */
  killed?: Array<KillReport & {target: string}>
  /** Why the addresses were blocked (block add --reason). */
  reason?: string
}

export interface BlockAddOptions {
  timeoutSec?: number
  reason?: string
  kill?: boolean
  force?: boolean
}

export interface AllowAddOptions {
  comment?: string
  timeoutSec?: number
  /** Take networks broader than a /8 (IPv4) or /16 (IPv6) too. */
  force?: boolean
}

/**
 * Parses every text before anything changes; the first bad one throws, naming it. An allow entry
 * broader than a /8 (IPv4) or /16 (IPv6) needs `force` (two /1 networks are everyone).
 */
export function parseTargets(texts: readonly string[], list: ListKind, {force = false}: {force?: boolean} = {}): Target[] {
  if (texts.length === 0) throw new UsageError(`no address given`, `Name at least one address, e.g. 203.0.113.7.`)
  return texts.map((text) => {
    const target = parseTarget(text)
    // A host network (/32, /128) is the address itself, on both lists.
    if (!isAddress(target) && target.prefix === (target.family === 4 ? 32 : 128)) return target.address
    if (list === 'block' && !isAddress(target)) {
      throw new InvalidValueError(`"${text}" is a network; the block list holds single addresses`,
        'Block the addresses one by one, or allow-list what should pass and let the ruleset drop the rest.')
    }

    if (list === 'allow' && !isAddress(target) && target.prefix === 0) {
      throw new InvalidValueError(`"${text}" would allow everyone`,
        'Allow specific networks; to stop filtering altogether, create the "disabled" file in the firewall directory.')
    }

    const broad = list === 'allow' && !force ? broadNetworkReason(target) : undefined
    if (broad !== undefined) {
      throw new InvalidValueError(`${broad}: allowing it would let a large part of the internet past every ban`,
        'Allow the networks you mean, or pass --force if you really mean this one.')
    }

    return target
  })
}

/** Checks a `--timeout` in seconds: an integer from 0 (never expires) to the ipset maximum. */
export function checkTimeout(sec: number, flag = '--timeout'): number {
  if (!Number.isInteger(sec) || sec < 0 || sec > IPSET_MAX_TIMEOUT_SEC) {
    // Say it as the operator wrote it (30d, not 2592000); odd values (NaN, fractions) as they are.
    const shown = Number.isInteger(sec) && sec > 0 ? formatDuration(sec) : String(sec)
    throw new InvalidValueError(`${flag} ${shown} is out of range`,
      `Give a duration from 0 (never expires) to ${formatDuration(IPSET_MAX_TIMEOUT_SEC)} (${IPSET_MAX_TIMEOUT_SEC} s, the ipset maximum).`)
  }

  return sec
}

/** Checks an allow comment: printable text without quotes or backslashes, at most 128 bytes. */
export function checkComment(text: string): string {
  if (!isValidComment(text)) {
    throw new InvalidValueError(`comment ${JSON.stringify(text)} cannot be stored`,
      `Use at most ${MAX_COMMENT_BYTES} bytes of printable text without quotes (") or backslashes.`)
  }

  return text
}

/**
 * Checks a `block add --reason`: the same rules as a comment, since it travels in logs, the status and,
 * across the fleet, in message headers, where a line break would forge a second line.
 */
export function checkReason(text: string): string {
  if (!isValidComment(text)) {
    throw new InvalidValueError(`reason ${JSON.stringify(text)} cannot be used`,
      `Use at most ${MAX_COMMENT_BYTES} bytes of printable text on one line, without quotes (") or backslashes.`)
  }

  return text
}

/**
 * Why each address may not be blocked, by the enforcer's never-ban check (the daemon's): special
 * ranges, private ranges (with skip_private), ignore_ips, the host's own addresses, established SSH
 * peers (port 22), and the allow list in the kernel. Host facts are read once: `ip -j addr`, one `ss`.
 */
async function protectionOf(config: Config, backend: FirewallBackend, addrs: Address[], exec: Exec): Promise<Map<string, string>> {
  const facts = new HostFacts({exec})
  await facts.refreshAddresses()
  await facts.refreshSshPeers()
  const enforcer = new Enforcer({backend, config, exec, facts})
  try {
    await enforcer.refreshAllowList()
  } catch {
    // The sets do not exist yet (before the first init): nothing is allow-listed.
  }
  const out = new Map<string, string>()
  for (const addr of addrs) {
    const reason = enforcer.refusal(addr)
    if (reason) out.set(addr.text, reason)
  }

  return out
}

/**
 * `block add`: validates everything first (a protected address without `force` refuses the whole
 * call, nothing changes), then adds all entries in one batch; existing entries get their timeout
 * refreshed and are reported as unchanged. With `kill`, established connections are cut.
 */
export async function blockAdd(config: Config, fw: Firewall, texts: readonly string[], options: BlockAddOptions = {},
  exec: Exec = defaultExec): Promise<ListChangeResult> {
  const targets = parseTargets(texts, 'block') as Address[]
  const ttlSec = checkTimeout(options.timeoutSec ?? config.firewall.block_timeout)
  if (options.reason !== undefined) checkReason(options.reason)
  if (!options.force) {
    const protectedAddrs = await protectionOf(config, fw.backend, targets, exec)
    const [first] = protectedAddrs
    if (first) throw new ProtectedAddressError(first[0], first[1])
  }

  await fw.backend.init()
  const entries = await changes(fw.backend, 'block', targets, false)
  for (const addr of dedupe(targets)) fw.backend.add('block', {target: addr, ttlSec})
  await fw.backend.commit()
  const result: ListChangeResult = {backend: fw.backend.name, changed: entries.some((e) => e.changed), entries,
    ...(options.reason === undefined ? {} : {reason: options.reason})}
  if (options.kill) {
    result.killed = []
    for (const addr of dedupe(targets)) result.killed.push({target: addr.text, ...(await killConnections(addr, exec))})
  }

  return result
}

/** A list command's result with what became of its sharing over NATS. */
export type SharedListChangeResult = ListChangeResult & {shared: ShareReport}

/**
 * Shares what a list command applied with the other hosts of the account (publish.ts): every entry
 * named (unchanged ones too: the fleet may lack them), with the timeout, reason or comment given.
 * Local-only hosts share nothing; an unreachable NATS server is reported, never thrown.
 */
export async function shareListChange(config: Config, list: ListKind, op: 'add' | 'del', result: ListChangeResult,
  meta: {ttlSec?: number; reason?: string; comment?: string} = {}, options: PublishOptions = {}): Promise<SharedListChangeResult> {
  const entries = result.entries.map((e): WireEntry => ({
    target: parseTarget(e.target),
    ...(op === 'add' && meta.ttlSec !== undefined && meta.ttlSec > 0 ? {ttlSec: meta.ttlSec} : {}),
    ...(op === 'add' && list === 'block' && meta.reason !== undefined ? {tag: meta.reason} : {}),
    ...(op === 'add' && list === 'allow' && meta.comment !== undefined ? {comment: meta.comment} : {}),
  }))
  return {...result, shared: await publishEntries(config, list, op, entries, options)}
}

/** `block del` / `allow del`: removes entries; absent ones are reported as unchanged. */
export async function listDel(fw: Firewall, list: ListKind, texts: readonly string[]): Promise<ListChangeResult> {
  const targets = parseTargets(texts, list)
  await fw.backend.init()
  const entries = await changes(fw.backend, list, targets, true)
  for (const target of dedupe(targets)) fw.backend.del(list, target)
  await fw.backend.commit()
  return {backend: fw.backend.name, changed: entries.some((e) => e.changed), entries}
}

/**
 * `allow add`: addresses or networks with an optional comment and timeout. An existing entry is
 * left as it is (unchanged) unless a different comment or a timeout is given, which updates it.
 */
export async function allowAdd(fw: Firewall, texts: readonly string[], options: AllowAddOptions = {}): Promise<ListChangeResult> {
  const targets = parseTargets(texts, 'allow', {force: options.force})
  const comment = options.comment === undefined ? undefined : checkComment(options.comment)
  const ttlSec = options.timeoutSec === undefined ? undefined : checkTimeout(options.timeoutSec)
  await fw.backend.init()
  const existing = new Map((await fw.backend.list('allow')).map((e) => [e.target.text, e]))
  const entries: ListChange[] = []
  if (fw.backend.name === 'nftables') refuseOverlaps(targets, [...existing.values()].map((e) => e.target))
  for (const target of dedupe(targets)) {
    const old = existing.get(target.text)
    const changed = !old || (comment !== undefined && comment !== old.comment) || ttlSec !== undefined
    // Keep what the entry had unless the caller says otherwise.
    if (changed) fw.backend.add('allow', {comment: comment ?? old?.comment, target, ttlSec: ttlSec ?? old?.ttlSec})
    entries.push({changed, target: target.text})
  }

  await fw.backend.commit()
  return {backend: fw.backend.name, changed: entries.some((e) => e.changed), entries}
}

/**
 * nftables interval sets cannot hold overlapping networks (nft: "interval overlaps with an existing
 * one"): say which entry is in the way before anything changes.
 */
function refuseOverlaps(targets: Target[], existing: Target[]): void {
  const all = [...existing]
  for (const target of dedupe(targets)) {
    const net = toNetwork(target)
    const other = all.find((e) => e.text !== target.text &&
      (containsAddress(toNetwork(e), net.address) || containsAddress(net, toNetwork(e).address)))
    if (other) {
      throw new InvalidValueError(`${target.text} overlaps the allow entry ${other.text}`,
        'nftables allow sets cannot hold overlapping networks: remove one of them first (diswall allow del …), or allow the larger network only.')
    }

    all.push(target)
  }
}

/** One listed entry as commands print it. */
export interface ListItem {
  target: string
  family: 4 | 6
  /** Remaining seconds; null when it never expires. */
  ttlSec: null | number
  comment?: string
}

/** `block list` / `allow list`: every entry in the kernel, sorted by family then text. Only reads. */
export async function listEntries(fw: Firewall, list: ListKind): Promise<{backend: string; count: number; entries: ListItem[]}> {
  const entries = (await fw.backend.list(list)).map(toItem).sort((a, b) => a.family - b.family || compareText(a.target, b.target))
  return {backend: fw.backend.name, count: entries.length, entries}
}

function toItem(e: ListedEntry): ListItem {
  return {
    ...(e.comment === undefined ? {} : {comment: e.comment}),
    family: e.target.family,
    target: e.target.text,
    ttlSec: e.ttlSec ?? null,
  }
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Whether each target changes: absent for an add, present for a del. */
async function changes(backend: FirewallBackend, list: ListKind, targets: Target[], present: boolean): Promise<ListChange[]> {
  // `ipset test` on a hash:net set answers true for an address inside a listed network, so the
  // (small, at most allow_max) allow list is compared entry by entry instead.
  const allowed = list === 'allow' ? new Set((await backend.list('allow')).map((e) => e.target.text)) : undefined
  const out: ListChange[] = []
  for (const target of dedupe(targets)) {
    const has = allowed ? allowed.has(target.text) : await backend.has(list, target)
    out.push({changed: has === present, target: target.text})
  }

  return out
}

function dedupe<T extends Target>(targets: T[]): T[] {
  const seen = new Set<string>()
  return targets.filter((t) => !seen.has(t.text) && seen.add(t.text))
}
