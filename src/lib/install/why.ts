/**
 * `diswall why ADDR`: whether an address is blocked or allowed on this host, since when and until when,
 * why, and what protects it from bans. Built for a host with 1,000,000 bans: the block set is asked
 * about the one address through the backend's has() (`ipset test`; with nft a create-and-delete
 * transaction of the one element), never listed; the allow set, small (at most 65,536 entries), is read
 * once for the never-ban check and answers "allowed" too. The daemon's journal and snapshot are scanned as text for the one address.
 */
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {Config} from '../config/index.js'
import {JOURNAL_PREFIX, listJournalSegments, queryDaemon, snapshotPath} from '../daemon/index.js'
import type {DaemonStatus} from '../daemon/index.js'
import {Enforcer, HostFacts} from '../enforce/index.js'
import {asDiswallError} from '../errors.js'
import {openFirewall} from '../firewall/sets/index.js'
import {containsAddress, parseAddress, parseTarget, toNetwork} from '../net/index.js'
import type {Address, Target} from '../net/index.js'
import {exec as defaultExec} from '../system/index.js'
import type {Exec} from '../system/index.js'

/** One file of the firewall directory that names the address (or a network holding it). */
export interface WhyFileMatch {
  /** Relative to the firewall directory: `whitelist.d/192.0.2.0|24`, `incoming.d/07-ssh`. */
  file: string
  /** The entry that matched: `192.0.2.0/24`. */
  entry: string
  /** The line, for rule files. */
  line?: number
  /** Whether the directory (or the whole firewall directory) is disabled, so the file has no effect. */
  disabled: boolean
}

/** The ban as the daemon's state files and status know it. */
export interface WhyBan {
  /** When the ban was written (unix seconds), from the journal; absent when only the snapshot has it. */
  sinceSec?: number
  /** When it ends (unix seconds); null for a ban without timeout. */
  untilSec: null | number
  /** Where these times come from: `journal` or `snapshot`. */
  recordedIn: 'journal' | 'snapshot'
  /** Reason or tag (`port-scan 23/tcp`, `ssh`), from the running daemon's last bans. */
  reason?: string
  /** The detection source that completed the evidence (`kmsg`, `/var/log/auth.log`). */
  source?: string
  /** The log line or packet that caused it: not recorded by this version of the daemon (null). */
  evidence: null | string
  /** The host that reported it (bans from the fleet): comes with the NATS side; null here. */
  reportedBy: null | string
  /** The escalation step of a repeat offender: comes with the server; null here. */
  escalation: null | number
}

/** The answer of {@link whyAddress}; fields may be added, never renamed. */
export interface WhyReport {
  address: string
  /** What the kernel does with its packets now: `allowed` wins over `blocked` (the allow set comes first). */
  verdict: 'allowed' | 'blocked' | 'not-listed'
  kernel: {
    backend: string
    /** undefined when the sets could not be read (`error` says why). */
    blocked?: boolean
    allowed?: boolean
    error?: string
  }
  files: {whitelist: WhyFileMatch[]; blacklist: WhyFileMatch[]; rules: WhyFileMatch[]; firewallDisabled: boolean}
  /** The last record of a ban of this address in the daemon's state files; absent when none. */
  ban?: WhyBan
  /** Whether the daemon answered on its control socket (its last bans give the reason). */
  daemon: {running: boolean; error?: string}
  /** Why nothing can ban the address (never-ban check), or null when it can be banned. */
  protectedBy: null | string
}

/** Options of {@link whyAddress}. */
export interface WhyOptions {
  exec?: Exec
  /** Asks the daemon for its status; the control socket of the config by default (tests pass a fake). */
  status?: () => Promise<DaemonStatus>
}

/**
 * Answers `diswall why ADDR`. Reads the kernel (two single-entry tests and the small allow set), the
 * firewall directory, the daemon's state files and, when the daemon runs, its status. Changes nothing.
 * @throws InvalidValueError when `text` is not an address.
 */
export async function whyAddress(config: Config, text: string, options: WhyOptions = {}): Promise<WhyReport> {
  const addr = parseAddress(text)
  const exec = options.exec ?? defaultExec
  const fw = await openFirewall(config, exec)
  const kernel: WhyReport['kernel'] = {backend: fw.backend.name}
  let protectedBy: null | string = null
  try {
    const facts = new HostFacts({exec})
    const enforcer = new Enforcer({backend: fw.backend, config, exec, facts})
    // Side by side: each is a process or two (~30-80 ms apiece on a busy 2 vCPU), whatever the set sizes.
    const kernelRead = (async () => {
      try {
        const [blocked] = await Promise.all([fw.backend.has('block', addr), enforcer.refreshAllowList()])
        kernel.blocked = blocked
        // From the allow set as read for the never-ban check, not has('allow'): nft 1.0.6 `get element`
        // fetches every set of the table first, ~3.5 s next to 100k bans on 2 vCPU.
        kernel.allowed = enforcer.allowList.find(addr) !== undefined
      } catch (error) {
        kernel.error = asDiswallError(error).message
      }
    })()
    await Promise.all([facts.refreshAddresses(), facts.refreshSshPeers(), kernelRead])
    protectedBy = enforcer.refusal(addr) ?? null
  } finally {
    await fw.backend.close()
  }

  const daemon: WhyReport['daemon'] = {running: false}
  const askDaemon = options.status ?? (() => queryDaemon<DaemonStatus>(config.daemon.socket, 'status', {timeoutMs: 2000}))
  const [files, ban, status] = await Promise.all([
    scanFirewallDir(config.firewall.dir, addr),
    findBan(config.daemon.state_dir, addr),
    askDaemon().catch((error: unknown) => {
      daemon.error = asDiswallError(error).message
      return undefined
    }),
  ])
  if (status !== undefined) {
    daemon.running = true
    const last = status.lastBans.find((b) => targetHolds(b.target, addr))
    if (last && ban) Object.assign(ban, {reason: last.reason, source: last.source})
  }

  const allowedByFile = files.whitelist.some((m) => !m.disabled)
  const blockedByFile = files.blacklist.some((m) => !m.disabled)
  const verdict = kernel.allowed || allowedByFile ? 'allowed' : kernel.blocked || blockedByFile ? 'blocked' : 'not-listed'
  return {address: addr.text, ban, daemon, files, kernel, protectedBy, verdict}
}

function targetHolds(text: string, addr: Address): boolean {
  try {
    const target = parseTarget(text)
    return target.family === addr.family && containsAddress(toNetwork(target), addr)
  } catch {
    return false
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await readdir(path)
    return true
  } catch {
    return false
  }
}

async function names(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch {
    return []
  }
}

/** The entry a whitelist.d/blacklist.d file name stands for (`192.0.2.0|24.auto` → 192.0.2.0/24). */
function fileEntry(name: string): Target | undefined {
  const base = name.endsWith('.auto') ? name.slice(0, -'.auto'.length) : name
  try {
    return parseTarget(base.replace('|', '/'))
  } catch {
    return undefined
  }
}

function holds(target: Target, addr: Address): boolean {
  return target.family === addr.family && containsAddress(toNetwork(target), addr)
}

/** The whitelist.d and blacklist.d files and the rule-file lines that name the address. */
async function scanFirewallDir(dir: string, addr: Address): Promise<WhyReport['files']> {
  const firewallDisabled = await fileExists(join(dir, 'disabled'))
  const out: WhyReport['files'] = {blacklist: [], firewallDisabled, rules: [], whitelist: []}
  for (const [sub, key] of [['whitelist.d', 'whitelist'], ['blacklist.d', 'blacklist']] as const) {
    const disabled = firewallDisabled || await fileExists(join(dir, sub, 'disabled'))
    for (const name of await names(join(dir, sub))) {
      const entry = fileEntry(name)
      if (entry && holds(entry, addr)) out[key].push({disabled, entry: toNetwork(entry).text, file: `${sub}/${name}`})
    }
  }
  for (const sub of ['incoming.d', 'outgoing.d']) {
    if (!await exists(join(dir, sub))) continue
    for (const name of await names(join(dir, sub))) {
      let text: string
      try {
        text = await readFile(join(dir, sub, name), 'utf8')
      } catch {
        continue
      }
      const lines = text.split('\n')
      for (let i = 0; i < lines.length; i++) {
        const word = lines[i]!.replace(/#.*/, '').trim()
        if (word === '') continue
        let entry: Target
        try {
          entry = parseTarget(word)
        } catch {
          continue // a host name: resolved only when the ruleset is compiled
        }
        if (holds(entry, addr)) out.rules.push({disabled: firewallDisabled, entry: toNetwork(entry).text, file: `${sub}/${name}`, line: i + 1})
      }
    }
  }
  return out
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await readFile(path)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EISDIR'
  }
}

/**
 * The last ban record of the address in the snapshot and the journal segments (in that order, the
 * journal being newer), found by a text scan for its lines: no parse of a million entries. A later
 * `delete block ADDR` clears it.
 */
async function findBan(stateDir: string, addr: Address): Promise<undefined | WhyBan> {
  let ban: undefined | WhyBan
  const apply = (text: string, recordedIn: WhyBan['recordedIn']): void => {
    const add = `block ${addr.text} expires `
    const del = `delete block ${addr.text}`
    if (!text.includes(addr.text)) return
    let at: number | undefined
    for (const line of text.split('\n')) {
      if (line.startsWith('# at ')) at = Number(line.slice(5))
      else if (line.startsWith(add)) {
        const expires = line.slice(add.length).split(' ')[0]!
        ban = {escalation: null, evidence: null, recordedIn, reportedBy: null,
          untilSec: expires === 'never' ? null : Number(expires), ...(at === undefined ? {} : {sinceSec: at})}
      } else if (line === del) ban = undefined
    }
  }
  apply(await readText(snapshotPath(stateDir)), 'snapshot')
  for (const seq of await listJournalSegments(stateDir)) apply(await readText(join(stateDir, `${JOURNAL_PREFIX}${seq}`)), 'journal')
  if (ban?.untilSec != null && ban.untilSec * 1000 <= Date.now()) return undefined
  return ban
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch {
    return ''
  }
}
