/**
 * Files that must never be seen half-written: state files and snapshots in `[daemon] state_dir`.
 */
import {randomBytes} from 'node:crypto'
import {open, rename, unlink} from 'node:fs/promises'
import type {FileHandle} from 'node:fs/promises'
import {basename, dirname, join} from 'node:path'

import {DiswallError, ExitCode} from '../errors.js'

/** A file could not be written (exit 4): permissions, a full disk, a missing directory. */
export class FileWriteError extends DiswallError {
  constructor(readonly path: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super(`cannot write ${path}: ${reason}`, 'E_FILE_WRITE', ExitCode.ENVIRONMENT,
      'Check that the directory exists and is writable by this user, and that the disk is not full.', {cause})
  }
}

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** Permission bits of the new file, applied exactly (the umask does not narrow them); 0o600 by default. */
  mode?: number
}

/** Chunks are gathered up to this many characters before one write, so a 1M-line iterable is ~40 writes. */
const WRITE_BATCH_CHARS = 1 << 20
/** Attempts at a fresh temporary name; a clash needs the same PID and 48 random bits. */
const TEMP_NAME_ATTEMPTS = 5

/**
 * Replaces the file at `path` with `data` so that readers (and a crash at any moment) see either the
 * old content or the whole new one: writes a temporary file in the same directory (unique name, created
 * with O_EXCL, `mode` set exactly), fsyncs it, renames it over `path` and fsyncs the directory.
 * `data` may be a string or a (sync or async) iterable of string chunks in UTF-8, which is written as it
 * is produced, so large content is never held whole. Creates nothing but the temporary file; the
 * directory must exist. On any failure the temporary file is removed and `path` is left as it was (except
 * when only the last step, the directory fsync, fails: the new content is then in place, not yet durable).
 * @throws FileWriteError when the file system refuses; an error thrown by `data` itself is rethrown as is.
 */
export async function writeFileAtomic(path: string, data: string | Iterable<string> | AsyncIterable<string>,
  {mode = 0o600}: WriteFileAtomicOptions = {}): Promise<void> {
  const dir = dirname(path)
  const fs = <T>(step: Promise<T>): Promise<T> => step.catch((error: unknown) => {
    throw new FileWriteError(path, error)
  })
  const {handle, tempPath} = await fs(openTemp(dir, basename(path), mode))
  let closed = false
  let renamed = false
  try {
    // fchmod: open()'s mode is narrowed by the umask, and callers ask for exact bits.
    await fs(handle.chmod(mode))
    await writeChunks(handle, data, fs)
    await fs(handle.sync())
    closed = true
    await fs(handle.close())
    await fs(rename(tempPath, path))
    renamed = true
    await fs(syncDirectory(dir))
  } catch (error) {
    if (!closed) await handle.close().catch(() => {})
    if (!renamed) await unlink(tempPath).catch(() => {})
    throw error
  }
}

async function openTemp(dir: string, base: string, mode: number): Promise<{handle: FileHandle; tempPath: string}> {
  for (let attempt = 1; ; attempt++) {
    // A dot name, so that globs over the directory skip it.
    const tempPath = join(dir, `.${base}.${process.pid}-${randomBytes(6).toString('hex')}.tmp`)
    try {
      // 'wx' = O_CREAT | O_EXCL: never reuse or follow (symlink) an existing name.
      return {handle: await open(tempPath, 'wx', mode), tempPath}
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= TEMP_NAME_ATTEMPTS) throw error
    }
  }
}

async function writeChunks(handle: FileHandle, data: string | Iterable<string> | AsyncIterable<string>,
  fs: <T>(step: Promise<T>) => Promise<T>): Promise<void> {
  if (typeof data === 'string') {
    await fs(writeAll(handle, Buffer.from(data, 'utf8')))
    return
  }

  let batch: string[] = []
  let chars = 0
  const flush = async (final: boolean): Promise<void> => {
    let text = batch.length === 1 ? batch[0] : batch.join('')
    batch = []
    chars = 0
    // A chunk may end between the two halves of a surrogate pair; encoded alone, each half would
    // become U+FFFD. Keep a trailing high surrogate for the next batch.
    const last = text.charCodeAt(text.length - 1)
    if (!final && last >= 0xd800 && last <= 0xdbff) {
      batch.push(text.slice(-1))
      chars = 1
      text = text.slice(0, -1)
    }

    await fs(writeAll(handle, Buffer.from(text, 'utf8')))
  }

  // A sync iterable is walked without an await per chunk: for-await would cost a microtask per line.
  if (Symbol.asyncIterator in data) {
    for await (const chunk of data) {
      batch.push(chunk)
      chars += chunk.length
      if (chars >= WRITE_BATCH_CHARS) await flush(false)
    }
  } else {
    for (const chunk of data) {
      batch.push(chunk)
      chars += chunk.length
      if (chars >= WRITE_BATCH_CHARS) await flush(false)
    }
  }

  if (chars > 0) await flush(true)
}

/** write(2) may write less than asked (a full disk reports ENOSPC only on the next call): loop. */
async function writeAll(handle: FileHandle, buf: Buffer): Promise<void> {
  let offset = 0
  while (offset < buf.length) {
    const {bytesWritten} = await handle.write(buf, offset, buf.length - offset)
    offset += bytesWritten
  }
}

/** Makes the rename itself durable: without it, a power cut may bring back the old directory entry. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}
