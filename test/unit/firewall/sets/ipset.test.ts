import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CommandFailedError, DiswallError} from '../../../../src/lib/errors.js'
import {
  DEFAULT_LIMITS,
  DEFAULT_NAMES,
  IpsetBackend,
  parseIpsetHeader,
  parseIpsetSave,
  SESSION_MAX_LINES,
  SetTypeMismatchError,
} from '../../../../src/lib/firewall/sets/index.js'
import type {IpsetSessionFactory, SetEntry} from '../../../../src/lib/firewall/sets/index.js'
import {IPSET_MAX_TIMEOUT_SEC, parseAddress, parseTarget} from '../../../../src/lib/net/index.js'
import type {Exec} from '../../../../src/lib/system/index.js'
import {failure, line, recordingExec as recordingExecRaw} from './fake-exec.js'
import type {Call} from './fake-exec.js'

const RESTORE = ['-exist', 'restore']

/**
 * Most tests here are about the add/del lines of a commit, so this fake hides the `create` lines
 * that every commit starts with (the batching prefix, tested on its own below) and shifts the line
 * numbers of scripted "Error in line N" failures accordingly. Staging scripts (`create NAME-new`)
 * are left as they are.
 */
function recordingExec(handler?: Parameters<typeof recordingExecRaw>[0]) {
  const inner = recordingExecRaw(handler)
  const exec: Exec = async (program, args, options = {}) => {
    const lines = options.input?.split('\n') ?? []
    let prefix = 0
    while (lines[prefix]?.startsWith('create ') && !lines[prefix].split(' ')[1].endsWith('-new')) prefix++
    if (!lines.slice(prefix).some((l) => l.startsWith('add ') || l.startsWith('del '))) prefix = 0 // init's creates
    const input = prefix > 0 ? lines.slice(prefix).join('\n') : options.input
    try {
      return await inner.exec(program, args, {...options, input})
    } catch (error) {
      if (prefix > 0 && error instanceof CommandFailedError) {
        throw new CommandFailedError(error.program, error.args, error.programExitCode,
          error.stderr.replace(/Error in line (\d+)/, (_m, n: string) => `Error in line ${Number(n) + prefix}`))
      }

      throw error
    }
  }

  return {calls: inner.calls, exec}
}

/** `ipset list -t NAME` as ipset 7.17 prints it. */
function header(name: string, type: string, headerLine: string, entries = 0): string {
  return [
    `Name: ${name}`,
    `Type: ${type}`,
    `Revision: ${type === 'hash:ip' ? 6 : 7}`,
    `Header: ${headerLine}`,
    'Size in memory: 1048824',
    'References: 2',
    `Number of entries: ${entries}`,
    '',
  ].join('\n')
}

/** The headers of four sets created exactly as diswall creates them. */
const GOOD_HEADERS: Record<string, string> = {
  'diswall-bl': header('diswall-bl', 'hash:ip', 'family inet hashsize 32768 maxelem 1000000 timeout 86400 bucketsize 12 initval 0x5a3f2c1d', 3),
  'diswall-bl6': header('diswall-bl6', 'hash:net', 'family inet6 hashsize 32768 maxelem 1000000 timeout 86400 bucketsize 12 initval 0x11223344', 1),
  'diswall-wl': header('diswall-wl', 'hash:net', 'family inet hashsize 1024 maxelem 65536 timeout 0 comment bucketsize 12 initval 0x0badcafe', 2),
  'diswall-wl6': header('diswall-wl6', 'hash:net', 'family inet6 hashsize 1024 maxelem 65536 timeout 0 comment bucketsize 12 initval 0x1badcafe'),
}

const ALL_SETS = 'diswall-bl\ndiswall-bl6\ndiswall-wl\ndiswall-wl6\n'

/** `iptables -S` of a host where INPUT already jumps to the guard chain only (the chain's rules are not there). */
const INPUT_WITH_GUARD = '-P INPUT ACCEPT\n-A INPUT -j diswall-sets\n'

/** `iptables -S` / `ip6tables -S` of a host where the guard chain and its jump are in place. */
const GUARD_IN_PLACE = (tool: string): string => {
  const six = tool === 'ip6tables' ? '6' : ''
  return '-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-N diswall-sets\n-A INPUT -j diswall-sets\n' +
    `-A diswall-sets -m set --match-set diswall-wl${six} src -j ACCEPT\n-A diswall-sets -m set --match-set diswall-bl${six} src -j DROP\n`
}

/**
 * A host on which `ipset list -n` shows `setList`, `ipset list -t` shows `headers` and
 * `iptables -S` / `ip6tables -S` show `input` (by default: the guard jump exists, the chain is empty).
 * Like the kernel, `ipset -exist restore` refuses a `create` line of an existing set made otherwise
 * (another type, family, maxelem, timeout or comment extension; hashsize does not count, as the kernel
 * resizes) and stops at that line.
 */
function hostExec(setList: string, headers: Record<string, string>, save: Record<string, string> = {},
  input: string | ((tool: string) => string) = INPUT_WITH_GUARD) {
  const existing = new Set(setList.split('\n'))
  return recordingExec((call) => {
    const l = line(call)
    if (l === 'ipset -exist restore') {
      const lines = call.input?.split('\n') ?? []
      for (const [i, text] of lines.entries()) {
        const name = text.split(' ')[1]
        if (text.startsWith('create ') && existing.has(name) && !sameSet(text, headers[name] ?? '')) {
          throw failure(call, `ipset v7.17: Error in line ${i + 1}: Set cannot be created: set with the same name already exists\n`)
        }
      }
      return undefined
    }

    if (l === 'ipset list -n') return {stdout: setList}
    if (l === 'iptables -S' || l === 'ip6tables -S') return {stdout: typeof input === 'string' ? input : input(call.program)}
    if (l.startsWith('ipset list -t ')) return {stdout: headers[call.args[2]] ?? ''}
    if (l.startsWith('ipset save ')) return {stdout: save[call.args[1]] ?? ''}
    return undefined
  })
}

/** Whether a `create NAME TYPE OPTIONS` line describes the set of an `ipset list -t` header, as the kernel judges it. */
function sameSet(create: string, listed: string): boolean {
  const options = (text: string): Record<string, string> => {
    const words = text.split(' ')
    const out: Record<string, string> = {}
    for (let i = 0; i < words.length; i++) {
      if (['family', 'maxelem', 'timeout'].includes(words[i]!)) out[words[i]!] = words[++i]!
      else if (words[i] === 'comment') out.comment = 'yes'
    }
    return out
  }
  const [, , type, ...rest] = create.split(' ')
  const mine = options(rest.join(' '))
  const theirs = options(/^Header: (.*)$/m.exec(listed)?.[1] ?? '')
  return /^Type: (.*)$/m.exec(listed)?.[1] === type &&
    ['family', 'maxelem', 'timeout', 'comment'].every((key) => mine[key] === theirs[key])
}

const restores = (calls: Call[]) => calls.filter((c) => c.program === 'ipset' && c.args[1] === 'restore')

test('ipset - commit sends the whole batch as one restore script with exact lines', async () => {
  const {calls, exec} = recordingExec()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  fw.add('block', {target: parseAddress('2001:db8::1'), ttlSec: 3_000_000}) // clamped
  fw.add('block', {target: parseAddress('198.51.100.3')}) // set default
  fw.del('block', parseAddress('198.51.100.9'))
  fw.add('allow', {comment: 'office LAN', target: parseTarget('10.0.0.0/8')})
  fw.add('allow', {target: parseTarget('2001:db8:1::/48'), ttlSec: 3600})
  fw.add('block', {comment: 'not stored', target: parseAddress('192.0.2.200'), ttlSec: 60})
  fw.del('allow', parseTarget('2001:db8:2::/48'))
  assert.equal(fw.pending, 8)

  assert.deepEqual(await fw.commit(), {added: 6, removed: 2})
  assert.equal(fw.pending, 0)
  assert.deepEqual(calls, [{
    args: RESTORE,
    input: [
      'add diswall-bl 203.0.113.7 timeout 600',
      `add diswall-bl6 2001:db8::1 timeout ${IPSET_MAX_TIMEOUT_SEC}`,
      'add diswall-bl 198.51.100.3 timeout 86400',
      'del diswall-bl 198.51.100.9',
      'add diswall-wl 10.0.0.0/8 timeout 0 comment "office LAN"',
      'add diswall-wl6 2001:db8:1::/48 timeout 3600',
      'add diswall-bl 192.0.2.200 timeout 60',
      'del diswall-wl6 2001:db8:2::/48',
      '',
    ].join('\n'),
    program: 'ipset',
  }])
  assert.equal(IPSET_MAX_TIMEOUT_SEC, 2_147_483)
})

test('ipset - commit clamps timeouts to whole seconds in [0, 2147483]', async () => {
  const {calls, exec} = recordingExec()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('203.0.113.1'), ttlSec: 2_147_483})
  fw.add('block', {target: parseAddress('203.0.113.2'), ttlSec: 2_147_484})
  fw.add('block', {target: parseAddress('203.0.113.3'), ttlSec: 90.9})
  fw.add('block', {target: parseAddress('203.0.113.4'), ttlSec: -5})
  await fw.commit()
  assert.equal(calls[0].input, [
    'add diswall-bl 203.0.113.1 timeout 2147483',
    'add diswall-bl 203.0.113.2 timeout 2147483',
    'add diswall-bl 203.0.113.3 timeout 90',
    'add diswall-bl 203.0.113.4 timeout 0',
    '',
  ].join('\n'))
})

test('ipset - add refuses a comment that cannot be quoted and queues nothing', () => {
  const {calls, exec} = recordingExec()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  for (const comment of ['say "hi"', 'back\\slash', 'new\nline', 'x'.repeat(129)]) {
    assert.throws(() => fw.add('allow', {comment, target: parseTarget('10.0.0.0/8')}), TypeError)
  }

  assert.equal(fw.pending, 0)
  assert.equal(calls.length, 0)
})

test('ipset - an empty commit runs nothing', async () => {
  const {calls, exec} = recordingExec()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.commit(), {added: 0, removed: 0})
  assert.deepEqual(calls, [])
})

test('ipset - a commit clears the queue, so the next commit sends only new entries', async () => {
  const {calls, exec} = recordingExec()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 5})
  await fw.commit()
  fw.del('block', parseAddress('203.0.113.7'))
  assert.deepEqual(await fw.commit(), {added: 0, removed: 1})
  assert.deepEqual(calls.map((c) => c.input), ['add diswall-bl 203.0.113.7 timeout 5\n', 'del diswall-bl 203.0.113.7\n'])
})

test('ipset - init on an empty host creates the four sets and installs the guard chain', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (line(call) === 'ipset list -n') return {stdout: ''}
    if (call.args[0] === '-S') return {stdout: '-P INPUT ACCEPT\n'}
    return undefined
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {
    created: ['diswall-bl', 'diswall-bl6', 'diswall-wl', 'diswall-wl6'],
    leftovers: [],
    migrated: [],
  })
  const guard = (family: 4 | 6) => [
    '*filter',
    ':diswall-sets - [0:0]',
    `-A diswall-sets -m set --match-set diswall-wl${family === 6 ? '6' : ''} src -j ACCEPT`,
    `-A diswall-sets -m set --match-set diswall-bl${family === 6 ? '6' : ''} src -j DROP`,
    '-I INPUT 1 -j diswall-sets',
    'COMMIT',
    '',
  ].join('\n')
  assert.deepEqual(calls, [
    {args: ['list', '-n'], program: 'ipset'},
    {args: RESTORE, input: 'create diswall-bl hash:ip family inet hashsize 32768 maxelem 1000000 timeout 86400\n' +
      'create diswall-bl6 hash:net family inet6 hashsize 32768 maxelem 1000000 timeout 86400\n' +
      'create diswall-wl hash:net family inet hashsize 1024 maxelem 65536 timeout 0 comment\n' +
      'create diswall-wl6 hash:net family inet6 hashsize 1024 maxelem 65536 timeout 0 comment\n', program: 'ipset'},
    // Both families at once.
    {args: ['-S'], program: 'iptables'},
    {args: ['-S'], program: 'ip6tables'},
    {args: ['--noflush'], input: guard(4), program: 'iptables-restore'},
    {args: ['--noflush'], input: guard(6), program: 'ip6tables-restore'},
  ])
})

test('ipset - init uses the configured limits and names in the create lines', async () => {
  const {calls, exec} = recordingExec((call) => (line(call) === 'ipset list -n' ? {stdout: ''} : undefined))
  const names = {...DEFAULT_NAMES, allow: {v4: 'wl', v6: 'wl6'}, block: {v4: 'bl', v6: 'bl6'}}
  const fw = new IpsetBackend(names, {allowMax: 100, blockMax: 5000, blockTimeoutSec: 5_000_000}, exec)
  await fw.init()
  assert.deepEqual(restores(calls).map((c) => c.input), [[
    'create bl hash:ip family inet hashsize 32768 maxelem 5000 timeout 2147483',
    'create bl6 hash:net family inet6 hashsize 32768 maxelem 5000 timeout 2147483',
    'create wl hash:net family inet hashsize 1024 maxelem 100 timeout 0 comment',
    'create wl6 hash:net family inet6 hashsize 1024 maxelem 100 timeout 0 comment',
    '',
  ].join('\n')])
})

test('ipset - init on a host that already has the sets and the guard checks them with create -exist and writes no rule', async () => {
  const {calls, exec} = hostExec(ALL_SETS, GOOD_HEADERS, {}, GUARD_IN_PLACE)
  assert.deepEqual(await new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init(), {created: [], leftovers: [], migrated: []})
  // Four processes: every single command pays them, so no guard rewrite that changes nothing.
  assert.deepEqual(calls.map(line), ['ipset list -n', 'ipset -exist restore', 'iptables -S', 'ip6tables -S'])
})

test('ipset - init on a host that already has the sets checks them with create -exist, never ipset list -t, and changes no set', async () => {
  const {calls, exec} = hostExec(ALL_SETS, GOOD_HEADERS)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: []})
  // `ipset list -t` walks every entry of a set to count it (~85 ms at 1M bans): not on this path.
  assert.deepEqual(calls.map(line), [
    'ipset list -n',
    'ipset -exist restore',
    'iptables -S',
    'ip6tables -S',
    'iptables-restore --noflush',
    'ip6tables-restore --noflush',
  ])
  // The guard chain is re-declared and refilled (idempotent), but its jump is not added again.
  const guardScripts = calls.filter((c) => c.program.endsWith('-restore')).map((c) => c.input)
  assert.deepEqual(guardScripts, [
    '*filter\n:diswall-sets - [0:0]\n' +
      '-A diswall-sets -m set --match-set diswall-wl src -j ACCEPT\n' +
      '-A diswall-sets -m set --match-set diswall-bl src -j DROP\nCOMMIT\n',
    '*filter\n:diswall-sets - [0:0]\n' +
      '-A diswall-sets -m set --match-set diswall-wl6 src -j ACCEPT\n' +
      '-A diswall-sets -m set --match-set diswall-bl6 src -j DROP\nCOMMIT\n',
  ])
})

test('ipset - init with the ruleset chain diswall-in in INPUT removes every jump to the guard chain', async () => {
  // Two copies of the guard jump (a crash between runs can leave one more) and the ruleset's jump.
  const input = '-P INPUT DROP\n-A INPUT -j diswall-sets\n-A INPUT -j diswall-in\n-A INPUT -j diswall-sets\n'
  const {calls, exec} = hostExec(ALL_SETS, GOOD_HEADERS, {}, input)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: []})
  const tail = calls.slice(2)
  assert.deepEqual(tail.map(line), [
    'iptables -S',
    'ip6tables -S',
    'iptables-restore --noflush',
    'ip6tables-restore --noflush',
  ])
  const guard = (family: 4 | 6) => [
    '*filter',
    ':diswall-sets - [0:0]',
    `-A diswall-sets -m set --match-set diswall-wl${family === 6 ? '6' : ''} src -j ACCEPT`,
    `-A diswall-sets -m set --match-set diswall-bl${family === 6 ? '6' : ''} src -j DROP`,
    '-D INPUT -j diswall-sets',
    '-D INPUT -j diswall-sets',
    'COMMIT',
    '',
  ].join('\n')
  assert.deepEqual([tail[2].input, tail[3].input], [guard(4), guard(6)])
  // Nothing is inserted into INPUT, no set is touched (the one restore holds the sets' create lines only).
  assert.ok(!calls.some((c) => c.input?.includes('-I INPUT')))
  assert.ok(restores(calls).every((c) => c.input?.trim().split('\n').every((l) => l.startsWith('create diswall-'))))
})

test('ipset - init with diswall-in in INPUT and no guard jump only refills the guard chain', async () => {
  const {calls, exec} = hostExec(ALL_SETS, GOOD_HEADERS, {}, '-P INPUT ACCEPT\n-A INPUT -j diswall-in\n')
  await new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).init()
  assert.equal(calls.find((c) => c.program === 'iptables-restore')?.input,
    '*filter\n:diswall-sets - [0:0]\n' +
      '-A diswall-sets -m set --match-set diswall-wl src -j ACCEPT\n' +
      '-A diswall-sets -m set --match-set diswall-bl src -j DROP\nCOMMIT\n')
})

test('ipset - init refuses a set of the wrong type and changes nothing after detecting it', async () => {
  const headers = {...GOOD_HEADERS, 'diswall-bl': header('diswall-bl', 'hash:net', 'family inet hashsize 1024 maxelem 65536')}
  const {calls, exec} = hostExec(ALL_SETS, headers)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  await assert.rejects(fw.init(), (error: unknown) => {
    assert.ok(error instanceof SetTypeMismatchError)
    assert.ok(error instanceof DiswallError)
    assert.equal(error.code, 'E_SET_TYPE')
    assert.equal(error.exitCode, 5)
    assert.equal(error.message,
      'kernel set "diswall-bl" exists with type "hash:net family inet", but diswall needs "hash:ip family inet"')
    return true
  })
  // The four create lines fail at the first; its create with replace()'s capacity fails too; then it is read.
  assert.deepEqual(calls.map(line), ['ipset list -n', 'ipset -exist restore', 'ipset -exist restore', 'ipset list -t diswall-bl'])
})

test('ipset - init refuses a set of the wrong family after the sets before it were checked', async () => {
  const headers = {...GOOD_HEADERS, 'diswall-bl6': header('diswall-bl6', 'hash:net', 'family inet hashsize 32768 maxelem 1000000 timeout 86400')}
  const {calls, exec} = hostExec(ALL_SETS, headers)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  await assert.rejects(fw.init(), {
    code: 'E_SET_TYPE',
    message: 'kernel set "diswall-bl6" exists with type "hash:net family inet", but diswall needs "hash:net family inet6"',
  })
  // diswall-bl passed the create -exist check; diswall-bl6 failed it (and with replace()'s capacity) and was read.
  assert.deepEqual(calls.map(line), ['ipset list -n', 'ipset -exist restore', 'ipset -exist restore', 'ipset list -t diswall-bl6'])
})

test('ipset - init removes a leftover staging set of a crashed run', async () => {
  const {calls, exec} = hostExec(`${ALL_SETS}diswall-wl6-new\nother-set\nother-set-new\n`, GOOD_HEADERS)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: ['diswall-wl6-new'], migrated: []})
  assert.deepEqual(calls.slice(0, 2).map(line), ['ipset list -n', 'ipset destroy diswall-wl6-new'])
  assert.equal(calls.filter((c) => c.args[0] === 'destroy').length, 1)
})

test('ipset - init migrates sets that lack timeout, comment or capacity, keeping their entries', async () => {
  const headers = {
    ...GOOD_HEADERS,
    // Made by an older version: no timeout, no comment support.
    'diswall-wl': header('diswall-wl', 'hash:net', 'family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1', 2),
    // Right type but too small.
    'diswall-bl': header('diswall-bl', 'hash:ip', 'family inet hashsize 1024 maxelem 65536 timeout 600 bucketsize 12 initval 0x2', 1),
  }
  const save = {
    'diswall-bl': 'create diswall-bl hash:ip family inet hashsize 1024 maxelem 65536 timeout 600 bucketsize 12 initval 0x2\n' +
      'add diswall-bl 198.51.100.1 timeout 500\n',
    'diswall-wl': 'create diswall-wl hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\n' +
      'add diswall-wl 10.0.0.0/8\nadd diswall-wl 192.0.2.7\n',
  }
  const {calls, exec} = hostExec(ALL_SETS, headers, save)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: ['diswall-bl', 'diswall-wl']})
  assert.deepEqual(restores(calls).filter((c) => c.input?.includes('\nswap ')).map((c) => c.input), [
    [
      'create diswall-bl-new hash:ip family inet hashsize 32768 maxelem 1000000 timeout 86400',
      'add diswall-bl-new 198.51.100.1 timeout 500',
      'swap diswall-bl-new diswall-bl',
      'destroy diswall-bl-new',
      '',
    ].join('\n'),
    [
      'create diswall-wl-new hash:net family inet hashsize 1024 maxelem 65536 timeout 0 comment',
      'add diswall-wl-new 10.0.0.0/8 timeout 0',
      'add diswall-wl-new 192.0.2.7 timeout 0',
      'swap diswall-wl-new diswall-wl',
      'destroy diswall-wl-new',
      '',
    ].join('\n'),
  ])
  // Each migration reads the set first, then loads the staging set.
  const order = calls.map((c) => c.input?.includes('\nswap ') ? 'migrate' : line(c)).filter((l) => l.startsWith('ipset save') || l === 'migrate')
  assert.deepEqual(order, ['ipset save diswall-bl', 'migrate', 'ipset save diswall-wl', 'migrate'])
})

test('ipset - init keeps sets that replace() made with room to grow, without reading them', async () => {
  const headers = {
    ...GOOD_HEADERS,
    // replace() of the block list made both families' sets with twice the configured capacity.
    'diswall-bl': header('diswall-bl', 'hash:ip', 'family inet hashsize 65536 maxelem 2000000 timeout 86400 bucketsize 12 initval 0x3'),
    'diswall-bl6': header('diswall-bl6', 'hash:net', 'family inet6 hashsize 32768 maxelem 2000000 timeout 86400 bucketsize 12 initval 0x4'),
  }
  const {calls, exec} = hostExec(ALL_SETS, headers)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: []})
  // The four create lines fail at the first; it passes with replace()'s capacity; the other three, the
  // IPv6 block set with that capacity too, go in a third restore. No `ipset list -t`, which walks a set
  // of 1M bans for ~30 ms.
  assert.deepEqual(restores(calls).map((c) => c.input?.trim().split('\n').length), [4, 1, 3])
  assert.ok(!calls.some((c) => line(c).startsWith('ipset list -t')), calls.map(line).join('; '))
  // And the next commit that must recreate it (replace()) keeps that capacity.
  assert.match(restores(calls)[1]!.input!, /^create diswall-bl hash:ip family inet hashsize 32768 maxelem 2000000 timeout 86400\n$/)
})

test('ipset - init keeps a set that has grown beyond replace()\'s capacity (a full set doubles)', async () => {
  const headers = {
    ...GOOD_HEADERS,
    'diswall-bl': header('diswall-bl', 'hash:ip', 'family inet hashsize 65536 maxelem 4000000 timeout 86400 bucketsize 12 initval 0x3'),
  }
  const {calls, exec} = hostExec(ALL_SETS, headers)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.init(), {created: [], leftovers: [], migrated: []})
  // Its create with the configured and with replace()'s capacity fail; it is read with ipset list -t and
  // kept; the other three pass in another restore.
  assert.deepEqual(restores(calls).map((c) => c.input?.trim().split('\n').length), [4, 1, 3])
  assert.ok(calls.some((c) => line(c) === 'ipset list -t diswall-bl'))
})

test('ipset - a full set is grown (doubled maxelem) and the commit resumes at the failed line', async () => {
  const limits = {allowMax: 8, blockMax: 4, blockTimeoutSec: 600}
  const saved = 'create diswall-bl hash:ip family inet hashsize 32768 maxelem 4 timeout 600\n' +
    'add diswall-bl 198.51.100.1 timeout 590\nadd diswall-bl 198.51.100.2 timeout 595\n'
  let restoreCount = 0
  const {calls, exec} = recordingExec((call) => {
    if (line(call) === 'ipset save diswall-bl') return {stdout: saved}
    if (line(call) !== 'ipset -exist restore') return undefined
    restoreCount++
    // 1st: the batch stops at its line 3; 3rd: the resumed batch stops at its line 2 (the 4th op).
    if (restoreCount === 1) throw failure(call, 'ipset v7.17: Error in line 3: Hash is full, cannot add more elements\n')
    if (restoreCount === 3) throw failure(call, 'ipset v7.17: Error in line 2: Hash is full, cannot add more elements\n')
    return undefined
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, limits, exec)
  fw.del('block', parseAddress('198.51.100.9'))
  for (const n of [1, 2, 3, 4]) fw.add('block', {target: parseAddress(`198.51.100.${n}`), ttlSec: 600})
  assert.deepEqual(await fw.commit(), {added: 4, removed: 1})

  const migration = (maxelem: number) => [
    `create diswall-bl-new hash:ip family inet hashsize 32768 maxelem ${maxelem} timeout 600`,
    'add diswall-bl-new 198.51.100.1 timeout 590',
    'add diswall-bl-new 198.51.100.2 timeout 595',
    'swap diswall-bl-new diswall-bl',
    'destroy diswall-bl-new',
    '',
  ].join('\n')
  assert.deepEqual(calls.map((c) => [line(c), c.input]), [
    ['ipset -exist restore', 'del diswall-bl 198.51.100.9\nadd diswall-bl 198.51.100.1 timeout 600\n' +
      'add diswall-bl 198.51.100.2 timeout 600\nadd diswall-bl 198.51.100.3 timeout 600\nadd diswall-bl 198.51.100.4 timeout 600\n'],
    ['ipset save diswall-bl', undefined],
    ['ipset -exist restore', migration(8)],
    ['ipset -exist restore', 'add diswall-bl 198.51.100.2 timeout 600\nadd diswall-bl 198.51.100.3 timeout 600\n' +
      'add diswall-bl 198.51.100.4 timeout 600\n'],
    ['ipset save diswall-bl', undefined],
    ['ipset -exist restore', migration(16)],
    ['ipset -exist restore', 'add diswall-bl 198.51.100.3 timeout 600\nadd diswall-bl 198.51.100.4 timeout 600\n'],
  ])
})

test('ipset - a full IPv6 set grows the IPv6 set only', async () => {
  let failed = false
  const {calls, exec} = recordingExec((call) => {
    if (line(call) === 'ipset -exist restore' && !failed) {
      failed = true
      throw failure(call, 'ipset v7.17: Error in line 2: Hash is full, cannot add more elements')
    }

    return undefined
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, {allowMax: 2, blockMax: 3, blockTimeoutSec: 60}, exec)
  fw.add('block', {target: parseAddress('198.51.100.1')})
  fw.add('block', {target: parseAddress('2001:db8::5')})
  await fw.commit()
  assert.deepEqual(calls.map(line), ['ipset -exist restore', 'ipset save diswall-bl6', 'ipset -exist restore', 'ipset -exist restore'])
  assert.equal(calls[2].input, 'create diswall-bl6-new hash:net family inet6 hashsize 32768 maxelem 6 timeout 60\n' +
    'swap diswall-bl6-new diswall-bl6\ndestroy diswall-bl6-new\n')
  assert.equal(calls[3].input, 'add diswall-bl6 2001:db8::5 timeout 60\n')
})

test('ipset - a restore failure that is not "set full" is thrown and nothing is retried', async () => {
  const {calls, exec} = recordingExec((call) => {
    throw failure(call, 'ipset v7.17: Error in line 1: The set with the given name does not exist\n')
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('198.51.100.1'), ttlSec: 5})
  await assert.rejects(fw.commit(), (error: unknown) => error instanceof CommandFailedError &&
    /does not exist/.test(error.stderr))
  assert.equal(calls.length, 1)
  assert.equal(fw.pending, 0)
})

test('ipset - a bad line in the middle is skipped, the rest of the batch still lands, the error is thrown', async () => {
  let first = true
  const {calls, exec} = recordingExec((call) => {
    if (first) {
      first = false
      throw failure(call, 'ipset v7.17: Error in line 2: Kernel error received: Invalid argument\n')
    }

    return undefined
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  for (const n of [1, 2, 3]) fw.add('block', {target: parseAddress(`198.51.100.${n}`), ttlSec: 5})
  await assert.rejects(fw.commit(), (error: unknown) => error instanceof CommandFailedError && /Invalid argument/.test(error.stderr))
  assert.deepEqual(calls.map((c) => c.input), [
    'add diswall-bl 198.51.100.1 timeout 5\nadd diswall-bl 198.51.100.2 timeout 5\nadd diswall-bl 198.51.100.3 timeout 5\n',
    'add diswall-bl 198.51.100.3 timeout 5\n',
  ])
})

test('ipset - a "set full" failure without a line number is thrown, not retried', async () => {
  const {calls, exec} = recordingExec((call) => {
    throw failure(call, 'ipset v7.17: Hash is full, cannot add more elements\n')
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('198.51.100.1'), ttlSec: 5})
  await assert.rejects(fw.commit(), CommandFailedError)
  assert.equal(calls.length, 1)
})

test('ipset - replace streams one restore: both staging sets, the entries as they come, both swaps', async () => {
  const {calls, exec} = recordingExec()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  async function* copy(): AsyncGenerator<SetEntry> {
    yield {target: parseAddress('203.0.113.7'), ttlSec: 600}
    yield {target: parseAddress('2001:db8::1')}
    yield {target: parseAddress('198.51.100.1'), ttlSec: 3_000_000}
  }
  await fw.replace('block', copy())
  assert.deepEqual(calls, [
    {
      args: RESTORE,
      input: [
        // No count up front: sized for the configured capacity with room (1M × 1.25 → 2M).
        'create diswall-bl-new hash:ip family inet hashsize 32768 maxelem 2000000 timeout 86400',
        'flush diswall-bl-new',
        'create diswall-bl6-new hash:net family inet6 hashsize 32768 maxelem 2000000 timeout 86400',
        'flush diswall-bl6-new',
        'add diswall-bl-new 203.0.113.7 timeout 600',
        'add diswall-bl6-new 2001:db8::1 timeout 86400',
        'add diswall-bl-new 198.51.100.1 timeout 2147483',
        'swap diswall-bl-new diswall-bl',
        'swap diswall-bl6-new diswall-bl6',
        'destroy diswall-bl-new',
        'destroy diswall-bl6-new',
        '',
      ].join('\n'),
      program: 'ipset',
    },
  ])
})

test('ipset - replace of the allow list keeps comments; the staging maxelem stays put over repeated replaces', async () => {
  const {calls, exec} = recordingExec()
  const fw = new IpsetBackend(DEFAULT_NAMES, {allowMax: 2, blockMax: 4, blockTimeoutSec: 60}, exec)
  const entries = [
    {comment: 'office', target: parseTarget('10.0.0.0/8')},
    {target: parseTarget('192.0.2.0/24'), ttlSec: 30},
  ]
  await fw.replace('allow', entries)
  await fw.replace('allow', entries)
  const expected = [
    'create diswall-wl-new hash:net family inet hashsize 1024 maxelem 4 timeout 0 comment', // 2 × 1.25 > 2
    'flush diswall-wl-new',
    'create diswall-wl6-new hash:net family inet6 hashsize 1024 maxelem 4 timeout 0 comment',
    'flush diswall-wl6-new',
    'add diswall-wl-new 10.0.0.0/8 timeout 0 comment "office"',
    'add diswall-wl-new 192.0.2.0/24 timeout 30',
    'swap diswall-wl-new diswall-wl',
    'swap diswall-wl6-new diswall-wl6',
    'destroy diswall-wl-new',
    'destroy diswall-wl6-new',
    '',
  ].join('\n')
  assert.deepEqual(calls.map((c) => c.input), [expected, expected])
})

test('ipset - a copy that breaks off mid-stream: the error comes back, the staging sets are destroyed, no swap', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.args[0] === 'destroy' && call.args[1] === 'diswall-bl6-new') throw failure(call, 'ipset v7.17: The set with the given name does not exist\n')
    return undefined
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  async function* cut(): AsyncGenerator<SetEntry> {
    yield {target: parseAddress('203.0.113.7')}
    throw new Error('the init answer stopped after 1 entries')
  }
  await assert.rejects(fw.replace('block', cut()), {message: 'the init answer stopped after 1 entries'})
  assert.deepEqual(calls.map(line), ['ipset destroy diswall-bl-new', 'ipset destroy diswall-bl6-new'])
})

test('ipset - has() is true when ipset test succeeds and false for "is NOT in set"', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (call.args[2] === '198.51.100.9') throw failure(call, 'ipset v7.17: Warning: 198.51.100.9 is NOT in set diswall-bl.\n')
    if (call.args[2] === '2001:db8::9') throw failure(call, 'ipset v7.17: The set with the given name does not exist\n')
    return {stdout: '', stderr: 'Warning: 198.51.100.1 is in set diswall-bl.\n'}
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.equal(await fw.has('block', parseAddress('198.51.100.1')), true)
  assert.equal(await fw.has('block', parseAddress('198.51.100.9')), false)
  await assert.rejects(fw.has('allow', parseAddress('2001:db8::9')), CommandFailedError)
  assert.deepEqual(calls.map(line), [
    'ipset test diswall-bl 198.51.100.1',
    'ipset test diswall-bl 198.51.100.9',
    'ipset test diswall-wl6 2001:db8::9',
  ])
})

test('ipset - list() reads both families with ipset save and count() reads the headers', async () => {
  const save: Record<string, string> = {
    'diswall-wl': 'create diswall-wl hash:net family inet hashsize 1024 maxelem 65536 timeout 0 comment\n' +
      'add diswall-wl 10.0.0.0/8 timeout 0 comment "office"\n',
    'diswall-wl6': 'create diswall-wl6 hash:net family inet6 hashsize 1024 maxelem 65536 timeout 0 comment\n' +
      'add diswall-wl6 2001:db8::/32 timeout 120\n',
  }
  const {calls, exec} = hostExec(ALL_SETS, GOOD_HEADERS, save)
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  assert.deepEqual(await fw.list('allow'), [
    {comment: 'office', target: parseTarget('10.0.0.0/8'), ttlSec: undefined},
    {comment: undefined, target: parseTarget('2001:db8::/32'), ttlSec: 120},
  ])
  assert.equal(await fw.count('block'), 4)
  assert.deepEqual(calls.map(line), ['ipset save diswall-wl', 'ipset save diswall-wl6', 'ipset list -t diswall-bl', 'ipset list -t diswall-bl6'])
})

test('ipset - destroy removes the guard rule, the chain and the sets that exist', async () => {
  const {calls, exec} = recordingExec((call) => {
    if (line(call) === 'ipset list -n') return {stdout: 'diswall-bl\ndiswall-wl\ndiswall-bl6-new\n'}
    if (call.program === 'ip6tables') throw failure(call, 'ip6tables: No chain/target/match by that name.\n')
    return undefined
  })
  await new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).destroy()
  assert.deepEqual(calls.map(line), [
    'iptables -D INPUT -j diswall-sets',
    'iptables -F diswall-sets',
    'iptables -X diswall-sets',
    'ip6tables -D INPUT -j diswall-sets',
    'ip6tables -F diswall-sets',
    'ipset list -n',
    'ipset destroy diswall-bl',
    'ipset destroy diswall-bl6-new',
    'ipset destroy diswall-wl',
  ])
})

test('parseIpsetSave - reads add lines with timeouts, comments, IPv6 and prefixes', () => {
  const text = [
    'create diswall-wl hash:net family inet hashsize 1024 maxelem 65536 timeout 0 comment bucketsize 12 initval 0x6a9b2f10',
    'add diswall-wl 10.0.0.0/8 timeout 0 comment "office LAN"',
    'add diswall-wl 198.51.100.7 timeout 3591 comment "auto: ssh login from alice"',
    'add diswall-wl 192.0.2.0/24 timeout 0',
    'add diswall-wl 172.16.0.0/12 comment "no timeout support"',
    'create diswall-wl6 hash:net family inet6 hashsize 1024 maxelem 65536 timeout 0 comment bucketsize 12 initval 0x1',
    'add diswall-wl6 2001:db8:abcd::/48 timeout 86000 comment "v6 office"',
    'add diswall-wl6 2001:db8::7 timeout 0',
    'create diswall-bl hash:ip family inet hashsize 32768 maxelem 1000000 timeout 86400 bucketsize 12 initval 0x2',
    'add diswall-bl 203.0.113.7 timeout 86322',
    'add diswall-bl not-an-address timeout 5',
    'add diswall-bl 203.0.113.8',
    '',
  ].join('\n')
  assert.deepEqual(parseIpsetSave(text, 'diswall-wl'), [
    {comment: 'office LAN', target: parseTarget('10.0.0.0/8'), ttlSec: undefined},
    {comment: 'auto: ssh login from alice', target: parseAddress('198.51.100.7'), ttlSec: 3591},
    {comment: undefined, target: parseTarget('192.0.2.0/24'), ttlSec: undefined},
    {comment: 'no timeout support', target: parseTarget('172.16.0.0/12'), ttlSec: undefined},
  ])
  assert.deepEqual(parseIpsetSave(text, 'diswall-wl6'), [
    {comment: 'v6 office', target: parseTarget('2001:db8:abcd::/48'), ttlSec: 86_000},
    {comment: undefined, target: parseAddress('2001:db8::7'), ttlSec: undefined},
  ])
  assert.deepEqual(parseIpsetSave(text, 'diswall-bl'), [
    {comment: undefined, target: parseAddress('203.0.113.7'), ttlSec: 86_322},
    {comment: undefined, target: parseAddress('203.0.113.8'), ttlSec: undefined},
  ])
  assert.equal(parseIpsetSave(text).length, 8) // every set when no name is given; bad entry skipped
  assert.deepEqual(parseIpsetSave(text, 'diswall-bl6'), [])
  assert.deepEqual(parseIpsetSave(''), [])
})

test('parseIpsetSave - entries are canonical targets (family and network text)', () => {
  const [v6, net] = parseIpsetSave('add s 2001:DB8:0:0::1 timeout 9\nadd s 2001:db8::/32 timeout 0\n', 's')
  assert.deepEqual(v6.target, {family: 6, kind: 'address', text: '2001:db8::1'})
  assert.equal(net.target.kind, 'network')
  assert.equal(net.target.text, '2001:db8::/32')
})

test('parseIpsetHeader - reads type, family, maxelem, timeout, comment and size', () => {
  assert.deepEqual(parseIpsetHeader(GOOD_HEADERS['diswall-bl']), {
    comment: false, entries: 3, family: 'inet', maxelem: 1_000_000, timeout: 86_400, type: 'hash:ip',
  })
  assert.deepEqual(parseIpsetHeader(GOOD_HEADERS['diswall-wl6']), {
    comment: true, entries: 0, family: 'inet6', maxelem: 65_536, timeout: 0, type: 'hash:net',
  })
  assert.deepEqual(parseIpsetHeader(header('old', 'hash:net', 'family inet6 hashsize 1024 maxelem 4096 bucketsize 12 initval 0x1', 12)), {
    comment: false, entries: 12, family: 'inet6', maxelem: 4096, timeout: undefined, type: 'hash:net',
  })
  // A comment at the very end of the header line counts too.
  assert.equal(parseIpsetHeader('Type: hash:net\nHeader: family inet hashsize 1024 maxelem 65536 comment\n').comment, true)
  // "comment" inside another word does not.
  assert.equal(parseIpsetHeader('Type: hash:net\nHeader: family inet nocomment 1\n').comment, false)
})

test('ipset - a commit names each touched set with its create line first, so ipset batches the adds', async () => {
  const {calls, exec} = recordingExecRaw()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  fw.add('allow', {target: parseTarget('2001:db8:1::/48')})
  fw.add('block', {target: parseAddress('203.0.113.8'), ttlSec: 600})
  await fw.commit()
  assert.equal(calls[0].input, [
    'create diswall-bl hash:ip family inet hashsize 32768 maxelem 1000000 timeout 86400',
    'create diswall-wl6 hash:net family inet6 hashsize 1024 maxelem 65536 timeout 0 comment',
    'add diswall-bl 203.0.113.7 timeout 600',
    'add diswall-wl6 2001:db8:1::/48 timeout 0',
    'add diswall-bl 203.0.113.8 timeout 600',
    '',
  ].join('\n'))
})

test('ipset - a set made by hand with other parameters turns the create prefix off, the batch still lands', async () => {
  let first = true
  const {calls, exec} = recordingExecRaw((call) => {
    if (first) {
      first = false
      throw failure(call, 'ipset v7.17: Error in line 1: Set cannot be created: set with the same name already exists\n')
    }

    return undefined
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  assert.deepEqual(await fw.commit(), {added: 1, removed: 0})
  fw.add('block', {target: parseAddress('203.0.113.9'), ttlSec: 600})
  await fw.commit()
  assert.deepEqual(calls.map((c) => c.input), [
    'create diswall-bl hash:ip family inet hashsize 32768 maxelem 1000000 timeout 86400\nadd diswall-bl 203.0.113.7 timeout 600\n',
    'add diswall-bl 203.0.113.7 timeout 600\n',
    'add diswall-bl 203.0.113.9 timeout 600\n',
  ])
})

/** A session that records its batches and fails those `fail` picks (by index, 0-based). */
function fakeSession(fail: (lines: readonly string[], index: number) => Error | undefined = () => undefined) {
  const batches: string[][] = []
  const made: string[] = []
  let closed = 0
  const factory: IpsetSessionFactory = (sentinelSet) => {
    made.push(sentinelSet)
    return {
      async close() {
        closed++
      },
      async run(lines) {
        batches.push([...lines])
        const error = fail(lines, batches.length - 1)
        if (error) throw error
      },
    }
  }

  return {batches, closedCount: () => closed, factory, made}
}

const CREATE_BL = 'create diswall-bl hash:ip family inet hashsize 32768 maxelem 1000000 timeout 86400'

test('ipset - with a session, a small commit goes through it (create lines first) and starts no process', async () => {
  const {calls, exec} = recordingExecRaw()
  const session = fakeSession()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  assert.deepEqual(session.made, [], 'made by the first commit, not before')
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  fw.del('allow', parseTarget('2001:db8:1::/48'))
  assert.deepEqual(await fw.commit(), {added: 1, removed: 1})
  fw.add('block', {target: parseAddress('2001:db8::7'), ttlSec: 60})
  await fw.commit()

  assert.deepEqual(calls, [])
  assert.deepEqual(session.made, ['diswall-bl'])
  assert.deepEqual(session.batches, [
    [CREATE_BL, 'create diswall-wl6 hash:net family inet6 hashsize 1024 maxelem 65536 timeout 0 comment',
      'add diswall-bl 203.0.113.7 timeout 600', 'del diswall-wl6 2001:db8:1::/48'],
    // The sentinel set's create line comes along, so a destroyed set cannot leave the session hanging.
    [CREATE_BL, 'create diswall-bl6 hash:net family inet6 hashsize 32768 maxelem 1000000 timeout 86400',
      'add diswall-bl6 2001:db8::7 timeout 60'],
  ])
  assert.deepEqual(fw.sessionStats, {batches: 2, fallbacks: 0})
})

test('ipset - when the session fails, the same batch goes through ipset restore', async () => {
  const {calls, exec} = recordingExecRaw()
  const session = fakeSession((_lines, index) => (index === 0
    ? new CommandFailedError('ipset', ['-exist', '-'], undefined, 'ipset v7.17: Kernel error received: Invalid argument\n')
    : undefined))
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  fw.add('block', {target: parseAddress('203.0.113.8'), ttlSec: 600})
  assert.deepEqual(await fw.commit(), {added: 2, removed: 0})
  assert.deepEqual(calls, [{
    args: RESTORE,
    input: `${CREATE_BL}\nadd diswall-bl 203.0.113.7 timeout 600\nadd diswall-bl 203.0.113.8 timeout 600\n`,
    program: 'ipset',
  }])

  // The session is kept: the next commit tries it again.
  fw.add('block', {target: parseAddress('203.0.113.9'), ttlSec: 600})
  await fw.commit()
  assert.equal(calls.length, 1)
  assert.equal(session.batches.length, 2)
  assert.deepEqual(fw.sessionStats, {batches: 1, fallbacks: 1})
})

test('ipset - a session failure then a restore failure: the restore error is thrown, the bad line skipped', async () => {
  let restores = 0
  const {calls, exec} = recordingExec((call) => {
    if (restores++ === 0) throw failure(call, 'ipset v7.17: Error in line 1: Kernel error received: Invalid argument\n')
    return undefined
  })
  const session = fakeSession(() => new CommandFailedError('ipset', ['-exist', '-'], undefined, 'ipset v7.17: Kernel error received: Invalid argument\n'))
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  fw.add('block', {target: parseAddress('203.0.113.1'), ttlSec: 5})
  fw.add('block', {target: parseAddress('203.0.113.2'), ttlSec: 5})
  await assert.rejects(fw.commit(), (error: unknown) => error instanceof CommandFailedError && error.args[1] === 'restore' &&
    /Error in line \d+: Kernel error/.test(error.stderr))
  assert.deepEqual(calls.map((c) => c.input), [
    'add diswall-bl 203.0.113.1 timeout 5\nadd diswall-bl 203.0.113.2 timeout 5\n',
    'add diswall-bl 203.0.113.2 timeout 5\n',
  ])
})

test('ipset - a commit larger than SESSION_MAX_LINES goes straight to ipset restore', async () => {
  const {calls, exec} = recordingExec()
  const session = fakeSession()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  for (let n = 0; n <= SESSION_MAX_LINES; n++) fw.add('block', {target: parseAddress(`10.0.${n >> 8}.${n & 255}`)})
  await fw.commit()
  assert.equal(session.batches.length, 0)
  assert.equal(calls.length, 1)
  assert.equal(SESSION_MAX_LINES, 512)
})

test('ipset - close() ends the session; later commits use ipset restore; without a session close() does nothing', async () => {
  const {calls, exec} = recordingExec()
  const session = fakeSession()
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: session.factory})
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  await fw.commit()
  await fw.close()
  assert.equal(session.closedCount(), 1)
  fw.add('block', {target: parseAddress('203.0.113.8'), ttlSec: 600})
  await fw.commit()
  assert.equal(session.batches.length, 1)
  assert.deepEqual(calls.map((c) => c.input), ['add diswall-bl 203.0.113.8 timeout 600\n'])
  assert.deepEqual(session.made, ['diswall-bl'], 'no new session after close()')

  const unused = fakeSession()
  await new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: unused.factory}).close()
  assert.deepEqual(unused.made, [])
  await new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec).close()
})

test('ipset - session: true refuses a custom exec, which would run the session somewhere else', () => {
  const {exec} = recordingExec()
  assert.throws(() => new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec, {session: true}), TypeError)
  // The default exec is fine; nothing starts before the first commit.
  new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, undefined, {session: true})
})

test('ipset - list() and count() of sets that do not exist yet are empty; other failures are thrown', async () => {
  const missing = recordingExec((call) => {
    throw failure(call, 'ipset v7.17: The set with the given name does not exist\n')
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, missing.exec)
  assert.deepEqual(await fw.list('block'), [])
  assert.equal(await fw.count('allow'), 0)
  assert.deepEqual(missing.calls.map(line), ['ipset save diswall-bl', 'ipset save diswall-bl6', 'ipset list -t diswall-wl', 'ipset list -t diswall-wl6'])
  const denied = recordingExec((call) => {
    throw failure(call, 'ipset v7.17: Kernel error received: Operation not permitted\n')
  })
  await assert.rejects(new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, denied.exec).list('block'), /Operation not permitted/)
})

test('ipset - forEachEntry hands over the entries of both sets as list() reads them; a missing set has none', async () => {
  const save = {
    'diswall-bl': 'create diswall-bl hash:ip family inet hashsize 32768 maxelem 1000000 timeout 86400\n' +
      'add diswall-bl 198.51.100.1 timeout 500\nadd diswall-bl 198.51.100.2 timeout 0\nadd other-set 192.0.2.1\nadd diswall-bl not-an-ip timeout 5\n' +
      'add diswall-bl 198.51.100.3 timeout 7', // no newline at the end
  }
  const {exec} = recordingExec((call) => {
    if (line(call) === 'ipset save diswall-bl') return {stdout: save['diswall-bl']}
    if (line(call) === 'ipset save diswall-bl6') throw failure(call, 'ipset v7.17: The set with the given name does not exist\n')
    return undefined
  })
  const fw = new IpsetBackend(DEFAULT_NAMES, DEFAULT_LIMITS, exec)
  const seen: unknown[] = []
  await fw.forEachEntry('block', (e) => seen.push(e))
  assert.deepEqual(seen, await fw.list('block'))
  assert.deepEqual(seen, [
    {comment: undefined, target: parseAddress('198.51.100.1'), ttlSec: 500},
    {comment: undefined, target: parseAddress('198.51.100.2'), ttlSec: undefined},
    {comment: undefined, target: parseAddress('198.51.100.3'), ttlSec: 7},
  ])
})
