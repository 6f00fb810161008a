/**
 * What the /dev/kmsg source (kmsg.ts) and its reader thread (kmsg-worker.ts) share: the slots of the
 * shared counters, the data the thread starts with, and the messages it posts. Types and constants only,
 * so the thread loads nothing else.
 */

/** Slot of the shared Int32Array: records the thread has posted. */
export const POSTED = 0
/** Slot: records the main thread has taken from its queue. */
export const TAKEN = 1
/** Slot: 1 once the main thread asks the thread to stop. */
export const STOP = 2
/** Slot: 1 while the thread is in (or about to enter) a blocking read. */
export const BLOCKED = 3
/** Number of slots. */
export const SHARED_SLOTS = 4

/** The reader thread's workerData. */
export interface KmsgWorkerData {
  /** Resume after this sequence number; null: start at the end of the ring buffer. */
  afterSeq: number | null
  /** Skip records logged before this kernel time (microseconds since boot); 0: none. */
  minTimestampUsec: number
  /** Polling interval while bursting, in milliseconds; 0: no bursts. */
  burstPollMs: number
  /** How long a burst lasts after a record, in milliseconds. */
  burstWindowMs: number
  /** The device, /dev/kmsg. */
  device: string
  /** Records posted but not yet taken before the thread waits. */
  maxInFlight: number
  /** Escaped as in /dev/kmsg: only records containing one of these are posted; all when empty. */
  needles: string[]
  /** Non-blocking reads every this many milliseconds; 0: blocking reads. */
  pollIntervalMs: number
  /** The Int32Array's buffer ({@link SHARED_SLOTS} slots). */
  state: SharedArrayBuffer
}

/** What the thread posts: one raw record, or `ready` (with the sequence number it starts after), `lost` records, an `error`. */
export type KmsgWorkerMessage =
  | string
  | {t: 'ready'; seq: number}
  | {t: 'lost'; n: number}
  | {t: 'error'; code?: string; message: string}
