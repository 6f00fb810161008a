/**
 * A publisher faster than `diswall server`, through a real nats-server: the server's pending limits
 * (small here) are reached, the excess is dropped and counted as a slow consumer, logged and shown
 * in the status; nats-server never has to cut the server off, every message is accounted for, and
 * the server serves again once it has caught up. Nothing here touches a firewall.
 */
import assert from 'node:assert/strict'
import {join} from 'node:path'
import {after, describe, it} from 'node:test'

import {defaultConfig} from '../../src/lib/config/index.js'
import {cleanupAll, makeTempDir, startNatsServer, waitFor} from '../../src/lib/lab/index.js'
import {buildNatsConfig, DiswallServer} from '../../src/lib/server/index.js'
import {connectBus, HEADER, listSubject} from '../../src/lib/transport/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['nats-server']})
const FLOOD = 20_000

after(async () => {
  await cleanupAll()
})

describe('diswall server under a flood beyond its pending limits', {skip}, () => {
  it('drops and counts the excess as a slow consumer, says so, keeps its connection and serves again', async () => {
    const temp = makeTempDir('diswall-slow-consumer-')
    const {text, users} = buildNatsConfig({accounts: [{name: 'acme'}, {name: 'globex'}], server: {user: 'diswall-server'}})
    const passwords = new Map(users.map((u) => [u.user, u.password]))
    const nats = await startNatsServer({extraConfig: text})
    const log: string[] = []
    const config = defaultConfig()
    config.nats = {...config.nats, client_name: 'diswall-server', client_pass: passwords.get('diswall-server')!, port: nats.port, server: '127.0.0.1'}
    config.server = {...config.server, account_rate_limit: 1_000_000, db: join(temp.path, 'server.db'), socket: join(temp.path, 'server.sock')}
    config.metrics = {...config.metrics, listen: ''}
    const server = new DiswallServer({
      config, configPath: join(temp.path, 'diswall.conf'), logger: {log: (level, message) => log.push(`${level} ${message}`)},
      pending: {bytes: 1 << 20, messages: 200}, version: 'test',
    })
    const acme = await connectBus({inboxPrefix: '_INBOX.acme', pass: passwords.get('acme'), reconnect: false, servers: nats.url, user: 'acme'})
    const globex = await connectBus({inboxPrefix: '_INBOX.globex', pass: passwords.get('globex'), reconnect: false, servers: nats.url, user: 'globex'})
    try {
      await server.start()
      const subject = listSubject('block', 'add', 'acme', 'h1')
      for (let i = 0; i < FLOOD; i++) acme.publish(subject, `11.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}|flood`)
      await acme.flush()
      // every message is accounted for: handled or dropped at the pending limits, none lost unseen
      const s = await waitFor(() => {
        const st = server.status()
        return st.reports.total + st.pending.dropped >= FLOOD && st.pending.messages === 0 ? st : undefined
      }, {intervalMs: 20, timeoutMs: 60_000, what: 'the server to handle or drop the whole flood'})
      assert.equal(s.reports.total + s.pending.dropped, FLOOD)
      assert.ok(s.pending.dropped > 0, 'the flood exceeded the limits')
      assert.ok(s.pending.slowConsumerEvents >= 1)
      assert.ok(s.pending.highWater <= 200)
      assert.equal(s.reports.stored, s.reports.total, 'what was not dropped was stored')
      assert.equal(s.entries.find((e) => e.account === 'acme')?.entries, s.reports.stored)
      assert.equal(s.nats.disconnects, 0, 'nats-server did not have to cut the server off')
      assert.equal(s.nats.connected, true)
      assert.ok(log.some((l) => l.startsWith('error slow consumer:')), log.join('\n'))
      await waitFor(() => server.status().pending.slowSince === undefined, {intervalMs: 20, timeoutMs: 10_000, what: 'the episode to end'})
      assert.ok(log.some((l) => /^warning slow consumer: caught up after .*; \d+ messages were dropped$/.test(l)), log.join('\n'))
      // caught up: another account's report is answered and stored
      const reply = await globex.request(listSubject('block', 'add', 'globex', 'h2'), '203.0.113.77|ssh', {timeoutMs: 10_000})
      assert.equal(reply.headers?.get(HEADER.error) ?? '', '')
      assert.equal(server.status().entries.find((e) => e.account === 'globex')?.entries, 1)
    } finally {
      await acme.close()
      await globex.close()
      await server.stop()
      await nats.stop()
      temp.remove()
    }
  })
})
