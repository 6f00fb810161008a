import assert from 'node:assert/strict'
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {abstractHolderUid, DAEMON_LOCK_FILE, DaemonRunningError, instanceLockName, openInstanceLock} from '../../../src/lib/daemon/index.js'
import {kernelNames} from '../../../src/lib/firewall/sets/index.js'
import type {KernelNames} from '../../../src/lib/firewall/sets/index.js'
import {acquirePidLock} from '../../../src/lib/system/index.js'

function tempDir(t: {after: (fn: () => void) => void}): string {
  const dir = mkdtempSync(join(tmpdir(), 'dw-instance-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  return dir
}

/** Set names of our own: the abstract namespace is shared by everything in this network namespace. */
function uniqueNames(): KernelNames {
  const tag = `t${process.pid}x${Math.random().toString(36).slice(2, 8)}`
  return kernelNames({firewall: {nft_table: `dw-${tag}`}, ipset_black_list: `bl-${tag}`, ipset_white_list: `wl-${tag}`})
}

async function rejection(promise: Promise<unknown>): Promise<DaemonRunningError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof DaemonRunningError, `expected DaemonRunningError, got ${String(error)}`)
    return error
  }
  assert.fail('expected a rejection')
}

test('instance - a second daemon with other state dir and socket is refused on the kernel sets, naming pid and socket', async (t) => {
  const dir = tempDir(t)
  const names = uniqueNames()
  const first = await openInstanceLock({controlSocket: join(dir, 'a.sock'), names, stateDir: join(dir, 'a')})
  try {
    assert.equal(first.abstractName, instanceLockName(names))
    assert.equal(readFileSync(join(dir, 'a', DAEMON_LOCK_FILE), 'utf8'), `${process.pid}\n`)
    const error = await rejection(openInstanceLock({controlSocket: join(dir, 'b.sock'), names, stateDir: join(dir, 'b')}))
    assert.equal(error.code, 'E_DAEMON_RUNNING')
    assert.equal(error.exitCode, 4)
    assert.match(error.message, new RegExp(`pid ${process.pid}, control socket ${join(dir, 'a.sock')}`))
    assert.match(error.message, new RegExp(`holds the kernel sets ${names.block.v4}`))
    assert.match(error.hint ?? '', /systemctl stop diswall/)
    assert.equal(existsSync(join(dir, 'b', DAEMON_LOCK_FILE)), false, 'the refused one took no lock file')

    // The state dir removed under the running one: the kernel-side name still refuses.
    rmSync(join(dir, 'a'), {force: true, recursive: true})
    await rejection(openInstanceLock({controlSocket: join(dir, 'a.sock'), names, stateDir: join(dir, 'a')}))
  } finally {
    await first.close()
  }
  // Released: the next one starts.
  const next = await openInstanceLock({controlSocket: join(dir, 'b.sock'), names, stateDir: join(dir, 'b')})
  await next.close()
  await next.close()
  assert.equal(existsSync(join(dir, 'b', DAEMON_LOCK_FILE)), false)
})

test('instance - other set names in the same state dir are refused by the lock file of a live process', async (t) => {
  const dir = tempDir(t)
  // A live process that is not this one holds the file (this process's own PID counts as a stale file).
  writeFileSync(join(dir, DAEMON_LOCK_FILE), `${process.ppid}\n`)
  const error = await rejection(openInstanceLock({controlSocket: join(dir, 's.sock'), names: uniqueNames(), stateDir: dir}))
  assert.match(error.message, new RegExp(`\\(pid ${process.ppid}\\).*holds the lock file ${join(dir, DAEMON_LOCK_FILE)}`))
  assert.equal(readFileSync(join(dir, DAEMON_LOCK_FILE), 'utf8'), `${process.ppid}\n`, 'the holder keeps its file')
})

test('acquirePidLock - a file of a dead process or garbage is taken over; release removes only our own', async (t) => {
  const dir = tempDir(t)
  const path = join(dir, 'sub', 'x.pid')
  const first = await acquirePidLock(path)
  assert.ok('held' in first)
  assert.equal(readFileSync(path, 'utf8'), `${process.pid}\n`)
  writeFileSync(path, '2147483646\n') // no such process
  const again = await acquirePidLock(path)
  assert.ok('held' in again)
  writeFileSync(path, `${process.ppid}\n`) // someone else's now
  await first.held.release()
  assert.equal(readFileSync(path, 'utf8'), `${process.ppid}\n`)
  assert.deepEqual(await acquirePidLock(path), {holder: process.ppid})
})

test('instance - the holder of the abstract name is found by its socket inode', {skip: process.getuid?.() !== 0 && 'needs root to read /proc/PID/fd'}, async (t) => {
  const dir = tempDir(t)
  const names = uniqueNames()
  const lock = await openInstanceLock({controlSocket: join(dir, 's.sock'), names, stateDir: dir})
  try {
    assert.equal(await abstractHolderUid(instanceLockName(names)), 0)
  } finally {
    await lock.close()
  }
  assert.equal(await abstractHolderUid(instanceLockName(names)), undefined)
})
