/**
 * The live steps of install and uninstall, and the boot-time restore, against the real kernel of a
 * throwaway namespace (both backends), with real TCP connections from two client namespaces: the SSH
 * session that runs the install keeps working under the default-drop ruleset, a stranger does not get
 * in; the boot unit's command restores the snapshot's bans before the ruleset; uninstall leaves no
 * diswall rule, chain, table or set behind, and the port is reachable again.
 */
import assert from 'node:assert/strict'
import {rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {parseConfig} from '../../src/lib/config/index.js'
import type {Config} from '../../src/lib/config/index.js'
import {writeDefaultFirewallDir} from '../../src/lib/firewall/ruleset/index.js'
import {DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import {firewallBoot, protectAndApply, removeKernelState} from '../../src/lib/install/index.js'
import {cleanupAll, connectNetns, createNetns, type EchoServer, makeTempDir, type Netns, openTcpConnection, probeTcp, readKernelSet,
  startEchoServer, type TcpConnection, waitForTcp} from '../../src/lib/lab/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-save', 'iptables-restore', 'nft', 'ss']})
const SERVER_A = '198.51.100.1'
const CLIENT_A = '198.51.100.2'
const SERVER_B = '203.0.113.1'
const CLIENT_B = '203.0.113.2'

after(async () => {
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`install on a live host (${backend})`, {skip}, () => {
    let server: Netns
    let clientA: Netns
    let clientB: Netns
    let ssh: EchoServer
    let session: TcpConnection
    let config: Config
    let stateDir: string
    let remove: () => void = () => {}

    /** Every diswall object in the namespace's kernel, as text (empty when none). */
    const diswallInKernel = async (): Promise<string> => [
      await server.run('ipset', ['list', '-n']),
      await server.run('iptables-save'),
      await server.run('ip6tables-save'),
      await server.run('nft', ['list', 'ruleset']),
    ].join('\n').split('\n').filter((l) => /diswall/.test(l)).join('\n')

    before(async () => {
      const temp = makeTempDir('dw-install-live-')
      remove = () => temp.remove()
      const fwDir = join(temp.path, 'firewall')
      stateDir = join(temp.path, 'state')
      await writeDefaultFirewallDir(fwDir)
      // SSH open to nobody: only the allow set lets the session's peer in.
      rmSync(join(fwDir, 'incoming.d', '07-ssh'))
      config = parseConfig(`[firewall]\nbackend = "${backend}"\ndir = "${fwDir}"\n[daemon]\nstate_dir = "${stateDir}"\n[detect]\nskip_private = false\n`, 'test.conf').config
      server = await createNetns()
      clientA = await createNetns()
      clientB = await createNetns()
      await connectNetns(server, clientA, {ipv4: [SERVER_A, CLIENT_A]})
      await connectNetns(server, clientB, {ipv4: [SERVER_B, CLIENT_B]})
      ssh = await startEchoServer(server, 22)
      await waitForTcp(clientA, SERVER_A, 22)
      session = await openTcpConnection(clientA, SERVER_A, 22)
    })

    after(async () => {
      await session?.stop()
      await ssh?.stop()
      for (const ns of [clientA, clientB, server]) await ns?.remove()
      remove()
    })

    it(`install (${backend}) - the SSH peer goes into the allow set before the default-drop ruleset; a stranger is dropped`, async () => {
      const report = await protectAndApply(config, {}, server.exec)
      assert.deepEqual(report.allowedSshPeers, [CLIENT_A])
      assert.equal(report.applied, true)
      assert.equal(session.closed(), undefined, 'the session survived the apply')
      assert.deepEqual((await probeTcp(clientA, SERVER_A, 22)).ok, true)
      assert.deepEqual((await probeTcp(clientB, SERVER_B, 22, 500)).ok, false)
      const allow = [...(await readKernelSet(server, backend, DEFAULT_NAMES.allow.v4)).values()]
      assert.deepEqual(allow.map((e) => e.target.replace(/\/32$/, '')), [CLIENT_A])
      // Again: the peer is already allowed, nothing new.
      assert.deepEqual((await protectAndApply(config, {}, server.exec)).allowedSshPeers, [])
    })

    it(`uninstall (${backend}) - removes every rule, chain, table and set; the port is open again`, async () => {
      const report = await removeKernelState(config, server.exec)
      assert.equal(report.setsRemoved, true)
      assert.equal(await diswallInKernel(), '')
      assert.equal((await probeTcp(clientB, SERVER_B, 22)).ok, true)
      // Idempotent.
      await removeKernelState(config, server.exec)
      assert.equal(await diswallInKernel(), '')
    })

    it(`boot (${backend}) - restores the snapshot's bans and allow entries, then applies the ruleset`, async () => {
      const now = Math.floor(Date.now() / 1000)
      writeFileSync(join(stateDir, 'sets.snapshot'), `# diswall snapshot v1 saved ${new Date().toISOString()}\n`
        + `block ${CLIENT_B} expires ${now + 600}\nallow ${CLIENT_A} expires never comment "admin"\n# end 2 entries\n`)
      const report = await firewallBoot(config, {exec: server.exec})
      assert.deepEqual([report.restored, report.applied, report.problems], [2, true, []])
      const block = [...(await readKernelSet(server, backend, DEFAULT_NAMES.block.v4)).values()]
      assert.deepEqual(block.map((e) => e.target.replace(/\/32$/, '')), [CLIENT_B])
      assert.equal((await probeTcp(clientA, SERVER_A, 22)).ok, true)
      assert.equal((await probeTcp(clientB, SERVER_B, 22, 500)).ok, false)
      await removeKernelState(config, server.exec)
    })
  })
}
