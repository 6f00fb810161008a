/**
 * Follows a file by name like `tail -F`, as bytes: the base of the log file and wtmp sources.
 *
 * - New data is noticed through fs.watch on the file's directory (inotify: it sees writes, creation and
 *   renames of the name), with a periodic stat as the fallback for what inotify misses (network file
 *   systems, a directory that does not exist yet, writes to a rotated file under its new name).
 * - Rotation (the name now points to another inode): the rest of the old file is read, then the new
 *   file from its start.
 * - Truncation (`copytruncate`: the file is shorter than the read position): reading starts over.
 * - A file that does not exist yet is waited for, and read from its start once it appears.
 * - Memory is bounded by the read size; readers are told (`reset`) when to drop a partial line or record.
 */
import {type FSWatcher, watch} from 'node:fs'
import {type FileHandle, open, stat} from 'node:fs/promises'
import {basename, dirname} from 'node:path'

import {Wakeup} from './internal.js'

/** What {@link followFile} yields: bytes, or the notice that what came before will not continue. */
export type FollowEvent =
  | {type: 'data'; bytes: Buffer}
  | {type: 'reset'; reason: 'rotated' | 'truncated'}

/** Options of {@link followFile}. */
export interface FollowOptions {
  /** Ends the iteration (at the next wait or read). */
  signal: AbortSignal
  /** Read the file present at the start from its beginning instead of its end; false by default. */
  fromStart?: boolean
  /**
   * Where to start in the file present at the start when not `fromStart`, given its size; the size by
   * default. Files that appear or replace it later are always read from their beginning.
   */
  startPosition?: (size: number, file: FileHandle) => Promise<number>
  /** Milliseconds between checks when fs.watch reports nothing; 1000 by default. */
  pollIntervalMs?: number
  /** Bytes per read; 64 KiB by default. The yielded buffer is reused: consume it before the next one. */
  chunkBytes?: number
  /** Called when the file is opened (`following`) and while it does not exist (`waiting`). */
  onState?: (state: 'waiting' | 'following') => void
}

/**
 * Yields the bytes appended to `path`, following it across rotation and truncation, until `signal`
 * aborts. Throws the file system's error for anything but a missing file (EACCES, EISDIR, …).
 */
export async function* followFile(path: string, options: FollowOptions): AsyncGenerator<FollowEvent> {
  const {chunkBytes = 64 * 1024, fromStart = false, onState, pollIntervalMs = 1000, signal} = options
  const wake = new Wakeup()
  const dir = dirname(path)
  const name = basename(path)
  const buffer = Buffer.allocUnsafe(chunkBytes)
  let watcher: FSWatcher | undefined
  // While the name is gone (renamed away, not yet re-created), every event in the directory counts:
  // the writer may still append to the old file under its new name.
  let nameMissing = false
  let file: FileHandle | undefined
  let identity = {dev: 0, ino: 0}
  let position = 0
  let initial = true

  const startWatching = (): void => {
    if (watcher) return
    try {
      watcher = watch(dir, {persistent: false}, (_event, changed) => {
        if (nameMissing || changed === null || changed === name) wake.notify()
      })
      watcher.on('error', () => {
        watcher?.close()
        watcher = undefined
        wake.notify()
      })
    } catch {
      // The directory does not exist (yet) or cannot be watched: the poll timer covers it.
      watcher = undefined
    }
  }

  /** Reads up to one chunk at the position; the number of bytes read. */
  const readChunk = async (handle: FileHandle): Promise<number> => {
    const {bytesRead} = await handle.read(buffer, 0, buffer.length, position)
    position += bytesRead
    return bytesRead
  }

  try {
    while (!signal.aborted) {
      startWatching()
      if (file === undefined) {
        file = await openIfExists(path)
        if (file === undefined) {
          onState?.('waiting')
          initial = false
          await wake.wait(pollIntervalMs, signal)
          continue
        }
        const info = await file.stat()
        identity = {dev: info.dev, ino: info.ino}
        position = initial && !fromStart ? await (options.startPosition?.(info.size, file) ?? info.size) : 0
        initial = false
        nameMissing = false
        onState?.('following')
      }

      const n = await readChunk(file)
      if (n > 0) {
        yield {bytes: buffer.subarray(0, n), type: 'data'}
        continue
      }

      // At the end of the file: truncated, rotated, or just nothing new yet?
      if ((await file.stat()).size < position) {
        position = 0
        yield {reason: 'truncated', type: 'reset'}
        continue
      }
      const named = await statIfExists(path)
      nameMissing = named === undefined
      if (named !== undefined && (named.ino !== identity.ino || named.dev !== identity.dev)) {
        // Rotated: whatever reached the old file since the last read comes first.
        for (let m = await readChunk(file); m > 0; m = await readChunk(file)) yield {bytes: buffer.subarray(0, m), type: 'data'}
        await file.close()
        file = undefined
        yield {reason: 'rotated', type: 'reset'}
        continue
      }
      await wake.wait(pollIntervalMs, signal)
    }
  } finally {
    watcher?.close()
    await file?.close()
  }
}

async function openIfExists(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, 'r')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

async function statIfExists(path: string): Promise<{dev: number; ino: number} | undefined> {
  try {
    return await stat(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}
