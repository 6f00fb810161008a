/**
 * The building blocks of `firewall apply --confirm SECS`: after a successful apply the previous state is
 * written to `<stateDir>/rollback-<token>.json` with a deadline, and a detached helper
 * (`diswall firewall rollback --token T --after SECS`) restores it unless the operator confirms in time.
 * Confirming and rolling back both claim the file with one atomic file-system operation (unlink or
 * rename), so exactly one of them wins a race.
 */
import {randomBytes} from 'node:crypto'
import {mkdir, readdir, readFile, rename, rm, unlink, writeFile} from 'node:fs/promises'
import {join} from 'node:path'

import {InvalidValueError} from '../../errors.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import {restoreState} from './state.js'
import type {SavedState} from './state.js'

/** A rollback that waits for confirmation. */
export interface PendingRollback {
  token: string
  /** Path of the rollback file. */
  file: string
  /** When the helper restores the state, in milliseconds since the epoch. */
  deadlineMs: number
  /** When the apply wrote the file, in milliseconds since the epoch. */
  createdMs: number
}

/** What a rollback file holds (JSON). */
interface RollbackFile {
  version: 1
  token: string
  deadlineMs: number
  createdMs: number
  state: SavedState
}

const FILE_PREFIX = 'rollback-'
const FILE_SUFFIX = '.json'
/** Suffix of a file claimed by a rollback in progress (or one whose restore failed, kept for inspection). */
const CLAIMED_SUFFIX = '.rolling'
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/

/** A fresh random token (16 hex digits) naming one pending rollback. */
export function newRollbackToken(): string {
  return randomBytes(8).toString('hex')
}

/**
 * The path of the rollback file of `token` in `stateDir`.
 * @throws InvalidValueError when the token is not 1 to 64 letters, digits, `_` or `-` (it becomes a file name).
 */
export function rollbackFile(stateDir: string, token: string): string {
  if (!TOKEN.test(token)) {
    throw new InvalidValueError(`rollback token ${JSON.stringify(token)} is not valid`,
      'Use the token printed by `diswall firewall apply --confirm`.')
  }
  return join(stateDir, `${FILE_PREFIX}${token}${FILE_SUFFIX}`)
}

/**
 * Writes the state to restore if the apply is not confirmed by `deadlineMs` (milliseconds since the epoch)
 * as `<stateDir>/rollback-<token>.json` (mode 0600, written to a temporary file and renamed, so a reader
 * never sees half a file). Creates `stateDir` if needed. Returns the pending rollback.
 * @throws InvalidValueError for a bad token; file-system errors.
 */
export async function writePendingRollback(stateDir: string, state: SavedState, deadlineMs: number,
  {now = Date.now(), token = newRollbackToken()}: {now?: number; token?: string} = {}): Promise<PendingRollback> {
  const file = rollbackFile(stateDir, token)
  await mkdir(stateDir, {mode: 0o700, recursive: true})
  const content: RollbackFile = {createdMs: now, deadlineMs, state, token, version: 1}
  const tmp = `${file}.${process.pid}.tmp`
  await writeFile(tmp, JSON.stringify(content), {mode: 0o600})
  await rename(tmp, file)
  return {createdMs: now, deadlineMs, file, token}
}

/** The rollbacks waiting for confirmation in `stateDir` (none when it does not exist), oldest first. */
export async function listPendingRollbacks(stateDir: string): Promise<PendingRollback[]> {
  const out: PendingRollback[] = []
  for (const name of await pendingNames(stateDir)) {
    const file = join(stateDir, name)
    try {
      const data = JSON.parse(await readFile(file, 'utf8')) as RollbackFile
      out.push({createdMs: data.createdMs, deadlineMs: data.deadlineMs, file, token: data.token})
    } catch {
      // Claimed meanwhile, or not ours to read: not pending.
    }
  }
  return out.sort((a, b) => a.createdMs - b.createdMs)
}

/**
 * Confirms the applied ruleset: removes every pending rollback file, so no helper restores anything.
 * Returns whether there was one (false: nothing was pending, or a rollback already claimed it).
 */
export async function confirmPending(stateDir: string): Promise<boolean> {
  let confirmed = false
  for (const name of await pendingNames(stateDir)) {
    try {
      await unlink(join(stateDir, name))
      confirmed = true
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
    }
  }
  return confirmed
}

/**
 * Restores the state saved for `token` if it is still pending (not confirmed, not rolled back yet), and
 * returns whether it did. The file is claimed by renaming it first, so a concurrent confirm cannot also
 * succeed; it is removed after a successful restore, and kept as `rollback-<token>.json.rolling` when the
 * restore fails. The caller (the helper) waits until the deadline before calling this.
 * @throws InvalidValueError for a bad token; CommandFailedError when the restore fails.
 */
export async function rollbackIfPending(stateDir: string, token: string, exec: Exec = defaultExec): Promise<boolean> {
  const file = rollbackFile(stateDir, token)
  const claimed = `${file}${CLAIMED_SUFFIX}`
  try {
    await rename(file, claimed)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw error
  }
  const data = JSON.parse(await readFile(claimed, 'utf8')) as RollbackFile
  await restoreState(data.state, exec)
  await rm(claimed, {force: true})
  return true
}

async function pendingNames(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(stateDir)).filter((n) => n.startsWith(FILE_PREFIX) && n.endsWith(FILE_SUFFIX) &&
      TOKEN.test(n.slice(FILE_PREFIX.length, -FILE_SUFFIX.length)))
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}
