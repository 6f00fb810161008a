import {readFile} from 'node:fs/promises'

import type {Config} from '../config/index.js'
import {Enforcer, HostFacts} from '../enforce/index.js'
import type {ReadText} from '../enforce/index.js'
import {DiswallError, ExitCode, InvalidValueError, UsageError} from '../errors.js'
import {isValidComment, killConnectionsBatch, MAX_COMMENT_BYTES} from '../firewall/sets/index.js'
import type {CommitReport, Firewall, FirewallBackend, KillReport, ListedEntry, ListKind, SetEntry} from '../firewall/sets/index.js'
import {bitsV4, bitsV6, broadNetworkReason, containsAddress, formatDuration, IPSET_MAX_TIMEOUT_SEC, isAddress, parseTarget, toNetwork} from '../net/index.js'
import type {Address, Network, Target} from '../net/index.js'
import {exec as defaultExec} from '../system/index.js'
import type {Exec} from '../system/index.js'
import type {WireEntry} from '../transport/index.js'
import {publishEntries} from './publish.js'
import type {PublishOptions, ShareReport} from './publish.js'

export {describeShare} from './publish.js'
export type {ShareReport} from './publish.js'

/** An address the never-ban list protects was given without --force (exit 2, nothing changed). */
export class ProtectedAddressError extends DiswallError {
  constructor(readonly address: string, reason: string) {
    super(`refusing to block ${address}: ${reason}`, 'E_PROTECTED', ExitCode.USAGE,
      'Leave it out, or pass --force if you really mean to block it.')
  }
}

/** A list file that cannot be read (missing, a directory, no permission): exit 2, nothing changed. */
export class ListFileError extends DiswallError {
  constructor(readonly path: string, reason: string, options?: ErrorOptions) {
    super(`cannot read the list file ${path}: ${reason}`, 'E_LIST_FILE', ExitCode.USAGE,
      'Give a readable file with one address per line, or "-" to read the list from stdin.', options)
  }
}

/**
 * One entry of a list change as given: a command-line argument, or a line of a list file
 * (`--file`), with where it came from and, for `allow add`, the comment of its line.
 */
export interface ListInput {
  text: string
  /** `FILE:LINE` of a line of a list file (`stdin:LINE` for `-`); undefined for an argument. */
  at?: string
  /** The rest of the line after the address (allow add stores it; the other commands ignore it). */
  comment?: string
}

/** One item of a list command's result. */
export interface ListChange {
  target: string
  /** False when the entry was already there (add), already absent (del), or refused. */
  changed: boolean
  /** Why the never-ban check refused the entry (a line of a list file, without --force). */
  refused?: string
  /** `FILE:LINE` of the entry when it came from a list file. */
  at?: string
}

export interface ListChangeResult {
  backend: 'ipset' | 'memory' | 'nftables'
  changed: boolean
  /** Entries that were not there before (add). */
  added: number
  /** Entries that were there before (del). */
  removed: number
  /** Entries already present (add) or already absent (del); an existing block entry gets its timeout refreshed. */
  unchanged: number
  /** Entries of list files that the never-ban check refused; they were left out. */
  refused: number
  entries: ListChange[]
  /** Connections cut over all the addresses, with --kill. */
  killed?: Array<KillReport & {target: string}>
  /** Why the addresses were blocked (block add --reason). */
  reason?: string
}

/** The steps of a list change, reported as they start (a progress display for long lists). */
export type ListStep = 'apply' | 'check' | 'compare' | 'kill'

/** Options every list change takes. */
export interface ListChangeOptions {
  /** Called when a step starts, with the number of entries it works on. */
  onStep?: (step: ListStep, count: number) => void
}

export interface BlockAddOptions extends ListChangeOptions {
  timeoutSec?: number
  reason?: string
  kill?: boolean
  force?: boolean
  /** Reads the kernel's socket tables for the SSH peers; the files in /proc/net by default (tests). */
  readSockets?: ReadText
}

export interface AllowAddOptions extends ListChangeOptions {
  /** The comment of entries whose line has none (every argument). */
  comment?: string
  timeoutSec?: number
  /** Take networks broader than a /8 (IPv4) or /16 (IPv6) too. */
  force?: boolean
}

/** The changes of one list that go to the kernel together: {@link applyListBatch}. */
export interface ListBatch {
  list: ListKind
  add: SetEntry[]
  del: Target[]
}

/**
 * Reads the entries of a list file: one address (or network) per line, optionally followed by a
 * comment, either after `#` (`203.0.113.7 # office`) or plain (`203.0.113.7 office`). Blank lines
 * and lines starting with `#` are skipped. Pure: `name` is what errors show (`FILE:LINE`).
 */
export function parseListText(text: string, name: string): ListInput[] {
  const out: ListInput[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim()
    if (line === '' || line.startsWith('#')) continue
    const end = line.search(/[\s#]/)
    const address = end === -1 ? line : line.slice(0, end)
    const rest = end === -1 ? '' : line.slice(end).trim().replace(/^#\s*/, '').trim()
    out.push({at: `${name}:${i + 1}`, text: address, ...(rest === '' ? {} : {comment: rest})})
  }

  return out
}

/**
 * Reads a list file (`-` = `stdin`, named `stdin` in errors) and parses it with {@link parseListText}.
 * Throws ListFileError when it cannot be read.
 */
export async function readListFile(path: string, stdin: AsyncIterable<Buffer | string> = process.stdin): Promise<ListInput[]> {
  if (path === '-') {
    const chunks: string[] = []
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'))
    return parseListText(chunks.join(''), 'stdin')
  }

  try {
    return parseListText(await readFile(path, 'utf8'), path)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : code === 'EACCES' ? 'permission denied' : String(error)
    throw new ListFileError(path, reason, {cause: error})
  }
}

/**
 * Throws the usage error of a list command given neither arguments nor a list file (E_USAGE, exit 2),
 * so that commands can say so before anything else (the root check, the config).
 */
export function checkListGiven(args: readonly string[], file: string | undefined): void {
  if (args.length === 0 && file === undefined) throw noInputError()
}

function noInputError(): UsageError {
  return new UsageError(`no address given`, `Name at least one address, e.g. 203.0.113.7, or give a list file with --file FILE (- for stdin).`)
}

/** Arguments and list-file lines as one list of inputs, arguments first. */
export function listInputs(args: readonly string[], fileInputs: readonly ListInput[] = []): ListInput[] {
  return [...args.map((text) => ({text})), ...fileInputs]
}

/**
 * Parses every text before anything changes; the first bad one throws, naming it. An allow entry
 * broader than a /8 (IPv4) or /16 (IPv6) needs `force` (two /1 networks are everyone).
 */
export function parseTargets(texts: readonly string[], list: ListKind, {force = false}: {force?: boolean} = {}): Target[] {
  if (texts.length === 0) throw new UsageError(`no address given`, `Name at least one address, e.g. 203.0.113.7.`)
  return texts.map((text) => parseOne(text, list, force))
}

/**
 * {@link parseTargets} for arguments and list-file lines: a bad line throws E_INVALID_VALUE with its
 * `FILE:LINE` in front of the reason, before anything changes. Checks the comment of each line when
 * `comments` is set (allow add).
 */
export function parseInputs(inputs: readonly ListInput[], list: ListKind,
  {comments = false, force = false}: {comments?: boolean; force?: boolean} = {}): Array<{input: ListInput; target: Target}> {
  if (inputs.length === 0) throw noInputError()
  const out: Array<{input: ListInput; target: Target}> = []
  for (const input of inputs) {
    try {
      out.push({input, target: parseOne(input.text, list, force)})
      if (comments && input.comment !== undefined) checkComment(input.comment)
    } catch (error) {
      if (input.at === undefined || !(error instanceof DiswallError)) throw error
      throw new InvalidValueError(`${input.at}: ${error.message}`, error.hint, {cause: error})
    }
  }

  return out
}

function parseOne(text: string, list: ListKind, force: boolean): Target {
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
 * peers (port 22), and the allow list in the kernel. Everything is read once, whatever the number of
 * addresses: `ip -j addr`, the TCP tables of /proc/net, the allow sets.
 */
async function protectionOf(config: Config, backend: FirewallBackend, addrs: readonly Address[], exec: Exec,
  readText?: ReadText): Promise<Map<string, string>> {
  const facts = new HostFacts({exec, ...(readText === undefined ? {} : {readText})})
  const enforcer = new Enforcer({backend, config, exec, facts})
  // Addresses of one family are checked against that family's allow set alone.
  const families = new Set(addrs.map((a) => a.family))
  const family = families.size === 1 ? addrs[0]!.family : undefined
  await Promise.all([facts.refreshAddresses(), facts.refreshSshPeers(), enforcer.refreshAllowList(family).catch(() => {
    // The sets do not exist yet (before the first init): nothing is allow-listed.
  })])
  const out = new Map<string, string>()
  for (const addr of addrs) {
    const reason = enforcer.refusal(addr)
    if (reason) out.set(addr.text, reason)
  }

  return out
}

/**
 * The one place where a list change reaches the kernel: the whole batch is queued and sent in one
 * commit (one `ipset restore` or one `nft -f -` transaction, whatever its size).
 */
export async function applyListBatch(backend: FirewallBackend, batch: ListBatch): Promise<CommitReport> {
  if (batch.add.length === 0 && batch.del.length === 0) return {added: 0, removed: 0}
  for (const target of batch.del) backend.del(batch.list, target)
  for (const entry of batch.add) backend.add(batch.list, entry)
  return backend.commit()
}

/**
 * `block add`: validates everything first, then adds all entries in one batch; existing entries get
 * their timeout refreshed and are reported as unchanged. The never-ban check runs on each address:
 * a protected address given as an argument refuses the whole call (ProtectedAddressError, nothing
 * changes), one from a list file is left out and reported as refused; `force` skips the check. With
 * `kill`, established connections are cut (for a long list, one `ss -K` per 256 addresses).
 * Throws E_INVALID_VALUE (naming `FILE:LINE` for a line of a list file) before anything changes.
 */
export async function blockAdd(config: Config, fw: Firewall, inputs: ReadonlyArray<ListInput | string>, options: BlockAddOptions = {},
  exec: Exec = defaultExec): Promise<ListChangeResult> {
  const parsed = dedupe(parseInputs(inputs.map(asInput), 'block'))
  const ttlSec = checkTimeout(options.timeoutSec ?? config.firewall.block_timeout)
  if (options.reason !== undefined) checkReason(options.reason)
  const refused = new Map<string, string>()
  // The set-up check reads beside the never-ban check; what it would fix waits until no address is refused.
  fw.backend.prepareInit?.()
  if (!options.force) {
    options.onStep?.('check', parsed.length)
    const protectedAddrs = await protectionOf(config, fw.backend, parsed.map((p) => p.target as Address), exec, options.readSockets)
    for (const {input, target} of parsed) {
      const why = protectedAddrs.get(target.text)
      if (why === undefined) continue
      if (input.at === undefined) throw new ProtectedAddressError(target.text, why)
      refused.set(target.text, why)
    }
  }

  const accepted = parsed.filter((p) => !refused.has(p.target.text))
  // After the check: a refused call changes nothing, not even the set-up.
  await fw.backend.init()
  options.onStep?.('compare', accepted.length)
  const {changed: added, unchanged: present, unknown} = await singleBans(accepted.map((p) => p.target),
    (target) => fw.backend.addIfAbsent?.({target, ttlSec}))
  for (const text of await presentIn(fw.backend, 'block', unknown)) present.add(text)
  options.onStep?.('apply', accepted.length)
  // What was there gets its timeout refreshed; what could not be told goes in as usual.
  await applyListBatch(fw.backend, {add: accepted.filter((p) => !added.has(p.target.text)).map((p) => ({target: p.target, ttlSec})),
    del: [], list: 'block'})
  const entries = parsed.map(({input, target}): ListChange => {
    const why = refused.get(target.text)
    return {changed: why === undefined && !present.has(target.text), target: target.text,
      ...(input.at === undefined ? {} : {at: input.at}), ...(why === undefined ? {} : {refused: why})}
  })
  const result = summarize(fw.backend, entries, 'add')
  if (options.reason !== undefined) result.reason = options.reason
  if (options.kill && accepted.length > 0) {
    options.onStep?.('kill', accepted.length)
    result.killed = await killAll(accepted.map((p) => p.target as Address), exec)
  }

  return result
}

/** A list command's result with what became of its sharing over NATS (absent on a local-only host). */
export type SharedListChangeResult = ListChangeResult & {shared?: ShareReport}

/**
 * Shares what a list command applied with the other hosts of the account (publish.ts): every entry
 * applied (unchanged ones too: the fleet may lack them; refused ones never), with the timeout, reason or comment given.
 * Local-only hosts share nothing; an unreachable NATS server is reported, never thrown.
 */
export async function shareListChange(config: Config, list: ListKind, op: 'add' | 'del', result: ListChangeResult,
  meta: {ttlSec?: number; reason?: string; comment?: string} = {}, options: PublishOptions = {}): Promise<SharedListChangeResult> {
  const entries = result.entries.filter((e) => e.refused === undefined).map((e): WireEntry => ({
    target: parseTarget(e.target),
    ...(op === 'add' && meta.ttlSec !== undefined && meta.ttlSec > 0 ? {ttlSec: meta.ttlSec} : {}),
    ...(op === 'add' && list === 'block' && meta.reason !== undefined ? {tag: meta.reason} : {}),
    ...(op === 'add' && list === 'allow' && meta.comment !== undefined ? {comment: meta.comment} : {}),
  }))
  const shared = await publishEntries(config, list, op, entries, options)
  return shared.reason === 'local-only' ? result : {...result, shared}
}

/**
 * A few IPv4 bans added or lifted one process each, through the backend's addIfAbsent() or
 * delIfPresent() (`change`), with no test first: `changed` holds the texts it added or lifted,
 * `unchanged` those it found as they were (an add still refreshes their timeout), `unknown` the
 * targets it could not tell about (no such path, IPv6, many targets), for the usual test and commit.
 */
async function singleBans(targets: readonly Target[], change: (target: Address) => Promise<boolean | undefined> | undefined):
  Promise<{changed: Set<string>; unchanged: Set<string>; unknown: Target[]}> {
  const out = {changed: new Set<string>(), unchanged: new Set<string>(), unknown: [] as Target[]}
  const single = targets.length <= SINGLE_CHECK_MAX
  for (const target of targets) {
    const changed = single && target.family === 4 && isAddress(target) ? await change(target) : undefined
    if (changed === undefined) out.unknown.push(target)
    else out[changed ? 'changed' : 'unchanged'].add(target.text)
  }

  return out
}

/** `block del` / `allow del`: removes entries in one batch; absent ones are reported as unchanged. */
export async function listDel(fw: Firewall, list: ListKind, inputs: ReadonlyArray<ListInput | string>,
  options: ListChangeOptions = {}): Promise<ListChangeResult> {
  const parsed = dedupe(parseInputs(inputs.map(asInput), list))
  // The set-up check's readings at once (ipset: the set names and both families' rules).
  fw.backend.prepareInit?.()
  await fw.backend.init()
  options.onStep?.('compare', parsed.length)
  const {changed: removed, unknown} = list === 'block'
    ? await singleBans(parsed.map((p) => p.target), (target) => fw.backend.delIfPresent?.(target))
    : {changed: new Set<string>(), unknown: parsed.map((p) => p.target)}
  const present = await presentIn(fw.backend, list, unknown)
  options.onStep?.('apply', parsed.length)
  await applyListBatch(fw.backend, {add: [], del: unknown, list})
  const entries = parsed.map(({input, target}): ListChange =>
    ({changed: removed.has(target.text) || present.has(target.text), target: target.text, ...(input.at === undefined ? {} : {at: input.at})}))
  return summarize(fw.backend, entries, 'del')
}

/**
 * `allow add`: addresses or networks with a comment (the line's own, else `comment`) and an optional
 * timeout, in one batch. An existing entry is left as it is (unchanged) unless a different comment or
 * a timeout is given, which updates it. Throws before anything changes, naming `FILE:LINE` for a bad
 * line of a list file.
 */
export async function allowAdd(fw: Firewall, inputs: ReadonlyArray<ListInput | string>, options: AllowAddOptions = {}): Promise<ListChangeResult> {
  const parsed = dedupe(parseInputs(inputs.map(asInput), 'allow', {comments: true, force: options.force}))
  const defaultComment = options.comment === undefined ? undefined : checkComment(options.comment)
  const ttlSec = options.timeoutSec === undefined ? undefined : checkTimeout(options.timeoutSec)
  await fw.backend.init()
  options.onStep?.('compare', parsed.length)
  const existing = new Map((await fw.backend.list('allow')).map((e) => [e.target.text, e]))
  if (fw.backend.name === 'nftables') refuseOverlaps(parsed.map((p) => p.target), [...existing.values()].map((e) => e.target))
  const add: SetEntry[] = []
  const entries: ListChange[] = []
  for (const {input, target} of parsed) {
    const old = existing.get(target.text)
    const comment = input.comment ?? defaultComment
    const changed = !old || (comment !== undefined && comment !== old.comment) || ttlSec !== undefined
    // Keep what the entry had unless the caller says otherwise.
    if (changed) add.push({comment: comment ?? old?.comment, target, ttlSec: ttlSec ?? old?.ttlSec})
    entries.push({changed, target: target.text, ...(input.at === undefined ? {} : {at: input.at})})
  }

  options.onStep?.('apply', add.length)
  await applyListBatch(fw.backend, {add, del: [], list: 'allow'})
  return summarize(fw.backend, entries, 'add')
}

/**
 * nftables interval sets cannot hold overlapping networks (nft: "interval overlaps with an existing
 * one"): say which entry is in the way before anything changes. The networks are sorted by their first
 * address and swept once, so a list of tens of thousands costs milliseconds, not a test of every pair.
 */
function refuseOverlaps(targets: Target[], existing: Target[]): void {
  const ranges = [...existing.map((t) => rangeOf(t, false)), ...targets.map((t) => rangeOf(t, true))]
  ranges.sort((x, y) => x.family - y.family || (x.start < y.start ? -1 : x.start > y.start ? 1 : 0) || (x.end > y.end ? -1 : x.end < y.end ? 1 : 0))
  let widest: Range | undefined
  for (const range of ranges) {
    if (widest && widest.family === range.family && range.start <= widest.end && range.target.text !== widest.target.text &&
      (range.isNew || widest.isNew)) {
      const [target, other] = range.isNew ? [range.target, widest.target] : [widest.target, range.target]
      throw new InvalidValueError(`${target.text} overlaps the allow entry ${other.text}`,
        'nftables allow sets cannot hold overlapping networks: remove one of them first (diswall allow del …), or allow the larger network only.')
    }

    if (!widest || widest.family !== range.family || range.end > widest.end) widest = range
  }
}

interface Range {
  family: 4 | 6
  start: bigint
  end: bigint
  target: Target
  isNew: boolean
}

/** The first and last address of a target as numbers, for {@link refuseOverlaps}. */
function rangeOf(target: Target, isNew: boolean): Range {
  const net = toNetwork(target)
  const bits = net.family === 4 ? BigInt(bitsV4(net.address)) : bitsV6(net.address)
  const size = 1n << BigInt((net.family === 4 ? 32 : 128) - net.prefix)
  return {end: bits + size - 1n, family: net.family, isNew, start: bits, target}
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

/** Up to this many addresses, --kill reports each one; beyond, one total (see killAll). */
const KILL_EACH_MAX = 16

/**
 * Cuts the connections of blocked addresses: one report per address for a few (as `block add A B`
 * always did), one total named `N addresses` for a long list, which runs one `ss -K` per 256
 * addresses instead of one per address.
 */
async function killAll(addrs: Address[], exec: Exec): Promise<Array<KillReport & {target: string}>> {
  if (addrs.length > KILL_EACH_MAX) {
    const {conntrack, sockets} = await killConnectionsBatch(addrs, {exec})
    return [{conntrack, sockets, target: `${addrs.length} addresses`}]
  }

  const out: Array<KillReport & {target: string}> = []
  for (const addr of addrs) {
    const {conntrack, sockets} = await killConnectionsBatch([addr], {exec})
    out.push({conntrack, sockets, target: addr.text})
  }

  return out
}

/** Up to this many entries, membership is asked entry by entry (`has()`); beyond, the set is read once. */
export const SINGLE_CHECK_MAX = 8

/**
 * Which targets the list holds now, as texts. The allow list (at most allow_max entries) is read
 * whole. For the block list a few targets are tested one by one, so that one `block add` never reads
 * a set of a million bans; a longer list reads the set once (one process, `ipset save` or `nft list
 * set`) rather than one test per address. An IPv6 address inside a banned network counts as present.
 */
async function presentIn(backend: FirewallBackend, list: ListKind, targets: readonly Target[]): Promise<Set<string>> {
  const present = new Set<string>()
  if (targets.length === 0) return present
  if (list === 'block' && targets.length <= SINGLE_CHECK_MAX) {
    for (const target of targets) if (await backend.has(list, target)) present.add(target.text)
    return present
  }

  const held = new Set<string>()
  const networks: Network[] = []
  for (const entry of await backend.list(list)) {
    held.add(entry.target.text)
    // `ipset test` on a hash:net set answers true for an address inside a listed network, so the
    // allow list is compared entry by entry; a banned IPv6 network holds its addresses.
    if (list === 'block' && !isAddress(entry.target)) networks.push(entry.target)
  }

  for (const target of targets) {
    const inNetwork = isAddress(target) && networks.some((net) => containsAddress(net, target))
    if (held.has(target.text) || inNetwork) present.add(target.text)
  }

  return present
}

/** The result of a list change from its entries: the counts and `changed`. */
function summarize(backend: FirewallBackend, entries: ListChange[], kind: 'add' | 'del'): ListChangeResult {
  let changed = 0
  let refused = 0
  for (const e of entries) {
    if (e.refused !== undefined) refused++
    else if (e.changed) changed++
  }

  return {
    added: kind === 'add' ? changed : 0,
    backend: backend.name,
    changed: changed > 0,
    entries,
    refused,
    removed: kind === 'del' ? changed : 0,
    unchanged: entries.length - changed - refused,
  }
}

function asInput(input: ListInput | string): ListInput {
  return typeof input === 'string' ? {text: input} : input
}

/** The first of each target (by its canonical text), in order. */
function dedupe<T extends {target: Target}>(items: T[]): T[] {
  const seen = new Set<string>()
  return items.filter((i) => !seen.has(i.target.text) && seen.add(i.target.text))
}
