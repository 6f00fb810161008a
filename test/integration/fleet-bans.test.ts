/**
 * What a host does with the bans of the fleet, against the real kernel sets of both backends in a
 * throwaway namespace: a remote ban never shortens a longer ban this host made (the kernel itself
 * replaces an element's timeout when it is added again, which is checked first), a remote delete still
 * deletes, the hourly statistics read the real packet counters of the set rules after real packets
 * from a client namespace were dropped and accepted, and a ban cuts a real connection while an address
 * without one starts no program, whether conntrack tracks flows in the namespace or not.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {defaultConfig} from '../../src/lib/config/index.js'
import {Enforcer, findConnected} from '../../src/lib/enforce/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES, type FirewallBackend, readSetCounters} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, connectNetns, createNetns, type Netns, openTcpConnection, readKernelSet, startEchoServer} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import type {Exec} from '../../src/lib/system/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'ss', 'conntrack']})

const HOST = '198.51.100.1'
const CLIENT = '198.51.100.2'
/** A second client address: allow-listed, so its packets count as accepted. */
const FRIEND = '198.51.100.3'

after(async () => {
  await cleanupAll()
})

for (const kind of ['ipset', 'nftables'] as const) {
  describe(`fleet bans on the host (${kind})`, {skip}, () => {
    let host: Netns
    let client: Netns
    let backend: FirewallBackend
    const ttlOf = async (text: string) => (await readKernelSet(host, kind, DEFAULT_NAMES.block.v4)).get(text)?.expiresSec

    before(async () => {
      host = await createNetns()
      client = await createNetns()
      const link = await connectNetns(host, client, {ipv4: [HOST, CLIENT], ipv6: ['2001:db8:5101::1', '2001:db8:5101::2']})
      await client.run('ip', ['addr', 'add', `${FRIEND}/32`, 'dev', link.b.ifname])
      backend = createBackend(kind, DEFAULT_NAMES, DEFAULT_LIMITS, host.exec)
      await backend.init()
    })

    after(async () => {
      await backend?.close()
      await client?.remove()
      await host?.remove()
    })

    it(`${kind} - the kernel replaces the timeout of an element added again (why the enforcer keeps the longer one)`, async () => {
      backend.add('block', {target: parseAddress('203.0.113.70'), ttlSec: 86_400})
      await backend.commit()
      backend.add('block', {target: parseAddress('203.0.113.70'), ttlSec: 900})
      await backend.commit()
      const ttl = await ttlOf('203.0.113.70')
      assert.ok(ttl !== undefined && ttl <= 900, `timeout ${ttl}`)
    })

    it(`${kind} - a remote 15-minute ban keeps this host's 1-day ban; a longer remote ban extends it; a remote delete deletes`, async () => {
      const config = defaultConfig()
      config.firewall.kill_connections = false
      const enforcer = new Enforcer({backend, config, exec: host.exec})
      const target = parseAddress('203.0.113.80')
      assert.equal((await enforcer.ban({reason: 'port-scan 23/tcp', source: 'kmsg', target, ttlSec: 86_400})).result, 'banned')
      assert.equal((await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote server', target, ttlSec: 900})).result, 'banned')
      const kept = await ttlOf('203.0.113.80')
      assert.ok(kept !== undefined && kept > 86_000, `timeout ${kept} after the remote ban`)
      await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote server', target, ttlSec: 604_800})
      const extended = await ttlOf('203.0.113.80')
      assert.ok(extended !== undefined && extended > 600_000, `timeout ${extended} after the longer remote ban`)
      await enforcer.unban(target)
      assert.equal(await ttlOf('203.0.113.80'), undefined)
      // Gone means gone: a later short remote ban is not lengthened by the lifted one.
      await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote server', target, ttlSec: 900})
      const fresh = await ttlOf('203.0.113.80')
      assert.ok(fresh !== undefined && fresh <= 900, `timeout ${fresh}`)
    })

    for (const tracking of [false, true]) {
      it(`${kind} - a ban cuts the address's connection; an address without one starts no program (conntrack ${tracking ? 'tracking' : 'idle'})`,
        async () => {
          const port = tracking ? 8082 : 8081
          const echo = await startEchoServer(host, port)
          try {
            if (tracking) {
              // A rule that uses conntrack (as the `established` template does): flows are tracked from now on.
              await host.run('nft', ['-f', '-'], {input: 'add table inet dwtest\nadd chain inet dwtest c { type filter hook input priority 0; }\n' +
                'add rule inet dwtest c ct state established counter\n'})
            }
            const connection = await openTcpConnection(client, HOST, port)
            const programs: string[] = []
            const exec: Exec = (program, args, options) => (programs.push(program), host.exec(program, args, options))
            const config = defaultConfig()
            config.firewall.kill_connections = true
            // The tables of the host namespace, read from inside it.
            const enforcer = new Enforcer({backend, config, exec, findConnected: (addrs) => findConnected(addrs, async (path) => {
              try {
                return await host.run('cat', [path])
              } catch {
                return undefined
              }
            })})
            await enforcer.ban({reason: 'port-scan 23/tcp', source: 'remote h2', target: parseAddress('203.0.113.99'), ttlSec: 600})
            await enforcer.settle()
            assert.equal(programs.length, 0, `no connection: no ss, no conntrack (${programs.join(' ')})`)
            await enforcer.ban({reason: 'ssh', source: 'remote h2', target: parseAddress(CLIENT), ttlSec: 600})
            await enforcer.settle()
            assert.ok(programs.includes('ss'), programs.join(' '))
            assert.equal(enforcer.stats.killed.sockets, 1)
            if (tracking) assert.ok(enforcer.stats.killed.conntrack >= 1, `conntrack ${enforcer.stats.killed.conntrack}`)
            await connection.waitClosed()
          } finally {
            await echo.stop()
            backend.del('block', parseAddress(CLIENT))
            await backend.commit()
            if (tracking) await host.run('nft', ['delete', 'table', 'inet', 'dwtest'])
          }
        })
    }

    it(`${kind} - the statistics read the packets the block set dropped and the allow set accepted`, async () => {
      const before = await readSetCounters(kind, DEFAULT_NAMES, host.exec)
      backend.add('block', {target: parseAddress(CLIENT), ttlSec: 600})
      backend.add('allow', {comment: 'friend', target: parseAddress(FRIEND)})
      await backend.commit()
      // 5 datagrams of 100 bytes of payload from each client address (128 bytes on the wire with the IPv4 and UDP headers).
      const send = (from: string) => client.run(process.execPath, ['-e', `
        const s = require('node:dgram').createSocket('udp4')
        s.bind({address: '${from}'}, async () => {
          for (let i = 0; i < 5; i++) await new Promise((r) => s.send(Buffer.alloc(100), 9, '${HOST}', r))
          s.close()
        })`])
      await send(CLIENT)
      await send(FRIEND)
      const now = await readSetCounters(kind, DEFAULT_NAMES, host.exec)
      assert.equal(now.packetsDropped - before.packetsDropped, 5)
      assert.equal(now.bytesDropped - before.bytesDropped, 5 * 128)
      assert.equal(now.packetsAccepted - before.packetsAccepted, 5)
      assert.equal(now.bytesAccepted - before.bytesAccepted, 5 * 128)
    })
  })
}
