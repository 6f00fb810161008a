/**
 * The kernel log read directly from `/dev/kmsg`: the packet log lines of the `log` template (prefix
 * `diswall-log: `) without journald, rsyslog or a child process in the way.
 *
 * Design:
 * - A worker thread (kmsg-worker.ts) does blocking `read(2)`s, one record per read, and posts each
 *   record to the main thread (~0.2 ms). Node has no poll(2) for character devices (libuv treats them
 *   as files, so `net.Socket` refuses the fd); a blocked thread costs no CPU while the machine is quiet.
 * - Latency floor: printk wakes /dev/kmsg readers through a lazy irq_work (wake_up_klogd), which runs
 *   at the next timer tick of the CPU that logged, or at once when that CPU's tick is stopped (NOHZ
 *   idle). So it depends on where the packet was received: on a CPU that was idle (a NIC interrupt on a
 *   quiet server) blocking reads give packet sent → LogLine p50 ≈ 0.9–1.1 ms; on a CPU whose tick runs
 *   (a busy CPU, or the veth test set-up, where the sender's CPU receives the packet in softirq) up
 *   to one tick more: p50 ≈ 2.8–3.3 ms, p90 ≈ 4.5–5 ms with HZ=250 (6.18, 2 vCPU VM;
 *   test/integration/detect-sources.test.ts prints it). The record itself is in the ring at once, so
 *   `pollIntervalMs` trades CPU for latency: non-blocking reads every 0.25 / 0.5 / 1 ms gave p50
 *   ≈ 0.9 / 1.05 / 1.2 ms at ~20 / ~11 / ~6 % of one vCPU while idle; `burstPollMs` polls only for a
 *   while after a record. NFLOG over netlink (with queue-threshold 1) would avoid both costs (p50
 *   ≈ 0.8 ms through a helper such as `tcpdump -l -i nflog:N`), but needs a helper program and an
 *   NFLOG rule, since Node cannot open netlink sockets.
 * - Starting at the end: Node has no lseek(2), and /dev/kmsg's SEEK_END is not reachable. The worker
 *   first opens a second, non-blocking descriptor and reads it until EAGAIN to learn the sequence
 *   number of the newest record, then skips every record up to it on the blocking descriptor (polling
 *   keeps reading the probe descriptor). Sequence
 *   numbers, unlike timestamps, are exact (the kernel's clock and CLOCK_MONOTONIC drift apart under NTP).
 *   A later run of the same source resumes after the last record it delivered instead, so a restart by
 *   the supervisor loses nothing that is still in the ring buffer.
 * - Across daemon restarts: with `positionFile`, the last sequence number is kept in the state dir
 *   (kmsg-position.ts), and the first run resumes after it, reading the records of the last
 *   {@link KMSG_RESUME_MAX_AGE_SEC} seconds that are still in the ring buffer: probes logged while the
 *   daemon was down (or starting) are handled.
 * - Losses are counted, never fatal: EPIPE (the reader was overtaken and records were overwritten) and
 *   gaps in the sequence numbers add to `lost` in the health.
 * - Back-pressure: the worker stops reading when `maxInFlight` records wait for the consumer (shared
 *   counters and Atomics.wait), so memory stays bounded; the kernel ring then overwrites, which shows up
 *   as `lost`.
 * - With `match`, the worker drops records that contain none of the strings, so unrelated kernel
 *   messages never cross threads.
 * - A thread blocked in read(2) cannot be interrupted, and Node joins all worker threads when the
 *   process exits (even on process.exit()), so a blocked reader would hold up the exit until the kernel
 *   logs something. Stopping therefore writes one record (`diswall: stopped reading the kernel log`)
 *   to wake it, on close() and on process exit; that needs root (write access to /dev/kmsg).
 */
import {writeFileSync} from 'node:fs'
import {Worker} from 'node:worker_threads'

import {NotRootError} from '../../errors.js'
import {keepV8Flags} from '../../system/index.js'
import {AsyncQueue, HealthTracker, RunSet} from './internal.js'
import {KMSG_RESUME_MAX_AGE_SEC, KmsgPositionWriter, loadKmsgPosition} from './kmsg-position.js'
import {BLOCKED, SHARED_SLOTS, STOP, TAKEN} from './kmsg-shared.js'
import type {KmsgWorkerData, KmsgWorkerMessage} from './kmsg-shared.js'
import {type LogLine, type LogSource, LogSourceError, type RunHooks, type SourceHealth} from './types.js'

/** The device the kernel log is read from. */
export const KMSG_DEVICE = '/dev/kmsg'

/** One record of /dev/kmsg (see the kernel's Documentation/ABI/testing/dev-kmsg). */
export interface KmsgRecord {
  /** Syslog priority: facility × 8 + level. */
  priority: number
  /** Syslog facility (0 = kernel; records written by user space to /dev/kmsg have 1 = user by default). */
  facility: number
  /** Syslog level (0 = emerg … 7 = debug); netfilter LOG lines are 4 (warning) by default. */
  level: number
  /** Sequence number; consecutive records differ by one. */
  seq: number
  /** Kernel timestamp in microseconds since boot. */
  timestampUsec: number
  /** `-`, or `c` for a continuation fragment (old kernels). */
  flags: string
  /** The message text, unescaped (`\xNN` decoded, UTF-8). */
  message: string
  /** Dictionary lines of the record (`SUBSYSTEM=net`, `DEVICE=+net:eth0`), unescaped. */
  properties: Record<string, string>
}

/**
 * Parses one record as read from /dev/kmsg: `PRIO,SEQ,TS_USEC,FLAGS[,…];MESSAGE\n` followed by
 * dictionary lines that start with a space. Pure. Returns undefined for text that is not a record.
 */
export function parseKmsgRecord(raw: string): KmsgRecord | undefined {
  const semicolon = raw.indexOf(';')
  if (semicolon < 0) return undefined
  const fields = raw.slice(0, semicolon).split(',')
  if (fields.length < 4) return undefined
  const [prio, seq, ts, flags] = fields as [string, string, string, string]
  if (!/^\d+$/.test(prio) || !/^\d+$/.test(seq) || !/^\d+$/.test(ts)) return undefined
  const priority = Number(prio)

  const lines = raw.slice(semicolon + 1).split('\n')
  const properties: Record<string, string> = {}
  for (const line of lines.slice(1)) {
    if (!line.startsWith(' ')) continue
    const eq = line.indexOf('=')
    if (eq < 0) continue
    properties[unescapeKmsgText(line.slice(1, eq))] = unescapeKmsgText(line.slice(eq + 1))
  }

  return {
    facility: priority >> 3,
    flags,
    level: priority & 7,
    message: unescapeKmsgText(lines[0] ?? ''),
    priority,
    properties,
    seq: Number(seq),
    timestampUsec: Number(ts),
  }
}

/**
 * Decodes the kernel's escaping of /dev/kmsg text: every byte below 0x20, from 0x7f up, and the
 * backslash itself are written as `\xNN`; the bytes are then read as UTF-8. Pure.
 */
export function unescapeKmsgText(text: string): string {
  if (!text.includes('\\x')) return text
  const bytes: number[] = []
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x5c && text[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(text.slice(i + 2, i + 4))) {
      bytes.push(parseInt(text.slice(i + 2, i + 4), 16))
      i += 3
    } else if (c < 0x80) {
      bytes.push(c)
    } else {
      // Not produced by the kernel (it escapes all non-ASCII bytes); keep such characters as they are.
      bytes.push(...Buffer.from(text[i]!, 'utf8'))
    }
  }
  return Buffer.from(bytes).toString('utf8')
}

/** Escapes text the way the kernel does in /dev/kmsg records (see {@link unescapeKmsgText}). Pure. */
export function escapeKmsgText(text: string): string {
  let out = ''
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte < 0x20 || byte >= 0x7f || byte === 0x5c ? `\\x${byte.toString(16).padStart(2, '0')}` : String.fromCharCode(byte)
  }
  return out
}

/** Options of {@link KmsgSource}. */
export interface KmsgSourceOptions {
  /** Keep only records whose text contains one of these strings (e.g. `['diswall-log: ']`); all by default. */
  match?: readonly string[]
  /** Name in LogLine.source and the health; `kmsg` by default. */
  name?: string
  /** Records the worker may post before the consumer takes them; 4096 by default. */
  maxInFlight?: number
  /** The device; /dev/kmsg by default. */
  device?: string
  /**
   * 0 (the default): blocking reads, no CPU while idle, but the kernel may wake readers only at its
   * next timer tick (see the module comment). Above 0: non-blocking reads every this many
   * milliseconds, for sub-millisecond latency at a constant CPU cost (0.25 / 0.5 / 1 ms: ~20 / ~11 /
   * ~6 % of one vCPU on the test VM).
   */
  pollIntervalMs?: number
  /**
   * Adaptive reading, with `pollIntervalMs` 0: blocking reads while the log is quiet, and for
   * `burstWindowMs` after each delivered record non-blocking reads every this many milliseconds, so
   * records that follow one another closely (a scan) are not held up by the tick. The first record
   * after a quiet spell still waits for the kernel's wake-up. 0 (the default): off.
   */
  burstPollMs?: number
  /** How long {@link KmsgSourceOptions.burstPollMs} keeps polling after a record; 1000 ms by default. */
  burstWindowMs?: number
  /**
   * Keep the position here (see kmsg-position.ts): the first run resumes after the position saved in
   * this boot, reading the records still in the ring buffer that are at most `resumeMaxAgeSec` old,
   * instead of starting at the end. None by default.
   */
  positionFile?: string
  /** See `positionFile`; {@link KMSG_RESUME_MAX_AGE_SEC} (600) by default. */
  resumeMaxAgeSec?: number
  /** Called when the position file cannot be written. */
  onPositionError?: (error: unknown) => void
}

/** The reader thread's module, compiled next to this one (dist/); see {@link startReaderThread}. */
const WORKER_URL = new URL('./kmsg-worker.js', import.meta.url)

/**
 * The kernel log from /dev/kmsg as LogLines (`text` is the unescaped message, `time` the kernel
 * timestamp converted to the epoch with the boot time estimated at the start of the run). Needs root
 * (CAP_SYSLOG with `kernel.dmesg_restrict=1`). The iteration throws NotRootError or LogSourceError.
 */
export class KmsgSource implements LogSource {
  readonly name: string
  private readonly health_: HealthTracker
  private closed = false
  private readonly runs = new RunSet<LogLine>()
  private lastSeq: number | undefined
  private stopRun: (() => void) | undefined
  private positions: KmsgPositionWriter | undefined

  constructor(private readonly options: KmsgSourceOptions = {}) {
    this.name = options.name ?? 'kmsg'
    this.health_ = new HealthTracker(this.name)
  }

  /**
   * Starts a run (see {@link LogSource.start}); it begins when first pulled, and reads once the thread
   * knows where it starts in the ring buffer.
   */
  start(hooks: RunHooks = {}): AsyncGenerator<LogLine> {
    return this.runs.start(() => this.run(hooks))
  }

  private async *run(hooks: RunHooks): AsyncGenerator<LogLine> {
    if (this.closed) return
    const device = this.options.device ?? KMSG_DEVICE
    const health = this.health_
    health.state = 'starting'
    const shared = new Int32Array(new SharedArrayBuffer(SHARED_SLOTS * Int32Array.BYTES_PER_ELEMENT))
    const positions = this.options.positionFile === undefined ? undefined
      : (this.positions ??= new KmsgPositionWriter(this.options.positionFile, this.options.onPositionError))
    let minTimestampUsec = 0
    if (this.lastSeq === undefined && this.options.positionFile !== undefined) {
      this.lastSeq = await loadKmsgPosition(this.options.positionFile)
      // Kernel timestamps count from boot (local_clock), as CLOCK_MONOTONIC (hrtime) does.
      const nowUsec = Number(process.hrtime.bigint() / 1000n)
      if (this.lastSeq !== undefined) minTimestampUsec = Math.max(1, nowUsec - (this.options.resumeMaxAgeSec ?? KMSG_RESUME_MAX_AGE_SEC) * 1e6)
    }
    if (this.closed) return
    const queue = new AsyncQueue<string>(() => {
      Atomics.add(shared, TAKEN, 1)
      Atomics.notify(shared, TAKEN)
    })
    const worker = startReaderThread({
      afterSeq: this.lastSeq ?? null,
      burstPollMs: this.options.burstPollMs ?? 0,
      burstWindowMs: this.options.burstWindowMs ?? 1000,
      device,
      minTimestampUsec,
      maxInFlight: this.options.maxInFlight ?? 4096,
      needles: (this.options.match ?? []).map((m) => escapeKmsgText(m)),
      pollIntervalMs: this.options.pollIntervalMs ?? 0,
      state: shared.buffer as SharedArrayBuffer,
    })
    let stopping = false
    const stop = (): void => {
      if (stopping) return
      stopping = true
      Atomics.store(shared, STOP, 1)
      Atomics.notify(shared, TAKEN)
      Atomics.notify(shared, STOP)
      queue.end()
      process.removeListener('exit', stop)
      // terminate() refs the worker again (Node 20), so unref after it.
      worker.terminate().catch(() => {})
      worker.unref()
      // Node joins every worker thread when the process exits (process.exit() too), and a thread
      // blocked in read(2) returns only with the next kernel record: write one, so that stopping
      // never waits for the kernel to log something.
      if (Atomics.load(shared, BLOCKED) === 1) wakeKmsgReaders(device)
    }
    this.stopRun = stop
    // Also on the way out of a process that did not close the source (an uncaught exception).
    process.once('exit', stop)

    worker.on('message', (message: KmsgWorkerMessage) => {
      if (typeof message === 'string') return queue.push(message)
      if (message.t === 'ready') {
        if (this.lastSeq === undefined && message.seq >= 0) {
          this.lastSeq = message.seq
          positions?.note(message.seq)
        }
        health.state = 'running'
        hooks.reading?.()
      }
      else if (message.t === 'lost') health.lost += message.n
      else if (message.t === 'error') queue.fail(kmsgError(device, message))
    })
    worker.on('error', (error) => queue.fail(new LogSourceError(`the ${device} reader thread failed: ${error.message}`, undefined, {cause: error})))
    worker.on('exit', (code) => {
      if (!stopping) queue.fail(new LogSourceError(`the ${device} reader thread exited with code ${code}`))
    })

    // Kernel timestamps count from boot (local_clock); CLOCK_MONOTONIC (hrtime) is close to it.
    const bootEpochMs = Date.now() - Number(process.hrtime.bigint() / 1000n) / 1000
    try {
      for await (const raw of queue) {
        const record = parseKmsgRecord(raw)
        if (record === undefined) continue
        this.lastSeq = record.seq
        positions?.note(record.seq)
        health.line()
        yield {source: this.name, text: record.message, time: bootEpochMs + record.timestampUsec / 1000}
      }
      health.state = 'stopped'
    } catch (error) {
      health.fail(error)
      throw error
    } finally {
      stop()
      await positions?.flush()
      if (this.stopRun === stop) this.stopRun = undefined
      if (this.closed) health.state = 'stopped'
    }
  }

  /** Ends the current run; later runs yield nothing. */
  async close(): Promise<void> {
    this.closed = true
    this.stopRun?.()
    await this.runs.returnAll()
    this.health_.state = 'stopped'
  }

  health(): SourceHealth {
    return this.health_.snapshot()
  }
}

/**
 * Starts the reader thread (kmsg-worker) with `data`, without the parent's node options: no inspector
 * or TypeScript loader in it. From the TypeScript sources (tsx: tests, bench) there is no
 * kmsg-worker.js, and Node 20 applies no `--import` hooks to a worker's entry module (tsx issue #354),
 * so there the thread loads kmsg-worker.ts through tsx's API instead.
 */
function startReaderThread(data: KmsgWorkerData): Worker {
  if (!import.meta.url.endsWith('.ts')) return keepV8Flags(new Worker(WORKER_URL, {execArgv: [], workerData: data}))
  const source = new URL('./kmsg-worker.ts', import.meta.url).href
  const tsx = import.meta.resolve('tsx/esm/api')
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(source)}, ${JSON.stringify(import.meta.url)}))`
  return keepV8Flags(new Worker(bootstrap, {eval: true, execArgv: [], workerData: data}))
}

/**
 * Writes one record to the kernel log, which wakes every reader blocked in read(2). Needs write access
 * to the device (root); without it a stopped reader thread ends at the next kernel record instead.
 */
function wakeKmsgReaders(device: string): void {
  try {
    writeFileSync(device, 'diswall: stopped reading the kernel log\n')
  } catch {
    // Not permitted (e.g. CAP_SYSLOG without root): see above.
  }
}

function kmsgError(device: string, {code, message}: {code?: string; message: string}): Error {
  if (code === 'EACCES' || code === 'EPERM') return new NotRootError(`reading ${device}`)
  if (code === 'ENOENT') {
    return new LogSourceError(`${device} does not exist`,
      'Containers often lack it: set the kernel log source to "journal" or "pipe" instead.')
  }
  return new LogSourceError(`reading ${device} failed: ${message}`)
}
