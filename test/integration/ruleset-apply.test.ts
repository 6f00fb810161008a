/**
 * The ruleset applied to a real kernel, for both backends, with real TCP connections: a server namespace
 * (echo servers on ports 22 and 80) and two client namespaces, each on its own veth pair with TEST-NET
 * addresses. The models are built in code. Every firewall program runs inside the server namespace.
 */
import assert from 'node:assert/strict'
import {chmodSync, existsSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {
  applyRuleset,
  ApplyFailedError,
  diffRuleset,
  expandBuiltinTemplate,
  flushRuleset,
  renderRuleset,
  type Rule,
  type RuleFile,
  type RulesetModel,
} from '../../src/lib/firewall/ruleset/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {FirewallBackend} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, connectNetns, createNetns, type EchoServer, type Netns, type ProbeResult, probeTcp, readKernelSet, startEchoServer, uniqueLogPrefix, waitForTcp, makeTempDir} from '../../src/lib/lab/index.js'
import {parseAddress, parseNetwork} from '../../src/lib/net/index.js'
import {normaliseSave} from '../helpers/files.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-save', 'iptables-restore', 'nft']})

const SERVER_A = {v4: '198.51.100.1', v6: '2001:db8:a::1'} as const
const CLIENT_A = {v4: '198.51.100.2', v6: '2001:db8:a::2'} as const
const SERVER_B = {v4: '203.0.113.1', v6: '2001:db8:b::1'} as const
const CLIENT_B = {v4: '203.0.113.2', v6: '2001:db8:b::2'} as const
const FAMILIES = ['v4', 'v6'] as const
const NAMES = DEFAULT_NAMES

const OK = {ok: true} as const
const REFUSED = {code: 'ECONNREFUSED', ok: false} as const
const DROPPED = {code: 'ETIMEDOUT', ok: false} as const

after(async () => {
  // Safety net only: every describe removes its own namespaces and files.
  await cleanupAll()
})

function ruleFile(dir: string, name: string, rules: Array<Omit<Rule, 'origin'>>): RuleFile {
  const file = `/fw/${dir}/${name}`
  return {name, origin: {file}, rules: rules.map((r) => ({...r, origin: {file}})), templateName: name.replace(/^\d*-/, '')}
}

function withoutOrigin(rules: Rule[]): Array<Omit<Rule, 'origin'>> {
  return rules.map(({origin: _origin, ...rule}) => rule)
}

/** ssh (22) only from client A, http (80) from everyone, everything else logged and rejected. */
function baseModel(parts: Partial<RulesetModel> = {}): RulesetModel {
  return {
    blacklist: {disabled: false, entries: []},
    dir: '/fw',
    disabled: false,
    incoming: [
      ruleFile('incoming.d', '00-established', [{state: ['established', 'related'], verdict: 'accept'}]),
      ruleFile('incoming.d', '05-essential-icmpv6', [
        {family: 6, icmpType: 'neighbor-solicitation', proto: 'icmpv6', verdict: 'accept'},
        {family: 6, icmpType: 'neighbor-advertisement', proto: 'icmpv6', verdict: 'accept'},
      ]),
      ruleFile('incoming.d', '10-ssh', [{dport: '22', peers: [parseNetwork(CLIENT_A.v4), parseNetwork(CLIENT_A.v6)], proto: 'tcp', verdict: 'accept'}]),
      ruleFile('incoming.d', '20-http', [{dport: '80', proto: 'tcp', verdict: 'accept'}]),
      // The log template: per-source limits (hashlimit / nft meters), also per peer and for one family.
      ruleFile('incoming.d', '97-23', withoutOrigin(expandBuiltinTemplate('log', {
        direction: 'incoming', origin: {file: '/fw/incoming.d/97-23'}, peers: [parseNetwork(CLIENT_B.v4), parseNetwork('2001:db8:b::/48')],
        port: {port: '23', protos: ['tcp']},
      }))),
      ruleFile('incoming.d', '98-log', withoutOrigin(expandBuiltinTemplate('log', {direction: 'incoming', origin: {file: '/fw/incoming.d/98-log'}}))),
      ruleFile('incoming.d', '99-reject', [{proto: 'tcp', tcpReset: true, verdict: 'reject'}, {verdict: 'reject'}]),
    ],
    local: [],
    outgoing: [
      ruleFile('outgoing.d', '00-established', [{state: ['established', 'related', 'new'], verdict: 'accept'}]),
      ruleFile('outgoing.d', '90-log', withoutOrigin(expandBuiltinTemplate('log', {
        direction: 'outgoing', origin: {file: '/fw/outgoing.d/90-log'}, peers: [parseNetwork('192.0.2.0/24'), parseNetwork('2001:db8:ff::1')],
      }))),
    ],
    whitelist: {disabled: false, entries: []},
    ...parts,
  }
}

/** iptables-save output without the `# Generated/Completed` comments and with the counters zeroed. */
for (const backend of ['ipset', 'nftables'] as const) {
  describe(`ruleset apply (${backend})`, {skip}, () => {
    let server: Netns
    let clientA: Netns
    let clientB: Netns
    let serverIfA: string
    let servers: EchoServer[] = []
    let fw: FirewallBackend
    let dir: string
    let removeDir: () => void = () => {}
    const logPrefix = uniqueLogPrefix('rs')

    const opts = () => ({backend, exec: server.exec, fwBackend: fw, logPrefix, names: NAMES})
    const probe = async (client: Netns, host: string, port: number): Promise<Partial<ProbeResult>> => {
      const result = await probeTcp(client, host, port)
      return result.ok ? OK : result
    }
    /** Probes from both clients to both ports over both families, as one comparable object. */
    const matrix = async (): Promise<Record<string, Partial<ProbeResult>>> => {
      const out: Record<string, Partial<ProbeResult>> = {}
      for (const f of FAMILIES) {
        for (const port of [22, 80]) {
          out[`A ${f} ${port}`] = await probe(clientA, SERVER_A[f], port)
          out[`B ${f} ${port}`] = await probe(clientB, SERVER_B[f], port)
        }
      }
      return out
    }
    const BASE_MATRIX = {
      'A v4 22': OK, 'A v4 80': OK, 'A v6 22': OK, 'A v6 80': OK,
      'B v4 22': REFUSED, 'B v4 80': OK, 'B v6 22': REFUSED, 'B v6 80': OK,
    }
    /**
     * The kernel state a restore must reproduce exactly: both iptables dumps, and with nftables diswall's
     * table (without set elements). Not `nft list ruleset` with iptables: it lists iptables-nft's chains in
     * creation order, which a restore changes, and their packet counters.
     */
    const snapshot = async (): Promise<Record<string, string>> => ({
      ip6tables: normaliseSave(await server.run('ip6tables-save')),
      iptables: normaliseSave(await server.run('iptables-save')),
      ...(backend === 'nftables' ? {nft: await server.run('nft', ['-t', 'list', 'table', 'inet', NAMES.table])} : {}),
    })
    const writeScript = (name: string, body: string): {name: string; path: string} => {
      const path = join(dir, 'local.d', name)
      writeFileSync(path, `#!/bin/sh\n${body}\n`)
      chmodSync(path, 0o755)
      return {name, path}
    }

    before(async () => {
      const temp = makeTempDir('dw-ruleset-')
      dir = temp.path
      mkdirSync(join(dir, 'local.d'))
      removeDir = () => temp.remove()
      server = await createNetns()
      clientA = await createNetns()
      clientB = await createNetns()
      const pairA = await connectNetns(server, clientA, {ipv4: [SERVER_A.v4, CLIENT_A.v4], ipv6: [SERVER_A.v6, CLIENT_A.v6]})
      await connectNetns(server, clientB, {ipv4: [SERVER_B.v4, CLIENT_B.v4], ipv6: [SERVER_B.v6, CLIENT_B.v6]})
      serverIfA = pairA.a.ifname
      servers = [await startEchoServer(server, 22), await startEchoServer(server, 80)]
      for (const f of FAMILIES) {
        await waitForTcp(clientA, SERVER_A[f], 22)
        await waitForTcp(clientB, SERVER_B[f], 22)
      }
      fw = createBackend(backend, NAMES, DEFAULT_LIMITS, server.exec)
    })

    after(async () => {
      for (const s of servers) await s.stop()
      await clientA?.remove()
      await clientB?.remove()
      await server?.remove()
      removeDir()
    })

    it(`apply (${backend}) - tcp/22 only from one peer, tcp/80 from everyone, the rest rejected`, {timeout: 120_000}, async () => {
      const report = await applyRuleset(baseModel(), opts())
      assert.equal(report.applied, true)
      assert.equal(report.changed, true)
      assert.deepEqual(await matrix(), BASE_MATRIX)
      // What the kernel lists is exactly what was rendered.
      assert.deepEqual(await diffRuleset(baseModel(), opts()), {backend, changed: false, chains: []})
    })

    it(`apply (${backend}) - the block set drops an address before the open ports; the allow set lets one through`, {timeout: 120_000}, async () => {
      await applyRuleset(baseModel(), opts())
      fw.add('block', {target: parseAddress(CLIENT_B.v4)})
      fw.add('block', {target: parseAddress(CLIENT_A.v6)})
      fw.add('allow', {comment: 'test', target: parseAddress(CLIENT_B.v6)})
      await fw.commit()
      try {
        assert.deepEqual(await matrix(), {
          ...BASE_MATRIX,
          'A v6 22': DROPPED, 'A v6 80': DROPPED, // blocked: not even the open port answers
          'B v4 22': DROPPED, 'B v4 80': DROPPED,
          'B v6 22': OK, // allow-listed: passes before the reject
        })
      } finally {
        fw.del('block', parseAddress(CLIENT_B.v4))
        fw.del('block', parseAddress(CLIENT_A.v6))
        fw.del('allow', parseAddress(CLIENT_B.v6))
        await fw.commit()
      }
      assert.deepEqual(await matrix(), BASE_MATRIX)
    })

    it(`apply (${backend}) - whitelist.d opens its ports to an address, blacklist.d drops one`, {timeout: 120_000}, async () => {
      const model = baseModel({
        blacklist: {disabled: false, entries: [{auto: false, name: CLIENT_A.v6, network: parseNetwork(CLIENT_A.v6), origin: {file: `/fw/blacklist.d/${CLIENT_A.v6}`}}]},
        whitelist: {disabled: false, entries: [{
          auto: false, name: '203.0.113.0|24', network: parseNetwork('203.0.113.0/24'), origin: {file: '/fw/whitelist.d/203.0.113.0|24'},
          ports: [{port: '22', proto: 'tcp'}],
        }]},
      })
      await applyRuleset(model, opts())
      assert.deepEqual(await matrix(), {...BASE_MATRIX, 'A v6 22': DROPPED, 'A v6 80': DROPPED, 'B v4 22': OK})

      // Disabled lists: the chains stay (and are jumped to) but hold nothing.
      await applyRuleset({...model, blacklist: {...model.blacklist, disabled: true}, whitelist: {...model.whitelist, disabled: true}}, opts())
      assert.deepEqual(await matrix(), BASE_MATRIX)
    })

    it(`apply (${backend}) - re-applying is idempotent: one jump each, nothing reported as changed`, {timeout: 120_000}, async () => {
      await applyRuleset(baseModel(), opts())
      const first = await snapshot()
      const again = await applyRuleset(baseModel(), opts())
      assert.equal(again.changed, false)
      assert.deepEqual(await snapshot(), first)
      if (backend === 'ipset') {
        for (const tool of ['iptables', 'ip6tables']) {
          const input = (await server.run(tool, ['-S', 'INPUT'])).trim().split('\n')
          // The ruleset's diswall-in does the guard's work in order, so the guard's jump is gone.
          assert.deepEqual(input.slice(0, 2), ['-P INPUT ACCEPT', '-A INPUT -j diswall-in'], tool)
          assert.equal(input.filter((l) => l === '-A INPUT -j diswall-sets').length, 0, tool)
          assert.equal(input.filter((l) => l === '-A INPUT -j diswall-in').length, 1, tool)
          const output = (await server.run(tool, ['-S', 'OUTPUT'])).trim().split('\n')
          assert.equal(output.filter((l) => l === '-A OUTPUT -j diswall-out').length, 1, tool)
        }
      } else {
        const listing = await server.run('nft', ['list', 'chain', 'inet', NAMES.table, 'diswall-in'])
        const rendered = renderRuleset(baseModel(), opts()).transactions[0].chains.find((c) => c.name === 'diswall-in')!
        assert.equal(listing.split('\n').filter((l) => l.startsWith('\t\t') && !l.includes(' hook ')).length, rendered.rules.length)
      }
    })

    it(`apply (${backend}) - a failing local.d script restores the previous firewall exactly and the apply throws`, {timeout: 120_000}, async () => {
      await applyRuleset(baseModel(), opts())
      // Foreign state that a restore must keep: a nat MASQUERADE rule and filter rules of another tool.
      await server.run('iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', serverIfA, '-j', 'MASQUERADE'])
      await server.run('iptables', ['-A', 'INPUT', '-s', '192.0.2.99', '-p', 'tcp', '--dport', '9999', '-j', 'DROP'])
      await server.run('ip6tables', ['-A', 'INPUT', '-s', '2001:db8:ffff::99', '-j', 'DROP'])
      const before = await snapshot()
      assert.match(before.iptables, /-A POSTROUTING -o \S+ -j MASQUERADE/)

      const marker = (name: string): string => join(dir, `${name}.ran`)
      const changed = baseModel({
        local: [
          writeScript('10-ok', `touch ${marker('10-ok')}`),
          writeScript('20-fail', 'echo "boom: route exists" >&2\nexit 3'),
          writeScript('30-never', `touch ${marker('30-never')}`),
        ],
        whitelist: {disabled: false, entries: [{auto: false, name: CLIENT_B.v4, network: parseNetwork(CLIENT_B.v4), origin: {file: `/fw/whitelist.d/${CLIENT_B.v4}`}}]},
      })
      await assert.rejects(applyRuleset(changed, opts()), (error: unknown) => {
        assert.ok(error instanceof ApplyFailedError, String(error))
        assert.equal(error.code, 'E_APPLY_FAILED')
        assert.equal(error.exitCode, 5)
        assert.equal(error.step, 'local.d/20-fail')
        assert.match(error.message, /local\.d\/20-fail.*boom: route exists.*the previous firewall was restored/s)
        return true
      })
      assert.ok(existsSync(marker('10-ok')), 'the scripts before the failing one ran')
      assert.equal(existsSync(marker('30-never')), false, 'the scripts after the failing one did not run')
      assert.deepEqual(await snapshot(), before)
      assert.deepEqual(await matrix(), BASE_MATRIX)

      // A transaction the kernel refuses (an unknown user) is rolled back the same way.
      const refused = baseModel({outgoing: [ruleFile('outgoing.d', '50-x', [{uidOwner: 'no-such-user-dw', verdict: 'reject'}])]})
      await assert.rejects(applyRuleset(refused, opts()), (error: unknown) => {
        assert.ok(error instanceof ApplyFailedError, String(error))
        assert.equal(error.code, 'E_APPLY_FAILED')
        assert.match(error.step, backend === 'ipset' ? /^iptables-restore \(IPv4\)$/ : /^nft -f$/)
        return true
      })
      assert.deepEqual(await snapshot(), before)

      await server.run('iptables', ['-t', 'nat', '-D', 'POSTROUTING', '-o', serverIfA, '-j', 'MASQUERADE'])
      await server.run('iptables', ['-D', 'INPUT', '-s', '192.0.2.99', '-p', 'tcp', '--dport', '9999', '-j', 'DROP'])
      await server.run('ip6tables', ['-D', 'INPUT', '-s', '2001:db8:ffff::99', '-j', 'DROP'])
    })

    it(`flush (${backend}) - removes the ruleset chains and jumps; the sets keep their entries and, after init, the guard works again`, {timeout: 120_000}, async () => {
      await applyRuleset(baseModel(), opts())
      fw.add('block', {target: parseAddress('198.51.100.99')})
      fw.add('allow', {comment: 'kept', target: parseNetwork('203.0.113.128/25')})
      await fw.commit()

      const report = await flushRuleset(opts())
      assert.equal(report.changed, true)
      await fw.init() // as `diswall firewall flush` does: the guard takes over again
      if (backend === 'ipset') {
        assert.equal(report.removedChains.length, 8)
        for (const tool of ['iptables', 'ip6tables']) {
          const rules = await server.run(tool, ['-S'])
          assert.doesNotMatch(rules, /diswall-(in|out|whitelist|blacklist)\b/, tool)
          assert.match(rules, /^-A INPUT -j diswall-sets$/m, tool)
        }
      } else {
        assert.deepEqual(report.removedChains, ['diswall-in', 'diswall-out', 'diswall-whitelist', 'diswall-blacklist'])
        const table = await server.run('nft', ['-t', 'list', 'table', 'inet', NAMES.table])
        assert.doesNotMatch(table, /chain diswall-(in|out|whitelist|blacklist)\b/)
        assert.match(table, /chain diswall-sets \{/)
      }
      assert.ok((await readKernelSet(server, backend, NAMES.block.v4)).has('198.51.100.99'))
      assert.ok((await readKernelSet(server, backend, NAMES.allow.v4)).has('203.0.113.128/25'))
      // No ruleset: every port is open again.
      const open = Object.fromEntries(Object.keys(BASE_MATRIX).map((k) => [k, OK]))
      assert.deepEqual(await matrix(), open)
      assert.equal((await flushRuleset(opts())).changed, false)

      // A failed first apply leaves no ruleset chain behind: the rollback deletes the chains it created.
      const flushed = await snapshot()
      await assert.rejects(applyRuleset(baseModel({local: [writeScript('50-fail', 'exit 1')]}), opts()), ApplyFailedError)
      assert.deepEqual(await snapshot(), flushed)
      assert.deepEqual(await matrix(), open)
    })
  })
}
