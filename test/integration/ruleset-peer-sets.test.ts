/**
 * Large address files of the firewall directory, read from disk and applied to a real kernel on both
 * backends: a file with more than PEER_SET_THRESHOLD addresses becomes one set lookup (ipset hash:net or
 * an nft interval set), real TCP connections pass for an address in the list and not for one outside,
 * `firewall diff` is clean after the apply, a failed apply restores the rules and their sets, and a
 * flush removes the sets. Every firewall program runs inside the server namespace.
 */
import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {
  applyRuleset,
  ApplyFailedError,
  diffRuleset,
  flushRuleset,
  listPeerSets,
  PEER_SET_PREFIX,
  readRuleset,
} from '../../src/lib/firewall/ruleset/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {FirewallBackend} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, connectNetns, createNetns, type EchoServer, makeTempDir, type Netns, probeTcp, startEchoServer, uniqueLogPrefix, waitForTcp} from '../../src/lib/lab/index.js'
import {normaliseSave} from '../helpers/files.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-save', 'iptables-restore', 'nft']})

const SERVER = {v4: '198.51.100.1', v6: '2001:db8:a::1'} as const
const INSIDE = {v4: '198.51.100.2', v6: '2001:db8:a::2'} as const
const OUTSIDE = {v4: '203.0.113.2', v6: '2001:db8:b::2'} as const
const SERVER_B = {v4: '203.0.113.1', v6: '2001:db8:b::1'} as const
const NAMES = DEFAULT_NAMES
const SSH = 22

/** `count` distinct lines of 11.x.y.z and 20 of 2001:db8:ff::/64 (none of them a client), plus the extra lines. */
function addressFile(count: number, extra: readonly string[]): string {
  const lines = Array.from({length: count}, (_, i) => `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`)
  const v6 = Array.from({length: 20}, (_, i) => `2001:db8:ff::${(i + 1).toString(16)}`)
  return [...lines, ...v6, ...extra, ''].join('\n')
}

after(async () => {
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`ruleset peer sets (${backend})`, {skip}, () => {
    let server: Netns
    let inside: Netns
    let outside: Netns
    let ssh: EchoServer
    let fw: FirewallBackend
    let dir: string
    let removeDir: () => void = () => {}
    const logPrefix = uniqueLogPrefix('ps')
    const opts = () => ({backend, exec: server.exec, fwBackend: fw, logPrefix, names: NAMES})
    const reach = async (client: Netns, host: string): Promise<boolean> => (await probeTcp(client, host, SSH)).ok
    const snapshot = async (): Promise<Record<string, string>> => ({
      ip6tables: normaliseSave(await server.run('ip6tables-save')),
      iptables: normaliseSave(await server.run('iptables-save')),
      sets: [...await listPeerSets(backend, NAMES.table, server.exec)].sort().join(' '),
      ...(backend === 'nftables' ? {nft: await server.run('nft', ['-t', 'list', 'table', 'inet', NAMES.table])} : {}),
    })

    before(async () => {
      const temp = makeTempDir('dw-peer-sets-')
      dir = temp.path
      removeDir = () => temp.remove()
      for (const d of ['incoming.d', 'outgoing.d', 'local.d']) mkdirSync(join(dir, d))
      writeFileSync(join(dir, 'incoming.d', '00-established'), '')
      // Neighbour discovery, or IPv6 would not work at all.
      writeFileSync(join(dir, 'incoming.d', '05-essential-icmpv6'), '')
      writeFileSync(join(dir, 'incoming.d', '99-reject'), '')
      writeFileSync(join(dir, 'outgoing.d', '00-accept'), '')
      server = await createNetns()
      inside = await createNetns()
      outside = await createNetns()
      await connectNetns(server, inside, {ipv4: [SERVER.v4, INSIDE.v4], ipv6: [SERVER.v6, INSIDE.v6]})
      await connectNetns(server, outside, {ipv4: [SERVER_B.v4, OUTSIDE.v4], ipv6: [SERVER_B.v6, OUTSIDE.v6]})
      ssh = await startEchoServer(server, SSH)
      await waitForTcp(inside, SERVER.v4, SSH)
      await waitForTcp(outside, SERVER_B.v4, SSH)
      fw = createBackend(backend, NAMES, DEFAULT_LIMITS, server.exec)
    })

    after(async () => {
      await ssh?.stop()
      await server?.remove()
      await inside?.remove()
      await outside?.remove()
      removeDir()
    })

    it(`peer sets (${backend}) - an address of a 1,000-line file reaches ssh, one outside does not; diff clean; flush removes the sets`, {timeout: 120_000}, async () => {
      // 1,000 lines: addresses, a network, the inside client's IPv4 and IPv6 addresses (in a /120).
      writeFileSync(join(dir, 'incoming.d', '10-ssh'), addressFile(977, [INSIDE.v4, '2001:db8:a::/120', '192.0.2.0/24']))
      const model = await readRuleset(dir)
      const report = await applyRuleset(model, opts())
      assert.equal(report.applied, true)
      const sets = [...await listPeerSets(backend, NAMES.table, server.exec)]
      assert.equal(sets.length, 2, `one set per family: ${sets.join(' ')}`)
      assert.ok(sets.every((s) => s.startsWith(PEER_SET_PREFIX)))
      // One rule for the whole file per family, not one per address.
      const rules = backend === 'ipset'
        ? (await server.run('iptables-save')) + (await server.run('ip6tables-save'))
        : await server.run('nft', ['list', 'chain', 'inet', NAMES.table, 'diswall-in'])
      assert.equal(rules.split('\n').filter((l) => l.includes('dport 22')).length, 2, rules)

      assert.equal(await reach(inside, SERVER.v4), true, 'IPv4 address in the file')
      assert.equal(await reach(inside, SERVER.v6), true, 'IPv6 address in a network of the file')
      assert.equal(await reach(outside, SERVER_B.v4), false, 'IPv4 address outside the file')
      assert.equal(await reach(outside, SERVER_B.v6), false, 'IPv6 address outside the file')
      assert.deepEqual(await diffRuleset(model, opts()), {backend, changed: false, chains: []})

      // Re-applying changes nothing and keeps the same sets.
      assert.equal((await applyRuleset(model, opts())).changed, false)
      assert.deepEqual([...await listPeerSets(backend, NAMES.table, server.exec)].sort(), [...sets].sort())

      // A changed list is a changed rule (another IPv4 set; the IPv6 lines are the same); an apply removes
      // the sets of two applies ago, not the previous ones.
      writeFileSync(join(dir, 'incoming.d', '10-ssh'), addressFile(976, [INSIDE.v4, '2001:db8:a::/120', '192.0.2.0/24']))
      const changed = await readRuleset(dir)
      const diff = await diffRuleset(changed, opts())
      assert.equal(diff.changed, true)
      await applyRuleset(changed, opts())
      assert.equal((await listPeerSets(backend, NAMES.table, server.exec)).size, 3, 'the previous sets stay for a rollback')
      await applyRuleset(changed, opts())
      assert.equal((await listPeerSets(backend, NAMES.table, server.exec)).size, 2)
      assert.equal(await reach(inside, SERVER.v4), true)
      assert.equal(await reach(outside, SERVER_B.v4), false)

      const flushed = await flushRuleset(opts())
      assert.equal(flushed.removedSets?.length, 2)
      assert.equal((await listPeerSets(backend, NAMES.table, server.exec)).size, 0)
    })

    it(`peer sets (${backend}) - a failing apply puts back the previous rules and their sets, and removes the sets it created`, {timeout: 120_000}, async () => {
      writeFileSync(join(dir, 'incoming.d', '10-ssh'), addressFile(100, [INSIDE.v4, INSIDE.v6]))
      await applyRuleset(await readRuleset(dir), opts())
      const before = await snapshot()
      writeFileSync(join(dir, 'incoming.d', '10-ssh'), addressFile(200, [OUTSIDE.v4]))
      writeFileSync(join(dir, 'local.d', '50-fail'), '#!/bin/sh\nexit 1\n')
      chmodSync(join(dir, 'local.d', '50-fail'), 0o755)
      try {
        await assert.rejects(applyRuleset(await readRuleset(dir), opts()), (error: unknown) => error instanceof ApplyFailedError && error.code === 'E_APPLY_FAILED')
      } finally {
        writeFileSync(join(dir, 'local.d', '50-fail'), '#!/bin/sh\nexit 0\n')
      }
      const afterFail = await snapshot()
      assert.deepEqual(afterFail, before)
      // The sets the failed apply created are gone again; the previous ones are all there.
      assert.equal(afterFail.sets, before.sets)
      assert.equal(await reach(inside, SERVER.v4), true)
      assert.equal(await reach(outside, SERVER_B.v4), false)
      await flushRuleset(opts())
      assert.equal((await listPeerSets(backend, NAMES.table, server.exec)).size, 0)
    })

    it(`peer sets (${backend}) - a 100,000-line file applies in a few seconds`, {timeout: 180_000}, async () => {
      writeFileSync(join(dir, 'incoming.d', '10-ssh'), addressFile(99_979, [INSIDE.v4]))
      const started = performance.now()
      const model = await readRuleset(dir)
      const read = performance.now()
      await applyRuleset(model, opts())
      const applied = performance.now()
      console.log(`# ${backend}: 100,000-line file: read ${((read - started) / 1000).toFixed(2)} s, apply ${((applied - read) / 1000).toFixed(2)} s`)
      assert.equal(await reach(inside, SERVER.v4), true)
      assert.equal(await reach(outside, SERVER_B.v4), false)
      assert.deepEqual(await diffRuleset(model, opts()), {backend, changed: false, chains: []})
      await flushRuleset(opts())
    })
  })
}
