import assert from 'node:assert/strict'
import {test} from 'node:test'

import {InterruptedError} from '../../../../src/lib/errors.js'
import {applyRuleset, ApplyFailedError} from '../../../../src/lib/firewall/ruleset/apply.js'
import type {RulesetModel} from '../../../../src/lib/firewall/ruleset/model.js'
import {MemoryBackend} from '../../../../src/lib/firewall/sets/memory.js'
import {DEFAULT_NAMES} from '../../../../src/lib/firewall/sets/names.js'
import type {Exec, ExecOptions} from '../../../../src/lib/system/index.js'
import {failure} from '../sets/fake-exec.js'

/** An empty ruleset with one local.d script. */
const MODEL: RulesetModel = {
  blacklist: {disabled: false, entries: []},
  dir: '/fw',
  disabled: false,
  incoming: [],
  local: [{name: '50-slow', path: '/fw/local.d/50-slow'}],
  outgoing: [],
  whitelist: {disabled: false, entries: []},
}

/**
 * A fake nftables kernel without diswall's chains, recording every call with its options; `during`
 * runs inside the call it picks (to stop the apply there) and may answer it.
 */
function fakeNft(during: (call: {line: string; options: ExecOptions}) => Promise<void> | void) {
  const calls: Array<{line: string; options: ExecOptions}> = []
  const exec: Exec = async (program, args, options = {}) => {
    const call = {line: [program, ...args].join(' '), options}
    calls.push(call)
    if (program === 'nft' && args[0] === 'list') throw failure({args: [...args], program}, `Error: No such file or directory\n${args.join(' ')}\n`)
    await during(call)
    return {stderr: '', stdout: ''}
  }
  return {calls, exec}
}

const opts = (exec: Exec, signal: AbortSignal) => ({
  backend: 'nftables' as const, exec, fwBackend: new MemoryBackend(), logPrefix: 'diswall-log: ', names: DEFAULT_NAMES, signal,
})

test('apply - SIGINT during the transaction: the transaction gets the signal, the saved state comes back, E_INTERRUPTED exit 130', async () => {
  const ac = new AbortController()
  let transactions = 0
  const k = fakeNft(({line: l, options}) => {
    if (l !== 'nft -f -' || transactions++ > 0) return
    assert.equal(options.signal, ac.signal, 'the transaction can be stopped')
    ac.abort(new InterruptedError('SIGINT'))
    throw new Error('nft was killed')
  })
  await assert.rejects(applyRuleset(MODEL, opts(k.exec, ac.signal)), (error: unknown) => {
    assert.ok(error instanceof ApplyFailedError, String(error))
    assert.equal(error.code, 'E_INTERRUPTED')
    assert.equal(error.exitCode, 130)
    assert.equal(error.restored, true)
    assert.equal(error.step, 'nft -f')
    assert.equal(error.message, 'firewall apply was interrupted by SIGINT at nft -f; the previous firewall was restored')
    assert.ok(error.interrupted instanceof InterruptedError)
    return true
  })
  const after = k.calls.slice(k.calls.findIndex((c) => c.line === 'nft -f -'))
  assert.deepEqual(after.map((c) => c.line).filter((l) => !l.startsWith('nft list')), ['nft -f -', 'nft -f -'], 'one transaction, one restore, no local.d')
  assert.equal(after.at(-1)!.options.signal, undefined, 'the restore cannot be stopped')
})

test('apply - SIGTERM while a local.d script runs: the script runs in its own process group with the signal, the state comes back, exit 143', async () => {
  const ac = new AbortController()
  const k = fakeNft(({line: l, options}) => {
    if (l !== '/fw/local.d/50-slow') return
    assert.equal(options.processGroup, true)
    assert.equal(options.signal, ac.signal)
    assert.equal(options.timeoutMs, 60_000)
    ac.abort(new InterruptedError('SIGTERM'))
    throw ac.signal.reason
  })
  await assert.rejects(applyRuleset(MODEL, opts(k.exec, ac.signal)), (error: unknown) => {
    assert.ok(error instanceof ApplyFailedError, String(error))
    assert.equal(error.code, 'E_INTERRUPTED')
    assert.equal(error.exitCode, 143)
    assert.equal(error.step, 'local.d/50-slow')
    return true
  })
  assert.deepEqual(k.calls.map((c) => c.line).filter((l) => !l.startsWith('nft list')), ['nft -f -', '/fw/local.d/50-slow', 'nft -f -'])
})

test('apply - an interrupted apply whose restore fails is E_ROLLBACK_FAILED, exit 5', async () => {
  const ac = new AbortController()
  let transactions = 0
  const k = fakeNft(({line: l}) => {
    if (l !== 'nft -f -') return
    if (transactions++ > 0) throw new Error('restore refused')
    ac.abort(new InterruptedError('SIGTERM'))
  })
  await assert.rejects(applyRuleset(MODEL, opts(k.exec, ac.signal)), (error: unknown) => {
    assert.ok(error instanceof ApplyFailedError, String(error))
    assert.equal(error.code, 'E_ROLLBACK_FAILED')
    assert.equal(error.exitCode, 5)
    assert.match(error.message, /^firewall apply was interrupted at local\.d\/50-slow: interrupted by SIGTERM; restoring the previous firewall failed too: restore refused$/)
    return true
  })
})

test('apply - stopped before it starts, it changes nothing and throws the InterruptedError', async () => {
  const ac = new AbortController()
  ac.abort(new InterruptedError('SIGTERM'))
  const k = fakeNft(() => {})
  await assert.rejects(applyRuleset(MODEL, opts(k.exec, ac.signal)), (e) => e instanceof InterruptedError && e.exitCode === 143)
  assert.deepEqual(k.calls, [])
})
