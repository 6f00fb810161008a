/**
 * `diswall block add/del/list` and `allow add/del/list` against the real kernel sets of both backends,
 * run as users run them (the built CLI, `ip netns exec` into a throwaway namespace, --json). No
 * traffic here (kernel-sets.test.ts sends packets): these tests pin down the envelope, the exit codes,
 * idempotence and what lands in the kernel. Every test starts from empty sets. Addresses are TEST-NET
 * ones (203.0.113.0/24, 198.51.100.0/24, 2001:db8::/32), which diswall does not protect.
 */
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, beforeEach, describe, it} from 'node:test'
import {fileURLToPath} from 'node:url'

import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import {cleanupAll, createNetns, distinctIpv4, type Netns, readKernelSet, waitForKernelSetCount, makeTempDir} from '../../src/lib/lab/index.js'
import {parseAddress} from '../../src/lib/net/index.js'
import {type CliResult, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'ss', 'conntrack']})

const BUILT_CLI = fileURLToPath(new URL('../../dist/commands/block/add.js', import.meta.url))
/** An address of the namespace itself: protected as "an address of this host". */
const OWN_ADDRESS = '203.0.113.1'
const BL = DEFAULT_NAMES.block
const WL = DEFAULT_NAMES.allow
/** The design capacity of the block set. */
const FULL_SET = 1_000_000
/** More entries than one spread argument list holds in V8 (~125k): `block list` must not overflow. */
const LARGE_LIST = 150_000
/** Addresses of the list-file test: one kernel batch, far more than a process per address could do. */
const LIST_FILE_COUNT = 10_000

after(async () => {
  // Safety net only: every describe removes its own namespace and files.
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`list commands (${backend})`, {skip}, () => {
    let ns: Netns
    let configFile: string
    let removeConfigDir: () => void = () => {}

    /** `diswall ARGS… -c CONFIG --json` inside the namespace. */
    const diswall = (...args: string[]): Promise<CliResult> =>
      runCli([...args, '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', ns.name]})
    const blockSet = async (family: 'v4' | 'v6' = 'v4') => readKernelSet(ns, backend, BL[family])
    const allowSet = async (family: 'v4' | 'v6' = 'v4') => readKernelSet(ns, backend, WL[family])

    before(async () => {
      assert.ok(existsSync(BUILT_CLI), `the CLI is not built (${BUILT_CLI} is missing): run npm run build first`)
      const temp = makeTempDir('dw-cli-lists-')
      const dir = temp.path
      removeConfigDir = () => temp.remove()

      configFile = join(dir, 'diswall.conf')
      // state_dir in the temp dir: the list commands mark their changes there (sets.changed).
      writeFileSync(configFile, `[firewall]\nbackend = "${backend}"\n[daemon]\nstate_dir = ${JSON.stringify(join(dir, 'state'))}\n`)
      ns = await createNetns()
      // On lo: this kernel has no dummy interfaces, and the address only has to be the namespace's own.
      await ns.run('ip', ['addr', 'add', `${OWN_ADDRESS}/32`, 'dev', 'lo'])
    })

    beforeEach(async () => {
      // Empty sets for every test: remove diswall's sets and rules, and create them anew.
      const fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
      await fw.destroy()
      await fw.init()
    })

    after(async () => {
      await ns?.remove()
      removeConfigDir()
    })

    it(`block list, allow list (${backend}) - on a fresh host only read: 0 entries, and no set, chain or table appears`, async () => {
      await createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec).destroy()
      const kernel = async (): Promise<string> => [
        await ns.run('ipset', ['list', '-n']), await ns.run('iptables-save'), await ns.run('ip6tables-save'), await ns.run('nft', ['list', 'ruleset']),
      ].join('\n').replace(/^#.*\n/gm, '')
      const before = await kernel()
      assert.doesNotMatch(before, /diswall/)
      for (const list of ['block', 'allow']) {
        const result = await diswall(list, 'list')
        assert.equal(result.code, 0, result.stdout + result.stderr)
        assert.deepEqual(result.json.result, {backend: backend === 'ipset' ? 'ipset' : 'nftables', count: 0, entries: []})
      }
      assert.equal(await kernel(), before)
      // The other read-only commands: the ruleset checked, shown and diffed, the config read, status asked.
      const dir = mkdtempSync(join(tmpdir(), 'dw-cli-ro-'))
      try {
        mkdirSync(join(dir, 'incoming.d'))
        for (const name of ['00-established', '10-ssh', '99-drop']) writeFileSync(join(dir, 'incoming.d', name), '')
        for (const args of [['firewall', 'check', '--dir', dir], ['firewall', 'show', '--dir', dir], ['firewall', 'diff', '--dir', dir],
          ['config', 'check'], ['config', 'show']]) {
          const result = await diswall(...args)
          assert.equal(result.code, 0, `${args.join(' ')}: ${result.stdout}${result.stderr}`)
        }
        assert.equal((await diswall('status')).code, 4, 'no daemon runs here')
      } finally {
        rmSync(dir, {force: true, recursive: true})
      }
      assert.equal(await kernel(), before)
    })

    it(`block add (${backend}) - adds several addresses in one call, once each, and reports each`, async () => {
      const first = await diswall('block', 'add', '203.0.113.7', '2001:db8::7', '203.0.113.7')
      assertSuccess(first)
      assert.equal(first.json.result.backend, backend)
      assert.equal(first.json.result.changed, true)
      assert.deepEqual(first.json.result.entries, [{changed: true, target: '203.0.113.7'}, {changed: true, target: '2001:db8::7'}])
      assert.deepEqual([...(await blockSet('v4')).keys()], ['203.0.113.7'])
      assert.deepEqual([...(await blockSet('v6')).keys()], ['2001:db8::7'])

      const second = await diswall('block', 'add', '203.0.113.7', '203.0.113.8')
      assertSuccess(second)
      assert.equal(second.json.result.changed, true)
      assert.deepEqual(second.json.result.entries, [{changed: false, target: '203.0.113.7'}, {changed: true, target: '203.0.113.8'}])
      assert.deepEqual([...(await blockSet('v4')).keys()].sort(), ['203.0.113.7', '203.0.113.8'])
    })

    it(`block add (${backend}) - a repeated add refreshes the timeout and reports unchanged`, async () => {
      assertSuccess(await diswall('block', 'add', '203.0.113.9', '--timeout', '10m'))
      assertExpires((await blockSet()).get('203.0.113.9')?.expiresSec, 600)

      const again = await diswall('block', 'add', '203.0.113.9', '--timeout', '2h')
      assertSuccess(again)
      assert.equal(again.json.result.changed, false)
      assertExpires((await blockSet()).get('203.0.113.9')?.expiresSec, 7200)
    })

    it(`block add --timeout 0 (${backend}) - the ban never expires`, async () => {
      assertSuccess(await diswall('block', 'add', '203.0.113.10', '--timeout', '0'))
      assert.deepEqual((await blockSet()).get('203.0.113.10'), {target: '203.0.113.10'})
      const listed = await diswall('block', 'list')
      assertSuccess(listed)
      assert.deepEqual(listed.json.result.entries, [{family: 4, target: '203.0.113.10', ttlSec: null}])
    })

    it(`block add (${backend}) - refuses protected addresses without --force and changes nothing`, async () => {
      for (const protectedAddr of ['127.0.0.1', '10.1.2.3', OWN_ADDRESS, 'fe80::1']) {
        const refused = await diswall('block', 'add', '203.0.113.50', protectedAddr)
        assertFailure(refused, 2, 'E_PROTECTED')
        assert.match(refused.json.error.message, new RegExp(`refusing to block ${protectedAddr.replaceAll('.', '\\.')}`))
        assert.ok(refused.json.error.hint)
      }

      // Nothing was added, not even the unprotected address of the same call.
      assert.equal((await blockSet()).size, 0)

      // --force overrides the private-range protection.
      const forced = await diswall('block', 'add', '10.1.2.3', '--force')
      assertSuccess(forced)
      assert.deepEqual([...(await blockSet()).keys()], ['10.1.2.3'])
    })

    it(`block add (${backend}) - rejects networks and text that is no address with exit 2`, async () => {
      assertFailure(await diswall('block', 'add', '203.0.113.0/24'), 2, 'E_INVALID_VALUE')
      const bad = await diswall('block', 'add', '203.0.113.300')
      assert.equal(bad.code, 2, bad.stdout + bad.stderr)
      assert.equal(bad.json?.ok, false)
      assert.equal((await blockSet()).size, 0)
    })

    it(`block del (${backend}) - removes present entries and reports absent ones as unchanged`, async () => {
      assertSuccess(await diswall('block', 'add', '203.0.113.11', '2001:db8::11'))
      const deleted = await diswall('block', 'del', '203.0.113.11', '203.0.113.12', '2001:db8::11')
      assertSuccess(deleted)
      assert.equal(deleted.json.result.changed, true)
      assert.deepEqual(deleted.json.result.entries, [
        {changed: true, target: '203.0.113.11'},
        {changed: false, target: '203.0.113.12'},
        {changed: true, target: '2001:db8::11'},
      ])
      assert.equal((await blockSet('v4')).size, 0)
      assert.equal((await blockSet('v6')).size, 0)

      const again = await diswall('block', 'del', '203.0.113.11')
      assertSuccess(again)
      assert.equal(again.json.result.changed, false)
    })

    it(`block list (${backend}) - lists entries by family, then text, with the remaining seconds`, async () => {
      assertSuccess(await diswall('block', 'add', '203.0.113.3', '2001:db8::1', '203.0.113.20', '--timeout', '1h'))
      const listed = await diswall('block', 'list')
      assertSuccess(listed)
      assert.equal(listed.json.result.backend, backend)
      assert.equal(listed.json.result.count, 3)
      const entries = listed.json.result.entries as Array<{family: number; target: string; ttlSec: number}>
      assert.deepEqual(entries.map((e) => [e.family, e.target]), [[4, '203.0.113.20'], [4, '203.0.113.3'], [6, '2001:db8::1']])
      for (const e of entries) assertExpires(e.ttlSec, 3600)
    })

    it(`block list (${backend}) - lists ${LARGE_LIST.toLocaleString('en')} entries`, {timeout: 120_000}, async () => {
      const fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
      await fw.replace('block', [...distinctIpv4(LARGE_LIST), parseAddress('2001:db8::99')].map((target) => ({target})))
      // nft lists a set inconsistently while the kernel still resizes it after the bulk insert.
      await waitForKernelSetCount(ns, backend, BL.v4, LARGE_LIST)

      const listed = await diswall('block', 'list')
      assertSuccess(listed)
      assert.equal(listed.json.result.count, LARGE_LIST + 1)
      assert.equal(new Set(listed.json.result.entries.map((e: {target: string}) => e.target)).size, LARGE_LIST + 1)
      assert.deepEqual(listed.json.result.entries.at(-1), {family: 6, target: '2001:db8::99', ttlSec: listed.json.result.entries.at(-1).ttlSec})
    })

    // nft 1.0.6 fetches every element for `list table -t` and `get element` (~60 s at 1M), which
    // would run into the 15 s process timeout: init and has() must not use them.
    it(`block add (${backend}) - works with ${FULL_SET.toLocaleString('en')} bans in the set`, {timeout: 180_000}, async () => {
      const fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
      await fw.replace('block', distinctIpv4(FULL_SET).map((target) => ({target})))
      const added = await diswall('block', 'add', '203.0.113.77')
      assertSuccess(added)
      assert.deepEqual(added.json.result.entries, [{changed: true, target: '203.0.113.77'}])
      const again = await diswall('block', 'add', '203.0.113.77')
      assertSuccess(again)
      assert.deepEqual(again.json.result.entries, [{changed: false, target: '203.0.113.77'}])
    })

    it(`block add --file (${backend}) - ${LIST_FILE_COUNT.toLocaleString('en')} addresses from a file land in the set; one bad line changes nothing`,
      {timeout: 120_000}, async () => {
        const dir = makeTempDir('dw-cli-file-')
        try {
          const addrs = distinctIpv4(LIST_FILE_COUNT).map((a) => a.text)
          const good = join(dir.path, 'feed.txt')
          writeFileSync(good, `# feed\n${addrs.map((a, i) => (i % 2 === 0 ? `${a} # scanner` : a)).join('\n')}\n`)
          const bad = join(dir.path, 'bad.txt')
          writeFileSync(bad, `${addrs.slice(0, 5000).join('\n')}\n198.51.100.1/24\n${addrs.slice(5000).join('\n')}\n`)

          const refused = await diswall('block', 'add', '--file', bad)
          assertFailure(refused, 2, 'E_INVALID_VALUE')
          assert.match(refused.json.error.message, /bad\.txt:5001: "198\.51\.100\.1\/24" is a network/)
          assert.equal((await blockSet()).size, 0)

          const added = await diswall('block', 'add', '--file', good)
          assertSuccess(added)
          assert.deepEqual([added.json.result.added, added.json.result.unchanged, added.json.result.refused], [LIST_FILE_COUNT, 0, 0])
          await waitForKernelSetCount(ns, backend, BL.v4, LIST_FILE_COUNT)
          const inKernel = await blockSet()
          assert.ok(addrs.every((a) => inKernel.has(a)), 'every address of the file is in the kernel set')

          // Again, with stdin: everything is unchanged, nothing is lost.
          const again = await runCli(['block', 'add', '--file', '-', '-c', configFile, '--json'],
            {input: addrs.join('\n') + '\n', wrap: ['ip', 'netns', 'exec', ns.name]})
          assertSuccess(again)
          assert.deepEqual([again.json.result.added, again.json.result.unchanged], [0, LIST_FILE_COUNT])

          const removed = await diswall('block', 'del', '--file', good)
          assertSuccess(removed)
          assert.equal(removed.json.result.removed, LIST_FILE_COUNT)
          await waitForKernelSetCount(ns, backend, BL.v4, 0)
        } finally {
          dir.remove()
        }
      })

    it(`allow add (${backend}) - stores the comment; a new comment updates the entry, the same one changes nothing`, async () => {
      const added = await diswall('allow', 'add', '203.0.113.0/24', '-m', 'office')
      assertSuccess(added)
      assert.deepEqual(added.json.result.entries, [{changed: true, target: '203.0.113.0/24'}])
      assert.deepEqual((await allowSet()).get('203.0.113.0/24'), {comment: 'office', target: '203.0.113.0/24'})

      const same = await diswall('allow', 'add', '203.0.113.0/24', '-m', 'office')
      assertSuccess(same)
      assert.equal(same.json.result.changed, false)

      const renamed = await diswall('allow', 'add', '203.0.113.0/24', '-m', 'office 2')
      assertSuccess(renamed)
      assert.equal(renamed.json.result.changed, true)
      assert.deepEqual((await allowSet()).get('203.0.113.0/24'), {comment: 'office 2', target: '203.0.113.0/24'})

      // A host network is the address itself.
      const host = await diswall('allow', 'add', '198.51.100.7/32')
      assertSuccess(host)
      assert.deepEqual(host.json.result.entries, [{changed: true, target: '198.51.100.7'}])
      assert.ok((await allowSet()).has('198.51.100.7'))

      const listed = await diswall('allow', 'list')
      assertSuccess(listed)
      assert.deepEqual(listed.json.result.entries, [
        {family: 4, target: '198.51.100.7', ttlSec: null},
        {comment: 'office 2', family: 4, target: '203.0.113.0/24', ttlSec: null},
      ])
    })

    it(`allow add --timeout (${backend}) - the entry expires`, async () => {
      assertSuccess(await diswall('allow', 'add', '2001:db8:1::/48', '--timeout', '1h', '-m', 'temp'))
      const entry = (await allowSet('v6')).get('2001:db8:1::/48')
      assert.equal(entry?.comment, 'temp')
      assertExpires(entry?.expiresSec, 3600)
      const listed = await diswall('allow', 'list')
      assertSuccess(listed)
      assertExpires(listed.json.result.entries[0].ttlSec, 3600)
    })

    it(`allow add (${backend}) - refuses "everyone" and comments that cannot be stored`, async () => {
      assertFailure(await diswall('allow', 'add', '0.0.0.0/0'), 2, 'E_INVALID_VALUE')
      assertFailure(await diswall('allow', 'add', '203.0.113.5', '-m', 'say "hi"'), 2, 'E_INVALID_VALUE')
      assertFailure(await diswall('allow', 'add', '203.0.113.5', '-m', 'x'.repeat(129)), 2, 'E_INVALID_VALUE')
      assert.equal((await allowSet()).size, 0)
    })

    it(`allow add (${backend}) - an address inside an allowed network: a second entry (ipset), a clear refusal (nftables)`, async () => {
      assertSuccess(await diswall('allow', 'add', '198.51.100.0/24', '-m', 'lab'))
      const inner = await diswall('allow', 'add', '198.51.100.7', '-m', 'admin')
      if (backend === 'nftables') {
        // Interval sets cannot hold overlapping networks; the refusal names the entry in the way.
        assertFailure(inner, 2, 'E_INVALID_VALUE')
        assert.match(inner.json.error.message, /198\.51\.100\.7 overlaps the allow entry 198\.51\.100\.0\/24/)
        assert.deepEqual([...(await allowSet()).keys()], ['198.51.100.0/24'])
        return
      }

      assertSuccess(inner)
      assert.deepEqual(inner.json.result.entries, [{changed: true, target: '198.51.100.7'}])
      assert.deepEqual([...(await allowSet()).keys()].sort(), ['198.51.100.0/24', '198.51.100.7'])
    })

    it(`allow del (${backend}) - removes present entries and reports absent ones as unchanged`, async () => {
      assertSuccess(await diswall('allow', 'add', '203.0.113.0/25', '2001:db8:2::/64'))
      const deleted = await diswall('allow', 'del', '203.0.113.0/25', '203.0.113.128/25', '2001:db8:2::/64')
      assertSuccess(deleted)
      assert.deepEqual(deleted.json.result.entries, [
        {changed: true, target: '203.0.113.0/25'},
        {changed: false, target: '203.0.113.128/25'},
        {changed: true, target: '2001:db8:2::/64'},
      ])
      assert.equal((await allowSet('v4')).size, 0)
      assert.equal((await allowSet('v6')).size, 0)
      const again = await diswall('allow', 'del', '203.0.113.0/25')
      assertSuccess(again)
      assert.equal(again.json.result.changed, false)
    })
  })
}

/** Exit 0 and an `ok` envelope; shows the output otherwise. */
function assertSuccess(result: CliResult): void {
  assert.equal(result.code, 0, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
  assert.equal(result.json?.ok, true, result.stdout)
}

/** The exit code and an error envelope with this code, message and warnings. */
function assertFailure(result: CliResult, exitCode: number, code: string): void {
  assert.equal(result.code, exitCode, `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`)
  assert.equal(result.json?.ok, false, result.stdout)
  assert.equal(result.json.error.code, code, result.stdout)
  assert.equal(typeof result.json.error.message, 'string')
}

/** Remaining seconds just below `ttlSec` (the command ran moments ago). */
function assertExpires(actual: number | undefined, ttlSec: number): void {
  assert.ok(actual !== undefined && actual > ttlSec - 120 && actual <= ttlSec, `expires in ${actual} s, expected about ${ttlSec}`)
}
