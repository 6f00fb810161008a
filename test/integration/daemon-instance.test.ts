/**
 * `diswall daemon` at start, as systemd runs it (the built CLI in the foreground), inside a throwaway
 * network namespace with the real kernel sets: a snapshot with entries that can never go into the
 * kernel is restored around them, and a second daemon of the same sets is refused before it touches
 * them, whatever its control socket and state dir. Every firewall program runs inside the namespace only.
 */
import assert from 'node:assert/strict'
import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {cleanupAll, createNetns, type Netns, readKernelSet, type SetBackendKind, type SpawnedProcess, waitFor, makeTempDir} from '../../src/lib/lab/index.js'
import {CLI} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'ss']})

after(async () => {
  await cleanupAll()
})

/** A config for one daemon: its own state dir and socket, a pipe source, a pattern file on a quiet log. */
function writeConfig(base: string, name: string, backend: SetBackendKind): string {
  const dir = join(base, 'firewall')
  mkdirSync(join(dir, 'patterns.d'), {recursive: true})
  writeFileSync(join(base, 'auth.log'), '')
  writeFileSync(join(dir, 'patterns.d', 'ssh.patterns'), [
    `file = ${join(base, 'auth.log')}`, 'ports = 22', 'tag = ssh', String.raw`^Failed password for \S+ from __IP__ port \d+ ssh2$`, '',
  ].join('\n'))
  const configFile = join(base, `${name}.conf`)
  writeFileSync(configFile, [
    'local_only = true',
    '[firewall]',
    `backend = "${backend}"`,
    `dir = "${dir}"`,
    '[detect]',
    'source = "pipe"',
    `pipe_path = "${join(base, `${name}.pipe`)}"`,
    '[daemon]',
    `state_dir = "${join(base, `${name}-state`)}"`,
    `socket = "${join(base, `${name}.sock`)}"`,
    'snapshot_interval = 0',
    '',
  ].join('\n'))
  return configFile
}

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`diswall daemon start (${backend})`, {skip}, () => {
    let netns: Netns
    let base: string
    const daemons: SpawnedProcess[] = []

    const spawnDaemon = (configFile: string): SpawnedProcess => {
      const proc = netns.spawn(process.execPath, [CLI, 'daemon', '-c', configFile, '--local-only'], {env: {NO_COLOR: '1'}})
      daemons.push(proc)
      return proc
    }

    const ready = async (proc: SpawnedProcess): Promise<void> => {
      await waitFor(() => {
        if (proc.exitStatus) throw new Error(`the daemon exited ${JSON.stringify(proc.exitStatus)}: ${proc.output().stdout}${proc.output().stderr}`)
        return / ready: /.test(proc.output().stdout)
      }, {timeoutMs: 30_000, what: 'the daemon to be ready'})
    }

    const runIn = (ns: Netns, program: string, args: string[]): Promise<string> => ns.run(program, args)
    const entries = async (set: string): Promise<string[]> => [...(await readKernelSet(netns, backend, set)).keys()].sort()

    before(async () => {
      netns = await createNetns()
      base = makeTempDir('diswall-instance-it-').path
    })

    after(async () => {
      for (const proc of daemons) await proc.stop()
    })

    it('daemon - a snapshot with entries the kernel would refuse in the middle restores every other entry and gets ready', async () => {
      const configFile = writeConfig(base, 'restore', backend)
      const state = join(base, 'restore-state')
      mkdirSync(state, {recursive: true})
      const lines = [
        'block 203.0.113.1 expires never',
        'block 2001:db8:c::/64 expires never',
        'allow 0.0.0.0/0 expires never comment "everyone"', // line 4
        'block 0.0.0.0 expires never', // line 5
        'block 203.0.113.2 expires never',
        'allow 192.0.2.0/24 expires never comment "office"',
        'allow 2001:db8:d::/48 expires never',
      ]
      writeFileSync(join(state, 'sets.snapshot'),
        `# diswall snapshot v1 saved 2026-01-01T00:00:00Z\n${lines.join('\n')}\n# end ${lines.length} entries\n`)

      const daemon = spawnDaemon(configFile)
      await ready(daemon)
      assert.deepEqual(await entries('diswall-bl'), ['203.0.113.1', '203.0.113.2'])
      assert.deepEqual(await entries('diswall-bl6'), ['2001:db8:c::/64'])
      assert.deepEqual(await entries('diswall-wl'), ['192.0.2.0/24'])
      assert.deepEqual(await entries('diswall-wl6'), ['2001:db8:d::/48'])
      const {stdout} = daemon.output()
      assert.match(stdout, /sets\.snapshot:4: allow 0\.0\.0\.0\/0 covers every address/)
      assert.match(stdout, /sets\.snapshot:5: 0\.0\.0\.0 is the unspecified address/)
      assert.match(stdout, /ready: .* 5 entries restored/)
      const exit = await daemon.stop()
      assert.equal(exit.code, 0, JSON.stringify(exit))
    })

    it('daemon - a second daemon with another control socket and state dir is refused before it touches a set, also after the state dir is removed', async () => {
      const firstConfig = writeConfig(base, 'first', backend)
      const secondConfig = writeConfig(base, 'second', backend)
      const secondState = join(base, 'second-state')
      mkdirSync(secondState, {recursive: true})
      writeFileSync(join(secondState, 'sets.snapshot'),
        '# diswall snapshot v1 saved 2026-01-01T00:00:00Z\nblock 203.0.113.99 expires never\n# end 1 entries\n')
      const first = spawnDaemon(firstConfig)
      await ready(first)

      const refused = async (configFile: string): Promise<string> => {
        const second = spawnDaemon(configFile)
        await waitFor(() => second.exitStatus !== undefined, {timeoutMs: 30_000, what: 'the second daemon to refuse to start'})
        const exit = await second.exited
        const {stderr, stdout} = second.output()
        assert.equal(exit.code, 4, stdout + stderr)
        // The error text is wrapped to the terminal width: compare without the wrapping.
        const flat = (text: string): string => text.replaceAll(/[\s›]+/g, '')
        assert.ok(flat(stdout + stderr).includes(flat(`another diswall daemon (pid ${first.pid}, control socket ${join(base, 'first.sock')})`)), stdout + stderr)
        assert.doesNotMatch(stdout, /created kernel set|restored/)
        return stdout + stderr
      }

      await refused(secondConfig)
      assert.equal((await entries('diswall-bl')).includes('203.0.113.99'), false, 'the refused daemon restored nothing')
      assert.deepEqual(await runIn(netns, 'ls', [join(base, 'second.sock')]).catch(() => 'none'), 'none')

      rmSync(join(base, 'first-state'), {force: true, recursive: true})
      await refused(firstConfig)

      assert.equal((await first.stop()).code, 0)
      const second = spawnDaemon(secondConfig)
      await ready(second)
      assert.ok((await entries('diswall-bl')).includes('203.0.113.99'))
      assert.equal((await second.stop()).code, 0)
    })
  })
}
