/**
 * The reader thread of the /dev/kmsg source (see kmsg.ts for the design): blocking or polling reads of
 * one record each, posted to the main thread as text, with back-pressure through shared counters.
 * Runs only as a worker thread, started by KmsgSource with {@link KmsgWorkerData}.
 */
import {closeSync, constants, openSync, readSync} from 'node:fs'
import {parentPort, workerData} from 'node:worker_threads'

import {BLOCKED, POSTED, STOP, TAKEN} from './kmsg-shared.js'
import type {KmsgWorkerData, KmsgWorkerMessage} from './kmsg-shared.js'

if (parentPort === null) throw new Error('kmsg-worker runs only as the reader thread of the kmsg source')
const port = parentPort
const post = (message: KmsgWorkerMessage): void => port.postMessage(message)
const {afterSeq, burstPollMs, burstWindowMs, device, maxInFlight, minTimestampUsec, needles, pollIntervalMs, state} = workerData as KmsgWorkerData
const shared = new Int32Array(state)
// Polling meets EAGAIN thousands of times a second, and each is thrown as an Error: without a stack
// trace that costs ~10 % less CPU. Errors reach the main thread as code and message only.
Error.stackTraceLimit = 0
// The kernel refuses (EINVAL) reads into buffers smaller than one record: at most 8 KiB on Linux 6.x.
const buf = Buffer.allocUnsafe(16384)

const codeOf = (error: unknown): string | undefined => (error as NodeJS.ErrnoException | undefined)?.code

const seqOf = (rec: string): number => {
  const a = rec.indexOf(',')
  return Number(rec.slice(a + 1, rec.indexOf(',', a + 1)))
}

const tsOf = (rec: string): number => {
  const b = rec.indexOf(',', rec.indexOf(',') + 1)
  return Number(rec.slice(b + 1, rec.indexOf(',', b + 1)))
}

const readRecord = (fd: number): string => {
  for (;;) {
    try {
      return buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, null))
    } catch (error) {
      // EPIPE: the reader was overtaken and records were overwritten; the next read continues with
      // the oldest record left, and the gap in sequence numbers is counted as lost below.
      if (codeOf(error) !== 'EPIPE') throw error
    }
  }
}

try {
  const poll = pollIntervalMs > 0
  const burst = !poll && burstPollMs > 0
  const nonBlocking = constants.O_RDONLY | constants.O_NONBLOCK
  let last: number
  let fd: number
  // Adaptive mode: a second, non-blocking descriptor for the bursts. Each descriptor has its own
  // position; the one that falls behind re-reads records it skips by sequence number (seq <= last).
  let peek: number | undefined
  if (afterSeq === null) {
    last = -1
    const probe = openSync(device, nonBlocking)
    for (;;) {
      let rec: string
      try {
        rec = readRecord(probe)
      } catch (error) {
        if (codeOf(error) === 'EAGAIN') break
        closeSync(probe)
        throw error
      }
      if (rec.length === 0) break
      last = seqOf(rec)
    }
    if (poll) {
      fd = probe
    } else {
      if (burst) peek = probe
      else closeSync(probe)
      fd = openSync(device, constants.O_RDONLY)
    }
  } else {
    last = afterSeq
    fd = openSync(device, poll ? nonBlocking : constants.O_RDONLY)
    if (burst) peek = openSync(device, nonBlocking)
  }
  post({seq: last, t: 'ready'})
  let expected = last + 1
  let burstUntil = 0
  for (;;) {
    const bursting = burst && performance.now() < burstUntil
    // BLOCKED before STOP is checked, and the main thread sets STOP before it reads BLOCKED: either
    // this thread sees STOP, or the main thread sees BLOCKED and wakes the read (sequentially
    // consistent atomics).
    if (!poll && !bursting) Atomics.store(shared, BLOCKED, 1)
    if (Atomics.load(shared, STOP) !== 0) break
    let rec: string
    try {
      rec = readRecord(bursting ? peek! : fd)
      Atomics.store(shared, BLOCKED, 0)
    } catch (error) {
      if (codeOf(error) !== 'EAGAIN') throw error
      Atomics.wait(shared, STOP, 0, bursting ? burstPollMs : pollIntervalMs)
      continue
    }
    if (rec.length === 0 || Atomics.load(shared, STOP) !== 0) continue
    const seq = seqOf(rec)
    if (seq <= last) continue
    if (seq > expected) post({n: seq - expected, t: 'lost'})
    expected = seq + 1
    last = seq
    // Resuming after a saved position: records older than the bound are not read (kmsg-position.ts).
    if (minTimestampUsec > 0 && tsOf(rec) < minTimestampUsec) continue
    if (needles.length > 0 && !needles.some((n) => rec.includes(n))) continue
    if (burst) burstUntil = performance.now() + burstWindowMs
    for (;;) {
      const taken = Atomics.load(shared, TAKEN)
      if (Atomics.load(shared, POSTED) - taken < maxInFlight || Atomics.load(shared, STOP) !== 0) break
      Atomics.wait(shared, TAKEN, taken, 1000)
    }
    Atomics.add(shared, POSTED, 1)
    post(rec)
  }
} catch (error) {
  post({code: codeOf(error), message: error instanceof Error ? error.message : String(error), t: 'error'})
}
