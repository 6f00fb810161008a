import assert from 'node:assert/strict'
import {test} from 'node:test'

import {DEFAULT_NAMES, parseIptablesCounters, parseNftCounters, readSetCounters} from '../../../../src/lib/firewall/sets/index.js'
import {failure, line, recordingExec} from './fake-exec.js'

const IPTABLES = `Chain diswall-in (1 references)
    pkts      bytes target     prot opt in     out     source               destination
      40     2400 ACCEPT     0    --  lo     *       0.0.0.0/0            0.0.0.0/0
       3      180 ACCEPT     0    --  *      *       0.0.0.0/0            0.0.0.0/0            match-set diswall-wl src
       0        0 diswall-whitelist  0    --  *      *       0.0.0.0/0            0.0.0.0/0
      17     1020 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0            match-set diswall-bl src
       9      540 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0            match-set other-set src
       2      120 DROP       0    --  *      *       0.0.0.0/0            0.0.0.0/0            match-set diswall-bl dst
      99     5940 DROP       6    --  *      *       0.0.0.0/0            0.0.0.0/0
`

const nftChain = (rules: unknown[][]) => JSON.stringify({nftables: [{metainfo: {version: '1.0.6'}},
  {chain: {family: 'inet', name: 'diswall-in', table: 'diswall'}},
  ...rules.map((expr) => ({rule: {chain: 'diswall-in', expr, family: 'inet', table: 'diswall'}}))]})
const saddr = (protocol: string, set: string) => ({match: {left: {payload: {field: 'saddr', protocol}}, op: '==', right: `@${set}`}})

test('parseIptablesCounters - DROP by a block set and ACCEPT by an allow set, by source only', () => {
  assert.deepEqual(parseIptablesCounters(IPTABLES, DEFAULT_NAMES), {bytesAccepted: 180, bytesDropped: 1020, packetsAccepted: 3, packetsDropped: 17})
  assert.deepEqual(parseIptablesCounters('', DEFAULT_NAMES), {bytesAccepted: 0, bytesDropped: 0, packetsAccepted: 0, packetsDropped: 0})
})

test('parseNftCounters - counters of the set rules of both families; rules without a counter or of other sets count nothing', () => {
  const json = nftChain([
    [saddr('ip', 'diswall-wl'), {counter: {bytes: 60, packets: 1}}, {accept: null}],
    [saddr('ip', 'diswall-bl'), {counter: {bytes: 600, packets: 10}}, {drop: null}],
    [saddr('ip6', 'diswall-bl6'), {counter: {bytes: 800, packets: 8}}, {drop: null}],
    [saddr('ip', 'diswall-bl'), {drop: null}],
    [saddr('ip', 'peers'), {counter: {bytes: 9, packets: 9}}, {drop: null}],
  ])
  assert.deepEqual(parseNftCounters(json, DEFAULT_NAMES), {bytesAccepted: 60, bytesDropped: 1400, packetsAccepted: 1, packetsDropped: 18})
  assert.deepEqual(parseNftCounters('', DEFAULT_NAMES), {bytesAccepted: 0, bytesDropped: 0, packetsAccepted: 0, packetsDropped: 0})
})

test('readSetCounters - ipset: both families and both chains summed; a missing chain counts nothing', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.args.includes('diswall-sets')) throw failure(call, 'iptables: No chain/target/match by that name.')
    return {stdout: IPTABLES}
  })
  assert.deepEqual(await readSetCounters('ipset', DEFAULT_NAMES, exec), {bytesAccepted: 360, bytesDropped: 2040, packetsAccepted: 6, packetsDropped: 34})
  assert.deepEqual(calls.map(line).sort(), [
    'ip6tables -w -n -v -x -L diswall-in', 'ip6tables -w -n -v -x -L diswall-sets', 'iptables -w -n -v -x -L diswall-in', 'iptables -w -n -v -x -L diswall-sets'])
})

test('readSetCounters - nftables: the guard chain and diswall-in of the table; another failure is thrown', async () => {
  const json = nftChain([[saddr('ip', 'diswall-bl'), {counter: {bytes: 60, packets: 1}}, {drop: null}]])
  const {calls, exec} = recordingExec(() => ({stdout: json}))
  assert.deepEqual(await readSetCounters('nftables', DEFAULT_NAMES, exec), {bytesAccepted: 0, bytesDropped: 120, packetsAccepted: 0, packetsDropped: 2})
  assert.deepEqual(calls.map(line), ['nft -t -j list chain inet diswall diswall-sets', 'nft -t -j list chain inet diswall diswall-in'])
  const broken = recordingExec((call) => {
    throw failure(call, 'Error: Could not process rule: Operation not permitted')
  })
  await assert.rejects(readSetCounters('nftables', DEFAULT_NAMES, broken.exec), /Operation not permitted/)
})
