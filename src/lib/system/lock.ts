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
