/**
 * Logged packets from an NFLOG group, read with `tcpdump -i nflog:GROUP` (`[detect] source = "nflog"`).
 * The ruleset's `log` verdict then renders as NFLOG with a queue threshold of 1 (see
 * ../../firewall/ruleset/render-iptables.ts), so the kernel hands each packet to tcpdump at once:
 * ~0.8 ms from packet to line whatever the CPU does, where /dev/kmsg readers are woken on the next timer
 * tick when the CPU is busy (~3 ms at HZ=250). Each packet becomes a LogLine `{source: 'nflog'}` whose
 * text is a kernel-log-style line (`PREFIX SRC=… DST=… PROTO=TCP SPT=… DPT=…`) that parseKernelLog reads.
 *
 * NFLOG groups are per network namespace, and only one program can listen on a group: another listener
 * (ulogd) makes tcpdump exit with an error. tcpdump prints no NFLOG prefix in this mode, so every packet
 * of the group counts; the group must be diswall's alone.
 *
 * tcpdump dies with the daemon: a tcpdump left behind by a daemon killed with SIGKILL kept the group
 * until its next packet hit the closed pipe, and the next daemon's tcpdump could not listen (its
 * supervisor looped for ~16 s). Node cannot call prctl(PR_SET_PDEATHSIG), so tcpdump is started through
 * `setpriv --pdeathsig KILL` (util-linux, essential on Debian 12; `ip netns exec` execs it, so the
 * parent stays the daemon). The kernel clears that setting when the uid changes, which tcpdump's own
 * privilege drop (`-Z tcpdump`, the Debian default as root) would do; so setpriv drops the privileges
 * instead, before tcpdump runs: user and group {@link NFLOG_HELPER_USER}, and only CAP_NET_ADMIN,
 * which binding an NFLOG group needs (tcpdump 4.99.3, util-linux 2.38.1). A group still taken at start
 * (another listener) is reported with the holder's PID where /proc shows it.
 */
import {readdir, readFile, stat} from 'node:fs/promises'

import {CommandFailedError, MissingDependencyError} from '../../errors.js'
import type {Address} from '../../net/index.js'
import {parseAddress} from '../../net/index.js'
import {spawnLines} from '../../system/index.js'
import {ProgramLineSource} from './program.js'
import type {SpawnLinesFn} from './program.js'
import {LogSourceError} from './types.js'
import type {LogLine} from './types.js'

/** One packet of a tcpdump `-q` line, with protocol names as the kernel log prints them. */
export interface NflogPacket {
  src: Address
  dst: Address
  /** `TCP`, `UDP`, `ICMP`, `ICMPv6`, `ESP`, `AH`, or a protocol number (`132` for SCTP, `47` for GRE). */
  proto: string
  /** Source port (TCP and UDP only). */
  spt?: number
  /** Destination port (TCP and UDP only). */
  dpt?: number
}

/** Options of {@link NflogSource}. */
export interface NflogSourceOptions {
  /** The NFLOG group of the `log` rules (`[detect] nflog_group`), 1–65535. */
  group: number
  /** Written in front of each line (`[detect] log_prefix`), so that parseKernelLog accepts it. */
  logPrefix: string
  /** Name in LogLine.source and the health; `nflog` by default. */
  name?: string
  /** The program; `tcpdump` by default. */
  program?: string
  /**
   * A command that runs the program, put in front of it: `['ip', 'netns', 'exec', 'NS']` reads the group
   * of another network namespace (tests). None by default.
   */
  wrap?: readonly string[]
}

/** The user tcpdump runs as (Debian's tcpdump package creates it). */
export const NFLOG_HELPER_USER = 'tcpdump'

/**
 * The command in front of tcpdump: `setpriv` drops to {@link NFLOG_HELPER_USER} with CAP_NET_ADMIN only
 * and makes the kernel send SIGKILL when the daemon dies (see the module comment).
 */
export function nflogHelperPrefix(user = NFLOG_HELPER_USER): string[] {
  return ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--init-groups', '--inh-caps=-all,+net_admin',
    '--ambient-caps=-all,+net_admin', '--pdeathsig=KILL', '--']
}

/**
 * How many bytes of each packet the kernel copies to tcpdump: enough for the IP header with options or
 * IPv6 extension headers and the TCP/UDP ports, not the payload of a large probe.
 */
export const NFLOG_SNAPLEN = 256

/**
 * Receive buffer of tcpdump's NFLOG socket, KiB (`-B`; the kernel caps it at net.core.rmem_max). With
 * threshold 1 every logged packet is its own netlink message of ~4 KiB (the group's buffer size), so the
 * default buffer (net.core.rmem_default, 208 KiB) holds ~50: a scan from 2,000 addresses within a
 * second overflowed it while the daemon was busy banning, and the kernel dropped the rest (ENOBUFS).
 */
export const NFLOG_BUFFER_KIB = 4096

/**
 * The arguments of tcpdump (4.99): line-buffered (`-l`: each line is written at once), no name or port
 * resolution (`-n`), the short form of each protocol (`-q`), no timestamps (`-t`), a receive buffer of
 * {@link NFLOG_BUFFER_KIB}, {@link NFLOG_SNAPLEN} bytes per packet, from NFLOG group `group`. tcpdump
 * drops its privileges after opening the group.
 */
export function tcpdumpArgs(group: number): string[] {
  return ['-l', '-n', '-q', '-t', '-B', String(NFLOG_BUFFER_KIB), '-s', String(NFLOG_SNAPLEN), '-i', `nflog:${group}`]
}

/** `-q` protocol words (the start of what follows `SRC > DST: `) that carry no ports. */
const PORTLESS_PROTOS: ReadonlyArray<readonly [word: string, proto: string, family?: 4 | 6]> = [
  ['ICMP6,', 'ICMPv6', 6],
  ['ICMP ', 'ICMP', 4],
  ['ESP(', 'ESP'],
  ['AH(', 'AH'],
  ['GREv', '47'],
]

/**
 * Parses one line of `tcpdump -l -n -q -t` on an NFLOG interface; returns undefined for anything else,
 * never throws. Forms (tcpdump 4.99.3):
 * - `IP 203.0.113.7.40000 > 198.51.100.1.23: tcp 0`, `IP6 2001:db8::7.40000 > 2001:db8::1.53: UDP, length 10`
 *   (the port follows the address's last dot);
 * - `IP 203.0.113.7 > 198.51.100.1: ICMP echo request, …`, `IP6 … > …: ICMP6, echo request, …`;
 * - `IP … > …: ESP(spi=…)`, `AH(…)`, `GREv0, …`, `sctp (1) …` (SCTP ports are dropped, as the kernel log
 *   does), `IP … > …:  ip-proto-136 16`;
 * - a packet cut at the snap length: `IP truncated-ip - 2772 bytes missing! 203.0.113.7.40000 > …`.
 * IPv6 fragments (`frag (0|1448) …`; not seen behind conntrack, which reassembles them) and everything
 * else are not parsed.
 */
export function parseTcpdumpLine(line: string): NflogPacket | undefined {
  if (typeof line !== 'string') return undefined
  let family: 4 | 6
  let at: number
  if (line.startsWith('IP ')) {
    family = 4
    at = 3
  } else if (line.startsWith('IP6 ')) {
    family = 6
    at = 4
  } else {
    return undefined
  }
  if (line.startsWith('truncated-ip', at)) {
    const bang = line.indexOf('missing!', at)
    if (bang === -1) return undefined
    at = bang + 8
    if (line.charCodeAt(at) === 32) at++
  }
  const gt = line.indexOf(' > ', at)
  if (gt === -1) return undefined
  const colon = line.indexOf(': ', gt + 3)
  if (colon === -1) return undefined
  const srcText = line.slice(at, gt)
  const dstText = line.slice(gt + 3, colon)
  const rest = line.slice(colon + 2)

  if (rest.startsWith('tcp ') || rest.startsWith('UDP,')) {
    const src = splitPort(srcText, family)
    const dst = splitPort(dstText, family)
    if (src === undefined || dst === undefined) return undefined
    return {dpt: dst.port, dst: dst.address, proto: rest.startsWith('tcp') ? 'TCP' : 'UDP', spt: src.port, src: src.address}
  }
  if (rest.startsWith('sctp')) {
    const src = splitPort(srcText, family)
    const dst = splitPort(dstText, family)
    return src === undefined || dst === undefined ? undefined : {dst: dst.address, proto: '132', src: src.address}
  }
  let proto: string | undefined
  for (const [word, name, only] of PORTLESS_PROTOS) {
    if (rest.startsWith(word) && (only === undefined || only === family)) {
      proto = name
      break
    }
  }
  if (proto === undefined) {
    // tcpdump 4.99: `:  ip-proto-136 16` (two spaces) for protocols it does not know.
    const m = /^ ?ip-proto-(\d{1,3}) /.exec(rest)
    if (m === null || Number(m[1]) > 255) return undefined
    proto = m[1]
  }
  const src = addressOf(srcText, family)
  const dst = addressOf(dstText, family)
  return src === undefined || dst === undefined ? undefined : {dst, proto, src}
}

/**
 * The packet as a netfilter LOG line after `prefix`: `PREFIX SRC=… DST=… PROTO=… SPT=… DPT=…` (no
 * `SPT`/`DPT` for protocols without ports), which parseKernelLog(text, prefix) reads back. Pure.
 */
export function formatNflogLine(prefix: string, packet: NflogPacket): string {
  const ports = packet.dpt === undefined ? '' : ` SPT=${packet.spt ?? 0} DPT=${packet.dpt}`
  return `${prefix}SRC=${packet.src.text} DST=${packet.dst.text} PROTO=${packet.proto}${ports}`
}

/** `ADDRESS.PORT` split at the last dot, both checked. */
function splitPort(text: string, family: 4 | 6): {address: Address; port: number} | undefined {
  const dot = text.lastIndexOf('.')
  if (dot <= 0 || dot === text.length - 1 || text.length - dot - 1 > 5) return undefined
  let port = 0
  for (let i = dot + 1; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48
    if (d < 0 || d > 9) return undefined
    port = port * 10 + d
  }
  if (port > 65_535) return undefined
  const address = addressOf(text.slice(0, dot), family)
  return address === undefined ? undefined : {address, port}
}

function addressOf(text: string, family: 4 | 6): Address | undefined {
  if (text.length === 0 || text.length > 45) return undefined
  // An IP line holds dotted quads only. On an IP6 line an IPv4-mapped address (::ffff:192.0.2.7) becomes
  // IPv4, as parseKernelLog makes it.
  if (family === 4 && text.includes(':')) return undefined
  try {
    return parseAddress(text)
  } catch {
    return undefined
  }
}

/**
 * Packets of an NFLOG group as LogLines (see the module comment). `time` is when the line was read.
 * The iteration throws MissingDependencyError when tcpdump is not installed and CommandFailedError when it
 * exits with an error (the group is taken, no permission); when tcpdump exits with status 0 (someone sent
 * it SIGTERM) the iteration just ends, and a supervisor restarts it. Lines tcpdump prints that are not
 * packets are skipped.
 */
export class NflogSource extends ProgramLineSource {
  /** @throws LogSourceError when `group` is not an integer from 1 to 65535. */
  constructor(private readonly options: NflogSourceOptions, spawn: SpawnLinesFn = spawnLines) {
    if (!Number.isInteger(options.group) || options.group < 1 || options.group > 65_535) {
      throw new LogSourceError(`NFLOG group ${JSON.stringify(options.group)} is not an integer from 1 to 65535`,
        'Set [detect] nflog_group in the config, e.g. 5.')
    }
    super(options.name ?? 'nflog', spawn)
  }

  protected command(): readonly string[] {
    const {group, program = 'tcpdump', wrap = []} = this.options
    // Without root there is no uid to drop, and setpriv could not change it.
    const helper = process.getuid?.() === 0 ? nflogHelperPrefix() : []
    return [...wrap, ...helper, program, ...tcpdumpArgs(group)]
  }

  /** libpcap 1.10 says `Can't listen on group index` when another socket holds the group. */
  protected override async explainFailure(error: unknown): Promise<unknown> {
    if (!(error instanceof CommandFailedError)) return error
    const {group, program = 'tcpdump', wrap = []} = this.options
    // util-linux 2.38: setpriv exits 127 with "failed to execute PROGRAM: No such file or directory".
    if (error.programExitCode === 127 && error.stderr.includes(`failed to execute ${program}: No such file`)) {
      return new MissingDependencyError(program, 'tcpdump', {cause: error})
    }
    if (!error.stderr.includes("Can't listen on group")) return error
    const holders = await findNflogHolders(group, wrap.length === 0)
    const who = holders.length === 0 ? 'another program' : holders.map((h) => `PID ${h.pid} (${h.command})`).join(', ')
    return new LogSourceError(`NFLOG group ${group} is taken by ${who}`,
      holders.length === 0
        ? `Find the listener (ulogd, tcpdump) and stop it, or set [detect] nflog_group to a free group and apply the firewall again.`
        : `If it is left over from a diswall daemon that was killed, stop it: kill ${holders.map((h) => h.pid).join(' ')}; ` +
          'otherwise set [detect] nflog_group to a free group and apply the firewall again.',
      {cause: error})
  }

  /** tcpdump 4.99 prints `listening on nflog:GROUP, link-type NFLOG …` once it is bound to the group. */
  protected override readingOn(): string {
    return `listening on nflog:${this.options.group},`
  }

  protected toLogLine(line: string): LogLine | undefined {
    const packet = parseTcpdumpLine(line)
    if (packet === undefined) return undefined
    return {source: this.name, text: formatNflogLine(this.options.logPrefix, packet), time: Date.now()}
  }
}

/**
 * Processes that look like listeners of NFLOG `group`: an argument `nflog:GROUP` (tcpdump, dumpcap) in
 * their command line, in this process's network namespace when `sameNetns` (groups are per namespace).
 * Reads /proc; never throws (a process may exit while it is read).
 */
export async function findNflogHolders(group: number, sameNetns: boolean): Promise<Array<{pid: number; command: string}>> {
  const wanted = `nflog:${group}`
  const netnsOf = async (pid: number | 'self'): Promise<number | undefined> => {
    try {
      return (await stat(`/proc/${pid}/ns/net`)).ino
    } catch {
      return undefined
    }
  }
  const ours = sameNetns ? await netnsOf('self') : undefined
  const found: Array<{pid: number; command: string}> = []
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return found
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue
    try {
      const argv = (await readFile(`/proc/${name}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '')
      if (!argv.some((a) => a === wanted || a.endsWith(`=${wanted}`) || a === `-i${wanted}`)) continue
      if (ours !== undefined && (await netnsOf(Number(name))) !== ours) continue
      found.push({command: argv.join(' ').slice(0, 200), pid: Number(name)})
    } catch {
      // Gone meanwhile, or not readable.
    }
  }
  return found
}
