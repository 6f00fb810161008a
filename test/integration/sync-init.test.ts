/**
 * Init streamed into the kernel, for both backends: a real nats-server on loopback, an in-test
 * responder that answers the init requests like `diswall server` (streamed chunks, an empty end
 * message with the count), and the kernel sets inside a throwaway namespace. A 50k-entry answer
 * reaches the kernel through `sync init`'s library entry; a stream that stops half-way leaves the old
 * set exactly as it was (no staging set left); a ban made on this host while the answer arrives
 * survives the swap; an invalid line in the middle is refused and counted, the rest applied.
 */
import {connect, type Msg, type NatsConnection} from 'nats'
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {defaultConfig} from '../../src/lib/config/index.js'
import type {Config} from '../../src/lib/config/index.js'
import {Enforcer} from '../../src/lib/enforce/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {FirewallBackend} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, countKernelSet, createNetns, distinctIpv4, type NatsServer, type Netns, readKernelSet, startNatsServer} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import {syncInit} from '../../src/lib/ops/index.js'
import {endOfStreamHeaders, initReplyChunks, NatsTransport, streamChunkHeaders} from '../../src/lib/transport/index.js'
import type {WireEntry} from '../../src/lib/transport/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'nats-server']})

const COUNT = 50_000
const MAX_PAYLOAD = 64 * 1024

after(async () => {
  await cleanupAll()
})

/** How the responder answers one block-list init request; the allow list always gets an empty answer. */
type Answer = (reply: (data: string | Uint8Array, end?: number) => void) => Promise<void>

const entriesOf = (count: number, offset = 0): WireEntry[] => distinctIpv4(count, {offset}).map((target) => ({target, ttlSec: 3600}))

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`sync init streamed into the kernel (${backend})`, {skip}, () => {
    let nats: NatsServer
    let raw: NatsConnection
    let ns: Netns
    let fw: FirewallBackend
    let answer: Answer = async () => {}

    const config = (): Config => {
      const c = defaultConfig()
      c.firewall.backend = backend
      c.nats = {...c.nats, client_name: 'acme', client_pass: 'pw', connect_timeout: 2, port: nats.port, request_timeout: 2, server: '127.0.0.1'}
      return c
    }
    const blocked = async (): Promise<number> => countKernelSet(ns, backend, DEFAULT_NAMES.block.v4)

    before(async () => {
      nats = await startNatsServer({settings: {max_payload: MAX_PAYLOAD}, users: [{password: 'pw', user: 'acme'}, {password: 'pw', user: 'srv'}]})
      raw = await connect({pass: 'pw', port: nats.port, user: 'srv'})
      raw.subscribe('diswall.*.acme.init.*', {callback: (_error, msg: Msg) => {
        const reply = (data: string | Uint8Array, end?: number): void => {
          const h = end === undefined ? streamChunkHeaders() : endOfStreamHeaders(end)
          raw.publish(msg.reply!, data, {headers: h})
        }
        if (msg.subject.startsWith('diswall.whitelist')) reply(new Uint8Array(), 0)
        else void answer(reply)
      }})
      ns = await createNetns()
      fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
      await fw.init()
    })

    after(async () => {
      await fw?.close()
      await raw?.close()
      await nats?.stop()
      await ns?.remove()
    })

    it(`sync init (${backend}) - a ${COUNT}-entry streamed answer reaches the kernel set; entries the server dropped go`, {timeout: 120_000}, async () => {
      await fw.replace('block', [{target: parseAddress('203.0.113.200'), ttlSec: 600}])
      answer = async (reply) => {
        for await (const chunk of initReplyChunks('block', entriesOf(COUNT), MAX_PAYLOAD - 1024)) reply(chunk)
        reply(new Uint8Array(), COUNT)
      }
      const result = await syncInit(config(), {exec: ns.exec, firewall: {backend: fw, choice: {backend, reason: 'test'}}})
      assert.equal(result.lists.block.received, COUNT)
      assert.equal(result.lists.block.loaded, COUNT)
      assert.equal(await blocked(), COUNT)
      const set = await readKernelSet(ns, backend, DEFAULT_NAMES.block.v4)
      assert.ok(set.has('11.0.0.0') && set.has('11.0.195.79'))
      assert.equal(set.has('203.0.113.200'), false, 'the entry the server no longer has is gone')
    })

    it(`sync init (${backend}) - an invalid line in the middle is refused and counted; the rest is applied`, {timeout: 60_000}, async () => {
      answer = async (reply) => {
        reply('11.9.0.1 timeout 600\n11.9.0.2 timeout 600\n')
        reply('11.9.0.3 timeout 600\n300.1.2.3 timeout 600\n11.9.0.4 timeout 600\n; rm -rf / timeout 1\n')
        reply('11.9.0.5 timeout 600\n')
        reply(new Uint8Array(), 7)
      }
      const result = await syncInit(config(), {exec: ns.exec, firewall: {backend: fw, choice: {backend, reason: 'test'}}})
      assert.equal(result.lists.block.malformed, 2)
      assert.equal(result.lists.block.loaded, 5)
      assert.deepEqual([...(await readKernelSet(ns, backend, DEFAULT_NAMES.block.v4)).keys()].sort(), ['11.9.0.1', '11.9.0.2', '11.9.0.3', '11.9.0.4', '11.9.0.5'])
    })

    it(`sync init (${backend}) - a stream that stops half-way leaves the old set exactly as it was`, {timeout: 60_000}, async () => {
      const before = await readKernelSet(ns, backend, DEFAULT_NAMES.block.v4)
      answer = async (reply) => {
        let sent = 0
        for await (const chunk of initReplyChunks('block', entriesOf(20_000, 100_000), 16 * 1024)) {
          reply(chunk)
          if (++sent === 10) return // and then silence: the request timeout (2 s) cuts it
        }
      }
      await assert.rejects(syncInit(config(), {exec: ns.exec, firewall: {backend: fw, choice: {backend, reason: 'test'}}}),
        (error: Error & {code?: string}) => error.code === 'E_NATS_INIT' && /stopped after \d+ entries.*left as they were/.test(error.message))
      assert.deepEqual([...(await readKernelSet(ns, backend, DEFAULT_NAMES.block.v4)).keys()].sort(), [...before.keys()].sort())
      if (backend === 'ipset') {
        assert.deepEqual((await ns.run('ipset', ['list', '-n'])).split('\n').filter((n) => n.endsWith('-new')), [], 'no staging set left')
      }
    })

    it(`sync init (${backend}) - a ban made on this host while the answer arrives survives the swap`, {timeout: 60_000}, async () => {
      const enforcer = new Enforcer({backend: fw, config: config()})
      const transport = new NatsTransport({host: 'h1', nats: config().nats, role: 'publisher'})
      let release!: () => void
      const gate = new Promise<void>((resolve) => (release = resolve))
      let halfSent!: () => void
      const half = new Promise<void>((resolve) => (halfSent = resolve))
      // The copy is being loaded (bans before that are the transport's: it appends its own recent reports).
      let loading!: () => void
      const loadingStarted = new Promise<void>((resolve) => (loading = resolve))
      answer = async (reply) => {
        const chunks = initReplyChunks('block', entriesOf(10_000, 200_000), 16 * 1024)
        let sent = 0
        for await (const chunk of chunks) {
          reply(chunk)
          if (++sent === 5) {
            halfSent()
            await gate
          }
        }
        reply(new Uint8Array(), 10_000)
      }
      try {
        await transport.connectOnce()
        const init = transport.initOnce({
          add: async () => false,
          del: async () => false,
          replace: async (list, entries) => {
            async function* asSet() {
              for await (const batch of entries) {
                loading()
                yield batch.map((e) => ({target: e.target, ...(e.ttlSec === undefined ? {} : {ttlSec: e.ttlSec})}))
              }
            }
            await enforcer.replace(list, asSet())
          },
        })
        await half
        await loadingStarted
        // Detected here while the server's answer is half-way: it goes into the live set now.
        assert.equal((await enforcer.ban({reason: 'ssh', source: 'test', target: parseAddress('203.0.113.77')})).result, 'banned')
        assert.equal(await fw.has('block', parseAddress('203.0.113.77')), true)
        release()
        const status = await init
        assert.equal(status.block.lastError, undefined)
        assert.equal(status.block.entries, 10_000)
        const set = await readKernelSet(ns, backend, DEFAULT_NAMES.block.v4)
        assert.equal(set.size, 10_001)
        assert.ok(set.has('203.0.113.77'), 'the local ban is still in the kernel')
      } finally {
        release()
        await transport.close()
        await enforcer.settle()
      }
    })
  })
}
