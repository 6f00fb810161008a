import assert from 'node:assert/strict'
import {describe, test} from 'node:test'

import {changingCalls, fakeRootSkip, withFakeHost} from './fake-host.js'
import type {FakeCall} from './fake-host.js'

const skip = fakeRootSkip()
// Each test has its own host (temporary directory, fake state); a CLI run waits mostly on process starts.
const CONCURRENCY = 4

/** A ruleset directory: ssh from one network, http for everyone. */
const FIREWALL = {
  'incoming.d/10-established': '',
  'incoming.d/20-22': '198.51.100.0/24\n',
  'incoming.d/30-80': '',
}

/** Rules of Docker and fail2ban that diswall must leave as they are. */
const FOREIGN_RULES = [
  ':DOCKER - [0:0]',
  ':f2b-sshd - [0:0]',
  '-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd',
  '-A FORWARD -o docker0 -j DOCKER',
  '-A f2b-sshd -j RETURN',
  '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
]
const FOREIGN_DUMP = [
  '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD DROP [0:0]', ':OUTPUT ACCEPT [0:0]', ':DOCKER - [0:0]', ':f2b-sshd - [0:0]',
  FOREIGN_RULES[2], FOREIGN_RULES[3], FOREIGN_RULES[4], 'COMMIT',
  '*nat', ':PREROUTING ACCEPT [0:0]', ':DOCKER - [0:0]', FOREIGN_RULES[5], 'COMMIT', '',
].join('\n')

/** The ruleset transactions (not the guard-chain scripts that init() sends). */
function rulesetLoads(calls: readonly FakeCall[]): FakeCall[] {
  return calls.filter((c) => c.program.endsWith('tables-restore') && c.stdin.includes(':diswall-in '))
}

describe('firewall apply/flush (fake iptables and ipset)', {concurrency: CONCURRENCY, skip}, () => {
  test('firewall apply --dry-run - prints one iptables-restore script per family and changes nothing', withFakeHost(async (host) => {
    const out = await host.run(['firewall', 'apply', '--dry-run', '--json'])
    assert.equal(out.code, 0, out.stderr)
    const {result} = out.json
    assert.equal(result.dryRun, true)
    assert.equal(result.applied, false)
    assert.deepEqual(result.transactions.map((t: FakeCall) => [t.program, t.args]),
      [['iptables-restore', ['--noflush']], ['ip6tables-restore', ['--noflush']]])
    assert.match(result.transactions[0].input, /^-A diswall-in -s 198\.51\.100\.0\/24 .*--dport 22 -j ACCEPT$/m)
    assert.match(result.transactions[0].input, /^-A diswall-in .*--dport 80 -j ACCEPT$/m)
    assert.deepEqual(changingCalls(await host.calls()), [])
  }, {firewall: FIREWALL}))

  test('firewall apply - loads the scripts --dry-run shows, jumps to diswall-in from INPUT, and reports changed', withFakeHost(async (host) => {
    const dry = await host.run(['firewall', 'apply', '--dry-run', '--json'])
    assert.equal(dry.code, 0, dry.stderr)
    const out = await host.run(['firewall', 'apply', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.equal(out.json.result.applied, true)
    assert.equal(out.json.result.changed, true)
    const loads = rulesetLoads(await host.calls())
    assert.deepEqual(loads.map((c) => [c.program, c.args]), [['iptables-restore', ['--noflush']], ['ip6tables-restore', ['--noflush']]])
    // The applied script is the dry-run script plus the jumps into the ruleset chains.
    for (const [i, load] of loads.entries()) {
      const body = (text: string) => text.split('\n').filter((l) => l.startsWith('-A diswall-in '))
      assert.deepEqual(body(load.stdin), body(dry.json.result.transactions[i].input))
    }
    const v4 = (await host.state()).iptables['4']
    assert.match(v4, /^-A INPUT -j diswall-in$/m)
    assert.match(v4, /^-A OUTPUT -j diswall-out$/m)
  }, {firewall: FIREWALL}))

  test('firewall apply - applying the same directory again reports no change', withFakeHost(async (host) => {
    assert.equal((await host.run(['firewall', 'apply', '--json'])).code, 0)
    const out = await host.run(['firewall', 'apply', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.equal(out.json.result.applied, true)
    assert.equal(out.json.result.changed, false)
    assert.equal((await host.state()).iptables['4'].match(/^-A INPUT -j diswall-in$/gm)?.length, 1)
  }, {firewall: FIREWALL}))

  test('firewall apply - a failing ip6tables-restore exits 5 and restores the state saved before the apply', withFakeHost(async (host) => {
    const out = await host.run(['firewall', 'apply', '--json'], {
      DISWALL_FAKE_FAIL: 'ip6tables-restore:--noflush',
      DISWALL_FAKE_FAIL_STDIN: ':diswall-in ',
    })
    assert.equal(out.code, 5, out.stderr)
    assert.equal(out.json.ok, false)
    assert.equal(out.json.error.code, 'E_APPLY_FAILED')
    const calls = await host.calls()
    // The rollback: per family, the filter table read again and diswall's part put back with --noflush
    // (IPv4 had loaded the ruleset, so its jump and chain go).
    const failed = calls.findIndex((c) => c.program === 'ip6tables-restore' && c.stdin.includes(':diswall-in '))
    const rollback = calls.slice(failed + 1).map((c) => [c.program, ...c.args].join(' '))
    assert.deepEqual(rollback, ['iptables-save', 'iptables-restore --noflush', 'ip6tables-save', 'ip6tables-restore --noflush'])
    assert.match(calls[failed + 2]!.stdin, /^-D INPUT -j diswall-in$/m)
    assert.doesNotMatch((await host.state()).iptables['4'], /diswall-in/)
  }, {firewall: FIREWALL}))

  test('firewall apply - a line that does not parse stops the apply with file:line (E_RULESET, exit 3), nothing loaded', withFakeHost(async (host) => {
    const out = await host.run(['firewall', 'apply', '--json'])
    assert.equal(out.code, 3, out.stderr)
    assert.equal(out.json.error.code, 'E_RULESET')
    assert.match(out.json.error.message, /20-22:1/)
    assert.deepEqual(rulesetLoads(await host.calls()), [])
  }, {firewall: {'incoming.d/20-22': 'not an address!\n'}}))

  test('firewall flush - removes the jumps and chains an apply made; a second flush has nothing to remove', withFakeHost(async (host) => {
    assert.equal((await host.run(['firewall', 'apply', '--json'])).code, 0)
    await host.clearCalls()
    const out = await host.run(['firewall', 'flush', '--json'])
    assert.equal(out.code, 0, out.stderr)
    assert.equal(out.json.result.changed, true)
    assert.ok(out.json.result.removedJumps.includes('IPv4 INPUT -j diswall-in'), JSON.stringify(out.json.result))
    assert.ok(out.json.result.removedChains.includes('IPv6 diswall-in'), JSON.stringify(out.json.result))
    const flush = (await host.calls()).find((c) => c.program === 'iptables-restore' && c.stdin.includes('-X diswall-in'))
    assert.ok(flush, 'no iptables-restore removed diswall-in')
    assert.match(flush.stdin, /^-D INPUT -j diswall-in$/m)
    const v4 = (await host.state()).iptables['4']
    assert.doesNotMatch(v4, /diswall-in|diswall-out/)
    // The sets stay effective: init() puts the guard chain back in INPUT.
    assert.match(v4, /^-A INPUT -j diswall-sets$/m)

    const again = await host.run(['firewall', 'flush', '--json'])
    assert.equal(again.code, 0, again.stderr)
    assert.deepEqual({changed: again.json.result.changed, removedChains: again.json.result.removedChains}, {changed: false, removedChains: []})
  }, {firewall: FIREWALL}))

  test('firewall apply and flush - leave other software\'s chains, jumps and tables alone', withFakeHost(async (host) => {
    assert.equal((await host.run(['firewall', 'apply', '--json'])).code, 0)
    const applied = (await host.state()).iptables['4']
    for (const line of FOREIGN_RULES) assert.ok(applied.includes(line), `lost after apply: ${line}`)
    assert.equal((await host.run(['firewall', 'flush', '--json'])).code, 0)
    const flushed = (await host.state()).iptables['4']
    for (const line of FOREIGN_RULES) assert.ok(flushed.includes(line), `lost after flush: ${line}`)
    assert.doesNotMatch(flushed, /diswall-in/)
  }, {firewall: FIREWALL, iptablesV4: FOREIGN_DUMP}))
})
