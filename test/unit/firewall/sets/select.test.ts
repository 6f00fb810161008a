import assert from 'node:assert/strict'
import {test} from 'node:test'

import {MissingDependencyError} from '../../../../src/lib/errors.js'
import {
  chooseBackend,
  createBackend,
  DEFAULT_LIMITS,
  DEFAULT_NAMES,
  IpsetBackend,
  NftBackend,
  resolveBackend,
} from '../../../../src/lib/firewall/sets/index.js'
import {failure, line, recordingExec} from './fake-exec.js'

const ALL_TOOLS = {hasIpset: true, hasIptables: true, hasNft: true, ownTable: 'diswall'}

test('chooseBackend - a native nftables table picks nftables and names it', () => {
  assert.deepEqual(chooseBackend({...ALL_TOOLS, nftTables: [{family: 'ip', name: 'filter'}, {family: 'inet', name: 'firewalld'}]}), {
    backend: 'nftables',
    reason: 'the host uses nftables (table inet firewalld)',
  })
  // A native table may be called "filter" too, in another family.
  assert.deepEqual(chooseBackend({...ALL_TOOLS, nftTables: [{family: 'inet', name: 'filter'}]}), {
    backend: 'nftables',
    reason: 'the host uses nftables (table inet filter)',
  })
})

test('chooseBackend - only iptables-nft tables (and our own) pick ipset', () => {
  const nftTables = [
    {family: 'ip', name: 'filter'},
    {family: 'ip', name: 'nat'},
    {family: 'ip6', name: 'filter'},
    {family: 'ip6', name: 'mangle'},
    {family: 'ip', name: 'raw'},
    {family: 'ip', name: 'security'},
    {family: 'inet', name: 'diswall'},
  ]
  assert.deepEqual(chooseBackend({...ALL_TOOLS, nftTables}), {backend: 'ipset', reason: 'no native nftables ruleset found'})
  assert.deepEqual(chooseBackend({...ALL_TOOLS, nftTables: []}), {backend: 'ipset', reason: 'no native nftables ruleset found'})
})

test('chooseBackend - our own table under another configured name counts as native', () => {
  assert.deepEqual(chooseBackend({...ALL_TOOLS, nftTables: [{family: 'inet', name: 'diswall'}], ownTable: 'fw'}), {
    backend: 'nftables',
    reason: 'the host uses nftables (table inet diswall)',
  })
})

test('chooseBackend - missing tools decide', () => {
  const nftTables = [{family: 'inet', name: 'filter'}]
  assert.deepEqual(chooseBackend({...ALL_TOOLS, hasNft: false, nftTables}), {backend: 'ipset', reason: 'nft is not installed'})
  assert.deepEqual(chooseBackend({...ALL_TOOLS, hasIpset: false, nftTables: []}), {
    backend: 'nftables', reason: 'ipset or iptables is not installed',
  })
  assert.deepEqual(chooseBackend({...ALL_TOOLS, hasIptables: false, nftTables: []}), {
    backend: 'nftables', reason: 'ipset or iptables is not installed',
  })
})

test('resolveBackend - an explicit setting is used without looking at the host', async () => {
  const {calls, exec} = recordingExec()
  assert.deepEqual(await resolveBackend('ipset', 'diswall', exec), {backend: 'ipset', reason: 'set in the config'})
  assert.deepEqual(await resolveBackend('nftables', 'diswall', exec), {backend: 'nftables', reason: 'set in the config'})
  assert.deepEqual(calls, [])
})

test('resolveBackend - auto reads the tables of nft -t -j list chains and probes ipset and iptables', async () => {
  const tables = JSON.stringify({nftables: [
    {metainfo: {json_schema_version: 1, release_name: 'Lester Gooch #5', version: '1.0.6'}},
    {chain: {family: 'ip', handle: 1, hook: 'input', name: 'INPUT', table: 'filter'}},
    {chain: {family: 'ip', handle: 2, hook: 'output', name: 'OUTPUT', table: 'filter'}},
    {chain: {family: 'inet', handle: 7, name: 'diswall-sets', table: 'diswall'}},
  ]})
  const {calls, exec} = recordingExec((call) => {
    if (call.program === 'nft') return {stdout: tables}
    if (call.program === 'ipset') return {stdout: 'ipset v7.17, protocol version: 7\n'}
    return {stdout: 'iptables v1.8.9 (nf_tables)\n'}
  })
  assert.deepEqual(await resolveBackend('auto', 'diswall', exec), {backend: 'ipset', reason: 'no native nftables ruleset found'})
  assert.deepEqual(calls.map(line), ['nft -t -j list chains', 'ipset version', 'iptables --version'])
})

test('resolveBackend - auto picks nftables on a host with a native table', async () => {
  const tables = '{"nftables": [{"metainfo": {"version": "1.0.6"}}, {"chain": {"family": "inet", "table": "filter", "name": "input"}}]}'
  const {exec} = recordingExec((call) => ({stdout: call.program === 'nft' ? tables : 'v1\n'}))
  assert.deepEqual(await resolveBackend('auto', 'diswall', exec), {backend: 'nftables', reason: 'the host uses nftables (table inet filter)'})
})

test('resolveBackend - auto treats missing or failing programs as absent', async () => {
  const missingIpset = recordingExec((call) => {
    if (call.program === 'ipset') throw new MissingDependencyError('ipset')
    return {stdout: call.program === 'nft' ? '{"nftables": [{"metainfo": {}}]}' : ''}
  })
  assert.deepEqual(await resolveBackend('auto', 'diswall', missingIpset.exec), {
    backend: 'nftables', reason: 'ipset or iptables is not installed',
  })

  const noNft = recordingExec((call) => {
    if (call.program === 'nft') throw new MissingDependencyError('nft')
    return undefined
  })
  assert.deepEqual(await resolveBackend('auto', 'diswall', noNft.exec), {backend: 'ipset', reason: 'nft is not installed'})

  const failingIptables = recordingExec((call) => {
    if (call.program === 'iptables') throw failure(call, 'iptables: command failed\n')
    return {stdout: call.program === 'nft' ? '{"nftables": []}' : ''}
  })
  assert.deepEqual(await resolveBackend('auto', 'diswall', failingIptables.exec), {
    backend: 'nftables', reason: 'ipset or iptables is not installed',
  })
})

test('resolveBackend - an unexpected error is passed on', async () => {
  const {exec} = recordingExec(() => {
    throw new RangeError('bug')
  })
  await assert.rejects(resolveBackend('auto', 'diswall', exec), RangeError)
})

test('createBackend - makes the backend of the chosen kind without running anything', () => {
  const {calls, exec} = recordingExec()
  const ipset = createBackend('ipset', DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  const nft = createBackend('nftables', DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.ok(ipset instanceof IpsetBackend)
  assert.ok(nft instanceof NftBackend)
  assert.equal(ipset.name, 'ipset')
  assert.equal(nft.name, 'nftables')
  assert.deepEqual(calls, [])
})
