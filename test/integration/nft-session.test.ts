/**
 * The persistent `nft -i` session against the real nft and kernel, inside a throwaway namespace:
 * NftSession on its own (the stderr contract it relies on: errors and the marker's echo on stderr, one
 * transaction per line), then NftBackend with the session on: commits land in the kernel, a failing
 * batch falls back to `nft -f -` and the rest lands, a session process killed by PID is survived,
 * close() leaves no process.
 */
import assert from 'node:assert/strict'
import {statSync} from 'node:fs'
import {homedir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {CommandFailedError} from '../../src/lib/errors.js'
import {DEFAULT_LIMITS, DEFAULT_NAMES, NftBackend, NftSession} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, createNetns, type Netns, readKernelSet, waitFor} from '../../src/lib/lab/index.js'
import {parseAddress, parseTarget} from '../../src/lib/net/index.js'
import {netnsCoprocess} from '../../src/lib/system/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'nft']})
const BL = DEFAULT_NAMES.block.v4
const BL6 = DEFAULT_NAMES.block.v6
const WL = DEFAULT_NAMES.allow.v4

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

/** mtime of the nft history file of the test's HOME, or undefined: the session must not write it. */
function historyStamp(): number | undefined {
  try {
    return statSync(join(homedir(), '.nft.history')).mtimeMs
  } catch {
    return undefined
  }
}

describe('nft session (kernel)', {skip}, () => {
  let ns: Netns
  /** The session the backend made last (a factory call per backend). */
  let session: NftSession | undefined
  const backends: NftBackend[] = []

  /** An NftBackend whose session runs inside the namespace. */
  const backendWith = (): NftBackend => {
    const fw = new NftBackend(DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec, {
      session: () => (session = new NftSession({spawn: netnsCoprocess(ns.name)})),
    })
    backends.push(fw)
    return fw
  }

  const keys = async (set: string, table = 'diswall'): Promise<string[]> => [...(await readKernelSet(ns, 'nftables', set, table)).keys()].sort()

  before(async () => {
    ns = await createNetns()
  })

  after(async () => {
    for (const fw of backends) await fw.close()
    await ns?.remove()
  })

  it('NftSession - one transaction per batch: a failed batch applies nothing and reports its stderr; the process goes on', async () => {
    await ns.run('nft', ['-f', '-'], {input: 'add table inet dw-t\nadd set inet dw-t s { type ipv4_addr; flags timeout; }\n'})
    const stamp = historyStamp()
    const own = new NftSession({spawn: netnsCoprocess(ns.name)})
    const s = 'add element inet dw-t s'
    try {
      await own.run([`${s} { 198.51.100.1 timeout 600s }`, `${s} { 198.51.100.2 }`])
      const pid = own.pid
      assert.ok(pid !== undefined && (await ns.pids()).includes(pid), 'the session runs inside the namespace')

      await assert.rejects(own.run([`${s} { 198.51.100.3 }`, 'add element inet dw-t nosuch { 198.51.100.4 }', `${s} { 198.51.100.5 }`]),
        (error: unknown) => {
          assert.ok(error instanceof CommandFailedError)
          assert.match(error.stderr, /^Error: No such file or directory\nadd element inet dw-t s \{ 198\.51\.100\.3 \}; .*\n *\^+\n$/)
          return true
        })
      await assert.rejects(own.run([`${s} { 198.51.100.300 }`]), {stderr: /^Error: /})
      // Deleting an absent element fails in the kernel, after nft has sent the batch: still nothing applied.
      await assert.rejects(own.run([`${s} { 198.51.100.6 }`, 'delete element inet dw-t s { 198.51.100.7 }']),
        {stderr: /Could not process rule: No such file or directory/})
      await own.run([])
      await own.run([`${s} { 198.51.100.8 }`, 'delete element inet dw-t s { 198.51.100.8 }'])
      assert.equal(own.pid, pid, 'one process for every batch, errors included')
      assert.deepEqual(await keys('s', 'dw-t'), ['198.51.100.1', '198.51.100.2'])
      const entry = (await readKernelSet(ns, 'nftables', 's', 'dw-t')).get('198.51.100.1')!
      assert.ok(entry.expiresSec !== undefined && entry.expiresSec > 590 && entry.expiresSec <= 600)
    } finally {
      await own.close()
      await ns.run('nft', ['delete', 'table', 'inet', 'dw-t'])
    }

    assert.deepEqual(await ns.pids(), [])
    assert.equal(historyStamp(), stamp, 'no history written to the HOME of the caller')
  })

  it('NftBackend with a session - commits land in the kernel without a process per commit', async () => {
    const fw = backendWith()
    await fw.init()
    fw.add('block', {target: parseAddress('198.51.100.7'), ttlSec: 600})
    fw.add('block', {target: parseAddress('2001:db8::7'), ttlSec: 60})
    fw.add('allow', {comment: 'lab # 1; east', target: parseTarget('192.0.2.0/24')})
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
    // Re-banning refreshes the timeout (add/delete/add, or a plain add where the kernel refreshes).
    fw.add('block', {target: parseAddress('198.51.100.7'), ttlSec: 3600})
    await fw.commit()
    assert.deepEqual(fw.sessionStats, {batches: 23, fallbacks: 0})
    assert.equal(session?.pid, pid, 'one process for every commit')

    const v4 = await readKernelSet(ns, 'nftables', BL)
    assert.equal(v4.size, 20)
    assert.ok(v4.has('198.51.100.7') && !v4.has('198.51.100.101') && v4.has('198.51.100.120'))
    const entry = v4.get('198.51.100.7')!
    assert.ok(entry.expiresSec !== undefined && entry.expiresSec > 3590 && entry.expiresSec <= 3600)
    assert.ok((await readKernelSet(ns, 'nftables', BL6)).has('2001:db8::7'))
    assert.deepEqual((await readKernelSet(ns, 'nftables', WL)).get('192.0.2.0/24'), {comment: 'lab # 1; east', target: '192.0.2.0/24'})
    await fw.destroy()
    await fw.close()
  })

  it('NftBackend with a session - a failing batch goes through nft -f: the good entries land, overlaps are resolved', async () => {
    const fw = backendWith()
    await fw.init()
    fw.add('allow', {target: parseTarget('10.0.0.0/8')})
    await fw.commit()

    // 10.1.2.3 overlaps 10.0.0.0/8 in the interval set: the session's transaction fails as a whole,
    // nft -f halves it, 192.0.2.7 lands and the overlap is reported.
    fw.add('allow', {target: parseTarget('192.0.2.7')})
    fw.add('allow', {target: parseTarget('10.1.2.3')})
    await assert.rejects(fw.commit(), (error: unknown) => error instanceof CommandFailedError && error.args[0] === '-f' &&
      /interval overlaps/.test(error.stderr))
    assert.deepEqual(await keys(WL), ['10.0.0.0/8', '192.0.2.7'])
    assert.deepEqual(fw.sessionStats, {batches: 1, fallbacks: 1})

    // An IPv6 network over a banned address of it: the address and the /64 sit in two plain sets, so
    // there is no overlap to resolve and both commits go through the session.
    fw.add('block', {target: parseAddress('2001:db8::7'), ttlSec: 600})
    await fw.commit()
    fw.add('block', {target: parseTarget('2001:db8::/64'), ttlSec: 600})
    await fw.commit()
    assert.deepEqual(await keys(BL6), ['2001:db8::/64', '2001:db8::7'])
    assert.deepEqual(fw.sessionStats, {batches: 3, fallbacks: 1})

    // A comment outside ASCII skips the session (nft -i would drop its bytes) and is kept intact.
    fw.add('allow', {comment: 'café', target: parseTarget('198.51.100.0/24')})
    await fw.commit()
    assert.equal((await readKernelSet(ns, 'nftables', WL)).get('198.51.100.0/24')?.comment, 'café')
    assert.deepEqual(fw.sessionStats, {batches: 3, fallbacks: 1})

    // The session goes on.
    fw.add('block', {target: parseAddress('198.51.100.1'), ttlSec: 600})
    await fw.commit()
    assert.deepEqual(fw.sessionStats, {batches: 4, fallbacks: 1})
    assert.deepEqual(await keys(BL), ['198.51.100.1'])
    await fw.destroy()
    await fw.close()
  })

  it('NftBackend with a session - a session process killed by its PID is survived', async () => {
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
    assert.deepEqual(await keys(BL), ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
    await fw.destroy()
    await fw.close()
  })

  it('NftBackend with a session - close() leaves no process, and later commits still work', async () => {
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
    await fw.commit() // through nft -f
    assert.deepEqual(await ns.pids(), [])
    assert.deepEqual(await keys(BL), ['198.51.100.1', '198.51.100.2'])
    await fw.destroy()
  })
})
