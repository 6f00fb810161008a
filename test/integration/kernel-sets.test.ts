/**
 * The kernel sets with real packets, for both backends: a server namespace with a TCP echo server and
 * a client namespace, joined by a veth pair with TEST-NET addresses (198.51.100.0/24, 2001:db8::/32,
 * which diswall does not protect, so no --force is needed). The CLI runs inside the server namespace
 * (`ip netns exec`); the tests assert on real TCP connections, on kernel state read with ipset/nft/ss,
 * and on the --json envelope. Last, a bulk load through the library (1,000,000 entries with ipset,
 * 100,000 with nftables, whose listing is slow) checks the count in the kernel and that the loaded set
 * still drops the client's packets.
 */
import assert from 'node:assert/strict'
import {existsSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'

import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES, type SetEntry} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, connectNetns, countKernelSet, createNetns, distinctIpv4, type EchoServer, establishedPeers, type Netns, openTcpConnection, probeTcp, readKernelSet, startEchoServer, waitForKernelSetCount, waitForTcp, makeTempDir} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import {type CliResult, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'ss', 'conntrack']})

const BUILT_CLI = fileURLToPath(new URL('../../dist/commands/block/add.js', import.meta.url))
const SERVER = {v4: '198.51.100.1', v6: '2001:db8:5100::1'} as const
const CLIENT = {v4: '198.51.100.2', v6: '2001:db8:5100::2'} as const
/** Allow-listed networks that hold the client (and the server). */
const LAB_NET = {v4: '198.51.100.0/28', v6: '2001:db8:5100::/64'} as const
const PORT = 8080
const SETS = {block: {v4: DEFAULT_NAMES.block.v4, v6: DEFAULT_NAMES.block.v6}, allow: {v4: DEFAULT_NAMES.allow.v4, v6: DEFAULT_NAMES.allow.v6}}
/** Entries of the bulk load: ipset takes the full design capacity; nft 1.0.6 lists 1M in ~70 s, so 100k. */
const BULK = {ipset: 1_000_000, nftables: 100_000} as const

after(async () => {
  // Safety net only: every describe removes its own namespaces and files.
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`kernel sets (${backend})`, {skip}, () => {
    let server: Netns
    let client: Netns
    let echo: EchoServer
    let configFile: string
    let removeConfigDir: () => void = () => {}

    /** `diswall ARGS… -c CONFIG --json` inside the server namespace. */
    const diswall = (...args: string[]): Promise<CliResult> =>
      runCli([...args, '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', server.name]})

    before(async () => {
      assert.ok(existsSync(BUILT_CLI), `the CLI is not built (${BUILT_CLI} is missing): run npm run build first`)
      const temp = makeTempDir('dw-kernel-sets-')
      const dir = temp.path
      removeConfigDir = () => temp.remove()

      configFile = join(dir, 'diswall.conf')
      // state_dir in the temp dir: the list commands mark their changes there (sets.changed).
      writeFileSync(configFile, `[firewall]\nbackend = "${backend}"\n[daemon]\nstate_dir = ${JSON.stringify(join(dir, 'state'))}\n`)
      server = await createNetns()
      client = await createNetns()
      await connectNetns(server, client, {ipv4: [SERVER.v4, CLIENT.v4], ipv6: [SERVER.v6, CLIENT.v6]})
      echo = await startEchoServer(server, PORT)
      // Both families pass before diswall has touched anything.
      await waitForTcp(client, SERVER.v4, PORT)
      await waitForTcp(client, SERVER.v6, PORT)
    })

    after(async () => {
      await echo?.stop()
      await client?.remove()
      await server?.remove()
      removeConfigDir()
    })

    for (const family of ['v4', 'v6'] as const) {
      it(`block add (${backend}) - drops new IP${family} connections of the address until block del`, {timeout: 90_000}, async () => {
        const addr = CLIENT[family]
        const other = family === 'v4' ? 'v6' : 'v4'
        // IPv6 also covers --timeout: the entry expires after 10 minutes instead of a day.
        const timeoutArgs = family === 'v6' ? ['--timeout', '10m'] : []

        const added = await diswall('block', 'add', addr, ...timeoutArgs)
        assertSuccess(added)
        assert.equal(added.json.result.backend, backend)
        assert.equal(added.json.result.changed, true)
        assert.deepEqual(added.json.result.entries, [{changed: true, target: addr}])
        assert.deepEqual(added.json.warnings, [])

        const entry = (await readKernelSet(server, backend, SETS.block[family])).get(addr)
        assert.ok(entry, `${addr} is not in ${SETS.block[family]}`)
        const ttl = family === 'v6' ? 600 : 86_400
        assert.ok(entry.expiresSec !== undefined && entry.expiresSec > ttl - 60 && entry.expiresSec <= ttl,
          `expires in ${entry.expiresSec} s, expected about ${ttl}`)

        const blocked = await probeTcp(client, SERVER[family], PORT)
        assert.deepEqual(blocked, {code: 'ETIMEDOUT', ok: false}, 'the SYN is dropped, so the connect times out')
        // Only the blocked family is affected.
        assert.equal((await probeTcp(client, SERVER[other], PORT)).ok, true)

        const again = await diswall('block', 'add', addr, ...timeoutArgs)
        assertSuccess(again)
        assert.equal(again.json.result.changed, false)
        assert.deepEqual(again.json.result.entries, [{changed: false, target: addr}])

        const listed = await diswall('block', 'list')
        assertSuccess(listed)
        assert.deepEqual(listed.json.result.entries.map((e: {target: string}) => e.target), [addr])
        assert.equal(listed.json.result.count, 1)

        const deleted = await diswall('block', 'del', addr)
        assertSuccess(deleted)
        assert.equal(deleted.json.result.changed, true)
        assert.deepEqual(deleted.json.result.entries, [{changed: true, target: addr}])
        assert.equal((await readKernelSet(server, backend, SETS.block[family])).has(addr), false)
        await waitForTcp(client, SERVER[family], PORT)

        const deletedAgain = await diswall('block', 'del', addr)
        assertSuccess(deletedAgain)
        assert.equal(deletedAgain.json.result.changed, false)
      })
    }

    it(`allow add (${backend}) - an allow-listed network passes although its address is in the block set`, {timeout: 90_000}, async () => {
      const blocked = await diswall('block', 'add', CLIENT.v4, CLIENT.v6)
      assertSuccess(blocked)
      assert.deepEqual(blocked.json.result.entries, [{changed: true, target: CLIENT.v4}, {changed: true, target: CLIENT.v6}])
      for (const family of ['v4', 'v6'] as const) assert.equal((await probeTcp(client, SERVER[family], PORT)).ok, false)

      const allowed = await diswall('allow', 'add', LAB_NET.v4, LAB_NET.v6, '-m', 'test lab')
      assertSuccess(allowed)
      assert.equal(allowed.json.result.changed, true)
      assert.deepEqual(allowed.json.result.entries, [{changed: true, target: LAB_NET.v4}, {changed: true, target: LAB_NET.v6}])

      for (const family of ['v4', 'v6'] as const) {
        const entry = (await readKernelSet(server, backend, SETS.allow[family])).get(LAB_NET[family])
        assert.deepEqual(entry, {comment: 'test lab', target: LAB_NET[family]}, `${LAB_NET[family]} in ${SETS.allow[family]}`)
        await waitForTcp(client, SERVER[family], PORT)
        // The ban is still there; the allow set wins.
        assert.ok((await readKernelSet(server, backend, SETS.block[family])).has(CLIENT[family]))
      }

      const allowedAgain = await diswall('allow', 'add', LAB_NET.v4, LAB_NET.v6, '-m', 'test lab')
      assertSuccess(allowedAgain)
      assert.equal(allowedAgain.json.result.changed, false)

      const listed = await diswall('allow', 'list')
      assertSuccess(listed)
      assert.deepEqual(listed.json.result.entries, [
        {comment: 'test lab', family: 4, target: LAB_NET.v4, ttlSec: null},
        {comment: 'test lab', family: 6, target: LAB_NET.v6, ttlSec: null},
      ])

      // An allow-listed address is protected: blocking it again is refused and changes nothing.
      const refused = await diswall('block', 'add', CLIENT.v4)
      assert.equal(refused.code, 2, refused.stdout + refused.stderr)
      assert.equal(refused.json?.ok, false)
      assert.equal(refused.json.error.code, 'E_PROTECTED')

      const removed = await diswall('allow', 'del', LAB_NET.v4, LAB_NET.v6)
      assertSuccess(removed)
      assert.equal(removed.json.result.changed, true)
      for (const family of ['v4', 'v6'] as const) {
        assert.equal((await readKernelSet(server, backend, SETS.allow[family])).size, 0)
        assert.deepEqual(await probeTcp(client, SERVER[family], PORT), {code: 'ETIMEDOUT', ok: false})
      }

      assertSuccess(await diswall('block', 'del', CLIENT.v4, CLIENT.v6))
      for (const family of ['v4', 'v6'] as const) await waitForTcp(client, SERVER[family], PORT)
    })

    for (const family of ['v4', 'v6'] as const) {
      it(`block add --kill (${backend}) - cuts an established IP${family} connection of the address`, {timeout: 90_000}, async () => {
        const addr = CLIENT[family]
        const conn = await openTcpConnection(client, SERVER[family], PORT)
        try {
          assert.deepEqual(await establishedPeers(server, PORT), [{address: addr, port: conn.localPort}])

          const killed = await diswall('block', 'add', addr, '--kill')
          assertSuccess(killed)
          assert.equal(killed.json.result.changed, true)
          assert.equal(killed.json.result.killed.length, 1)
          assert.equal(killed.json.result.killed[0].target, addr)
          assert.equal(killed.json.result.killed[0].sockets, 1, JSON.stringify(killed.json.result.killed))

          // ss -K aborts the server's socket, which sends a reset: the client sees it at once.
          assert.deepEqual(await conn.waitClosed(5000), {code: 'ECONNRESET'})
          assert.deepEqual(await establishedPeers(server, PORT), [])
          assert.equal((await probeTcp(client, SERVER[family], PORT)).ok, false, 'and it cannot come back')
        } finally {
          await conn.stop()
        }

        assertSuccess(await diswall('block', 'del', addr))
        await waitForTcp(client, SERVER[family], PORT)
      })
    }

    it(`${backend} backend - replace() loads ${BULK[backend].toLocaleString('en')} distinct IPv4 entries, and the set still drops`, {timeout: 180_000}, async (t) => {
      const count = BULK[backend]
      const fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, server.exec)
      await fw.init()

      let started = performance.now()
      // The client is one of the entries, so its packets show that the loaded set is the live one.
      const entries: SetEntry[] = distinctIpv4(count - 1).map((addr) => ({target: addr}))
      entries.push({target: parseAddress(CLIENT.v4)})
      const generatedMs = performance.now() - started

      started = performance.now()
      await fw.replace('block', entries)
      const loadMs = performance.now() - started
      t.diagnostic(`${backend}: ${count} entries built in ${Math.round(generatedMs)} ms, ` +
        `replace() took ${Math.round(loadMs)} ms (${Math.round(count / (loadMs / 1000)).toLocaleString('en')}/s)`)

      // Polls: nft lists a set inconsistently while the kernel still resizes it after a bulk insert.
      const countMs = await waitForKernelSetCount(server, backend, SETS.block.v4, count)
      t.diagnostic(`${backend}: the kernel listed all ${count} entries after ${Math.round(countMs)} ms`)
      assert.equal(await fw.has('block', entries[0]!.target), true)
      assert.equal(await fw.has('block', entries[count - 2]!.target), true)
      assert.deepEqual(await probeTcp(client, SERVER.v4, PORT), {code: 'ETIMEDOUT', ok: false})
      assert.equal((await probeTcp(client, SERVER.v6, PORT)).ok, true)

      // A second replace swaps in exactly the new list: the client is not in it, so it passes again.
      started = performance.now()
      await fw.replace('block', entries.slice(0, 1000))
      t.diagnostic(`${backend}: replacing ${count} entries by 1000 took ${Math.round(performance.now() - started)} ms`)
      await waitForKernelSetCount(server, backend, SETS.block.v4, 1000)
      await waitForTcp(client, SERVER.v4, PORT)

      await fw.replace('block', [])
      assert.equal(await countKernelSet(server, backend, SETS.block.v4), 0)
    })
  })
}

/** Exit 0 and an `ok` envelope; shows the output otherwise. */
function assertSuccess(result: CliResult): void {
  assert.equal(result.code, 0, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
  assert.equal(result.json?.ok, true, result.stdout)
}
