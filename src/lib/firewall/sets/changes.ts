/**
 * The change marker: how writers other than the daemon tell it that the kernel sets changed behind its
 * journal. The daemon journals every batch its coalescing writer commits, so at stop it can keep the
 * journal for the next start instead of reading the sets back (~70 s for 1M elements with nft 1.0.6).
 * That holds only while nothing else wrote the sets: `block add|del`, `allow add|del`, `sync init`,
 * `firewall flush` and the other commands write them directly, also while the daemon runs.
 *
 * Design: every backend a command opens (openFirewall() without `markChanges: false`) is wrapped in
 * {@link ChangeMarkingBackend}, which rewrites `[daemon] state_dir`/sets.changed after each commit,
 * single add or delete, replace or destroy (also a failed one: part of it may be in the kernel). The
 * file is rewritten in place (mode 0600, directory created 0700), so its mtime is the time of the last
 * such change.
 * The daemon compares it with the start of the listing of its last completed snapshot, and saves a full
 * snapshot at stop when the marker is newer (or when it cannot tell). A marker that cannot be written is
 * a warning, never a failed command: the change is in the kernel, and the next periodic snapshot holds it.
 * Why a file and not the journal: commands run as separate processes, and a mark costs one small
 * write per commit, without any lock or format shared with the daemon's journal writer.
 */
import {mkdir, stat, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {Address, Target} from '../../net/index.js'
import type {CommitReport, FirewallBackend, InitReport, ListedEntry, ListKind, ListOptions, SetEntry, SetEntrySource} from './types.js'

/** Name of the change marker in `[daemon] state_dir`. */
export const SETS_CHANGED_FILE = 'sets.changed'

/**
 * The daemon's own marker, for the list copies it loads (agent.ts): while it runs it knows them, and a
 * stop puts them in the snapshot; a next start finding this marker newer than the snapshot knows that
 * the last run did not, and reads the sets for its first snapshot. Separate from {@link SETS_CHANGED_FILE}
 * so that the daemon never overwrites a command's mark.
 */
export const SETS_COPIED_FILE = 'sets.copied'

/** The path of the change marker in the state directory. */
export function setsChangedPath(stateDir: string, file = SETS_CHANGED_FILE): string {
  return join(stateDir, file)
}

/**
 * Records that the kernel sets were changed outside the daemon's journal, now: rewrites
 * `stateDir`/sets.changed (mode 0600; the directory is created 0700 when missing). Its time is what
 * counts, not its text, and it needs no fsync: a crash of the machine empties the kernel sets too.
 * Not atomic on purpose: two fsyncs would cost every `block add` a few ms.
 * @throws the mkdir or write error when it cannot be written.
 */
export async function markSetsChanged(stateDir: string, {file = SETS_CHANGED_FILE, now = Date.now, what = 'a command'}:
  {file?: string; now?: () => number; what?: string} = {}): Promise<void> {
  await mkdir(stateDir, {mode: 0o700, recursive: true})
  await writeFile(setsChangedPath(stateDir, file), `changed ${new Date(now()).toISOString()} by ${what} (pid ${process.pid})\n`, {mode: 0o600})
}

/**
 * When the sets were last changed outside the daemon's journal (the marker's mtime, ms since the epoch),
 * or undefined when no marker exists; `file`: {@link SETS_COPIED_FILE} for the daemon's own.
 * @throws what stat() throws besides ENOENT (the caller must then assume a change).
 */
export async function readSetsChanged(stateDir: string, file = SETS_CHANGED_FILE): Promise<number | undefined> {
  try {
    return (await stat(setsChangedPath(stateDir, file))).mtimeMs
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

/** Options of {@link ChangeMarkingBackend}. */
export interface ChangeMarkingOptions {
  /** Told when the marker cannot be written (a warning for the command's output). */
  onError?: (message: string) => void
  /** What changed the sets, written into the marker (`block add`); `a command` by default. */
  what?: string
}

/**
 * A backend whose writes mark the sets as changed outside the daemon's journal ({@link markSetsChanged})
 * once they are done, whether they succeeded or not. Reads pass straight through.
 */
export class ChangeMarkingBackend implements FirewallBackend {
  readonly forEachEntry?: FirewallBackend['forEachEntry']

  constructor(private readonly inner: FirewallBackend, private readonly stateDir: string, private readonly options: ChangeMarkingOptions = {}) {
    if (inner.forEachEntry) this.forEachEntry = (list, visit, listOptions) => inner.forEachEntry!(list, visit, listOptions)
  }

  get name(): FirewallBackend['name'] {
    return this.inner.name
  }

  get pending(): number {
    return this.inner.pending
  }

  prepareInit(): void {
    this.inner.prepareInit?.()
  }

  init(): Promise<InitReport> {
    // Creates empty sets or moves entries over unchanged: no entry changes.
    return this.inner.init()
  }

  add(list: ListKind, entry: SetEntry): void {
    this.inner.add(list, entry)
  }

  del(list: ListKind, target: Target): void {
    this.inner.del(list, target)
  }

  async commit(): Promise<CommitReport> {
    if (this.inner.pending === 0) return this.inner.commit()
    return this.marked(() => this.inner.commit())
  }

  has(list: ListKind, target: Target): Promise<boolean> {
    return this.inner.has(list, target)
  }

  async addIfAbsent(entry: SetEntry & {target: Address}): Promise<boolean | undefined> {
    if (this.inner.addIfAbsent === undefined) return undefined
    const added = await this.inner.addIfAbsent(entry)
    if (added === true) await this.mark()
    return added
  }

  async delIfPresent(target: Address): Promise<boolean | undefined> {
    if (this.inner.delIfPresent === undefined) return undefined
    const removed = await this.inner.delIfPresent(target)
    if (removed === true) await this.mark()
    return removed
  }

  list(list: ListKind, options?: ListOptions): Promise<ListedEntry[]> {
    return this.inner.list(list, options)
  }

  count(list: ListKind): Promise<number> {
    return this.inner.count(list)
  }

  replace(list: ListKind, entries: SetEntrySource): Promise<void> {
    return this.marked(() => this.inner.replace(list, entries))
  }

  destroy(): Promise<void> {
    return this.marked(() => this.inner.destroy())
  }

  close(): Promise<void> {
    return this.inner.close()
  }

  /** Runs a write, then marks the change (also after a failure: part of a batch may be in the kernel). */
  private async marked<T>(write: () => Promise<T>): Promise<T> {
    try {
      return await write()
    } finally {
      await this.mark()
    }
  }

  /** Writes the marker; a failure is told to onError, never thrown. */
  private async mark(): Promise<void> {
    await markSetsChanged(this.stateDir, this.options.what === undefined ? {} : {what: this.options.what}).catch((error: unknown) =>
      this.options.onError?.(`cannot record the change of the kernel sets in ${setsChangedPath(this.stateDir)} ` +
        `(a running daemon may then not save it at stop; its next periodic snapshot will): ${error instanceof Error ? error.message : String(error)}`))
  }
}
