/**
 * The lab's star network: members on one bridge reach each other and the hub directly, a nats-server in
 * the hub is reachable from every member, and close() leaves no namespace behind.
 */
import assert from 'node:assert/strict'
import {after, describe, it} from 'node:test'

import {cleanupAll, listNetns, openStarNetwork, probeTcp, startEchoServer, startNatsServer, type StarNetwork} from '../../src/lib/lab/index.js'
import {integrationSkip} from '../helpers/root.js'

const READ_GREETING = `const s = require('node:net').connect(Number(process.argv[2]), process.argv[1])
s.once('data', (d) => { process.stdout.write(String(d).slice(0, 5)); s.destroy() })
s.on('error', (e) => process.stdout.write(e.code))
setTimeout(() => { process.stdout.write('timeout'); s.destroy() }, 3000).unref()`

const skip = integrationSkip({programs: ['ip', 'nats-server']})

after(async () => {
  await cleanupAll()
})

describe('lab star network', {skip}, () => {
  it('joins members on one segment, reaches a nats-server in the hub, and removes everything on close', async () => {
    let star: StarNetwork | undefined
    try {
      star = await openStarNetwork({members: ['a', 'b', 'c']})
      const [a, b, c] = ['a', 'b', 'c'].map((name) => star!.member(name))
      assert.deepEqual([a!.ipv4, b!.ipv4, c!.ipv4], ['198.18.0.1', '198.18.0.2', '198.18.0.3'])
      await assert.rejects(star.addMember('a'), /exists/)

      await startEchoServer(c!.netns, 8080)
      assert.equal((await probeTcp(a!.netns, c!.ipv4, 8080)).ok, true, 'IPv4 from a member to another')
      assert.equal((await probeTcp(b!.netns, c!.ipv6, 8080)).ok, true, 'IPv6 from a member to another')
      assert.equal((await probeTcp(b!.netns, c!.ipv4, 8081)).ok, false, 'a closed port stays closed')

      const nats = await startNatsServer({listen: `${star.hubIpv4}:-1`, netns: star.hub})
      // nats-server greets every client with an INFO line.
      const greeting = await a!.netns.run(process.execPath, ['-e', READ_GREETING, star.hubIpv4, String(nats.port)])
      assert.match(greeting, /^INFO /, 'the hub from a member')
      await nats.stop()

      const d = await star.addMember('d')
      assert.equal((await probeTcp(d.netns, c!.ipv4, 8080)).ok, true, 'a member added later')
      const names = [star.hub.name, ...star.members.map((m) => m.netns.name)]
      await star.close()
      const left = new Set(await listNetns())
      assert.deepEqual(names.filter((n) => left.has(n)), [], 'no namespace is left')
    } finally {
      await star?.close()
    }
  })
})
