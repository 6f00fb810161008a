/**
 * The file of a list copy: the server's copy of the block or allow list, which the daemon loads whole
 * after every (re)connect (Enforcer.replace()). The copy reaches the kernel in one swap, not through the
 * journal; written to this file as it streams, it lets the next snapshot be folded from the last one,
 * this file and the journal since the swap (compactSnapshot(), journal.ts) instead of reading the sets
 * back (1M elements: ~70 s with nft 1.0.6), and a stop right after a copy take seconds, not minutes.
 *
 * - `sets.copy.LIST.part-N` in `[daemon] state_dir` while the copy streams, in the snapshot format
 *   (snapshot.ts: header, entry lines with absolute expiries, `# end N entries`), so a file cut short is
 *   noticed; renamed `sets.copy.LIST.SEQ` once the kernel swapped the copy in, SEQ being the journal
 *   segment opened at the swap.
 * - Only the daemon that wrote a file reads it, and only until a snapshot holds the copy: each start
 *   removes every such file. After a crash the snapshot, the journal and the change marker (changes.ts)
 *   decide as before, so the file needs no fsync.
 * - A write error never fails the copy: the file is dropped, and the daemon reads the sets for the next
 *   snapshot, as for any change outside the journal.
 */
import {open, readdir, rename, unlink} from 'node:fs/promises'
import type {FileHandle} from 'node:fs/promises'
import {join} from 'node:path'

import type {ListKind, SetEntry} from '../firewall/sets/index.js'
import {entryExpiresSec} from './journal.js'
import type {FoldedCopy} from './journal.js'
import {formatEntryLine, snapshotEnd, snapshotHeader, snapshotTime} from './snapshot.js'

/** Copy files are `sets.copy.LIST.SEQ` (and `.part-N` while written) in the state directory. */
export const LIST_COPY_PREFIX = 'sets.copy.'

/** Options of {@link ListCopyFile.create}. */
export interface ListCopyFileOptions {
  /** The block set's default timeout, seconds: what a ban without its own TTL gets (as in the journal). */
  defaultBlockTtlSec: number
  now?: () => number
}

let parts = 0

/** One list copy being written; see the module's doc. */
export class ListCopyFile {
  private entries = 0
  private problem: string | undefined

  private constructor(private readonly stateDir: string, readonly list: ListKind, private readonly part: string,
    private readonly handle: FileHandle, private readonly options: ListCopyFileOptions) {}

  /**
   * Opens a new file for the copy of `list` (mode 0600; the state directory exists: the journal made it).
   * @throws the open error.
   */
  static async create(stateDir: string, list: ListKind, options: ListCopyFileOptions): Promise<ListCopyFile> {
    const part = join(stateDir, `${LIST_COPY_PREFIX}${list}.part-${process.pid}-${++parts}`)
    const handle = await open(part, 'w', 0o600)
    const file = new ListCopyFile(stateDir, list, part, handle, options)
    await file.write(snapshotHeader(snapshotTime((options.now ?? Date.now)())))
    return file
  }

  /** Why the file cannot stand for the copy (a write failed), or undefined. */
  get failed(): string | undefined {
    return this.problem
  }

  /** Appends entries as the copy hands them to the kernel, with their expiry counted from now. Never throws. */
  async add(entries: readonly SetEntry[]): Promise<void> {
    if (this.problem !== undefined || entries.length === 0) return
    const nowSec = Math.floor((this.options.now ?? Date.now)() / 1000)
    let text = ''
    for (const entry of entries) {
      text += formatEntryLine(this.list, entry.target, entryExpiresSec(this.list, entry, nowSec, this.options.defaultBlockTtlSec), entry.comment)
    }
    this.entries += entries.length
    await this.write(text)
  }

  /**
   * Ends the file and names it after `fromSeq`, the journal segment opened when the kernel swapped the
   * copy in; returns what compactSnapshot() needs. On failure the file is removed.
   * @throws an Error saying why the file cannot be used.
   */
  async finish(fromSeq: number): Promise<FoldedCopy> {
    await this.write(snapshotEnd(this.entries))
    await this.handle.close().catch((error: unknown) => this.fail(error))
    if (this.problem === undefined) {
      const path = join(this.stateDir, `${LIST_COPY_PREFIX}${this.list}.${fromSeq}`)
      try {
        await rename(this.part, path)
        return {fromSeq, path}
      } catch (error) {
        this.fail(error)
      }
    }
    await unlink(this.part).catch(() => {})
    throw new Error(`the copy of the ${this.list} list could not be written to ${this.part}: ${this.problem}`)
  }

  /** Closes and removes the file (the copy failed). Never throws. */
  async discard(): Promise<void> {
    await this.handle.close().catch(() => {})
    await unlink(this.part).catch(() => {})
  }

  private async write(text: string): Promise<void> {
    if (this.problem !== undefined) return
    try {
      await this.handle.writeFile(text) // the whole text, however many write(2)s it takes
    } catch (error) {
      this.fail(error)
    }
  }

  private fail(error: unknown): void {
    this.problem ??= error instanceof Error ? error.message : String(error)
  }
}

/** A finished copy file's name (`sets.copy.LIST.SEQ`). */
const FINISHED = /^sets\.copy\.(?:allow|block)\.\d{1,15}$/

/**
 * Removes the finished copy files of `stateDir` but those in `keep` (paths), once a snapshot holds their
 * copies; with `all`, every copy file, those being written too (at start, when none is). A missing
 * directory is no error; others are thrown.
 */
export async function removeListCopies(stateDir: string, {all = false, keep = new Set()}: {all?: boolean; keep?: ReadonlySet<string>} = {}): Promise<void> {
  let names: string[]
  try {
    names = await readdir(stateDir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return
    throw error
  }
  for (const name of names) {
    const path = join(stateDir, name)
    if (name.startsWith(LIST_COPY_PREFIX) && (all || FINISHED.test(name)) && !keep.has(path)) {
      await unlink(path).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
      })
    }
  }
}
