import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {defaultConfig} from '../../../../src/lib/config/index.js'
import type {Config} from '../../../../src/lib/config/index.js'
import {showRuleset} from '../../../../src/lib/ops/ruleset.js'
import type {Exec} from '../../../../src/lib/system/index.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-nflog-'))
  await mkdir(join(dir, 'incoming.d'))
  await writeFile(join(dir, 'incoming.d', '90-log'), '')
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

/** The backend is set in the config, so nothing needs to run. */
const noExec: Exec = async (program) => {
  throw new Error(`unexpected run of ${program}`)
}

function config(backend: 'ipset' | 'nftables', source: Config['detect']['source']): Config {
  const c = defaultConfig()
  return {...c, detect: {...c.detect, nflog_group: 9, source}, firewall: {...c.firewall, backend}}
}

async function logRules(backend: 'ipset' | 'nftables', source: Config['detect']['source']): Promise<string[]> {
  const rendered = await showRuleset({config: config(backend, source), dir, exec: noExec})
  return rendered.transactions.map((tx) => tx.chains.find((c) => c.name === 'diswall-in')!.rules.at(-1)!)
}

/** The log template's rules as the kernel lists them (checked in a namespace: iptables-save 1.8.9, nft 1.0.6). */
const HASHLIMIT = '-m hashlimit --hashlimit-upto 2/sec --hashlimit-burst 5 --hashlimit-mode srcip --hashlimit-name diswall-log-src '
  + '--hashlimit-htable-size 16384 --hashlimit-htable-max 65536 --hashlimit-htable-expire 10000'
const IPT_LIMIT = `${HASHLIMIT} -m limit --limit 10000/sec --limit-burst 10000`
const IP6T_LIMIT = `${HASHLIMIT} --hashlimit-srcmask 64 -m limit --limit 10000/sec --limit-burst 10000`
const NFT_LIMIT = 'meter diswall-log-2 size 65536 { ip6 saddr & ffff:ffff:ffff:ffff:: timeout 10s limit rate 2/second } '
  + 'limit rate 10000/second burst 10000 packets'

test('daemon ruleset - [detect] source = "nflog" renders the log template as NFLOG to nflog_group, limited per source', async () => {
  assert.deepEqual(await logRules('nftables', 'nflog'), [`${NFT_LIMIT} log prefix "diswall-log: " group 9 queue-threshold 1`])
  assert.deepEqual(await logRules('ipset', 'nflog'), [
    `${IPT_LIMIT} -j NFLOG --nflog-prefix "diswall-log: " --nflog-group 9 --nflog-threshold 1`,
    `${IP6T_LIMIT} -j NFLOG --nflog-prefix "diswall-log: " --nflog-group 9 --nflog-threshold 1`,
  ])
})

test('daemon ruleset - the other sources keep the kernel log, limited per source', async () => {
  for (const source of ['kmsg', 'journal', 'pipe'] as const) {
    assert.deepEqual(await logRules('nftables', source), [`${NFT_LIMIT} log prefix "diswall-log: "`], source)
    assert.deepEqual(await logRules('ipset', source), [`${IPT_LIMIT} -j LOG --log-prefix "diswall-log: "`, `${IP6T_LIMIT} -j LOG --log-prefix "diswall-log: "`], source)
  }
})
