import assert from 'node:assert/strict'
import {test} from 'node:test'

import {listOwnAddresses, parseIpAddrJson} from '../../../../src/lib/firewall/sets/index.js'
import {parseAddress} from '../../../../src/lib/net/index.js'
import {recordingExec} from './fake-exec.js'

/** `ip -j addr show` of iproute2 6.1 on a small server (one line in reality; spread out here). */
const IP_ADDR_JSON = JSON.stringify([
  {
    addr_info: [
      {family: 'inet', label: 'lo', local: '127.0.0.1', preferred_life_time: 4_294_967_295, prefixlen: 8, scope: 'host', valid_life_time: 4_294_967_295},
      {family: 'inet6', local: '::1', preferred_life_time: 4_294_967_295, prefixlen: 128, scope: 'host', valid_life_time: 4_294_967_295},
    ],
    address: '00:00:00:00:00:00', broadcast: '00:00:00:00:00:00', flags: ['LOOPBACK', 'UP', 'LOWER_UP'], group: 'default',
    ifindex: 1, ifname: 'lo', link_type: 'loopback', mtu: 65_536, operstate: 'UNKNOWN', qdisc: 'noqueue', txqlen: 1000,
  },
  {
    addr_info: [
      {broadcast: '203.0.113.255', dynamic: true, family: 'inet', label: 'eth0', local: '203.0.113.10', noprefixroute: true,
        preferred_life_time: 85_000, prefixlen: 24, scope: 'global', valid_life_time: 85_000},
      {family: 'inet', label: 'eth0:1', local: '203.0.113.11', preferred_life_time: 4_294_967_295, prefixlen: 32, scope: 'global',
        secondary: true, valid_life_time: 4_294_967_295},
      {family: 'inet6', local: '2001:DB8:0:1::10', preferred_life_time: 4_294_967_295, prefixlen: 64, scope: 'global', valid_life_time: 4_294_967_295},
      {family: 'inet6', local: 'fe80::5054:ff:fe12:3456', preferred_life_time: 4_294_967_295, prefixlen: 64, scope: 'link', valid_life_time: 4_294_967_295},
    ],
    address: '52:54:00:12:34:56', altnames: ['enp1s0'], broadcast: 'ff:ff:ff:ff:ff:ff', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'],
    group: 'default', ifindex: 2, ifname: 'eth0', link_type: 'ether', mtu: 1500, operstate: 'UP', qdisc: 'fq_codel', txqlen: 1000,
  },
  {
    // A point-to-point tunnel: "local" is ours, "address" is the peer.
    addr_info: [{address: '10.8.0.2', family: 'inet', label: 'tun0', local: '10.8.0.1', prefixlen: 32, scope: 'global'}],
    flags: ['POINTOPOINT', 'MULTICAST', 'NOARP', 'UP', 'LOWER_UP'], group: 'default', ifindex: 3, ifname: 'tun0', link_type: 'none',
    mtu: 1500, operstate: 'UNKNOWN', qdisc: 'fq_codel', txqlen: 500,
  },
  // Interfaces without addresses: no addr_info, or empty objects (seen with some iproute2 versions).
  {flags: ['BROADCAST', 'MULTICAST'], group: 'default', ifindex: 4, ifname: 'eth1', link_type: 'ether', mtu: 1500, operstate: 'DOWN'},
  {addr_info: [{}, {}], flags: ['NO-CARRIER'], ifindex: 5, ifname: 'docker0', mtu: 1500, operstate: 'DOWN'},
  {addr_info: [{family: 'inet6', local: 'fe80::1%eth9', prefixlen: 64}], ifindex: 6, ifname: 'odd'},
])

const OWN = ['127.0.0.1', '::1', '203.0.113.10', '203.0.113.11', '2001:db8:0:1::10', 'fe80::5054:ff:fe12:3456', '10.8.0.1']

test('parseIpAddrJson - reads every local address of every interface, canonical', () => {
  const addrs = parseIpAddrJson(IP_ADDR_JSON)
  assert.deepEqual(addrs.map((a) => a.text), OWN)
  assert.deepEqual(addrs, OWN.map((a) => parseAddress(a)))
  assert.deepEqual(addrs.map((a) => a.family), [4, 6, 4, 4, 6, 6, 4])
})

test('parseIpAddrJson - an empty namespace and a bare loopback', () => {
  assert.deepEqual(parseIpAddrJson('[]'), [])
  const loDown = '[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK"],"mtu":65536,"qdisc":"noop","operstate":"DOWN","group":"default","txqlen":1000,"link_type":"loopback","address":"00:00:00:00:00:00","broadcast":"00:00:00:00:00:00","addr_info":[]}]\n'
  assert.deepEqual(parseIpAddrJson(loDown), [])
})

test('parseIpAddrJson - output that is not JSON throws', () => {
  assert.throws(() => parseIpAddrJson('1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536'), SyntaxError)
})

test('listOwnAddresses - runs ip -j addr show', async () => {
  const {calls, exec} = recordingExec(() => ({stdout: IP_ADDR_JSON}))
  assert.deepEqual((await listOwnAddresses(exec)).map((a) => a.text), OWN)
  assert.deepEqual(calls, [{args: ['-j', 'addr', 'show'], program: 'ip'}])
})
