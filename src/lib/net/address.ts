// Own parsers instead of ipaddr.js: ipaddr.js 2.x accepts zone ids ("fe80::1%eth0"), leading zeros and
// short IPv4 forms, which must be refused here, and cannot say which part of a text is wrong. It stays
// as the reference that test/unit/net/address.test.ts checks these parsers against.
import {InvalidValueError} from '../errors.js'

/** IP family: 4 or 6. */
export type Family = 4 | 6

/**
 * One IP address. `text` is canonical: IPv4 as a dotted quad without leading zeros, IPv6 as RFC 5952
 * (lower-case, longest run of zero groups compressed). IPv4-mapped IPv6 addresses are IPv4 addresses.
 */
export interface Address {
  readonly kind: 'address'
  readonly family: Family
  readonly text: string
}

/** A CIDR network with its host bits zeroed; `text` is `"<address.text>/<prefix>"`, e.g. `"2001:db8::/64"`. */
export interface Network {
  readonly kind: 'network'
  readonly family: Family
  readonly prefix: number
  readonly address: Address
  readonly text: string
}

/** What users may type where an address or a network is accepted. */
export type Target = Address | Network

/** Largest prefix length of each family. */
export const MAX_PREFIX = {4: 32, 6: 128} as const

// Addresses are plain objects with only the public fields, so that JSON output, deep equality and objects
// built by hand all behave the same; the bits are derived from `text` when masking (~20 ns for IPv4).
// They are not frozen: freezing costs more than parsing (~150 ns per object) and `readonly` already guards.

/**
 * Parses one IP address, after trimming white space. IPv4 must be a strict dotted quad (no leading zeros,
 * hex or short forms); IPv6 may use any RFC 4291 form, and IPv4-mapped forms (`::ffff:1.2.3.4`) become the
 * IPv4 address. Zone ids, brackets, ports and prefixes are refused.
 * @throws InvalidValueError naming the text and the reason, with a hint.
 */
export function parseAddress(text: string): Address {
  if (typeof text !== 'string') throw notText(text, 'IP address')
  // Fast path: a canonical IPv4 address is its own canonical text (this is what 1M-entry loads look like).
  if (fastIPv4(text) >= 0) return {kind: 'address', family: 4, text}
  if (fastIPv6(text, scratch)) {
    if (isMapped(scratch)) return v4Address(((scratch[6] << 16) | scratch[7]) >>> 0)
    return {kind: 'address', family: 6, text: formatIPv6(scratch)}
  }
  const s = text.trim()
  const raw = parseRaw(s, true)
  if (raw instanceof Problem) throw invalid(text, 'IP address', raw)
  return addressOfRaw(raw)
}

/**
 * Parses a CIDR network (`203.0.113.0/24`, `2001:db8::/32`) after trimming white space. Host bits are zeroed
 * (`203.0.113.7/24` is `203.0.113.0/24`); a bare address is a host network (/32 or /128); an IPv4-mapped
 * network with a prefix of 96 or more (`::ffff:192.0.2.0/120`) is the IPv4 network (`192.0.2.0/24`).
 * @throws InvalidValueError naming the text and the reason, with a hint.
 */
export function parseNetwork(text: string): Network {
  if (typeof text !== 'string') throw notText(text, 'network')
  const s = text.trim()
  const slash = s.indexOf('/')
  if (slash === -1) {
    const raw = parseRaw(s, false)
    if (raw instanceof Problem) throw invalid(text, 'network', raw)
    return toNetwork(addressOfRaw(raw))
  }
  const addrPart = s.slice(0, slash)
  const prefixPart = s.slice(slash + 1)
  const fail = (reason: string, hint: string): InvalidValueError => invalid(text, 'network', new Problem(reason, hint))
  const prefixHint = 'Write the prefix length as a decimal number after "/", e.g. 203.0.113.0/24 or 2001:db8::/64.'
  if (prefixPart.includes('/')) throw fail('it has more than one "/"', prefixHint)
  if (prefixPart === '') throw fail('the prefix length after "/" is missing', prefixHint)
  if (!/^[0-9]+$/.test(prefixPart)) throw fail(`prefix length ${quote(prefixPart)} is not a decimal number`, prefixHint)
  if (prefixPart.length > 1 && prefixPart.charCodeAt(0) === 48) {
    throw fail(`prefix length ${quote(prefixPart)} has a leading zero`, `Write it as /${Number(prefixPart)}.`)
  }
  const raw = parseRaw(addrPart, false)
  if (raw instanceof Problem) throw invalid(text, 'network', raw)
  const prefix = prefixPart.length > 3 ? Number.POSITIVE_INFINITY : Number(prefixPart)
  if (raw.family === 4) {
    if (prefix > 32) throw fail(`prefix length ${prefixPart} is out of range for IPv4 (0–32)`, 'Use a prefix length from 0 to 32.')
    return networkV4(raw.bits, prefix)
  }
  if (prefix > 128) throw fail(`prefix length ${prefixPart} is out of range for IPv6 (0–128)`, 'Use a prefix length from 0 to 128.')
  if (prefix >= 96 && isMapped(raw.groups)) return networkV4(((raw.groups[6] << 16) | raw.groups[7]) >>> 0, prefix - 96)
  return networkV6(groupsToBigInt(raw.groups), prefix)
}

/**
 * Parses an address (text without "/") or a network (text with "/").
 * @throws InvalidValueError naming the text and the reason, with a hint.
 */
export function parseTarget(text: string): Target {
  if (typeof text !== 'string') throw notText(text, 'IP address or network')
  return text.includes('/') ? parseNetwork(text) : parseAddress(text)
}

/** True when the target is a single address rather than a network. */
export function isAddress(t: Target): t is Address {
  return t.kind === 'address'
}

/** Returns a network unchanged and turns an address into its host network (/32 or /128). */
export function toNetwork(t: Target): Network {
  if (t.kind === 'network') return t
  const prefix = MAX_PREFIX[t.family]
  return {kind: 'network', family: t.family, prefix, address: t, text: `${t.text}/${prefix}`}
}

/**
 * The network of the given prefix length that holds the address: `prefixV6` for IPv6 (e.g. 64 to treat a
 * whole /64 as one offender) and `prefixV4` (default 32, the address itself) for IPv4.
 * @throws InvalidValueError when a prefix length is not an integer in range for its family.
 */
export function groupPrefix(addr: Address, prefixV6: number, prefixV4 = 32): Network {
  if (addr.family === 4) return networkV4(bitsV4(addr), checkPrefix(prefixV4, 4))
  return networkV6(bitsV6(addr), checkPrefix(prefixV6, 6))
}

/** True when the address is inside the network (same family, equal in the first `prefix` bits). */
export function containsAddress(net: Network, addr: Address): boolean {
  if (net.family !== addr.family) return false
  if (addr.family === 4) {
    const mask = MASK_V4[net.prefix]
    return ((bitsV4(addr) & mask) >>> 0) === ((bitsV4(net.address) & mask) >>> 0)
  }
  const mask = maskV6(net.prefix)
  return (bitsV6(addr) & mask) === (bitsV6(net.address) & mask)
}

// ---- internals shared with the other files of this folder (not exported from index.ts) ----

/** Netmasks by prefix length as unsigned 32-bit numbers; `MASK_V4[24]` is 0xffffff00. */
export const MASK_V4: readonly number[] = Array.from({length: 33}, (_, p) => (p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0))

const ALL_V6 = (1n << 128n) - 1n
const MASKS_V6: readonly bigint[] = Array.from({length: 129}, (_, p) => ALL_V6 ^ ((1n << BigInt(128 - p)) - 1n))

/** The IPv6 netmask of a prefix length (0–128) as a 128-bit bigint. */
export function maskV6(prefix: number): bigint {
  return MASKS_V6[prefix]
}

/** The 32 bits of an IPv4 address as an unsigned number. Throws InvalidValueError if `text` is not IPv4. */
export function bitsV4(addr: Address): number {
  const fast = fastIPv4(addr.text)
  if (fast >= 0) return fast
  const raw = parseRaw(addr.text.trim(), false)
  if (raw instanceof Problem) throw invalid(addr.text, 'IP address', raw)
  if (raw.family === 4) return raw.bits
  if (isMapped(raw.groups)) return ((raw.groups[6] << 16) | raw.groups[7]) >>> 0
  throw invalid(addr.text, 'IPv4 address', new Problem('it is an IPv6 address', 'Pass an IPv4 address.'))
}

/** The 128 bits of an IPv6 address as a bigint. Throws InvalidValueError if `text` is not IPv6. */
export function bitsV6(addr: Address): bigint {
  const groups = parseIPv6Groups(addr.text)
  if (groups instanceof Problem) throw invalid(addr.text, 'IPv6 address', groups)
  return groupsToBigInt(groups)
}

/** The IPv4 network of the given (0–32) prefix holding `bits`, host bits zeroed. */
export function networkV4(bits: number, prefix: number): Network {
  const address = v4Address((bits & MASK_V4[prefix]) >>> 0)
  return {kind: 'network', family: 4, prefix, address, text: `${address.text}/${prefix}`}
}

/** The IPv6 network of the given (0–128) prefix holding `bits`, host bits zeroed. */
export function networkV6(bits: bigint, prefix: number): Network {
  const address: Address = {kind: 'address', family: 6, text: formatIPv6(bigIntToGroups(bits & MASKS_V6[prefix]))}
  return {kind: 'network', family: 6, prefix, address, text: `${address.text}/${prefix}`}
}

/** Formats eight 16-bit groups as RFC 5952 text: lower-case, no leading zeros, longest zero run (≥ 2) as "::". */
export function formatIPv6(groups: ArrayLike<number>): string {
  let bestStart = -1
  let bestLen = 1 // RFC 5952 4.2.2: a single zero group is not compressed
  let runStart = -1
  for (let i = 0; i < 8; i++) {
    if (groups[i] !== 0) {
      runStart = -1
      continue
    }
    if (runStart < 0) runStart = i
    // Strictly longer: on a tie the first run wins (RFC 5952 4.2.3).
    if (i - runStart + 1 > bestLen) {
      bestLen = i - runStart + 1
      bestStart = runStart
    }
  }
  let out = ''
  if (bestStart < 0) {
    for (let i = 0; i < 8; i++) out += i === 0 ? groups[i].toString(16) : `:${groups[i].toString(16)}`
    return out
  }
  for (let i = 0; i < bestStart; i++) out += i === 0 ? groups[i].toString(16) : `:${groups[i].toString(16)}`
  out += '::'
  for (let i = bestStart + bestLen; i < 8; i++) out += i === bestStart + bestLen ? groups[i].toString(16) : `:${groups[i].toString(16)}`
  return out
}

/**
 * Parses IPv6 text made of hex groups and at most one "::" in one pass into `out` (8 groups); returns
 * false for anything else (embedded IPv4, zone ids, errors), which the explaining parser then handles.
 */
function fastIPv6(s: string, out: number[]): boolean {
  const len = s.length
  if (len < 2 || len > 39) return false
  let i = 0
  let n = 0
  let dc = -1 // group index where "::" stands
  if (s.charCodeAt(0) === 58) {
    if (s.charCodeAt(1) !== 58) return false
    dc = 0
    i = 2
  }
  while (i < len) {
    let v = 0
    let digits = 0
    let c = 0
    while (i < len) {
      c = s.charCodeAt(i)
      let h: number
      if (c >= 48 && c <= 57) h = c - 48
      else if (c >= 97 && c <= 102) h = c - 87
      else if (c >= 65 && c <= 70) h = c - 55
      else break
      v = v * 16 + h
      digits++
      i++
    }
    if (digits === 0 || digits > 4 || n === 8) return false
    out[n++] = v
    if (i === len) break
    if (c !== 58) return false
    i++
    if (i === len) return false // a single ":" at the end
    if (s.charCodeAt(i) === 58) {
      if (dc !== -1) return false
      dc = n
      i++
    }
  }
  if (dc === -1) return n === 8
  if (n > 7) return false
  const moved = n - dc
  for (let k = 0; k < moved; k++) out[7 - k] = out[n - 1 - k]
  for (let k = dc; k < 8 - moved; k++) out[k] = 0
  return true
}

/**
 * Parses a strict canonical dotted quad with a char loop; returns the unsigned 32-bit value, or -1 for
 * anything else (leading zeros, white space, short forms), which the slow path then explains.
 */
export function fastIPv4(s: string): number {
  const n = s.length
  if (n < 7 || n > 15) return -1
  let value = 0
  let octet = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i)
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1
      value = value * 256 + octet // multiply, not shift: stays unsigned past 2^31
      octet = 0
      digits = 0
      dots++
      continue
    }
    const d = c - 48
    if (d < 0 || d > 9) return -1
    if (digits === 1 && octet === 0) return -1 // leading zero
    octet = octet * 10 + d
    if (octet > 255) return -1
    digits++
  }
  if (digits === 0 || dots !== 3) return -1
  return value * 256 + octet
}

/** Formats an unsigned 32-bit value as a dotted quad. */
export function formatIPv4(bits: number): string {
  return `${bits >>> 24}.${(bits >>> 16) & 255}.${(bits >>> 8) & 255}.${bits & 255}`
}

/** Why a text is not valid, and what to do about it. */
export class Problem {
  constructor(readonly reason: string, readonly hint: string) {}
}

/** Quotes user text for a message: JSON escaping shows white space and control characters; long text is cut. */
export function quote(text: string): string {
  return JSON.stringify(text.length > 100 ? `${text.slice(0, 100)}…` : text)
}

/** The error for a text that is not a valid `what`: `"<text>" is not a valid <what>: <reason>`. */
export function invalid(text: string, what: string, problem: Problem): InvalidValueError {
  return new InvalidValueError(`${quote(text)} is not a valid ${what}: ${problem.reason}`, problem.hint)
}

/** The error for a value that is not a string at all (e.g. a number in a config file). */
export function notText(value: unknown, what: string): InvalidValueError {
  const shown = typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value
  return new InvalidValueError(`${shown} is not a valid ${what}: expected text, got ${typeof value}`,
    `Write the ${what} as a quoted string.`)
}

// Groups of the IPv6 fast path in parseAddress(); used synchronously, so one buffer is enough.
const scratch = new Array<number>(8).fill(0)

type Raw = {readonly family: 4; readonly bits: number} | {readonly family: 6; readonly groups: readonly number[]}

const V4_HINT = 'Write IPv4 addresses as four decimal numbers 0–255 separated by dots, e.g. 203.0.113.7.'
const V6_HINT = 'Write IPv6 addresses as up to eight groups of 1–4 hex digits separated by ":", with "::" for one run of zero groups, e.g. 2001:db8::1.'

function v4Address(bits: number): Address {
  return {kind: 'address', family: 4, text: formatIPv4(bits)}
}

function addressOfRaw(raw: Raw): Address {
  if (raw.family === 4) return v4Address(raw.bits)
  if (isMapped(raw.groups)) return v4Address(((raw.groups[6] << 16) | raw.groups[7]) >>> 0)
  return {kind: 'address', family: 6, text: formatIPv6(raw.groups)}
}

function isMapped(g: readonly number[]): boolean {
  return g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff
}

function groupsToBigInt(g: readonly number[]): bigint {
  return (BigInt(((g[0] << 16) | g[1]) >>> 0) << 96n) | (BigInt(((g[2] << 16) | g[3]) >>> 0) << 64n)
    | (BigInt(((g[4] << 16) | g[5]) >>> 0) << 32n) | BigInt(((g[6] << 16) | g[7]) >>> 0)
}

function bigIntToGroups(v: bigint): number[] {
  const g = new Array<number>(8)
  for (let i = 7; i >= 0; i--) {
    g[i] = Number(v & 0xffffn)
    v >>= 16n
  }
  return g
}

function checkPrefix(prefix: number, family: Family): number {
  const max = MAX_PREFIX[family]
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max) {
    throw new InvalidValueError(`prefix length ${String(prefix)} is out of range for IPv${family} (0–${max})`,
      `Use an integer prefix length from 0 to ${max}.`)
  }
  return prefix
}

/**
 * Parses trimmed text to IPv4 bits or IPv6 groups (mapped forms are left to the caller), or explains why
 * it is not an address. `single` is true when a network ("/") is not acceptable.
 */
function parseRaw(s: string, single: boolean): Raw | Problem {
  const fast = fastIPv4(s)
  if (fast >= 0) return {family: 4, bits: fast}
  if (s === '') return new Problem('the text is empty', 'Give an IPv4 address such as 203.0.113.7 or an IPv6 address such as 2001:db8::1.')
  const percent = s.indexOf('%')
  if (percent !== -1) {
    return new Problem(`zone ids (${quote(s.slice(percent))}) are not supported`,
      `Remove the zone id: write ${s.slice(0, percent)} (firewall rules do not depend on the interface).`)
  }
  if (s.charCodeAt(0) === 91) {
    const close = s.indexOf(']')
    const inner = close === -1 ? s.slice(1) : s.slice(1, close)
    return new Problem('brackets are only used in URLs and host:port pairs', `Write it without brackets: ${inner}.`)
  }
  if (single && s.includes('/')) {
    return new Problem('it is a network ("/" and a prefix length), not a single address',
      `Give a single address such as ${s.slice(0, s.indexOf('/'))}, or use a command or setting that accepts networks.`)
  }
  if (/^[0-9]{1,3}(\.[0-9]{1,3}){3}:[0-9]*$/.test(s)) {
    const colon = s.indexOf(':')
    return new Problem(`it has a port (${quote(s.slice(colon))})`, `Write the address without the port: ${s.slice(0, colon)}.`)
  }
  if (s.includes(':')) {
    const groups = parseIPv6Groups(s)
    return groups instanceof Problem ? groups : {family: 6, groups}
  }
  if (/^[0-9.]/.test(s)) return ipv4Problem(s) ?? new Problem('it is not an IPv4 address', V4_HINT)
  return new Problem('it is neither an IPv4 nor an IPv6 address',
    'Give a numeric address such as 203.0.113.7 or 2001:db8::1; host names are not accepted here.')
}

/** Explains why text with dots is not a strict dotted quad (undefined if it is one). */
function ipv4Problem(s: string): Problem | undefined {
  const parts = s.split('.')
  if (parts.length !== 4) return new Problem(`expected 4 dot-separated octets, found ${parts.length}`, V4_HINT)
  let leadingZero: string | undefined
  for (let i = 0; i < 4; i++) {
    const p = parts[i]
    if (p === '') return new Problem(`octet ${i + 1} is empty`, V4_HINT)
    if (/^0x/i.test(p)) return new Problem(`octet ${quote(p)} is hexadecimal`, V4_HINT)
    if (!/^[0-9]+$/.test(p)) return new Problem(`octet ${quote(p)} is not a decimal number`, V4_HINT)
    const n = Number(p)
    if (n > 255) return new Problem(`octet ${p.length > 12 ? `${i + 1} (${p.length} digits)` : String(n)} is out of range (0–255)`, V4_HINT)
    if (p.length > 1 && p.charCodeAt(0) === 48) leadingZero ??= p
  }
  if (leadingZero !== undefined) {
    // inet_aton() reads "010" as octal 8, so a leading zero is ambiguous: refuse rather than guess.
    return new Problem(`octet ${quote(leadingZero)} has a leading zero`,
      `Write ${parts.map((p) => String(Number(p))).join('.')} if that is what you mean; leading zeros are ambiguous (some tools read them as octal).`)
  }
  return undefined
}

/** Parses IPv6 text (no zone id, no brackets) to eight 16-bit groups, or explains why it cannot. */
function parseIPv6Groups(s: string): number[] | Problem {
  const fast = new Array<number>(8)
  if (fastIPv6(s, fast)) return fast
  if (s.length > 45) return new Problem(`it is too long (${s.length} characters) for an IPv6 address`, V6_HINT)
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const ok = (c >= 48 && c <= 58) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102) || c === 46
    if (!ok) return new Problem(`unexpected character ${quote(s[i])}`, V6_HINT)
  }
  if (s.includes(':::')) return new Problem('":::" is not allowed', V6_HINT)
  const dc = s.indexOf('::')
  if (dc !== -1 && s.includes('::', dc + 1)) return new Problem('"::" may appear only once', V6_HINT)
  if (dc !== 0 && s.charCodeAt(0) === 58) return new Problem('it starts with a single ":"', V6_HINT)
  if (dc !== s.length - 2 && s.charCodeAt(s.length - 1) === 58) return new Problem('it ends with a single ":"', V6_HINT)
  const head = dc === -1 ? s : s.slice(0, dc)
  const tail = dc === -1 ? '' : s.slice(dc + 2)
  const headParts = head === '' ? [] : head.split(':')
  const tailParts = tail === '' ? [] : tail.split(':')
  const parts = [...headParts, ...tailParts]
  const lastIsText = dc === -1 || tail !== '' // the last part is the text's end, not before "::"
  let v4Bits: number | undefined
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]
    if (!p.includes('.')) continue
    if (i !== parts.length - 1 || !lastIsText) {
      return new Problem(`the embedded IPv4 part ${quote(p)} may only come last`, V6_HINT)
    }
    const bits = fastIPv4(p)
    if (bits < 0) {
      const problem = ipv4Problem(p) ?? new Problem('it is not an IPv4 address', V4_HINT)
      return new Problem(`embedded IPv4 part ${quote(p)}: ${problem.reason}`, problem.hint)
    }
    v4Bits = bits
  }
  const count = parts.length + (v4Bits === undefined ? 0 : 1)
  if (dc !== -1 && count > 7) return new Problem(`it has ${count} groups and "::"; with "::" at most 7 are allowed`, V6_HINT)
  if (dc === -1 && count !== 8) return new Problem(`expected 8 groups, found ${count}`, V6_HINT)
  const groups = new Array<number>(8).fill(0)
  const groupValue = (p: string): number | Problem => {
    if (p === '') return new Problem('it has an empty group', V6_HINT)
    if (p.length > 4) return new Problem(`group ${quote(p)} has more than 4 hex digits`, V6_HINT)
    return parseInt(p, 16)
  }
  const hexHead = v4Bits !== undefined && dc === -1 ? headParts.slice(0, -1) : headParts
  const hexTail = v4Bits !== undefined && dc !== -1 ? tailParts.slice(0, -1) : tailParts
  for (let i = 0; i < hexHead.length; i++) {
    const v = groupValue(hexHead[i])
    if (v instanceof Problem) return v
    groups[i] = v
  }
  const tailEnd = v4Bits === undefined ? 8 : 6
  for (let i = 0; i < hexTail.length; i++) {
    const v = groupValue(hexTail[i])
    if (v instanceof Problem) return v
    groups[tailEnd - hexTail.length + i] = v
  }
  if (v4Bits !== undefined) {
    groups[6] = v4Bits >>> 16
    groups[7] = v4Bits & 0xffff
  }
  return groups
}

/**
 * Shortest prefix diswall takes for an allow or never-ban entry without being forced: a /8 is a whole
 * RIR allocation, a /16 of IPv6 more than any single organisation holds. Shorter ones (`0.0.0.0/1` and
 * `128.0.0.0/1` together are everyone) turn filtering off by accident.
 */
export const MIN_BROAD_PREFIX = {4: 8, 6: 16} as const

/**
 * Why `target` is too broad to allow or exempt from bans without `--force`, or undefined (pure). E.g.
 * `"0.0.0.0/1" covers 1/2 of all IPv4 addresses`.
 */
export function broadNetworkReason(target: Target): string | undefined {
  if (isAddress(target) || target.prefix >= MIN_BROAD_PREFIX[target.family]) return undefined
  const share = target.prefix === 0 ? 'all' : `1/${2 ** target.prefix} of all`
  return `"${target.text}" covers ${share} IPv${target.family} addresses (shorter than /${MIN_BROAD_PREFIX[target.family]})`
}
