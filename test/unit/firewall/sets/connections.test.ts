import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CommandFailedError, MissingDependencyError} from '../../../../src/lib/errors.js'
import {killConnections, parseDeleted} from '../../../../src/lib/firewall/sets/index.js'
import {parseAddress} from '../../../../src/lib/net/index.js'
import {failure, recordingExec} from './fake-exec.js'

const SS_KILLED = [
  'ESTAB 0      0      192.0.2.10:22    198.51.100.7:51514',
  'ESTAB 0      36     192.0.2.10:443   198.51.100.7:40022',
  '',
].join('\n')

const deleted = (n: number) => `conntrack v1.4.7 (conntrack-tools): ${n} flow entries have been deleted.\n`

test('killConnections - IPv4: ss -K dst ADDR, then conntrack -D in both directions', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.program === 'ss') return {stdout: SS_KILLED}
    return {stderr: deleted(call.args.includes('--orig-src') ? 3 : 1)}
  })
  assert.deepEqual(await killConnections(parseAddress('198.51.100.7'), exec), {conntrack: 4, sockets: 2})
  assert.deepEqual(calls, [
    {args: ['--no-header', '--numeric', '--tcp', '--kill', 'dst', '198.51.100.7'], program: 'ss'},
    {args: ['-D', '-f', 'ipv4', '--orig-src', '198.51.100.7'], program: 'conntrack'},
    {args: ['-D', '-f', 'ipv4', '--orig-dst', '198.51.100.7'], program: 'conntrack'},
  ])
})

test('killConnections - IPv6: the ss filter takes the address in brackets, conntrack uses -f ipv6', async () => {
  const {calls, exec} = recordingExec((call) => (call.program === 'ss' ? {stdout: ''} : {stderr: deleted(2)}))
  assert.deepEqual(await killConnections(parseAddress('2001:db8::7'), exec), {conntrack: 4, sockets: 0})
  assert.deepEqual(calls, [
    {args: ['--no-header', '--numeric', '--tcp', '--kill', 'dst', '[2001:db8::7]'], program: 'ss'},
    {args: ['-D', '-f', 'ipv6', '--orig-src', '2001:db8::7'], program: 'conntrack'},
    {args: ['-D', '-f', 'ipv6', '--orig-dst', '2001:db8::7'], program: 'conntrack'},
  ])
})

test('killConnections - "0 flow entries" (conntrack exit 1) counts as 0, not an error', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.program === 'conntrack') throw failure(call, deleted(0), 1)
    return {stdout: '\n'}
  })
  assert.deepEqual(await killConnections(parseAddress('203.0.113.9'), exec), {conntrack: 0, sockets: 0})
  assert.equal(calls.length, 3)
})

test('killConnections - other conntrack failures and a missing ss are passed on', async () => {
  const broken = recordingExec((call) => {
    if (call.program === 'conntrack') throw failure(call, 'conntrack v1.4.7 (conntrack-tools): Operation failed: Operation not permitted\n', 1)
    return undefined
  })
  await assert.rejects(killConnections(parseAddress('203.0.113.9'), broken.exec), CommandFailedError)
  assert.equal(broken.calls.length, 2)

  const noSs = recordingExec((call) => {
    throw new MissingDependencyError(call.program)
  })
  await assert.rejects(killConnections(parseAddress('203.0.113.9'), noSs.exec), {code: 'E_MISSING_PROGRAM'})
  assert.equal(noSs.calls.length, 1)
})

test('parseDeleted - reads the count from the conntrack summary line', () => {
  assert.equal(parseDeleted('conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted.'), 3)
  assert.equal(parseDeleted('conntrack v1.4.6 (conntrack-tools): 1 flow entry has been deleted.\n'), 1)
  assert.equal(parseDeleted('tcp 6 431999 ESTABLISHED src=198.51.100.7 ...\nconntrack v1.4.7 (conntrack-tools): 1234 flow entries have been deleted.\n'), 1234)
  assert.equal(parseDeleted('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.'), 0)
  assert.equal(parseDeleted(''), 0)
  assert.equal(parseDeleted('something else'), 0)
})
