/**
 * The payloads of diswall's NATS messages, in the original DisWall's text forms, and the `Diswall-*`
 * headers that carry what old peers do not know (old peers ignore headers):
 *
 * | where | payload |
 * |---|---|
 * | `diswall.blacklist.C.add.H` | `IP` or `IP\|TAG` (TAG ≤ 25 characters when we send it) |
 * | `diswall.whitelist.C.add.H` | `NET` or `NET\|COMMENT` |
 * | `diswall.*.C.del.H` | `NET` (a trailing `\|…` is accepted and ignored) |
 * | `diswall.blacklist.new` | `IP\|SECS` |
 * | block init reply | lines `IP timeout SECS` (blank lines skipped) |
 * | allow init reply | lines `NET`, `NET comment "TEXT"` (and `NET timeout SECS`) |
 *
 * Every payload received is validated here: addresses through src/lib/net, sizes bounded, UTF-8
 * strict. A payload that fails yields a {@link Refusal} with a kind, never an entry; nothing throws.
 */
import type {Match, MsgHdrs} from 'nats'

import {InvalidValueError} from '../errors.js'
import {IPSET_MAX_TIMEOUT_SEC, parseTarget} from '../net/index.js'
import type {Target} from '../net/index.js'
import {natsLib} from './nats-lib.js'
import type {WireEntry, WireList} from './port.js'
import {isToken} from './subjects.js'

/** nats.js `IGNORE_CASE` (a const enum value; nats.js itself is loaded only when headers are made). */
const IGNORE_CASE = 2 as Match

function natsHeaders(): MsgHdrs {
  return natsLib().headers()
}

/** Largest live payload (`NET|COMMENT` is the longest form: ~45 + 1 + 255 bytes). */
export const MAX_LIVE_PAYLOAD_BYTES = 512

/** Largest line of an init reply. */
export const MAX_INIT_LINE_BYTES = 512

/** Longest tag we put in a payload: the original server refuses longer ones. The full reason goes in a header. */
export const PAYLOAD_TAG_MAX = 25

/** Longest tag we accept in a received payload. */
export const MAX_TAG_LENGTH = 64

/** Longest comment of an allow entry, in bytes (the ipset comment limit). */
export const MAX_COMMENT_BYTES = 255

/** Longest header value we accept. */
export const MAX_HEADER_BYTES = 256

/** The `Diswall-*` headers. */
export const HEADER = {
  /** The entry's lifetime in seconds. */
  timeout: 'Diswall-Timeout',
  /** Why the entry was banned, in full (the payload tag is cut at {@link PAYLOAD_TAG_MAX}). */
  reason: 'Diswall-Reason',
  /** The destination port that was probed. */
  port: 'Diswall-Port',
  /** Its protocol (`tcp`, `udp`, …). */
  protocol: 'Diswall-Protocol',
  /** The host that reported the entry (set by the server when it relays). */
  origin: 'Diswall-Origin',
  /** The server's sequence number of the change. */
  seq: 'Diswall-Seq',
  /** On an init request: "1" asks for the reply as several messages ended by an empty one. */
  stream: 'Diswall-Stream',
  /** On the empty message that ends a streamed init reply: how many entries were sent. */
  count: 'Diswall-Count',
  /** On a reply: why the server refused the request (a full list, a refused address, a rate limit). */
  error: 'Diswall-Error',
} as const

/** What is wrong with a received payload. */
export type RefusalKind =
  /** The subject is not one of ours or names an invalid account or host. */
  | 'subject'
  /** The subject names another account than the one we belong to. */
  | 'account'
  /** Larger than the bound of its form. */
  | 'oversized'
  /** Not valid UTF-8, or control characters. */
  | 'encoding'
  /** Nothing where an entry was expected. */
  | 'empty'
  /** Not a valid IP address or network. */
  | 'address'
  | 'tag'
  | 'comment'
  | 'timeout'
  /** A `Diswall-*` header with an invalid value. */
  | 'header'
  /** An init line that is not `TARGET [timeout SECS] [comment "TEXT"]`. */
  | 'syntax'

/** A payload (or line, or subject) that was refused. */
export interface Refusal {
  ok: false
  kind: RefusalKind
  /** What was wrong, for the log: never the whole payload. */
  reason: string
}

/** What the headers add to an entry beyond WireEntry. */
export interface WireMeta {
  port?: number
  protocol?: string
  seq?: number
}

/** A payload that decoded into an entry. */
export interface Decoded {
  ok: true
  entry: WireEntry
  meta: WireMeta
}

export type DecodeResult = Decoded | Refusal

/** Something with the headers' `get` (nats.js MsgHdrs); missing headers read as "". */
export interface HeaderReader {
  get(name: string, match?: Match): string
}

const utf8 = new TextDecoder('utf-8', {fatal: true})
const encoder = new TextEncoder()

const CONTROL = /[\u0000-\u001f\u007f]/u
/** Control characters but the line feed: an init message without any needs no check per line (1M lines: ~0.6 s). */
const CONTROL_BUT_LF = /[\u0000-\u0009\u000b-\u001f\u007f]/

function refuse(kind: RefusalKind, reason: string): Refusal {
  return {kind, ok: false, reason}
}

/** A short, printable excerpt of untrusted text for a refusal reason. */
function excerpt(text: string): string {
  const cut = text.length > 48 ? `${text.slice(0, 48)}…` : text
  return JSON.stringify(cut)
}

function decodeText(payload: Uint8Array | string, max: number): string | Refusal {
  if (typeof payload === 'string') {
    if (payload.length > max) return refuse('oversized', `${payload.length} characters (at most ${max})`)
    return payload
  }
  if (payload.byteLength > max) return refuse('oversized', `${payload.byteLength} bytes (at most ${max})`)
  try {
    return utf8.decode(payload)
  } catch {
    return refuse('encoding', 'not valid UTF-8')
  }
}

function target(text: string): Target | Refusal {
  try {
    return parseTarget(text)
  } catch (error) {
    if (error instanceof InvalidValueError) return refuse('address', `${excerpt(text)} is not an IP address or network`)
    throw error
  }
}

/** True for a tag we accept: 1–64 printable characters without "|". */
export function isValidTag(tag: string): boolean {
  return tag.length > 0 && tag.length <= MAX_TAG_LENGTH && !tag.includes('|') && !CONTROL.test(tag) && tag.trim() === tag
}

/** True for a comment we accept: at most 255 bytes, no control characters and no `"`. */
export function isValidComment(comment: string): boolean {
  return encoder.encode(comment).byteLength <= MAX_COMMENT_BYTES && !CONTROL.test(comment) && !comment.includes('"')
}

/** Parses seconds: a decimal integer ≥ 1; values above the ipset maximum are capped to it. */
function seconds(text: string): number | Refusal {
  if (!/^[0-9]{1,12}$/.test(text)) return refuse('timeout', `timeout ${excerpt(text)} is not a whole number of seconds`)
  const value = Number(text)
  if (value < 1) return refuse('timeout', 'timeout 0: an entry must expire after at least one second')
  return Math.min(value, IPSET_MAX_TIMEOUT_SEC)
}

/** Reads the `Diswall-*` headers into the entry and meta. */
function readHeaders(hdrs: HeaderReader | undefined, entry: WireEntry, meta: WireMeta): Refusal | undefined {
  if (hdrs === undefined) return undefined
  const get = (name: string): string | Refusal | undefined => {
    const value = hdrs.get(name, IGNORE_CASE)
    if (value === '' || value === undefined) return undefined
    if (value.length > MAX_HEADER_BYTES) return refuse('header', `${name} is longer than ${MAX_HEADER_BYTES} bytes`)
    if (CONTROL.test(value)) return refuse('header', `${name} holds control characters`)
    return value
  }
  const timeout = get(HEADER.timeout)
  if (typeof timeout === 'object') return timeout
  if (timeout !== undefined) {
    const secs = seconds(timeout)
    if (typeof secs === 'object') return refuse('header', `${HEADER.timeout}: ${secs.reason}`)
    entry.ttlSec = secs
  }
  const reason = get(HEADER.reason)
  if (typeof reason === 'object') return reason
  if (reason !== undefined) {
    if (reason.includes('|') || reason.trim() !== reason) return refuse('header', `${HEADER.reason} ${excerpt(reason)} is not a valid reason`)
    entry.tag = reason
  }
  const port = get(HEADER.port)
  if (typeof port === 'object') return port
  if (port !== undefined) {
    const n = /^[0-9]{1,5}$/.test(port) ? Number(port) : Number.NaN
    if (!(n >= 1 && n <= 65_535)) return refuse('header', `${HEADER.port} ${excerpt(port)} is not a port number`)
    meta.port = n
  }
  const protocol = get(HEADER.protocol)
  if (typeof protocol === 'object') return protocol
  if (protocol !== undefined) {
    if (!/^[a-z0-9-]{1,16}$/.test(protocol)) return refuse('header', `${HEADER.protocol} ${excerpt(protocol)} is not a protocol name`)
    meta.protocol = protocol
  }
  const origin = get(HEADER.origin)
  if (typeof origin === 'object') return origin
  if (origin !== undefined) {
    if (!isToken(origin)) return refuse('header', `${HEADER.origin} ${excerpt(origin)} is not a host name token`)
    entry.origin = origin
  }
  const seq = get(HEADER.seq)
  if (typeof seq === 'object') return seq
  if (seq !== undefined) {
    const n = /^[0-9]{1,15}$/.test(seq) ? Number(seq) : Number.NaN
    if (!Number.isSafeInteger(n)) return refuse('header', `${HEADER.seq} ${excerpt(seq)} is not a sequence number`)
    meta.seq = n
  }
  return undefined
}

/**
 * Decodes the payload of an add: block `IP` / `IP|TAG`, allow `NET` / `NET|COMMENT`, with the
 * `Diswall-*` headers (the reason header replaces the short payload tag).
 */
export function decodeAdd(list: WireList, payload: Uint8Array | string, hdrs?: HeaderReader): DecodeResult {
  const text = decodeText(payload, MAX_LIVE_PAYLOAD_BYTES)
  if (typeof text === 'object') return text
  if (text.trim() === '') return refuse('empty', 'empty payload')
  const bar = text.indexOf('|')
  const head = bar === -1 ? text : text.slice(0, bar)
  const rest = bar === -1 ? undefined : text.slice(bar + 1)
  if (CONTROL.test(head)) return refuse('encoding', 'control characters in the address')
  const t = target(head)
  if ('ok' in t) return t
  const entry: WireEntry = {target: t}
  if (rest !== undefined && rest !== '') {
    if (list === 'block') {
      if (!isValidTag(rest)) return refuse('tag', `tag ${excerpt(rest)} is not 1–${MAX_TAG_LENGTH} printable characters without "|"`)
      entry.tag = rest
    } else {
      if (!isValidComment(rest)) return refuse('comment', `comment ${excerpt(rest)} is over ${MAX_COMMENT_BYTES} bytes or holds control characters or '"'`)
      entry.comment = rest
    }
  }
  const meta: WireMeta = {}
  const bad = readHeaders(hdrs, entry, meta)
  if (bad) return bad
  return {entry, meta, ok: true}
}

/** Decodes the payload of a delete: `NET` (a trailing `|TAG` is accepted and ignored). */
export function decodeDel(payload: Uint8Array | string, hdrs?: HeaderReader): DecodeResult {
  const text = decodeText(payload, MAX_LIVE_PAYLOAD_BYTES)
  if (typeof text === 'object') return text
  if (text.trim() === '') return refuse('empty', 'empty payload')
  const bar = text.indexOf('|')
  const head = bar === -1 ? text : text.slice(0, bar)
  if (CONTROL.test(text)) return refuse('encoding', 'control characters in the payload')
  const t = target(head)
  if ('ok' in t) return t
  const entry: WireEntry = {target: t}
  const meta: WireMeta = {}
  const bad = readHeaders(hdrs, entry, meta)
  if (bad) return bad
  delete entry.ttlSec
  return {entry, meta, ok: true}
}

/** Decodes the server's broadcast `IP|SECS` (a bare `IP` takes the receiver's default timeout). */
export function decodeGlobal(payload: Uint8Array | string, hdrs?: HeaderReader): DecodeResult {
  const text = decodeText(payload, MAX_LIVE_PAYLOAD_BYTES)
  if (typeof text === 'object') return text
  if (text.trim() === '') return refuse('empty', 'empty payload')
  if (CONTROL.test(text)) return refuse('encoding', 'control characters in the payload')
  const bar = text.indexOf('|')
  const t = target(bar === -1 ? text : text.slice(0, bar))
  if ('ok' in t) return t
  const entry: WireEntry = {target: t}
  if (bar !== -1) {
    const secs = seconds(text.slice(bar + 1))
    if (typeof secs === 'object') return secs
    entry.ttlSec = secs
  }
  const meta: WireMeta = {}
  const bad = readHeaders(hdrs, entry, meta)
  if (bad) return bad
  return {entry, meta, ok: true}
}

/**
 * Decodes one line of an init reply: block `IP timeout SECS` (or a bare `IP`), allow `NET`,
 * `NET comment "TEXT"`, `NET timeout SECS`. Returns undefined for a blank line (the original server
 * sends some).
 */
export function decodeInitLine(list: WireList, line: string): DecodeResult | undefined {
  return decodeLine(list, line, true)
}

/** decodeInitLine(), with the control-character check left to the caller when it checked the whole message. */
function decodeLine(list: WireList, line: string, checkControl: boolean): DecodeResult | undefined {
  if (line.length > MAX_INIT_LINE_BYTES) return refuse('oversized', `init line of ${line.length} characters (at most ${MAX_INIT_LINE_BYTES})`)
  const trimmed = line.endsWith('\r') ? line.slice(0, -1) : line
  if (trimmed.trim() === '') return undefined
  if (checkControl && CONTROL.test(trimmed)) return refuse('encoding', 'control characters in an init line')
  let rest = trimmed.trim()
  const space = rest.indexOf(' ')
  const t = target(space === -1 ? rest : rest.slice(0, space))
  if ('ok' in t) return t
  const entry: WireEntry = {target: t}
  rest = space === -1 ? '' : rest.slice(space + 1).trimStart()
  while (rest !== '') {
    if (rest.startsWith('timeout ') && entry.ttlSec === undefined) {
      rest = rest.slice(8).trimStart()
      const end = rest.indexOf(' ')
      const secs = seconds(end === -1 ? rest : rest.slice(0, end))
      if (typeof secs === 'object') return secs
      entry.ttlSec = secs
      rest = end === -1 ? '' : rest.slice(end + 1).trimStart()
    } else if (list === 'allow' && rest.startsWith('comment "') && entry.comment === undefined) {
      const close = rest.indexOf('"', 9)
      if (close === -1) return refuse('syntax', 'comment without a closing quote')
      const comment = rest.slice(9, close)
      if (!isValidComment(comment)) return refuse('comment', `comment ${excerpt(comment)} is over ${MAX_COMMENT_BYTES} bytes`)
      entry.comment = comment
      rest = rest.slice(close + 1).trimStart()
    } else {
      return refuse('syntax', `unexpected ${excerpt(rest)} after the address (expected "timeout SECS"${list === 'allow' ? ' or comment "TEXT"' : ''})`)
    }
  }
  return {entry, meta: {}, ok: true}
}

/**
 * Decodes one message of an init reply, line by line, without copying it into an array. Blank lines
 * are skipped; a message that is not UTF-8 yields one refusal.
 */
export function* decodeInitChunk(list: WireList, payload: Uint8Array | string): Generator<DecodeResult> {
  let text: string
  if (typeof payload === 'string') text = payload
  else {
    try {
      text = utf8.decode(payload)
    } catch {
      yield refuse('encoding', 'init reply is not valid UTF-8')
      return
    }
  }
  const checkControl = CONTROL_BUT_LF.test(text)
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end === -1) end = text.length
    if (end - start > MAX_INIT_LINE_BYTES) yield refuse('oversized', `init line of ${end - start} characters (at most ${MAX_INIT_LINE_BYTES})`)
    else {
      const result = decodeLine(list, text.slice(start, end), checkControl)
      if (result !== undefined) yield result
    }
    start = end + 1
  }
}

// ---- encoding ----

/** The tag as it goes into a payload: cut to {@link PAYLOAD_TAG_MAX}, "|" and control characters removed. */
export function payloadTag(tag: string): string {

  return tag.replaceAll(/[|\u0000-\u001f\u007f]/gu, ' ').trim().slice(0, PAYLOAD_TAG_MAX).trim()
}

function safeComment(comment: string): string {

  let out = comment.replaceAll(/[\u0000-\u001f\u007f]/gu, ' ').replaceAll('"', "'")
  while (encoder.encode(out).byteLength > MAX_COMMENT_BYTES) out = out.slice(0, -1)
  return out
}

/** The payload of an add: block `IP|TAG` (or `IP`), allow `NET|COMMENT` (or `NET`). */
export function encodeAdd(list: WireList, entry: WireEntry): string {
  if (list === 'block') {
    const tag = entry.tag === undefined ? '' : payloadTag(entry.tag)
    return tag === '' ? entry.target.text : `${entry.target.text}|${tag}`
  }
  const comment = entry.comment === undefined ? '' : safeComment(entry.comment)
  return comment === '' ? entry.target.text : `${entry.target.text}|${comment}`
}

/** The payload of a delete: the address or network. */
export function encodeDel(entry: WireEntry): string {
  return entry.target.text
}

/** The payload of the server's broadcast: `IP|SECS` (bare `IP` without a timeout). */
export function encodeGlobal(entry: WireEntry): string {
  return entry.ttlSec === undefined ? entry.target.text : `${entry.target.text}|${Math.max(1, Math.min(Math.round(entry.ttlSec), IPSET_MAX_TIMEOUT_SEC))}`
}

/**
 * The `Diswall-*` headers of an entry: timeout, full reason, origin, and from `meta` the port, protocol
 * and server sequence. Returns undefined when there is nothing to say (no header block on the wire).
 */
export function entryHeaders(entry: WireEntry, meta: WireMeta = {}): MsgHdrs | undefined {
  const h = natsHeaders()
  let any = false
  const set = (name: string, value: string | number | undefined): void => {
    if (value === undefined) return
    h.set(name, String(value))
    any = true
  }
  if (entry.ttlSec !== undefined) set(HEADER.timeout, Math.max(1, Math.min(Math.round(entry.ttlSec), IPSET_MAX_TIMEOUT_SEC)))
  if (entry.tag !== undefined) {

    const reason = entry.tag.replaceAll(/[|\u0000-\u001f\u007f]/gu, ' ').trim().slice(0, MAX_HEADER_BYTES)
    if (reason !== '') set(HEADER.reason, reason)
  }
  if (entry.origin !== undefined && isToken(entry.origin)) set(HEADER.origin, entry.origin)
  set(HEADER.port, meta.port)
  set(HEADER.protocol, meta.protocol)
  set(HEADER.seq, meta.seq)
  return any ? h : undefined
}

/** The headers of an init request; `stream` asks for a reply in several messages ended by an empty one. */
export function initRequestHeaders(stream = true): MsgHdrs {
  const h = natsHeaders()
  if (stream) h.set(HEADER.stream, '1')
  return h
}

/** True when an init request asks for a streamed reply. */
export function wantsStream(hdrs: HeaderReader | undefined): boolean {
  return hdrs !== undefined && hdrs.get(HEADER.stream, IGNORE_CASE) === '1'
}

/**
 * The headers of each message of a streamed init reply but the last: `Diswall-Stream: 1`. Without
 * it a host takes the message for an original server's whole (one-message) answer and stops there.
 */
export function streamChunkHeaders(): MsgHdrs {
  const h = natsHeaders()
  h.set(HEADER.stream, '1')
  return h
}

/** The headers of the empty message that ends a streamed init reply. */
export function endOfStreamHeaders(count: number): MsgHdrs {
  const h = natsHeaders()
  h.set(HEADER.count, String(count))
  return h
}

/** The headers of a reply that refuses a request: `Diswall-Error: TEXT` (control characters removed, bounded). */
export function errorHeaders(reason: string): MsgHdrs {
  const h = natsHeaders()

  h.set(HEADER.error, reason.replaceAll(/[\u0000-\u001f\u007f]/gu, ' ').slice(0, MAX_HEADER_BYTES))
  return h
}

/** The entry count on the end of a streamed reply, or undefined when absent or invalid. */
export function streamCount(hdrs: HeaderReader | undefined): number | undefined {
  const value = hdrs?.get(HEADER.count, IGNORE_CASE) ?? ''
  if (!/^[0-9]{1,10}$/.test(value)) return undefined
  return Number(value)
}

/** One line of an init reply: block `IP timeout SECS`, allow `NET`, `NET timeout SECS`, `NET comment "TEXT"`. */
export function encodeInitLine(list: WireList, entry: WireEntry): string {
  let line = entry.target.text
  if (entry.ttlSec !== undefined) line += ` timeout ${Math.max(1, Math.min(Math.round(entry.ttlSec), IPSET_MAX_TIMEOUT_SEC))}`
  if (list === 'allow' && entry.comment !== undefined) {
    const comment = safeComment(entry.comment)
    if (comment !== '') line += ` comment "${comment}"`
  }
  return line
}

/**
 * Packs init lines into reply messages of at most `maxBytes` each (the connection's max payload), so
 * that a list of any size can be sent; the caller ends the stream with an empty message
 * ({@link endOfStreamHeaders}). Works on an async stream: only one message is held at a time.
 */
export async function* initReplyChunks(list: WireList, entries: AsyncIterable<WireEntry> | Iterable<WireEntry>,
  maxBytes: number): AsyncGenerator<Uint8Array> {
  const packer = new ChunkPacker(list, Math.max(maxBytes, MAX_INIT_LINE_BYTES + 1))
  if (Symbol.iterator in entries) {
    // A synchronous source (the server's store) is read without an await per entry: one microtask per
    // line cost about as much as encoding it.
    for (const entry of entries) {
      const chunk = packer.add(entry)
      if (chunk !== undefined) yield chunk
    }
  } else {
    for await (const entry of entries) {
      const chunk = packer.add(entry)
      if (chunk !== undefined) yield chunk
    }
  }
  const last = packer.end()
  if (last !== undefined) yield last
}

/** Packs init lines into messages of at most `limit` bytes. */
class ChunkPacker {
  private parts: string[] = []
  private size = 0

  constructor(private readonly list: WireList, private readonly limit: number) {}

  /** Adds one entry; returns the finished message when this line does not fit into it. */
  add(entry: WireEntry): Uint8Array | undefined {
    const line = `${encodeInitLine(this.list, entry)}\n`
    // Lines are ASCII except allow comments, whose UTF-8 size is counted.
    const bytes = this.list === 'allow' ? encoder.encode(line).byteLength : line.length
    let full: Uint8Array | undefined
    if (this.size + bytes > this.limit && this.parts.length > 0) full = this.end()
    this.parts.push(line)
    this.size += bytes
    return full
  }

  /** The message being packed, if it holds a line. */
  end(): Uint8Array | undefined {
    if (this.parts.length === 0) return undefined
    const chunk = encoder.encode(this.parts.join(''))
    this.parts = []
    this.size = 0
    return chunk
  }
}
