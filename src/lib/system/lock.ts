import {mkdir, open, readFile, unlink} from 'node:fs/promises'
import {dirname} from 'node:path'

import {DiswallError, ExitCode} from '../errors.js'

/** Another diswall process holds the lock for longer than we were willing to wait (exit 5). */
export class LockBusyError extends DiswallError {
  constructor(path: string, pid: number) {
    super(`${path} is held by diswall process ${pid}`, 'E_BUSY', ExitCode.COMMAND_FAILED,
      'Another apply is running (firewall watch?); try again when it has finished.')
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Runs `fn` holding an exclusive lock file (created with O_EXCL, holding our PID). A lock left by a
 * process that no longer exists is taken over. Waits up to `waitMs` for a live holder, then throws
 * LockBusyError.
 */
export async function withLock<T>(path: string, fn: () => Promise<T>, {waitMs = 30_000} = {}): Promise<T> {
  await mkdir(dirname(path), {mode: 0o700, recursive: true})
  const deadline = Date.now() + waitMs
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o600)
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
      if (!Number.isInteger(pid) || !isAlive(pid)) {
        await unlink(path).catch(() => {}) // stale: its holder is gone
        continue
      }

      if (Date.now() > deadline) throw new LockBusyError(path, pid)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  try {
    return await fn()
  } finally {
    await unlink(path).catch(() => {})
  }
}

/** A lock file held until release(). */
export interface HeldLock {
  readonly path: string
  /** Removes the lock file if it still holds our PID. Safe to call twice. */
  release(): Promise<void>
}

/**
 * Takes the lock file `path` (created with O_EXCL, mode 0600, holding our PID) without waiting, for a
 * process that holds it as long as it runs (the daemon). A file left by a process that no longer
 * exists is taken over. Creates the parent directory (0700) when missing.
 * @returns the held lock, or the PID of the live process that holds it.
 * @throws the file system's error when the file cannot be created or read (EACCES, EROFS…).
 */
export async function acquirePidLock(path: string): Promise<{held: HeldLock} | {holder: number}> {
  await mkdir(dirname(path), {mode: 0o700, recursive: true})
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o600)
      try {
        await handle.writeFile(`${process.pid}\n`)
      } finally {
        await handle.close()
      }
      break
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 5) throw error
      const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
      // Our own PID: a file left by an earlier process that had the same PID (after a reboot).
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) return {holder: pid}
      // An empty file may be a holder between open() and writeFile(): take it over only on the retry.
      if (Number.isNaN(pid) && attempt === 0) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        continue
      }
      await unlink(path).catch(() => {}) // stale: its holder is gone
    }
  }

  let released = false
  return {
    held: {
      path,
      async release() {
        if (released) return
        released = true
        const pid = Number.parseInt(await readFile(path, 'utf8').catch(() => ''), 10)
        if (pid === process.pid) await unlink(path).catch(() => {})
      },
    },
  }
}
