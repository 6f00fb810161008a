/**
 * IPv6 bans with real packets, for both backends: a server namespace with a TCP echo server and a
 * client namespace with three source addresses, two in one /64 and one in the neighbour /64. On
 * nftables the /64 bans live in a plain set looked up with the masked source address, single addresses
 * in a plain set, other lengths in a small interval set; on ipset all of them are one hash:net set. A
 * banned /64 must drop every address of it and nothing of the neighbour /64; an address ban only that
 * address. Then (nftables) the migration from the interval set of older releases: bans move with their
 * remaining timeouts, and the old ruleset chain finds them at once.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {FirewallBackend} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, connectNetns, createNetns, type EchoServer, type Netns, probeMany, readKernelSet, startEchoServer, waitForTcp} from '../../src/lib/lab/index.js'
import {parseAddress, parseTarget} from '../../src/lib/net/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft']})

const PORT = 8080
const SERVER = '2001:db8:5200::1'
/** Two addresses of the banned /64 and one of the neighbour /64. */
const SAME = ['2001:db8:5200::2', '2001:db8:5200::3'] as const
const NEIGHBOUR = '2001:db8:5201::2'
const BANNED_64 = '2001:db8:5200::/64'

after(async () => {
  await cleanupAll()
})

/** Which of the client's sources reach the server's echo (true) or are dropped (false). */
async function reach(client: Netns): Promise<Record<string, boolean>> {
  const sources = [...SAME, NEIGHBOUR]
  const outcomes = await probeMany(client, sources.map((from) => ({from, host: SERVER, port: PORT, proto: 'tcp'})), 1500)
  return Object.fromEntries(sources.map((from, i) => [from, outcomes[i]!.ok]))
}

async function labPair(): Promise<{client: Netns; echo: EchoServer; server: Netns}> {
  const server = await createNetns()
  const client = await createNetns()
  const pair = await connectNetns(server, client, {ipv4: ['198.51.100.17', '198.51.100.18'], ipv6: [SERVER, SAME[0]]})
  // The second address of the /64, and the neighbour /64 on the same link (the server has an address
  // there too, so it answers on-link).
  await client.run('ip', ['-6', 'addr', 'add', `${SAME[1]}/64`, 'dev', pair.b.ifname, 'nodad'])
  await client.run('ip', ['-6', 'addr', 'add', `${NEIGHBOUR}/64`, 'dev', pair.b.ifname, 'nodad'])
  await server.run('ip', ['-6', 'addr', 'add', '2001:db8:5201::1/64', 'dev', pair.a.ifname, 'nodad'])
  const echo = await startEchoServer(server, PORT)
  await waitForTcp(client, SERVER, PORT)
  return {client, echo, server}
}

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`IPv6 bans by prefix (${backend})`, {skip}, () => {
    let lab: {client: Netns; echo: EchoServer; server: Netns}
    let fw: FirewallBackend

    before(async () => {
      lab = await labPair()
      fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, lab.server.exec)
      await fw.init()
    })

    after(async () => {
      await fw?.close()
      await lab?.echo.stop()
      await lab?.client.remove()
      await lab?.server.remove()
    })

    it('a banned /64 drops every address of it and none of the neighbour /64', {timeout: 60_000}, async () => {
      assert.deepEqual(await reach(lab.client), {[SAME[0]]: true, [SAME[1]]: true, [NEIGHBOUR]: true})
      fw.add('block', {target: parseTarget(BANNED_64), ttlSec: 600})
      await fw.commit()
      assert.deepEqual(await reach(lab.client), {[SAME[0]]: false, [SAME[1]]: false, [NEIGHBOUR]: true})

      assert.equal(await fw.has('block', parseTarget(BANNED_64)), true)
      assert.equal(await fw.has('block', parseAddress(SAME[1])), true, 'an address of a banned /64 is blocked')
      assert.equal(await fw.has('block', parseAddress(NEIGHBOUR)), false)
      const listed = (await fw.list('block')).filter((e) => e.target.family === 6)
      assert.deepEqual(listed.map((e) => e.target.text), [BANNED_64])
      assert.ok(listed[0]!.ttlSec! > 540 && listed[0]!.ttlSec! <= 600, `ttl ${listed[0]!.ttlSec}`)
      // The kernel holds it where the rules look (nftables: the prefix set, as its network address).
      assert.ok((await readKernelSet(lab.server, backend, DEFAULT_NAMES.block.v6)).has(BANNED_64))

      // Idempotent, and a deletion frees the whole /64.
      fw.add('block', {target: parseTarget(BANNED_64), ttlSec: 600})
      await fw.commit()
      fw.del('block', parseTarget(BANNED_64))
      await fw.commit()
      assert.deepEqual(await reach(lab.client), {[SAME[0]]: true, [SAME[1]]: true, [NEIGHBOUR]: true})
      assert.equal(await fw.has('block', parseAddress(SAME[1])), false)
    })

    it('an address ban drops only that address; another length is kept too', {timeout: 60_000}, async () => {
      fw.add('block', {target: parseAddress(SAME[1]), ttlSec: 600})
      await fw.commit()
      assert.deepEqual(await reach(lab.client), {[SAME[0]]: true, [SAME[1]]: false, [NEIGHBOUR]: true})
      assert.equal(await fw.has('block', parseAddress(SAME[1])), true)
      assert.equal(await fw.has('block', parseAddress(SAME[0])), false)

      // A /48 that holds the neighbour /64 (not the group prefix): in the small interval set on nftables.
      fw.add('block', {target: parseTarget('2001:db8:5201::/48'), ttlSec: 600})
      await fw.commit()
      assert.deepEqual(await reach(lab.client), {[SAME[0]]: true, [SAME[1]]: false, [NEIGHBOUR]: false})
      assert.equal(await fw.has('block', parseAddress(NEIGHBOUR)), true)
      assert.deepEqual((await fw.list('block')).filter((e) => e.target.family === 6).map((e) => e.target.text).sort(),
        ['2001:db8:5200::3', '2001:db8:5201::/48'])

      // replace() (sync init, reconcile) puts each entry where the rules find it.
      await fw.replace('block', [{target: parseTarget(BANNED_64), ttlSec: 300}])
      assert.deepEqual(await reach(lab.client), {[SAME[0]]: false, [SAME[1]]: false, [NEIGHBOUR]: true})
      await fw.replace('block', [])
      assert.deepEqual(await reach(lab.client), {[SAME[0]]: true, [SAME[1]]: true, [NEIGHBOUR]: true})
    })
  })
}

describe('IPv6 bans: migration from the interval set of older releases (nftables)', {skip}, () => {
  let lab: {client: Netns; echo: EchoServer; server: Netns}

  before(async () => {
    lab = await labPair()
  })

  after(async () => {
    await lab?.echo.stop()
    await lab?.client.remove()
    await lab?.server.remove()
  })

  it('init moves the bans with their remaining timeouts, and the old ruleset chain drops them throughout', {timeout: 60_000}, async () => {
    const t = 'inet diswall'
    // The table as an older release left it: every IPv6 ban in one interval set, a ruleset applied
    // (diswall-in finds them; the guard chain is empty).
    await lab.server.run('nft', ['-f', '-'], {input: [
      `add table ${t}`,
      `add set ${t} diswall-bl { type ipv4_addr; flags timeout; }`,
      `add set ${t} diswall-bl6 { type ipv6_addr; flags interval, timeout; }`,
      `add set ${t} diswall-wl { type ipv4_addr; flags interval, timeout; }`,
      `add set ${t} diswall-wl6 { type ipv6_addr; flags interval, timeout; }`,
      `add chain ${t} diswall-sets { type filter hook input priority filter - 10; policy accept; }`,
      `add chain ${t} diswall-in { type filter hook input priority filter; policy accept; }`,
      `add rule ${t} diswall-in iifname "lo" accept`,
      `add rule ${t} diswall-in ip6 saddr @diswall-wl6 accept`,
      `add rule ${t} diswall-in ip6 saddr @diswall-bl6 drop`,
      `add rule ${t} diswall-in tcp dport 9 drop`,
      `add element ${t} diswall-bl6 { ${BANNED_64} timeout 500s, 2001:db8:5201::2 timeout 300s, 2001:db8:77::/48 timeout 900s }`,
      '',
    ].join('\n')})
    assert.deepEqual(await reach(lab.client), {[SAME[0]]: false, [SAME[1]]: false, [NEIGHBOUR]: false})

    const fw = createBackend('nftables', DEFAULT_NAMES, DEFAULT_LIMITS, lab.server.exec)
    // Probes all through the migration: not one banned source gets through.
    let probing = true
    const leaks: string[] = []
    const during = (async () => {
      while (probing) {
        for (const [from, ok] of Object.entries(await reach(lab.client))) if (ok) leaks.push(from)
      }
    })()
    const report = await fw.init()
    probing = false
    await during
    assert.deepEqual(leaks, [])
    assert.deepEqual(report.migrated, ['diswall-bl6'])
    assert.deepEqual(report.created, ['diswall-bl6-addr', 'diswall-bl6-net64'])

    const json = (set: string) => lab.server.run('nft', ['-j', 'list', 'set', 'inet', 'diswall', set])
    type Listing = {nftables: Array<{set?: {elem?: Array<{elem: {expires?: number; val: unknown}}>}}>}
    const elements = async (set: string) => new Map((JSON.parse(await json(set)) as Listing)
      .nftables.flatMap((i) => i.set?.elem ?? []).map((e) => [JSON.stringify(e.elem.val), e.elem.expires]))
    const net = await elements('diswall-bl6-net64')
    const addr = await elements('diswall-bl6-addr')
    const rest = await elements('diswall-bl6')
    assert.deepEqual([...net.keys()], ['"2001:db8:5200::"'])
    assert.ok(net.get('"2001:db8:5200::"')! > 440 && net.get('"2001:db8:5200::"')! <= 500, 'the /64 keeps its remaining timeout')
    assert.deepEqual([...addr.keys()], ['"2001:db8:5201::2"'])
    assert.ok(addr.get('"2001:db8:5201::2"')! > 240 && addr.get('"2001:db8:5201::2"')! <= 300)
    assert.deepEqual([...rest.keys()], [JSON.stringify({prefix: {addr: '2001:db8:77::', len: 48}})], 'other lengths stay')

    // The old diswall-in got the rules of the new sets right after its own; the guard chain stays empty.
    const chainIn = await lab.server.run('nft', ['list', 'chain', 'inet', 'diswall', 'diswall-in'])
    assert.match(chainIn, /ip6 saddr @diswall-bl6 drop\n\s*ip6 saddr & ffff:ffff:ffff:ffff:: == @diswall-bl6-net64 counter packets \d+ bytes \d+ drop\n\s*ip6 saddr @diswall-bl6-addr counter packets \d+ bytes \d+ drop\n\s*tcp dport 9 drop/)
    assert.doesNotMatch(await lab.server.run('nft', ['list', 'chain', 'inet', 'diswall', 'diswall-sets']), /saddr/)
    assert.deepEqual(await reach(lab.client), {[SAME[0]]: false, [SAME[1]]: false, [NEIGHBOUR]: false})
    assert.equal(await fw.has('block', parseAddress(SAME[1])), true)

    // A second init has nothing to move and lists no set.
    const again = await fw.init()
    assert.deepEqual(again, {created: [], leftovers: [], migrated: []})
    fw.del('block', parseTarget(BANNED_64))
    fw.del('block', parseAddress(NEIGHBOUR))
    await fw.commit()
    assert.deepEqual(await reach(lab.client), {[SAME[0]]: true, [SAME[1]]: true, [NEIGHBOUR]: true})
    await fw.destroy()
  })
})
