/**
 * The persistent `ipset -exist -` session against the real ipset and kernel, inside a throwaway
 * namespace: IpsetSession on its own (the stderr contract it relies on), then IpsetBackend with the
 * session on: commits land in the kernel, a failing batch falls back to `ipset restore` and the rest
 * lands, a session process killed by PID is survived, close() leaves no process.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {CommandFailedError} from '../../src/lib/errors.js'
import {DEFAULT_LIMITS, DEFAULT_NAMES, IpsetBackend, IpsetSession} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, countKernelSet, createNetns, type Netns, readKernelSet, waitFor} from '../../src/lib/lab/index.js'
import {parseAddress, parseTarget} from '../../src/lib/net/index.js'
import {netnsCoprocess} from '../../src/lib/system/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables']})
const BL = DEFAULT_NAMES.block.v4
const BL6 = DEFAULT_NAMES.block.v6

after(async () => {
  // Safety net only: every describe removes its own namespace.
  await cleanupAll()
})

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('ipset session (kernel)', {skip}, () => {
  let ns: Netns
  /** The session the backend made last (a factory call per backend). */
  let session: IpsetSession | undefined
  const backends: IpsetBackend[] = []

  /** An IpsetBackend whose session runs inside the namespace. */
  const backendWith = (limits = DEFAULT_LIMITS): IpsetBackend => {
    const fw = new IpsetBackend(DEFAULT_NAMES, limits, ns.exec, {
      session: (sentinelSet) => (session = new IpsetSession({sentinelSet, spawn: netnsCoprocess(ns.name)})),
    })
    backends.push(fw)
    return fw
  }

  before(async () => {
    ns = await createNetns()
  })

  after(async () => {
    for (const fw of backends) await fw.close()
    await ns?.remove()
  })

  it('IpsetSession - applies a batch, reports a failed line with its stderr and applies the lines around it', async () => {
    await ns.run('ipset', ['create', 'dw-t', 'hash:ip', 'timeout', '600'])
    const own = new IpsetSession({sentinelSet: 'dw-t', spawn: netnsCoprocess(ns.name)})
    try {
      await own.run(['add dw-t 198.51.100.1', 'add dw-t 198.51.100.1']) // -exist: the second is no error
      await assert.rejects(own.run(['add dw-t 198.51.100.2', 'add nosuch 198.51.100.3', 'add dw-t 198.51.100.4']), (error: unknown) => {
        assert.ok(error instanceof CommandFailedError)
        assert.match(error.stderr, /^ipset v[\d.]+: The set with the given name does not exist\n$/)
        return true
      })
      await assert.rejects(own.run(['add dw-t 198.51.100.300']), {stderr: /Syntax error/})
      // The sentinel address itself in the set: "Warning: … is in set" still ends the batch.
      await own.run(['add dw-t 255.255.255.255'])
      await own.run(['del dw-t 255.255.255.255'])
      assert.deepEqual([...(await readKernelSet(ns, 'ipset', 'dw-t')).keys()].sort(), ['198.51.100.1', '198.51.100.2', '198.51.100.4'])
    } finally {
      await own.close()
      await ns.run('ipset', ['destroy', 'dw-t'])
    }
  })

  it('IpsetBackend with a session - commits land in the kernel without a process per commit', async () => {
    const fw = backendWith()
    await fw.init()
    fw.add('block', {target: parseAddress('198.51.100.7'), ttlSec: 600})
    fw.add('block', {target: parseAddress('2001:db8::7'), ttlSec: 60})
    fw.add('allow', {comment: 'lab', target: parseTarget('192.0.2.0/24')})
    await fw.commit()
    const pid = session?.pid
    assert.ok(pid !== undefined && isAlive(pid), 'the session process runs')
    assert.ok((await ns.pids()).includes(pid), 'inside the namespace')

    for (let n = 1; n <= 20; n++) {
      fw.add('block', {target: parseAddress(`198.51.100.${100 + n}`), ttlSec: 600})
      await fw.commit()
    }

    fw.del('block', parseAddress('198.51.100.101'))
    await fw.commit()
    assert.deepEqual(fw.sessionStats, {batches: 22, fallbacks: 0})
    assert.equal(session?.pid, pid, 'one process for every commit')

    const v4 = await readKernelSet(ns, 'ipset', BL)
    assert.equal(v4.size, 20)
    assert.ok(v4.has('198.51.100.7') && !v4.has('198.51.100.101') && v4.has('198.51.100.120'))
    const entry = v4.get('198.51.100.7')!
    assert.ok(entry.expiresSec !== undefined && entry.expiresSec > 590 && entry.expiresSec <= 600)
    assert.ok((await readKernelSet(ns, 'ipset', BL6)).has('2001:db8::7'))
    assert.deepEqual((await readKernelSet(ns, 'ipset', DEFAULT_NAMES.allow.v4)).get('192.0.2.0/24'), {comment: 'lab', target: '192.0.2.0/24'})
    await fw.destroy()
    await fw.close()
  })

  it('IpsetBackend with a session - a failing batch (set full) goes through ipset restore and every entry lands', async () => {
    const fw = backendWith({...DEFAULT_LIMITS, blockMax: 4})
    await fw.init()
    for (let n = 1; n <= 10; n++) fw.add('block', {target: parseAddress(`198.51.100.${n}`), ttlSec: 600})
    await fw.commit()
    assert.deepEqual(fw.sessionStats, {batches: 0, fallbacks: 1})
    assert.equal(await countKernelSet(ns, 'ipset', BL), 10)
    assert.match(await ns.run('ipset', ['list', '-t', BL]), /maxelem 16 /, 'grown twice by the restore path')

    // The session goes on with the grown set.
    fw.add('block', {target: parseAddress('198.51.100.11'), ttlSec: 600})
    await fw.commit()
    assert.deepEqual(fw.sessionStats, {batches: 1, fallbacks: 1})
    assert.equal(await countKernelSet(ns, 'ipset', BL), 11)
    await fw.destroy()
    await fw.close()
  })

  it('IpsetBackend with a session - a session process killed by its PID is survived', async () => {
    const fw = backendWith()
    await fw.init()
    fw.add('block', {target: parseAddress('198.51.100.1'), ttlSec: 600})
    await fw.commit()
    const pid = session!.pid!
    process.kill(pid, 'SIGKILL')
    await waitFor(() => !isAlive(pid) || undefined, {what: `session process ${pid} to die`})

    // Whether this commit meets the dead process (fallback) or a new one, the entry lands.
    fw.add('block', {target: parseAddress('198.51.100.2'), ttlSec: 600})
    await fw.commit()
    fw.add('block', {target: parseAddress('198.51.100.3'), ttlSec: 600})
    await fw.commit()
    const newPid = session!.pid
    assert.ok(newPid !== undefined && newPid !== pid && isAlive(newPid), 'a new session process')
    assert.equal(fw.sessionStats.batches + fw.sessionStats.fallbacks, 3)
    assert.deepEqual([...(await readKernelSet(ns, 'ipset', BL)).keys()].sort(), ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
    await fw.destroy()
    await fw.close()
  })

  it('IpsetBackend with a session - close() leaves no process, and later commits still work', async () => {
    const fw = backendWith()
    await fw.init()
    fw.add('block', {target: parseAddress('198.51.100.1'), ttlSec: 600})
    await fw.commit()
    const pid = session!.pid!
    assert.ok(isAlive(pid))
    await fw.close()
    assert.equal(isAlive(pid), false)
    assert.deepEqual(await ns.pids(), [])

    fw.add('block', {target: parseAddress('198.51.100.2'), ttlSec: 600})
    await fw.commit() // through ipset restore
    assert.deepEqual(await ns.pids(), [])
    assert.equal(await countKernelSet(ns, 'ipset', BL), 2)
    await fw.destroy()
  })
})
