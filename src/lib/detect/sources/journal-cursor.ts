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
import {mkdirSync, readFileSync} from 'node:fs'
import {dirname} from 'node:path'

import {writeFileAtomic} from '../../system/index.js'

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
  private written: string | undefined
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(private readonly path: string, private readonly onError: (error: unknown) => void = () => {}) {}

  /** Records the cursor of the last entry handled; written within a second. Invalid cursors are ignored. */
  note(cursor: string, timeMs: number): void {
    if (!CURSOR.test(cursor)) return
    this.latest = {cursor, timeMs: Math.floor(timeMs)}
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush()
    }, 1000)
    this.timer.unref()
  }

  /** Writes the latest cursor now (if it changed); resolves when it is on disk. Never rejects. */
  flush(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.writing = this.writing.then(async () => {
      const latest = this.latest
      if (latest === undefined || latest.cursor === this.written) return
      try {
        mkdirSync(dirname(this.path), {mode: 0o700, recursive: true})
        await writeFileAtomic(this.path, `diswall journal cursor v1 ${latest.timeMs} ${latest.cursor}\n`)
        this.written = latest.cursor
      } catch (error) {
        this.onError(error)
      }
    })
    return this.writing
  }
}
