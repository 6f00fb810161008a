/**
 * Successful logins from wtmp, for auto-allowing the addresses that administrators log in from.
 *
 * Records are glibc's `struct utmp` on x86-64 and aarch64 (384 bytes, little-endian): ut_type int16 @0,
 * ut_pid int32 @4, ut_line char[32] @8, ut_id char[4] @40, ut_user char[32] @44, ut_host char[256] @76,
 * ut_exit @332, ut_session int32 @336, ut_tv {int32 tv_sec @340, int32 tv_usec @344},
 * ut_addr_v6 int32[4] @348 (network byte order), 20 unused bytes @364.
 */
import type {FileHandle} from 'node:fs/promises'

import {type Address, parseAddress} from '../../net/index.js'
import {followFile} from './follow.js'
import {HealthTracker, RunSet} from './internal.js'
import type {LogSource, RunHooks, SourceHealth} from './types.js'

/** Size of one wtmp record (glibc, 64-bit Linux). */
export const UTMP_RECORD_SIZE = 384

/** The default wtmp file. */
export const WTMP_PATH = '/var/log/wtmp'

/** Values of ut_type. */
export const UtmpType = {
  EMPTY: 0,
  RUN_LVL: 1,
  BOOT_TIME: 2,
  NEW_TIME: 3,
  OLD_TIME: 4,
  INIT_PROCESS: 5,
  LOGIN_PROCESS: 6,
  USER_PROCESS: 7,
  DEAD_PROCESS: 8,
  ACCOUNTING: 9,
} as const

/** One wtmp record, decoded. */
export interface WtmpRecord {
  /** ut_type (see {@link UtmpType}). */
  type: number
  pid: number
  /** Terminal (`pts/0`), without `/dev/`. */
  line: string
  /** ut_id: up to 4 characters. */
  id: string
  user: string
  /** Remote host as the login service wrote it: an address or a name, empty for local logins. */
  host: string
  /** Seconds since the epoch (tv_sec, read as unsigned so that it stays right past 2038). */
  timeSec: number
  timeUsec: number
  /** ut_addr_v6 as an address; undefined when all zero (a local login). */
  address?: Address
}

/** Offsets in a record. */
const OFF = {addr: 348, host: 76, id: 40, line: 8, pid: 4, tvSec: 340, tvUsec: 344, type: 0, user: 44} as const

/**
 * Decodes a wtmp file's bytes into records; a partial record at the end (still being written) is left
 * out. Pure.
 */
export function parseWtmp(bytes: Uint8Array): WtmpRecord[] {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const records: WtmpRecord[] = []
  for (let offset = 0; offset + UTMP_RECORD_SIZE <= buffer.length; offset += UTMP_RECORD_SIZE) {
    records.push(parseWtmpRecord(buffer, offset))
  }
  return records
}

/** Decodes the record at `offset` (needs 384 bytes there). Pure. */
export function parseWtmpRecord(buffer: Buffer, offset = 0): WtmpRecord {
  const host = cString(buffer, offset + OFF.host, 256)
  const address = wtmpAddress(buffer.subarray(offset + OFF.addr, offset + OFF.addr + 16), host)
  return {
    host,
    id: cString(buffer, offset + OFF.id, 4),
    line: cString(buffer, offset + OFF.line, 32),
    pid: buffer.readInt32LE(offset + OFF.pid),
    timeSec: buffer.readUInt32LE(offset + OFF.tvSec),
    timeUsec: buffer.readInt32LE(offset + OFF.tvUsec),
    type: buffer.readInt16LE(offset + OFF.type),
    user: cString(buffer, offset + OFF.user, 32),
    ...(address === undefined ? {} : {address}),
  }
}

/**
 * The address in ut_addr_v6 (16 bytes, network order). IPv4 is stored in the first word with the other
 * three zero; anything else is IPv6. Only the first word set is ambiguous (`2001:db8::` vs
 * `32.1.13.184`): it is IPv4 unless `host` spells that IPv6 address. Some tools (Symbiosis) took IPv4
 * whenever one particular word was set and turned `fe80::1` into `254.128.0.0`; here every word counts.
 * IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes the IPv4 address. Undefined when all zero. Pure.
 */
export function wtmpAddress(bytes: Uint8Array, host = ''): Address | undefined {
  if (bytes.length !== 16) throw new RangeError(`ut_addr_v6 has 16 bytes, not ${bytes.length}`)
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, 16)
  const words = [view.readUInt32BE(0), view.readUInt32BE(4), view.readUInt32BE(8), view.readUInt32BE(12)]
  if (words.every((w) => w === 0)) return undefined
  const v6 = parseAddress(Array.from({length: 8}, (_, i) => view.readUInt16BE(i * 2).toString(16)).join(':'))
  if (words[1] === 0 && words[2] === 0 && words[3] === 0) {
    if (hostAddress(host)?.text === v6.text && v6.family === 6) return v6
    return parseAddress(`${view[0]}.${view[1]}.${view[2]}.${view[3]}`)
  }
  return v6
}

function hostAddress(host: string): Address | undefined {
  try {
    return parseAddress(host)
  } catch {
    return undefined
  }
}

function cString(buffer: Buffer, offset: number, length: number): string {
  const end = buffer.indexOf(0, offset)
  return buffer.toString('utf8', offset, end < 0 || end > offset + length ? offset + length : end)
}

/** A successful remote login (USER_PROCESS with an address), as {@link WtmpSource} yields it. */
export interface WtmpLogin {
  user: string
  /** Terminal, e.g. `pts/0`. */
  line: string
  host: string
  address: Address
  pid: number
  /** Milliseconds since the epoch. */
  time: number
  /** Name of the source. */
  source: string
}

/** Options of {@link WtmpSource}. */
export interface WtmpSourceOptions {
  /** The wtmp file; /var/log/wtmp by default. */
  path?: string
  /** Name in the health and WtmpLogin.source; `wtmp` by default. */
  name?: string
  /** Read the records already in the file instead of starting at its end; false by default. */
  fromStart?: boolean
  /** Milliseconds between stat checks when fs.watch reports nothing; 1000 by default. */
  pollIntervalMs?: number
}

/**
 * New remote logins from wtmp: USER_PROCESS records with an address (local console logins and logouts
 * are left out). Follows the file like `tail -F` (monthly rotation by logrotate, truncation, a file that
 * appears later); starts at its end by default. The iteration throws the file system's error (EACCES).
 */
export class WtmpSource implements LogSource<WtmpLogin> {
  readonly name: string
  private readonly health_: HealthTracker
  private closed = false
  private readonly runs = new RunSet<WtmpLogin>()
  private readonly stop = new AbortController()

  constructor(private readonly options: WtmpSourceOptions = {}) {
    this.name = options.name ?? 'wtmp'
    this.health_ = new HealthTracker(this.name)
  }

  /** Starts a run (see {@link LogSource.start}); it begins when first pulled. */
  start(hooks: RunHooks = {}): AsyncGenerator<WtmpLogin> {
    return this.runs.start(() => this.run(hooks))
  }

  private async *run(hooks: RunHooks): AsyncGenerator<WtmpLogin> {
    if (this.closed) return
    const health = this.health_
    health.state = 'starting'
    // A record being written at the start is read once it is complete.
    const startPosition = async (size: number, _file: FileHandle): Promise<number> => size - (size % UTMP_RECORD_SIZE)
    let partial = Buffer.alloc(0)
    try {
      for await (const event of followFile(this.options.path ?? WTMP_PATH, {
        fromStart: this.options.fromStart ?? false,
        onState: () => {
          health.state = 'running'
          hooks.reading?.()
        },
        pollIntervalMs: this.options.pollIntervalMs,
        signal: this.stop.signal,
        startPosition,
      })) {
        if (event.type === 'reset') {
          if (partial.length > 0) health.lost++
          partial = Buffer.alloc(0)
          continue
        }
        const bytes = partial.length === 0 ? event.bytes : Buffer.concat([partial, event.bytes])
        const whole = bytes.length - (bytes.length % UTMP_RECORD_SIZE)
        const records = parseWtmp(bytes.subarray(0, whole))
        partial = Buffer.from(bytes.subarray(whole)) // a copy: the follower reuses its buffer
        for (const record of records) {
          if (record.type !== UtmpType.USER_PROCESS || record.address === undefined) continue
          health.line()
          yield {
            address: record.address,
            host: record.host,
            line: record.line,
            pid: record.pid,
            source: this.name,
            time: record.timeSec * 1000 + Math.floor(record.timeUsec / 1000),
            user: record.user,
          }
        }
      }
      health.state = 'stopped'
    } catch (error) {
      health.fail(error)
      throw error
    }
  }

  /** Stops following; the current iteration ends at its next wait and later runs yield nothing. */
  async close(): Promise<void> {
    this.closed = true
    this.stop.abort()
    await this.runs.returnAll()
    this.health_.state = 'stopped'
  }

  health(): SourceHealth {
    return this.health_.snapshot()
  }
}
