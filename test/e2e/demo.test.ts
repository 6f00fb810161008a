/**
 * `diswall demo --json`, run as a user runs it (the built CLI, non-interactively): a nats-server and
 * `diswall server` in a hub namespace, three hosts and a honeypot host running daemons, two attackers.
 * The outcome must say that the probed host banned the attacker, that the ban reached every other host,
 * that the attacker's connections to the open port fail everywhere, that the honeypot's ban reached
 * every host through the server, and that nothing of the demo is left behind. The delays are printed;
 * the propagation targets (P2) are measured by `npm run bench`.
 */
import assert from 'node:assert/strict'
import {describe, it} from 'node:test'

import {listNetns} from '../../src/lib/lab/index.js'
import type {DemoOutcome} from '../../src/lib/lab/index.js'
import {runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'nft', 'nats-server']})

describe('diswall demo', {skip}, () => {
  it('blocks one probe on every host, spreads a honeypot ban, and leaves nothing behind', async () => {
    const before = new Set(await listNetns())
    const run = await runCli(['demo', '--json'])
    const envelope = run.json as {ok: boolean; result?: DemoOutcome} | undefined
    assert.ok(envelope, `no JSON on stdout:\n${run.stdout}\n${run.stderr}`)
    const outcome = envelope.result!
    process.stdout.write(`# demo: probed host ${outcome.attacker.localMs} ms; other hosts ${
      outcome.attacker.arrivals.map((a) => `${a.host} ${a.ms} ms`).join(', ')}; honeypot ban ${
      outcome.honeypot.arrivals.map((a) => `${a.host} ${a.ms} ms`).join(', ')}\n`)
    assert.deepEqual(outcome.problems, [])
    assert.equal(outcome.ok, true)
    assert.equal(run.code, 0, run.stderr)
    assert.equal(outcome.hosts.length, 3)
    assert.notEqual(outcome.attacker.localMs, null)
    assert.deepEqual(outcome.attacker.arrivals.map((a) => a.host).sort(), ['host2', 'host3'])
    for (const arrival of [...outcome.attacker.arrivals, ...outcome.honeypot.arrivals]) {
      assert.equal(typeof arrival.ms, 'number', `${arrival.host} got the ban`)
    }
    assert.deepEqual(outcome.attacker.openPortReachable.map((r) => r.ok), [false, false, false])
    assert.deepEqual(outcome.honeypot.arrivals.map((a) => a.host).sort(), ['host1', 'host2', 'host3'])
    assert.equal(outcome.cleanedUp, true)
    const after = (await listNetns()).filter((name) => !before.has(name))
    assert.deepEqual(after, [], 'no namespace of the demo is left')
  })
})
