/**
 * `diswall daemon` at start, as systemd runs it (the built CLI in the foreground), inside a throwaway
 * network namespace with the real kernel sets: a snapshot with entries that can never go into the
 * kernel is restored around them. Every firewall program runs inside the namespace only.
 */
import assert from 'node:assert/strict'
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {cleanupAll, createNetns, type Netns, readKernelSet, registerCleanup, type SetBackendKind, type SpawnedProcess, waitFor} from '../../src/lib/lab/index.js'
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

    const entries = async (set: string): Promise<string[]> => [...(await readKernelSet(netns, backend, set)).keys()].sort()

    before(async () => {
      netns = await createNetns()
      base = mkdtempSync(join(tmpdir(), 'diswall-instance-it-'))
      registerCleanup({description: `directory ${base}`, removeSync: () => rmSync(base, {force: true, recursive: true})})
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
  })
}
