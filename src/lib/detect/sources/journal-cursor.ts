/**
 * Where the journald service-log source stopped, kept in a small file (`[daemon] state_dir`/journal.cursor),
 * so that a daemon that was restarted or killed reads on start what the services logged meanwhile
 * (`journalctl --after-cursor`), instead of starting at now and missing the attempts of those seconds.
 *
 * The file holds one line: `diswall journal cursor v1 TIME_MS CURSOR`, TIME_MS being the entry's
 * `__REALTIME_TIMESTAMP`. Cursors stay valid across boots (they name the journal file and entry). It is
 * written at most once a second while entries come, and when the source closes; a crash loses at most
 * that second, whose entries are then read twice, which the engine's de-duplication absorbs.
 */
import {readFileSync} from 'node:fs'

import {DebouncedFileWriter} from '../../system/index.js'

/** Name of the cursor file in the state directory. */
export const JOURNAL_CURSOR_FILE = 'journal.cursor'

/**
 * A cursor older than this is not resumed from, seconds (10 minutes, as KMSG_RESUME_MAX_AGE_SEC): a
 * restart takes seconds, an upgrade minutes; older attempts describe a past state, and replaying days of
 * logs would ban on stale evidence. The source then reads the last 10 minutes.
 */
export const JOURNAL_RESUME_MAX_AGE_SEC = 600

/** What a cursor looks like (`s=…;i=…;b=…;m=…;t=…;x=…`); it becomes one argv element of journalctl. */
const CURSOR = /^[A-Za-z0-9][A-Za-z0-9=;_-]{0,511}$/
const LINE = /^diswall journal cursor v1 (\d{1,16}) (\S+)\n?$/

/** The saved cursor and its entry's time, or undefined (no file, damaged). Never throws. */
export function loadJournalCursor(path: string): {cursor: string; timeMs: number} | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch {
    return undefined
  }
  const m = LINE.exec(text)
  if (m === null || !CURSOR.test(m[2])) return undefined
  return {cursor: m[2], timeMs: Number(m[1])}
}

/** Keeps the cursor file up to date: `note()` after each entry, `flush()` when the source closes. */
export class JournalCursorWriter {
  private latest: {cursor: string; timeMs: number} | undefined
  private readonly file: DebouncedFileWriter

  constructor(path: string, onError: (error: unknown) => void = () => {}) {
    this.file = new DebouncedFileWriter(path, () => (this.latest === undefined ? undefined
      : `diswall journal cursor v1 ${this.latest.timeMs} ${this.latest.cursor}\n`), {delayMs: 1000, onError})
  }

  /** Records the cursor of the last entry handled; written within a second. Invalid cursors are ignored. */
  note(cursor: string, timeMs: number): void {
    if (!CURSOR.test(cursor)) return
    this.latest = {cursor, timeMs: Math.floor(timeMs)}
    this.file.touch()
  }

  /** Writes the latest cursor now (if it changed); resolves when it is on disk. Never rejects. */
  flush(): Promise<void> {
    return this.file.flush()
  }
}
