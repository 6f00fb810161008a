import assert from 'node:assert/strict'
import {test} from 'node:test'

import {HostFacts, parseListeningPorts, parseSshPeers, parseSsEndpoint} from '../../../src/lib/enforce/index.js'
import type {Exec} from '../../../src/lib/system/index.js'

test('parseSsEndpoint - wildcards, brackets, interface suffixes and loopback', () => {
  assert.deepEqual(parseSsEndpoint('0.0.0.0:22'), {loopback: false, port: 22})
  assert.deepEqual(parseSsEndpoint('*:80'), {loopback: false, port: 80})
  assert.deepEqual(parseSsEndpoint('[::]:443'), {loopback: false, port: 443})
  assert.equal(parseSsEndpoint('[::ffff:192.0.2.1]:22')?.address?.text, '192.0.2.1')
  assert.equal(parseSsEndpoint('127.0.0.53%lo:53')?.loopback, true)
  assert.equal(parseSsEndpoint('[::1]:631')?.loopback, true)
  assert.equal(parseSsEndpoint('[fe80::1]%eth0:546')?.address?.text, 'fe80::1')
  for (const bad of ['', '22', 'x:y', '1.2.3.4:70000', 'not-an-address:22']) assert.equal(parseSsEndpoint(bad), undefined, bad)
})

test('parseListeningPorts - TCP in LISTEN and bound UDP that are reachable from outside', () => {
  const text = [
    'tcp   LISTEN 0      4096       0.0.0.0:22        0.0.0.0:*',
    'tcp   LISTEN 0      511           [::]:80           [::]:*',
    'tcp   LISTEN 0      128      127.0.0.1:5432      0.0.0.0:*',
    'udp   UNCONN 0      0    127.0.0.53%lo:53        0.0.0.0:*',
    'udp   UNCONN 0      0          0.0.0.0:5353      0.0.0.0:*',
    'tcp   ESTAB  0      0       192.0.2.1:22   203.0.113.9:5000',
    'garbage',
    '',
  ].join('\n')
  assert.deepEqual([...parseListeningPorts(text)].sort(), ['tcp/22', 'tcp/80', 'udp/5353'])
})

test('parseSshPeers - peers of established connections to the SSH ports only', () => {
  const text = [
    '0      0          192.0.2.1:22      203.0.113.9:51234',
    '0      0    [2001:db8::1]:2222  [2001:db8:5::7]:40000',
    '0      0          192.0.2.1:443     198.51.100.3:41000',
    '',
  ].join('\n')
  assert.deepEqual(parseSshPeers(text, new Set([22, 2222])).map((a) => a.text), ['203.0.113.9', '2001:db8:5::7'])
})

test('HostFacts - reads addresses, open ports and SSH peers into lists the engine can hold by reference', async () => {
  let ssOut = 'tcp LISTEN 0 128 0.0.0.0:8080 0.0.0.0:*\n'
  let peers = '0 0 192.0.2.1:22 203.0.113.9:5000\n'
  const exec: Exec = async (program, args) => {
    if (program === 'ip') return {stderr: '', stdout: JSON.stringify([{addr_info: [{family: 'inet', local: '192.0.2.1', prefixlen: 24}], ifname: 'eth0'}])}
    return {stderr: '', stdout: args.includes('-l') ? ssOut : peers}
  }
  const facts = new HostFacts({exec})
  const own = facts.own
  await facts.start()
  try {
    assert.ok(facts.isOpenPort('tcp', 8080))
    assert.ok(!facts.isOpenPort('udp', 8080))
    assert.deepEqual([...facts.sshPeers].map((n) => n.text), ['203.0.113.9/32'])
    assert.deepEqual([...own].map((n) => n.text), ['192.0.2.1/32'])
    ssOut = ''
    peers = ''
    await facts.refreshSockets()
    assert.ok(!facts.isOpenPort('tcp', 8080))
    assert.equal(facts.sshPeers.size, 0)
    assert.equal(facts.own, own, 'the list object must stay the same')
  } finally {
    facts.stop()
  }
})
