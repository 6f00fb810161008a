/**
 * Big block sets on the real kernel, for both backends, in a namespace of its own: with 50,000 bans
 * loaded, `block add`, `block del`, `allow add` and `allow del` (the library code of the commands)
 * must not read a whole block set (every program they start is recorded and checked), and a snapshot
 * of the sets saved and restored into empty sets gives back exactly the same bans.
 */
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {defaultConfig} from '../../src/lib/config/index.js'
import {restoreSnapshotFile, saveSnapshot} from '../../src/lib/daemon/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {Firewall, FirewallBackend} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, createNetns, distinctIpv4, makeTempDir, type Netns, readKernelSet, waitForKernelSetCount} from '../../src/lib/lab/index.js'
import {parseAddress, parseNetwork} from '../../src/lib/net/index.js'
import {allowAdd, blockAdd, listDel} from '../../src/lib/ops/index.js'
import type {Exec} from '../../src/lib/system/index.js'
import {integrationSkip} from '../helpers/root.js'
import {type ProgramCall, wholeSetRead} from '../helpers/set-reads.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'ss']})
const BANS = 50_000
/** IPv6 bans of the load: /64 networks (offender groups) and single addresses. */
const V6_BANS = 500

after(async () => {
  await cleanupAll()
})

for (const kind of ['ipset', 'nftables'] as const) {
  describe(`big sets (${kind})`, {skip}, () => {
    let ns: Netns
    let backend: FirewallBackend
    const calls: ProgramCall[] = []
    const recording: Exec = async (program, args, options) => {
      calls.push({args: [...args], program})
      return ns.exec(program, args, options)
    }

    before(async () => {
      ns = await createNetns()
      backend = createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, recording)
      await backend.init()
      const v6 = Array.from({length: V6_BANS}, (_, i) => i % 2 === 0
        ? parseNetwork(`2001:db8:${(i + 1).toString(16)}::/64`)
        : parseNetwork(`2001:db8:ffff:${i.toString(16)}::7/128`).address)
      await backend.replace('block', [...distinctIpv4(BANS).map((target) => ({target})), ...v6.map((target) => ({target}))])
      await waitForKernelSetCount(ns, kind, DEFAULT_NAMES.block.v4, BANS, {timeoutMs: 60_000})
    })

    after(async () => {
      await backend?.close()
      await ns?.remove()
    })

    it(`single operations (${kind}) - block add/del and allow add/del never read a whole block set`, {timeout: 120_000}, async () => {
      const fw: Firewall = {backend, choice: {backend: kind, reason: 'test'}}
      const config = defaultConfig()
      const from = calls.length
      // 12.0.0.0/8: not among the loaded bans (11.0.0.0/8), not a protected range.
      const added = await blockAdd(config, fw, ['12.0.0.7', '2001:db8:aaaa::7'], {}, ns.exec)
      assert.equal(added.changed, true)
      assert.equal(await backend.has('block', distinctIpv4(1, {first: 12, offset: 7})[0]!), true)
      assert.equal((await blockAdd(config, fw, ['12.0.0.7'], {}, ns.exec)).changed, false)
      assert.equal((await listDel(fw, 'block', ['12.0.0.7', '2001:db8:aaaa::7'])).changed, true)
      assert.equal((await listDel(fw, 'block', ['12.0.0.7'])).changed, false)
      assert.equal((await allowAdd(fw, ['198.51.100.0/24'])).changed, true)
      assert.equal(await backend.has('allow', parseAddress('198.51.100.200')), true)
      assert.equal((await listDel(fw, 'allow', ['198.51.100.0/24'])).changed, true)
      const mine = calls.slice(from)
      assert.ok(mine.length > 0)
      for (const call of mine) assert.equal(wholeSetRead(call), undefined, `${call.program} ${call.args.join(' ')}`)
    })

    it(`set-up check (${kind}) - a new command's init reads no set header after replace() made the sets`, async () => {
      const from = calls.length
      const fresh = createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, recording)
      try {
        assert.deepEqual(await fresh.init(), {created: [], leftovers: [], migrated: []})
      } finally {
        await fresh.close()
      }
      // `ipset list -t` walks every bucket of the set (~30 ms at 1M bans): the create lines with
      // replace()'s capacity pass instead.
      const listed = calls.slice(from).filter((c) => c.program === 'ipset' && c.args[0] === 'list' && c.args[1] === '-t')
      assert.deepEqual(listed, [])
    })

    it(`snapshot (${kind}) - save, then restore into empty sets, gives back every ban`, {timeout: 300_000}, async () => {
      const dir = makeTempDir('dw-big-sets-')
      try {
        const before4 = await readKernelSet(ns, kind, DEFAULT_NAMES.block.v4)
        const before6 = await readKernelSet(ns, kind, DEFAULT_NAMES.block.v6)
        const path = join(dir.path, 'sets.snapshot')
        const saved = await saveSnapshot(path, backend)
        assert.equal(saved.block, before4.size + before6.size)
        assert.equal(before4.size, BANS)
        assert.equal(before6.size, V6_BANS, [...before6.keys()].filter((k) => !k.startsWith('2001:db8:ffff:') && !k.endsWith('::/64')).join(' '))
        await backend.replace('block', [])
        assert.equal((await readKernelSet(ns, kind, DEFAULT_NAMES.block.v4)).size, 0)
        const restored = await restoreSnapshotFile(backend, path)
        assert.deepEqual(restored.problems, [])
        assert.equal(restored.added, saved.block)
        await waitForKernelSetCount(ns, kind, DEFAULT_NAMES.block.v4, BANS, {timeoutMs: 60_000})
        const after4 = await readKernelSet(ns, kind, DEFAULT_NAMES.block.v4)
        const after6 = await readKernelSet(ns, kind, DEFAULT_NAMES.block.v6)
        assert.deepEqual([...after4.keys()].sort(), [...before4.keys()].sort())
        assert.deepEqual([...after6.keys()].sort(), [...before6.keys()].sort())
        // Remaining time is kept (not reset to the set's default): never more than before, at most a few seconds less.
        for (const [target, entry] of [...after4].slice(0, 1000)) {
          const was = before4.get(target)!.expiresSec!
          assert.ok(entry.expiresSec! <= was && entry.expiresSec! >= was - 120, `${target}: ${entry.expiresSec} vs ${was}`)
        }
      } finally {
        dir.remove()
      }
    })
  })
}
