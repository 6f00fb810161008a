/**
 * Parsers for the kernel packet log: netfilter LOG/`log` lines (from /dev/kmsg, journald or a syslog
 * file) and the lines of the original DisWall named pipe. They run once per logged packet, so they scan
 * each line once with indexOf/charCodeAt and no regular expressions, return undefined for anything
 * that is not theirs, and never throw.
 */
import type {Address} from '../net/index.js'
import {parseAddress} from '../net/index.js'

/** The fields of one logged packet that the detection uses. */
export interface PacketLog {
  /** Source address (`SRC=`): the offender. IPv4-mapped addresses are IPv4. */
  readonly src: Address
  /** Destination address (`DST=`), when logged and valid. */
  readonly dst?: Address
  /**
   * Protocol in lower case: `tcp`, `udp`, `udplite`, `icmp`, `icmpv6`, `ah`, `esp`, or the protocol
   * number the kernel prints for the others (`132` for SCTP, `47` for GRE).
   */
  readonly proto: string
  /** Destination port (`DPT=`); absent for protocols without ports (ICMP, GRE, …). */
  readonly dpt?: number
  /** Source port (`SPT=`), when logged. */
  readonly spt?: number
  /** Input interface (`IN=`), when not empty. */
  readonly in?: string
}

/** A pipe line `IP` or `IP|TAG`: a ban report written by another local program (e.g. the nginx addon). */
export interface PipeReport {
  readonly address: Address
  /** The tag after `|`, if any (1–25 printable characters). */
  readonly tag?: string
}

/** Longest tag of a ban (the NATS `IP|TAG` payload of the original DisWall). */
export const MAX_TAG_LENGTH = 25

const PROTO_NAMES: ReadonlyMap<string, string> = new Map([
  ['AH', 'ah'],
  ['ESP', 'esp'],
  ['ICMP', 'icmp'],
  ['ICMPv6', 'icmpv6'],
  ['TCP', 'tcp'],
  ['UDP', 'udp'],
  ['UDPLITE', 'udplite'],
])

const KERNEL_TAG = 'kernel: '

/**
 * Parses a netfilter LOG line whose message starts with `prefix` (the configured `log_prefix`, e.g.
 * `"diswall-log: "`); returns undefined for every other line, including garbage. Accepted forms:
 * - a /dev/kmsg record: `6,1234,5678,-;diswall-log: IN=eth0 OUT= MAC=… SRC=… DST=… … PROTO=TCP SPT=… DPT=…`;
 * - a bare message (journald MESSAGE): `diswall-log: IN=eth0 …`;
 * - a syslog line: `May  1 12:00:00 host kernel: [ 1234.567890] diswall-log: IN=eth0 …`.
 *
 * The prefix must stand exactly at the start of the message part. Fields are read in one pass up to
 * `DPT=`; a token starting with `[` ends the scan, because ICMP errors quote the packet that caused
 * them (`[SRC=… DST=… PROTO=UDP … DPT=53]`) and those fields are not the sender's. A line with a
 * missing or invalid `SRC=` or `PROTO=`, or an invalid `DST=`/`DPT=`/`SPT=`, is not ours.
 */
export function parseKernelLog(text: string, prefix: string): PacketLog | undefined {
  if (typeof text !== 'string' || prefix === '') return undefined
  const at = text.indexOf(prefix)
  if (at === -1 || !isMessageStart(text, at)) return undefined
  return parseFields(text, at + prefix.length)
}

/**
 * Parses a line of the original DisWall pipe in its packet form `IP PROTO PORT` (what rsyslog's
 * `DisWallSrcIpPort` template writes: `203.0.113.7 TCP 23`); the port may be missing or rsyslog's
 * `**NO MATCH**` for protocols without ports. Returns undefined for anything else; never throws.
 */
export function parsePipeLine(text: string): PacketLog | undefined {
  if (typeof text !== 'string') return undefined
  const s = text.trim()
  const sp1 = s.indexOf(' ')
  if (sp1 <= 0) return undefined
  const src = addressOrUndefined(s.slice(0, sp1))
  if (src === undefined) return undefined
  let rest = s.slice(sp1 + 1).trimStart()
  const sp2 = rest.indexOf(' ')
  const protoText = sp2 === -1 ? rest : rest.slice(0, sp2)
  rest = sp2 === -1 ? '' : rest.slice(sp2 + 1).trim()
  if (!isProtoToken(protoText)) return undefined
  const proto = protoName(protoText)
  if (rest === '' || rest === '**NO MATCH**') return {proto, src}
  const dpt = readPort(rest, 0, rest.length)
  return dpt < 0 ? undefined : {dpt, proto, src}
}

/**
 * Parses a pipe line in its report form `IP` or `IP|TAG` (the original DisWall's nginx addon and
 * scripts wrote these). The tag must be 1–25 printable ASCII characters. Returns undefined for anything
 * else; never throws.
 */
export function parsePipeReport(text: string): PipeReport | undefined {
  if (typeof text !== 'string') return undefined
  const s = text.trim()
  const bar = s.indexOf('|')
  const address = addressOrUndefined(bar === -1 ? s : s.slice(0, bar))
  if (address === undefined) return undefined
  if (bar === -1) return {address}
  const tag = s.slice(bar + 1).trim()
  return isValidTag(tag) ? {address, tag} : undefined
}

/** True for 1–25 printable ASCII characters without `|` (a tag that fits the NATS `IP|TAG` payload). */
export function isValidTag(tag: string): boolean {
  if (tag.length === 0 || tag.length > MAX_TAG_LENGTH) return false
  for (let i = 0; i < tag.length; i++) {
    const c = tag.charCodeAt(i)
    if (c < 0x20 || c > 0x7e || c === 0x7c) return false
  }
  return true
}

/** Whether position `at` (where the prefix was found) starts the message part of the line. */
function isMessageStart(text: string, at: number): boolean {
  if (at === 0) return true
  // /dev/kmsg: "PRIO,SEQ,USEC,FLAGS[,KEY=VALUE…];MESSAGE"; the first ";" ends the header.
  const c0 = text.charCodeAt(0)
  if (c0 >= 48 && c0 <= 57 && text.charCodeAt(at - 1) === 59) {
    for (let i = 1; i < at - 1; i++) {
      const c = text.charCodeAt(i)
      if (c === 59 || c === 32) return false
    }
    return true
  }
  // syslog: "… kernel: PREFIX" or "… kernel: [ 1234.567890] PREFIX"
  if (at >= KERNEL_TAG.length && text.startsWith(KERNEL_TAG, at - KERNEL_TAG.length)) return true
  if (text.charCodeAt(at - 1) !== 32 || text.charCodeAt(at - 2) !== 93) return false
  const open = text.lastIndexOf('[', at - 2)
  if (open < KERNEL_TAG.length) return false
  for (let i = open + 1; i < at - 2; i++) {
    const c = text.charCodeAt(i)
    if (c !== 32 && c !== 46 && (c < 48 || c > 57)) return false
  }
  return text.startsWith(KERNEL_TAG, open - KERNEL_TAG.length)
}

function parseFields(text: string, start: number): PacketLog | undefined {
  const n = text.length
  let srcText: string | undefined
  let dstText: string | undefined
  let protoText: string | undefined
  let iface: string | undefined
  let dpt = -1
  let spt = -1
  let i = start
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 32) {
      i++
      continue
    }
    if (c === 91) break // "[": the quoted packet of an ICMP error
    let end = text.indexOf(' ', i)
    if (end === -1) end = n
    if (c === 83) { // S
      if (srcText === undefined && text.startsWith('SRC=', i)) srcText = text.slice(i + 4, end)
      else if (spt === -1 && text.startsWith('SPT=', i)) {
        spt = readPort(text, i + 4, end)
        if (spt < 0) return undefined
      }
    } else if (c === 68) { // D
      if (dstText === undefined && text.startsWith('DST=', i)) dstText = text.slice(i + 4, end)
      else if (text.startsWith('DPT=', i)) {
        dpt = readPort(text, i + 4, end)
        if (dpt < 0) return undefined
        break // the fields after DPT (WINDOW, RES, flags, URGP) are not needed
      }
    } else if (c === 80) { // P
      if (protoText === undefined && text.startsWith('PROTO=', i)) protoText = text.slice(i + 6, end)
    } else if (c === 73) { // I
      if (iface === undefined && text.startsWith('IN=', i)) iface = text.slice(i + 3, end)
    }
    i = end + 1
  }
  if (srcText === undefined || protoText === undefined || !isProtoToken(protoText)) return undefined
  const src = addressOrUndefined(srcText)
  if (src === undefined) return undefined
  let dst: Address | undefined
  if (dstText !== undefined) {
    dst = addressOrUndefined(dstText)
    if (dst === undefined) return undefined
  }
  const out: {-readonly [K in keyof PacketLog]: PacketLog[K]} = {proto: protoName(protoText), src}
  if (dst !== undefined) out.dst = dst
  if (dpt >= 0) out.dpt = dpt
  if (spt >= 0) out.spt = spt
  if (iface) out.in = iface
  return out
}

/** A decimal port 0–65535 in text[from, to), or -1. */
function readPort(text: string, from: number, to: number): number {
  if (to <= from || to - from > 5) return -1
  let v = 0
  for (let i = from; i < to; i++) {
    const d = text.charCodeAt(i) - 48
    if (d < 0 || d > 9) return -1
    v = v * 10 + d
  }
  return v > 65_535 ? -1 : v
}

function isProtoToken(s: string): boolean {
  if (s.length === 0 || s.length > 16) return false
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (!((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122))) return false
  }
  return true
}

function protoName(s: string): string {
  return PROTO_NAMES.get(s) ?? s.toLowerCase()
}

function addressOrUndefined(text: string): Address | undefined {
  if (text.length === 0 || text.length > 45) return undefined
  try {
    return parseAddress(text)
  } catch {
    return undefined
  }
}
