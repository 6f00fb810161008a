/**
 * Where the /dev/kmsg source stopped, kept in a small file (`[daemon] state_dir`/kmsg.position), so that
 * a daemon that was stopped or killed reads on start the packet log lines the kernel logged meanwhile,
 * as long as they are still in the ring buffer, instead of starting at its end.
 *
 * The file holds one line: `diswall kmsg position v1 BOOT_ID SEQ`. Sequence numbers start again at 0
 * with every boot, so a position counts only in the boot that wrote it (/proc/sys/kernel/random/boot_id).
 * It is written at most once a second while records come (one small write: no cost on the packet path)
 * and when the run ends; a crash loses at most that second, whose records are then read twice, which
 * the engine's de-duplication absorbs.
 */
import {readFileSync} from 'node:fs'
import {readFile} from 'node:fs/promises'

import {DebouncedFileWriter} from '../../system/index.js'

/** Name of the position file in the state directory. */
export const KMSG_POSITION_FILE = 'kmsg.position'

/**
 * Records older than this are not read on start, seconds (10 minutes). A restart, or a crash that
 * systemd restarts, takes seconds and an upgrade minutes: that is what resuming is for. An older record
 * describes a past state (addresses change hands; other hosts will have reported a scanner by then), and
 * the ring buffer (128 KiB–1 MiB, a few thousand LOG lines) rarely holds more anyway.
 */
export const KMSG_RESUME_MAX_AGE_SEC = 600

const BOOT_ID_PATH = '/proc/sys/kernel/random/boot_id'
const LINE = /^diswall kmsg position v1 ([0-9a-f-]{36}) (\d{1,15})\n?$/

/** This boot's id, or undefined when it cannot be read. */
function bootId(path = BOOT_ID_PATH): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    return undefined
  }
}

/** The saved position of this boot: the last sequence number handled, or undefined (none, another boot, damaged). */
export async function loadKmsgPosition(path: string, currentBoot = bootId()): Promise<number | undefined> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch {
    return undefined
  }
  const m = LINE.exec(text)
  if (m === null || currentBoot === undefined || m[1] !== currentBoot) return undefined
  return Number(m[2])
}

/** Keeps the position file up to date: `note()` after each record, `flush()` when a run ends. */
export class KmsgPositionWriter {
  private seq: number | undefined
  private readonly boot = bootId()
  private readonly file: DebouncedFileWriter

  constructor(path: string, onError: (error: unknown) => void = () => {}) {
    this.file = new DebouncedFileWriter(path, () => (this.seq === undefined || this.boot === undefined ? undefined
      : `diswall kmsg position v1 ${this.boot} ${this.seq}\n`), {delayMs: 1000, onError})
  }

  /** Records that `seq` was handled; written within a second. */
  note(seq: number): void {
    this.seq = seq
    this.file.touch()
  }

  /** Writes the latest position now (if it changed); resolves when it is on disk. Never rejects. */
  flush(): Promise<void> {
    return this.file.flush()
  }
}
