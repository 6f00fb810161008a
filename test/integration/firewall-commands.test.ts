/**
 * `diswall firewall check|show|diff|apply|confirm|flush|watch` as users run them (the built CLI through
 * `ip netns exec`, a config file that picks the backend and the directories), for both backends, with
 * real TCP and UDP traffic: a server namespace (TCP echo servers on 22, 80, 8443 and 9000, UDP echo
 * servers on 8443 and 9000) and two client namespaces A and B, each on its own veth pair with TEST-NET
 * addresses. The firewall directory is a Symbiosis-style one (see {@link writeBaseDir}). Every firewall
 * program runs inside the server namespace only.
 */
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, beforeEach, describe, it} from 'node:test'
import {isDeepStrictEqual} from 'node:util'

import {cleanupAll, connectNetns, createNetns, listNetns, type Netns, type Probe, probeMany, startEchoServer, startUdpEchoServer, uniqueLogPrefix, waitFor, waitForTcp, makeTempDir} from '../../src/lib/lab/index.js'
import {CLI, type CliResult, runCli} from '../helpers/cli.js'
import {normaliseSave, put} from '../helpers/files.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({
  programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'nft', 'ss'],
})

const SERVER_A = {v4: '198.51.100.1', v6: '2001:db8:a::1'} as const
const CLIENT_A = {v4: '198.51.100.2', v6: '2001:db8:a::2'} as const
const SERVER_B = {v4: '203.0.113.1', v6: '2001:db8:b::1'} as const
const CLIENT_B = {v4: '203.0.113.2', v6: '2001:db8:b::2'} as const
const FAMILIES = ['v4', 'v6'] as const
const TCP_PORTS = [22, 80, 8443, 9000] as const
const UDP_PORTS = [8443, 9000] as const
const NFT_TABLE = 'diswall'

/** Probe outcomes as compact strings, so that a failing deepEqual shows the whole matrix. */
const OK = 'ok'
const REFUSED = 'ECONNREFUSED'
const DROPPED = 'ETIMEDOUT'

/**
 * The matrix the base directory gives: ssh only from A over IPv4 and from B's IPv6 /64, http and 8443
 * (TCP and UDP) from everyone, everything else rejected.
 */
const BASE_MATRIX: Record<string, string> = Object.fromEntries(['A', 'B'].flatMap((client) => FAMILIES.flatMap((f) => [
  ...TCP_PORTS.map((port) => [`${client} ${f} tcp/${port}`,
    port === 9000 ? REFUSED : port === 22 ? ((client === 'A') === (f === 'v4') ? OK : REFUSED) : OK]),
  ...UDP_PORTS.map((port) => [`${client} ${f} udp/${port}`, port === 9000 ? REFUSED : OK]),
])))

after(async () => {
  // Safety net only: every describe removes its own namespaces, processes and files.
  await cleanupAll()
})

/**
 * The Symbiosis example directory: state rules, ICMP, ssh for one client's IPv4 address and the other
 * client's IPv6 /64, http for everyone (empty file), a port opened by number, log, reject.
 */
function writeBaseDir(dir: string): void {
  rmSync(dir, {force: true, recursive: true})
  for (const sub of ['incoming.d', 'outgoing.d', 'whitelist.d', 'blacklist.d', 'local.d']) mkdirSync(join(dir, sub), {recursive: true})
  const incoming = (name: string, text = ''): void => put(join(dir, 'incoming.d', name), text)
  incoming('00-established')
  incoming('00-related')
  incoming('05-essential-icmpv6') // neighbour discovery: without it IPv6 stops at 99-reject
  incoming('05-ping')
  incoming('07-ssh', `# client A over IPv4 only, client B's network over IPv6 only\n${CLIENT_A.v4}\n2001:db8:b::/64 # B's /64\n`)
  incoming('10-http')
  incoming('20-8443')
  incoming('90-log')
  incoming('99-reject')
}

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`firewall commands (${backend})`, {skip}, () => {
    let server: Netns
    let clientA: Netns
    let clientB: Netns
    let serverIfA: string
    let base: string
    let dir: string
    let stateDir: string
    let configFile: string
    let removeBase: () => void = () => {}
    const logPrefix = uniqueLogPrefix('fwc')

    /** `diswall ARGS… -c CONFIG [--json]` inside the server namespace. */
    const diswall = (args: readonly string[], {json = true} = {}): Promise<CliResult> =>
      runCli([...args, '-c', configFile, ...(json ? ['--json'] : [])], {wrap: ['ip', 'netns', 'exec', server.name]})
    const succeed = async (...args: string[]): Promise<CliResult> => {
      const result = await diswall(args)
      assert.equal(result.code, 0, `diswall ${args.join(' ')} failed (${result.code}): ${result.stdout}${result.stderr}`)
      assert.equal(result.json?.ok, true, result.stdout)
      return result
    }
    const applyBase = async (): Promise<void> => {
      writeBaseDir(dir)
      await succeed('firewall', 'apply')
    }

    /**
     * Probes every client, family and port (TCP and UDP) at once and returns the outcomes by
     * `"A v4 tcp/22"`; also checks that every refusal came quickly (a reject, not a lost packet).
     */
    const matrix = async (): Promise<Record<string, string>> => {
      const run = async (name: string, client: Netns, target: {v4: string; v6: string}): Promise<Array<[string, string]>> => {
        const probes: Array<Probe & {key: string}> = FAMILIES.flatMap((f) => [
          ...TCP_PORTS.map((port) => ({host: target[f], key: `${name} ${f} tcp/${port}`, port, proto: 'tcp' as const})),
          ...UDP_PORTS.map((port) => ({host: target[f], key: `${name} ${f} udp/${port}`, port, proto: 'udp' as const})),
        ])
        const outcomes = await probeMany(client, probes)
        return probes.map((p, i) => {
          const outcome = outcomes[i]!
          if (!outcome.ok && outcome.code === REFUSED) assert.ok(outcome.ms < 1000, `${p.key} refused only after ${outcome.ms} ms`)
          return [p.key, outcome.ok ? OK : outcome.code]
        })
      }
      const [a, b] = await Promise.all([run('A', clientA, SERVER_A), run('B', clientB, SERVER_B)])
      return Object.fromEntries([...a, ...b])
    }
    /** One TCP probe from `client` to the server over IPv4, as the compact outcome. */
    const tcp = async (client: 'A' | 'B', port: number, family: 'v4' | 'v6' = 'v4'): Promise<string> => {
      const [ns, target] = client === 'A' ? [clientA, SERVER_A] : [clientB, SERVER_B]
      const [outcome] = await probeMany(ns, [{host: target[family], port, proto: 'tcp'}])
      return outcome!.ok ? OK : outcome!.code
    }

    /**
     * What a rollback must reproduce: both iptables dumps (foreign rules, the nat table), and with nftables
     * diswall's table without set elements (`-t`).
     */
    const snapshot = async (): Promise<Record<string, string>> => ({
      ip6tables: normaliseSave(await server.run('ip6tables-save')),
      iptables: normaliseSave(await server.run('iptables-save')),
      ...(backend === 'nftables' ? {nft: await server.run('nft', ['-t', 'list', 'table', 'inet', NFT_TABLE])} : {}),
    })
    /** The ruleset chain `diswall-in` as the kernel lists it (iptables -S for IPv4, or nft), for messages and checks. */
    const inputChain = async (): Promise<string> => backend === 'ipset'
      ? server.run('iptables', ['-S', 'diswall-in'])
      : server.run('nft', ['list', 'chain', 'inet', NFT_TABLE, 'diswall-in'])
    /** PIDs of the `firewall rollback` helpers running in the server namespace. */
    const rollbackHelpers = async (): Promise<number[]> => {
      const out: number[] = []
      for (const pid of await server.pids()) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(' firewall rollback ')) out.push(pid)
        } catch {
          // Exited meanwhile.
        }
      }
      return out
    }

    before(async () => {
      assert.ok(existsSync(CLI), `the CLI is not built (${CLI}): run npm run build first`)
      const temp = makeTempDir('dw-fwcmd-')
      base = temp.path
      removeBase = () => temp.remove()
      dir = join(base, 'firewall')
      stateDir = join(base, 'state')
      configFile = join(base, 'diswall.conf')
      writeFileSync(configFile, [
        '[firewall]', `backend = "${backend}"`, `dir = ${JSON.stringify(dir)}`,
        '[daemon]', `state_dir = ${JSON.stringify(stateDir)}`,
        '[detect]', `log_prefix = ${JSON.stringify(logPrefix)}`, '',
      ].join('\n'))

      server = await createNetns()
      clientA = await createNetns()
      clientB = await createNetns()
      const pairA = await connectNetns(server, clientA, {ipv4: [SERVER_A.v4, CLIENT_A.v4], ipv6: [SERVER_A.v6, CLIENT_A.v6]})
      await connectNetns(server, clientB, {ipv4: [SERVER_B.v4, CLIENT_B.v4], ipv6: [SERVER_B.v6, CLIENT_B.v6]})
      serverIfA = pairA.a.ifname
      for (const port of TCP_PORTS) await startEchoServer(server, port)
      for (const port of UDP_PORTS) await startUdpEchoServer(server, port)
      // Without a firewall, everything answers.
      for (const f of FAMILIES) {
        await waitForTcp(clientA, SERVER_A[f], 22)
        await waitForTcp(clientB, SERVER_B[f], 22)
      }
      const open = await matrix()
      assert.deepEqual(open, Object.fromEntries(Object.keys(BASE_MATRIX).map((k) => [k, OK])))
    })

    beforeEach(() => {
      writeBaseDir(dir)
    })

    after(async () => {
      // Stops the echo servers, the watch and any rollback helper (every process in the namespaces).
      await clientA?.remove()
      await clientB?.remove()
      await server?.remove()
      removeBase()
    })

    it(`firewall diff (${backend}) - lists every rule as added before the first apply, and "no changes" after it`, {timeout: 60_000}, async () => {
      await succeed('firewall', 'flush') // a fresh namespace has nothing to flush; later runs start equal
      const before = await succeed('firewall', 'diff')
      assert.equal(before.json.result.backend, backend)
      assert.equal(before.json.result.changed, true)
      const inChains = before.json.result.chains.filter((c: {chain: string}) => c.chain === 'diswall-in')
      assert.equal(inChains.length, backend === 'ipset' ? 2 : 1) // one per family with iptables
      const sshRule = backend === 'ipset' ? `-s ${CLIENT_A.v4}/32 -p tcp -m tcp --dport 22 -j ACCEPT` : `ip saddr ${CLIENT_A.v4} tcp dport 22 accept`
      for (const chain of inChains) {
        assert.equal(chain.exists, false)
        assert.deepEqual(chain.removed, [])
        assert.ok(chain.added.length > 10, JSON.stringify(chain))
      }
      assert.ok(inChains[0].added.includes(sshRule), JSON.stringify(inChains[0].added))
      const text = await diswall(['firewall', 'diff'], {json: false})
      assert.equal(text.code, 0, text.stderr)
      assert.ok(text.stdout.split('\n').includes(`+ ${sshRule}`), text.stdout)
      assert.doesNotMatch(text.stdout, /no changes/)

      // show renders the same rules, without touching the kernel.
      const show = await succeed('firewall', 'show')
      assert.deepEqual(show.json.result.transactions.map((t: {program: string}) => t.program),
        backend === 'ipset' ? ['iptables-restore', 'ip6tables-restore'] : ['nft'])
      assert.match(show.json.result.transactions[0].input, /8443/)

      await succeed('firewall', 'apply')
      const afterApply = await succeed('firewall', 'diff')
      assert.deepEqual(afterApply.json.result, {backend, changed: false, chains: []})
      const textAfter = await diswall(['firewall', 'diff'], {json: false})
      assert.equal(textAfter.code, 0, textAfter.stderr)
      assert.equal(textAfter.stdout.trim(), 'no changes')
    })

    it(`firewall apply (${backend}) - ssh per address and per /64, http and a port by number for everyone, the rest rejected`, {timeout: 60_000}, async () => {
      const check = await succeed('firewall', 'check')
      assert.equal(check.json.result.incoming, 9)
      const applied = await succeed('firewall', 'apply')
      assert.equal(applied.json.result.applied, true)
      assert.equal(applied.json.result.backend, backend)
      assert.deepEqual(await matrix(), BASE_MATRIX, await inputChain())

      const again = await succeed('firewall', 'apply')
      assert.equal(again.json.result.changed, false)
    })

    it(`firewall apply (${backend}) - allow set → whitelist.d → block set → blacklist.d → incoming.d`, {timeout: 60_000}, async () => {
      // whitelist.d opens 9000 (rejected for everyone else) to A's IPv6 address; blacklist.d drops the
      // IPv6 /64 of both clients; the block set holds A's and B's IPv4 addresses; the allow set B's two.
      put(join(dir, 'whitelist.d', CLIENT_A.v6), '9000\n')
      put(join(dir, 'blacklist.d', '2001:db8:a::|64'))
      put(join(dir, 'blacklist.d', '2001:db8:b::|64'))
      await succeed('firewall', 'apply')
      await succeed('block', 'add', CLIENT_A.v4, CLIENT_B.v4) // before allow add, which makes them protected
      await succeed('allow', 'add', CLIENT_B.v4, CLIENT_B.v6)
      try {
        const all = (prefix: string, outcome: string): Record<string, string> =>
          Object.fromEntries(Object.keys(BASE_MATRIX).filter((k) => k.startsWith(prefix)).map((k) => [k, outcome]))
        assert.deepEqual(await matrix(), {
          ...all('A v4 ', DROPPED), // block set: dropped before the open ports (A may even use ssh over IPv4)
          ...all('A v6 ', DROPPED), // blacklist.d: dropped before the open ports…
          'A v6 tcp/9000': OK, 'A v6 udp/9000': OK, // …but whitelist.d comes first
          ...all('B ', OK), // allow set: before the block set (B v4), blacklist.d (B v6) and the final reject (9000)
        }, await inputChain())
      } finally {
        await succeed('allow', 'del', CLIENT_B.v4, CLIENT_B.v6)
        await succeed('block', 'del', CLIENT_A.v4, CLIENT_B.v4)
      }
      writeBaseDir(dir)
      await succeed('firewall', 'apply')
      assert.deepEqual(await matrix(), BASE_MATRIX)
    })

    it(`firewall apply (${backend}) - whitelist.d comes before the block set`, {
      // DESIGN.md, "Ruleset directory": loopback accept → allow set → whitelist.d → block set → …; the sets'
      // guard chain (which would drop the block set first) steps aside while diswall-in is loaded.
      timeout: 60_000,
    }, async () => {
      put(join(dir, 'whitelist.d', CLIENT_A.v6), '9000\n')
      await succeed('firewall', 'apply')
      await succeed('block', 'add', CLIENT_A.v6)
      try {
        const [port9000, port80] = await probeMany(clientA, [
          {host: SERVER_A.v6, port: 9000, proto: 'tcp'}, {host: SERVER_A.v6, port: 80, proto: 'tcp'}])
        assert.deepEqual([port9000!.ok ? OK : port9000!.code, port80!.ok ? OK : port80!.code], [OK, DROPPED], await inputChain())
      } finally {
        await succeed('block', 'del', CLIENT_A.v6)
      }
    })

    it(`firewall apply --confirm (${backend}) - without a confirm the previous ruleset comes back by itself`, {timeout: 60_000}, async () => {
      await applyBase()
      const previous = await snapshot()
      put(join(dir, 'incoming.d', '30-9000'))
      const started = Date.now()
      const applied = await succeed('firewall', 'apply', '--confirm', '2')
      const {deadlineMs, token} = applied.json.result.pending
      assert.match(token, /^[0-9a-f]{16}$/)
      assert.ok(deadlineMs >= started + 2000 && deadlineMs <= Date.now() + 2000, `deadline ${deadlineMs - started} ms after the start`)
      assert.equal((await rollbackHelpers()).length, 1, 'the rollback helper runs inside the namespace')
      assert.equal(await tcp('A', 9000), OK)
      assert.notDeepEqual(await snapshot(), previous)

      let last: Record<string, string> | undefined
      await waitFor(async () => isDeepStrictEqual(last = await snapshot(), previous), {
        intervalMs: 100, timeoutMs: 10_000, what: 'the previous ruleset to come back',
      }).catch((error: unknown) => {
        assert.deepEqual(last, previous, (error as Error).message)
      })
      assert.ok(Date.now() >= deadlineMs - 100, `rolled back ${deadlineMs - Date.now()} ms before the deadline`)
      assert.equal(await tcp('A', 9000), REFUSED)
      await waitFor(async () => (await rollbackHelpers()).length === 0, {timeoutMs: 5000, what: 'the rollback helper to exit'})
      const late = await succeed('firewall', 'confirm')
      assert.deepEqual(late.json.result, {changed: false, confirmed: false})
    })

    it(`firewall apply --confirm (${backend}) - the rollback puts back diswall's chains only: a fail2ban chain added meanwhile stays`, {timeout: 60_000}, async () => {
      await applyBase()
      const previous = await snapshot()
      put(join(dir, 'incoming.d', '30-9000'))
      await succeed('firewall', 'apply', '--confirm', '2')
      // What fail2ban does when it bans over SSH, during the confirm window: its chain, and a jump at the top of INPUT.
      const foreign: Array<[string, string[]]> = [
        ['iptables', ['-N', 'f2b-sshd']], ['iptables', ['-A', 'f2b-sshd', '-s', '192.0.2.77', '-j', 'REJECT']],
        ['iptables', ['-A', 'f2b-sshd', '-j', 'RETURN']], ['iptables', ['-I', 'INPUT', '1', '-p', 'tcp', '--dport', '22', '-j', 'f2b-sshd']],
        ['ip6tables', ['-N', 'f2b-sshd']], ['ip6tables', ['-A', 'f2b-sshd', '-j', 'RETURN']],
        ['ip6tables', ['-I', 'INPUT', '1', '-p', 'tcp', '--dport', '22', '-j', 'f2b-sshd']],
      ]
      for (const [tool, args] of foreign) await server.run(tool, args)
      const withFail2ban = await snapshot()
      await waitFor(async () => (await rollbackHelpers()).length === 0, {timeoutMs: 10_000, what: 'the rollback helper to roll back and exit'})
      assert.equal(await tcp('A', 9000), REFUSED, 'the previous ruleset is back')

      const after = await snapshot()
      for (const tool of ['iptables', 'ip6tables'] as const) {
        assert.match(after[tool], /^-A INPUT -p tcp -m tcp --dport 22 -j f2b-sshd$/m, `${tool}: the fail2ban jump stays`)
        assert.match(after[tool], /^-A f2b-sshd -j RETURN$/m, `${tool}: the fail2ban chain stays`)
      }
      assert.match(after.iptables, /^-A f2b-sshd -s 192\.0\.2\.77\/32 -j REJECT/m)
      assert.notDeepEqual(withFail2ban, after)
      // Without fail2ban's part, the firewall is exactly the one before the apply.
      const undo = ([op, chain, ...rest]: string[]): string[] =>
        op === '-N' ? ['-X', chain!] : ['-D', chain!, ...(op === '-I' ? rest.slice(1) : rest)]
      for (const [tool, args] of [...foreign].reverse()) await server.run(tool, undo(args))
      const restored = await snapshot()
      // With nftables, iptables-nft leaves an empty filter table behind once fail2ban's rules were added.
      if (backend === 'nftables') assert.equal(restored.nft, previous.nft)
      else assert.deepEqual(restored, previous)
    })

    it(`firewall confirm (${backend}) - confirmed in time, the new ruleset stays after the deadline`, {timeout: 60_000}, async () => {
      await applyBase()
      put(join(dir, 'incoming.d', '30-9000'))
      const applied = await succeed('firewall', 'apply', '--confirm', '2')
      const {deadlineMs} = applied.json.result.pending
      const applyState = await snapshot()
      const confirmed = await succeed('firewall', 'confirm')
      assert.deepEqual(confirmed.json.result, {changed: true, confirmed: true})

      // The helper wakes at the deadline, finds nothing to roll back and exits.
      await waitFor(async () => Date.now() > deadlineMs && (await rollbackHelpers()).length === 0, {
        intervalMs: 100, timeoutMs: 10_000, what: 'the rollback helper to pass its deadline and exit',
      })
      assert.deepEqual(await snapshot(), applyState)
      assert.equal(await tcp('A', 9000), OK)
      assert.equal(await tcp('B', 9000, 'v6'), OK)
    })

    it(`firewall watch (${backend}) - a new file opens its port within seconds, a broken edit is reported with file:line and changes nothing, SIGTERM exits 0`, {timeout: 60_000}, async () => {
      await applyBase()
      const watch = server.spawn(process.execPath, [CLI, 'firewall', 'watch', '-c', configFile])
      try {
        await waitFor(() => {
          if (watch.exitStatus) throw new Error(`firewall watch exited: ${JSON.stringify(watch.exitStatus)} ${watch.output().stderr}`)
          return watch.output().stdout.includes(`watching ${dir}`)
        }, {timeoutMs: 15_000, what: 'firewall watch to start'})
        assert.equal(await tcp('A', 9000), REFUSED)

        const created = Date.now()
        put(join(dir, 'incoming.d', '30-9000'))
        await waitForTcp(clientA, SERVER_A.v4, 9000, 5000)
        const openedMs = Date.now() - created
        assert.ok(openedMs < 3000, `port 9000 opened only after ${openedMs} ms`)
        await waitFor(() => watch.output().stdout.includes('applied after changes to incoming.d/30-9000'), {
          timeoutMs: 2000, what: 'the watch to report the apply',
        })
        assert.equal(await tcp('B', 9000, 'v6'), OK)
        const good = await snapshot()

        put(join(dir, 'incoming.d', '30-9000'), '# now broken\nnot-an-address!\n')
        const reported = await waitFor(() => watch.output().stderr.split('\n').find((l) => l.includes('incoming.d/30-9000:2:')), {
          timeoutMs: 5000, what: 'the watch to report the broken edit',
        })
        assert.match(reported, /not-an-address!/)
        assert.match(reported, /the last good ruleset stays/)
        assert.equal(await tcp('A', 9000), OK)
        assert.deepEqual(await snapshot(), good)
        assert.equal(watch.exitStatus, undefined, 'the watch keeps running after a broken edit')

        process.kill(watch.pid, 'SIGTERM')
        const status = await Promise.race([
          watch.exited,
          new Promise((resolve) => setTimeout(resolve, 10_000, 'still running 10 s after SIGTERM')),
        ])
        assert.deepEqual(status, {code: 0, signal: null}, watch.output().stderr)
      } finally {
        await watch.stop()
      }
    })

    it(`firewall check (${backend}) - a broken directory exits 3 with file:line, and apply changes nothing`, {timeout: 60_000}, async () => {
      await applyBase()
      const before = await snapshot()
      const broken = join(dir, 'incoming.d', '30-9000')
      put(broken, '# comment\n198.51.100.7\nnot-an-address!\n')
      for (const command of ['check', 'apply', 'diff']) {
        const result = await diswall(['firewall', command])
        assert.equal(result.code, 3, `firewall ${command}: ${result.stdout}${result.stderr}`)
        assert.equal(result.json?.ok, false)
        assert.equal(result.json.error.code, 'E_RULESET')
        assert.ok(result.json.error.message.startsWith(`${broken}:3: `), result.json.error.message)
        assert.match(result.json.error.message, /not-an-address!/)
        assert.ok(result.json.error.hint)
      }
      assert.deepEqual(await snapshot(), before)
      assert.equal(await tcp('A', 9000), REFUSED)
    })

    it(`firewall flush (${backend}) - removes the chains; bans stay listed and keep dropping`, {timeout: 60_000}, async () => {
      await applyBase()
      await succeed('block', 'add', CLIENT_A.v4)
      try {
        const flushed = await succeed('firewall', 'flush')
        assert.equal(flushed.json.result.changed, true)
        assert.ok(flushed.json.result.removedChains.some((c: string) => c.endsWith('diswall-in')), JSON.stringify(flushed.json.result))
        if (backend === 'ipset') {
          for (const tool of ['iptables', 'ip6tables']) {
            const rules = await server.run(tool, ['-S'])
            assert.doesNotMatch(rules, /diswall-(in|out|whitelist|blacklist)/, tool)
          }
        } else {
          const table = await server.run('nft', ['-t', 'list', 'table', 'inet', NFT_TABLE])
          assert.doesNotMatch(table, /chain diswall-(in|out|whitelist|blacklist) /, table)
        }
        const listed = await succeed('block', 'list')
        assert.deepEqual(listed.json.result.entries.map((e: {target: string}) => e.target), [CLIENT_A.v4])

        assert.equal(await tcp('A', 80), DROPPED) // the guard still drops the ban
        assert.equal(await tcp('A', 80, 'v6'), OK)
        assert.equal(await tcp('B', 9000), OK) // nothing rejects any more
        const again = await succeed('firewall', 'flush')
        assert.equal(again.json.result.changed, false)
      } finally {
        await succeed('block', 'del', CLIENT_A.v4)
      }
      await succeed('firewall', 'apply')
      assert.equal(await tcp('A', 80), OK)
      assert.equal(await tcp('B', 9000), REFUSED)
    })

    it(`firewall apply (${backend}) - a failing local.d script exits 5 and leaves the firewall exactly as it was, foreign rules included`, {timeout: 60_000}, async () => {
      await applyBase()
      const foreign: Array<[string, string[]]> = [
        ['iptables', ['-t', 'nat', '-A', 'POSTROUTING', '-o', serverIfA, '-j', 'MASQUERADE']],
        ['iptables', ['-A', 'INPUT', '-s', '192.0.2.99', '-p', 'tcp', '--dport', '9999', '-j', 'DROP']],
        ['ip6tables', ['-A', 'INPUT', '-s', '2001:db8:ffff::99', '-j', 'DROP']],
      ]
      for (const [tool, args] of foreign) await server.run(tool, args)
      try {
        const before = await snapshot()
        assert.match(before.iptables, /-A POSTROUTING -o \S+ -j MASQUERADE/)
        assert.match(before.iptables, /-A INPUT -s 192\.0\.2\.99\/32 -p tcp -m tcp --dport 9999 -j DROP/)

        put(join(dir, 'incoming.d', '30-9000'))
        const ran = join(base, '10-ok.ran')
        put(join(dir, 'local.d', '10-ok'), `#!/bin/sh\ntouch ${ran}\n`, 0o755)
        put(join(dir, 'local.d', '20-fail'), '#!/bin/sh\necho "boom: route exists" >&2\nexit 3\n', 0o755)
        const result = await diswall(['firewall', 'apply'])
        assert.equal(result.code, 5, result.stdout + result.stderr)
        assert.equal(result.json?.ok, false)
        assert.equal(result.json.error.code, 'E_APPLY_FAILED')
        assert.match(result.json.error.message, /local\.d\/20-fail/)
        assert.match(result.json.error.message, /boom: route exists/)
        assert.ok(existsSync(ran), 'the scripts before the failing one ran')

        assert.deepEqual(await snapshot(), before)
        assert.equal(await tcp('A', 9000), REFUSED)
      } finally {
        rmSync(join(base, '10-ok.ran'), {force: true})
        for (const [tool, args] of foreign) await server.run(tool, args.map((a) => (a === '-A' ? '-D' : a)))
      }
    })
  })
}

describe('firewall commands - cleanup', {skip}, () => {
  it('firewall commands - leaves no namespace of this file behind', async () => {
    const ours = (await listNetns()).filter((name) => name.startsWith(`dw-${process.pid.toString(36)}-`))
    assert.deepEqual(ours, [])
  })
})
