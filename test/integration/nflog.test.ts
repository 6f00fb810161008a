/**
 * The ruleset with `[detect] source = "nflog"` against a real kernel, for both backends: the `log` verdict
 * rendered as NFLOG loads, the kernel lists it exactly as rendered (so `firewall diff` shows nothing
 * after an apply), and a probe to a closed port reaches the NflogSource through it. Everything runs in
 * the test's own namespaces.
 */
import assert from 'node:assert/strict'
import {after, before, describe, it} from 'node:test'

import {parseKernelLog} from '../../src/lib/detect/kernel-log.js'
import {NflogSource} from '../../src/lib/detect/sources/index.js'
import {applyRuleset, diffRuleset, renderRuleset, type Rule, type RuleFile, type RulesetModel} from '../../src/lib/firewall/ruleset/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import type {FirewallBackend} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, connectNetns, createNetns, type Netns, probeTcp, uniqueLogPrefix, type VethPair, waitFor} from '../../src/lib/lab/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-save', 'iptables-restore', 'nft', 'tcpdump']})

const NAMES = DEFAULT_NAMES
const GROUP = 7

after(async () => {
  await cleanupAll()
})

function ruleFile(name: string, rules: Array<Omit<Rule, 'origin'>>): RuleFile {
  const file = `/fw/incoming.d/${name}`
  return {name, origin: {file}, rules: rules.map((r) => ({...r, origin: {file}})), templateName: name.replace(/^\d*-/, '')}
}

/** Established traffic accepted, everything else logged (rate-limited, and for IPv6 without a limit) and rejected. */
const MODEL: RulesetModel = {
  blacklist: {disabled: false, entries: []},
  dir: '/fw',
  disabled: false,
  incoming: [
    ruleFile('00-established', [{state: ['established', 'related'], verdict: 'accept'}]),
    ruleFile('98-log', [{limit: '10/second', verdict: 'log'}, {family: 6, proto: 'tcp', verdict: 'log'}]),
    ruleFile('99-reject', [{proto: 'tcp', tcpReset: true, verdict: 'reject'}]),
  ],
  local: [],
  outgoing: [],
  whitelist: {disabled: false, entries: []},
}

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`ruleset with NFLOG (${backend})`, {skip}, () => {
    let server: Netns
    let client: Netns
    let veth: VethPair
    let fw: FirewallBackend
    const logPrefix = uniqueLogPrefix('nfr')
    const opts = () => ({backend, exec: server.exec, fwBackend: fw, logPrefix, names: NAMES, nflogGroup: GROUP})

    before(async () => {
      server = await createNetns()
      client = await createNetns()
      veth = await connectNetns(server, client)
      fw = createBackend(backend, NAMES, DEFAULT_LIMITS, server.exec)
    })

    after(async () => {
      await client?.remove()
      await server?.remove()
    })

    it(`nflog ruleset (${backend}) - loads, lists as rendered (no diff), and its log rules feed the NFLOG source`, {timeout: 120_000}, async () => {
      const rendered = renderRuleset(MODEL, opts())
      assert.match(rendered.transactions[0]!.input, backend === 'nftables' ? / group 7 queue-threshold 1$/m : / --nflog-group 7 --nflog-threshold 1$/m)
      const report = await applyRuleset(MODEL, opts())
      assert.equal(report.applied, true)
      assert.deepEqual(await diffRuleset(MODEL, opts()), {backend, changed: false, chains: []})
      // The same ruleset with kernel LOG rules differs exactly in the log rules.
      const toLog = await diffRuleset(MODEL, {...opts(), nflogGroup: undefined})
      assert.equal(toLog.changed, true)

      // Other packets of the client are logged too (IPv6 neighbour discovery): look for the probe.
      const isProbe = (text: string, src: string): boolean => {
        const p = parseKernelLog(text, logPrefix)
        return p?.src.text === src && p.proto === 'tcp' && p.dpt === 23
      }
      const source = new NflogSource({group: GROUP, logPrefix, wrap: ['ip', 'netns', 'exec', server.name]})
      const lines: string[] = []
      const done = (async () => {
        for await (const line of source.start()) lines.push(line.text)
      })()
      try {
        for (const family of ['ipv4', 'ipv6'] as const) {
          // A closed port: logged, then reset. Repeated until tcpdump listens.
          await waitFor(async () => {
            await probeTcp(client, veth.a[family], 23, 500)
            return lines.some((l) => isProbe(l, veth.b[family]))
          }, {timeoutMs: 15_000, what: `an ${family} probe logged through NFLOG`})
        }
      } finally {
        await source.close()
        await done
      }
    })
  })
}
