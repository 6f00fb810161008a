/**
 * The NATS transport against a real nats-server on loopback: fleet delivery between two hosts of an
 * account (own echo ignored, other accounts never seen), hostile payloads dropped and counted by
 * kind, init streamed from a responder (and a server that does not answer leaving the sets alone),
 * the offline queue across a server outage and across a restart of the transport.
 */
import {connect, headers, type NatsConnection} from 'nats'
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {defaultConfig} from '../../src/lib/config/index.js'
import {cleanupAll, makeTempDir, type NatsServer, startNatsServer, type TempDir, waitFor} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import {
  encodeInitLine,
  endOfStreamHeaders,
  HEADER,
  initReplyChunks,
  NatsTransport,
  QUEUE_FILE,
  wantsStream,
} from '../../src/lib/transport/index.js'
import type {TransportSink, WireEntry, WireList} from '../../src/lib/transport/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['nats-server']})

after(async () => {
  await cleanupAll()
})

interface Got {op: string; list: WireList; entry: WireEntry}

function recordingSink(opts: {refuse?: (entry: WireEntry) => boolean} = {}) {
  const got: Got[] = []
  const copies: Array<{list: WireList; targets: string[]}> = []
  const sink: TransportSink = {
    add: async (list, entry) => {
      got.push({entry, list, op: 'add'})
      return !(opts.refuse?.(entry) ?? false)
    },
    del: async (list, entry) => void got.push({entry, list, op: 'del'}),
    replace: async (list, entries) => {
      const targets: string[] = []
      for await (const batch of entries) for (const entry of batch) targets.push(entry.target.text)
      copies.push({list, targets})
    },
  }
  return {copies, got, sink}
}

function natsConfig(server: NatsServer | {port: number}, account = 'acme') {
  const config = defaultConfig()
  return {...config.nats, client_name: account, client_pass: 'pw', connect_timeout: 2, port: server.port, request_timeout: 2, server: '127.0.0.1'}
}

const USERS = [
  {password: 'pw', user: 'acme'},
  {password: 'pw', user: 'other'},
  {password: 'pw', user: 'srv'},
]

describe('NATS transport (real nats-server on loopback)', {skip}, () => {
  let server: NatsServer
  let raw: NatsConnection
  let dir: TempDir
  const open: NatsTransport[] = []

  const transport = (host: string, extra: Partial<ConstructorParameters<typeof NatsTransport>[0]> = {}, account = 'acme') => {
    const t = new NatsTransport({host, nats: natsConfig(server, account), reconnectJitterMs: 50, reconnectWaitMs: 100, ...extra})
    open.push(t)
    return t
  }

  before(async () => {
    server = await startNatsServer({settings: {max_payload: 8192}, users: USERS})
    raw = await connect({pass: 'pw', port: server.port, user: 'srv'})
    dir = makeTempDir('dw-nats-transport-')
  })

  after(async () => {
    for (const t of open) await t.close()
    await raw?.close()
    await server?.stop()
    dir?.remove()
  })

  it('delivers a ban of host A to host B with tag, timeout and origin; A ignores its echo; other accounts see nothing', async () => {
    const a = recordingSink()
    const b = recordingSink()
    const o = recordingSink()
    const ta = transport('a')
    const tb = transport('b')
    const to = transport('o', {}, 'other')
    await ta.start(a.sink)
    await tb.start(b.sink)
    await to.start(o.sink)
    assert.equal(ta.stats().state, 'connected')
    ta.publishAdd('block', {tag: 'port-scan 23/tcp', target: parseAddress('203.0.113.7'), ttlSec: 900})
    ta.publishAdd('allow', {comment: 'office', target: parseAddress('198.51.100.9')})
    ta.publishDel('block', {target: parseAddress('203.0.113.8')})
    await waitFor(() => b.got.length >= 3, {timeoutMs: 5000, what: 'B to receive three messages'})
    const ban = b.got.find((g) => g.op === 'add' && g.list === 'block')
    assert.deepEqual(ban?.entry, {origin: 'a', tag: 'port-scan 23/tcp', target: parseAddress('203.0.113.7'), ttlSec: 900})
    assert.equal(b.got.find((g) => g.list === 'allow')?.entry.comment, 'office')
    assert.equal(b.got.find((g) => g.op === 'del')?.entry.target.text, '203.0.113.8')
    await ta.flush()
    await tb.flush()
    assert.equal(a.got.length, 0, 'A does not apply its own reports')
    assert.equal(ta.stats().echoes, 3)
    assert.equal(o.got.length, 0, 'another account never sees them')
    assert.equal(tb.stats().received['block.add'], 1)
    assert.equal(tb.stats().applied['block.add'], 1)
  })

  it('drops malformed, oversized and hostile payloads and counts them by kind; valid ones still arrive', async () => {
    const b = recordingSink()
    const tb = transport('b2')
    await tb.start(b.sink)
    const h = headers()
    h.set(HEADER.timeout, 'forever')
    const sends: Array<[string, string | Uint8Array, ReturnType<typeof headers>?]> = [
      ['diswall.blacklist.acme.add.evil', '203.0.113.7; flush ruleset'],
      ['diswall.blacklist.acme.add.evil', `203.0.113.7|${'x'.repeat(3000)}`],
      ['diswall.blacklist.acme.add.evil', new Uint8Array([0x32, 0xff, 0x30])],
      ['diswall.blacklist.acme.add.evil', '203.0.113.7\n1.1.1.1'],
      ['diswall.blacklist.acme.add.evil', ''],
      ['diswall.blacklist.acme.add.evil', '203.0.113.7', h],
      ['diswall.blacklist.new', '203.0.113.9|soon'],
      ['diswall.blacklist.other.add.evil', '203.0.113.10'],
      ['diswall.blacklist.acme.add.good', '203.0.113.11|ssh'],
      ['diswall.blacklist.new', '203.0.113.12|3600'],
    ]
    for (const [subject, payload, hdrs] of sends) raw.publish(subject, payload, hdrs ? {headers: hdrs} : undefined)
    await raw.flush()
    await waitFor(() => b.got.length >= 2, {timeoutMs: 5000, what: 'the two valid messages'})
    await new Promise((resolve) => setTimeout(resolve, 200))
    assert.deepEqual(b.got.map((g) => g.entry.target.text).sort(), ['203.0.113.11', '203.0.113.12'])
    assert.equal(b.got.find((g) => g.entry.target.text === '203.0.113.12')?.entry.ttlSec, 3600)
    assert.deepEqual(tb.stats().refused, {address: 1, empty: 1, encoding: 2, header: 1, oversized: 1, timeout: 1})
    assert.equal(tb.stats().received.global, 1)
  })

  it('init: streamed answers of any size are replaced in one copy; an old server’s one-message answer too', async () => {
    const entries = Array.from({length: 3000}, (_, i): WireEntry => ({target: parseAddress(`10.1.${i >> 8}.${i & 255}`), ttlSec: 600 + i}))
    const sub = raw.subscribe('diswall.*.acme.init.*', {callback: (_error, msg) => {
      const list: WireList = msg.subject.startsWith('diswall.blacklist') ? 'block' : 'allow'
      void (async () => {
        if (list === 'allow') {
          // An original server: one message, no headers, a blank line.
          msg.respond(`\n${encodeInitLine('allow', {comment: 'office', target: parseAddress('198.51.100.0')})}\n`)
          return
        }
        assert.ok(wantsStream(msg.headers))
        const stream = headers()
        stream.set(HEADER.stream, '1')
        for await (const chunk of initReplyChunks('block', entries, 4096)) raw.publish(msg.reply!, chunk, {headers: stream})
        raw.publish(msg.reply!, new Uint8Array(), {headers: endOfStreamHeaders(entries.length)})
      })()
    }})
    try {
      const c = recordingSink()
      const tc = transport('c')
      await tc.start(c.sink)
      await waitFor(() => c.copies.length === 2, {timeoutMs: 10_000, what: 'both lists replaced'})
      const block = c.copies.find((x) => x.list === 'block')!
      assert.equal(block.targets.length, 3000)
      assert.equal(block.targets[2999], '10.1.11.183')
      assert.deepEqual(c.copies.find((x) => x.list === 'allow')!.targets, ['198.51.100.0'])
      await waitFor(() => tc.stats().init.block.entries === 3000, {timeoutMs: 5000, what: 'the init status'})
      assert.equal(tc.stats().init.allow.entries, 1)
    } finally {
      sub.unsubscribe()
    }
  })

  it('init: a stream cut short or no server at all leaves the lists alone', async () => {
    const sub = raw.subscribe('diswall.blacklist.acme.init.*', {callback: (_error, msg) => {
      const stream = headers()
      stream.set(HEADER.stream, '1')
      raw.publish(msg.reply!, '203.0.113.1 timeout 60\n', {headers: stream}) // and then silence
    }})
    try {
      const d = recordingSink()
      const td = transport('d')
      await td.start(d.sink)
      await waitFor(() => td.stats().init.block.lastError !== undefined && td.stats().init.allow.lastError !== undefined,
        {timeoutMs: 10_000, what: 'both inits to fail'})
      assert.match(td.stats().init.block.lastError!, /stopped after 1 entries/)
      assert.match(td.stats().init.allow.lastError!, /no server answers/)
      assert.equal(d.copies.length, 0, 'nothing replaced')
    } finally {
      sub.unsubscribe()
    }
  })

  it('queues reports while the server is away, keeps them across a restart, and sends them on connect', async () => {
    // A port with no server yet.
    const probe = await startNatsServer({users: USERS})
    const port = probe.port
    await probe.stop()
    const queuePath = `${dir.path}/${QUEUE_FILE}`
    const offline = new NatsTransport({host: 'q', nats: natsConfig({port}), queuePath, reconnectJitterMs: 50, reconnectWaitMs: 100})
    await offline.start(recordingSink().sink)
    assert.equal(offline.stats().state, 'reconnecting')
    for (let i = 1; i <= 3; i++) offline.publishAdd('block', {tag: 'ssh', target: parseAddress(`203.0.113.${100 + i}`), ttlSec: 900})
    assert.equal(offline.stats().queued, 3)
    await offline.close() // the daemon stops while NATS is down: the queue is written
    const back = await startNatsServer({listen: `127.0.0.1:${port}`, users: USERS})
    try {
      const listener = await connect({pass: 'pw', port, user: 'srv'})
      const seen: string[] = []
      listener.subscribe('diswall.blacklist.acme.add.*', {callback: (_e, msg) => seen.push(msg.string())})
      await listener.flush()
      const restarted = new NatsTransport({host: 'q', nats: natsConfig({port}), queuePath, reconnectJitterMs: 50, reconnectWaitMs: 100})
      open.push(restarted)
      await restarted.start(recordingSink().sink)
      await waitFor(() => seen.length >= 3, {timeoutMs: 15_000, what: 'the queued reports'})
      assert.deepEqual(seen.sort(), ['203.0.113.101|ssh', '203.0.113.102|ssh', '203.0.113.103|ssh'])
      assert.equal(restarted.stats().queued, 0)
      await restarted.close()
      await listener.close()
    } finally {
      await back.stop()
    }
  })
})
