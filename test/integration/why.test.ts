/**
 * `diswall why ADDR --json` against the real kernel sets of both backends, in a throwaway namespace:
 * a banned address (with the journal's since/until), an allow-listed network, a blacklist.d file, the
 * namespace's own (protected) address and an address nobody knows. TEST-NET addresses only.
 */
import assert from 'node:assert/strict'
import {mkdirSync, writeFileSync,readFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'


import {parseConfig} from '../../src/lib/config/index.js'
import type {DaemonStatus} from '../../src/lib/daemon/index.js'
import {createBackend, DEFAULT_LIMITS, DEFAULT_NAMES} from '../../src/lib/firewall/sets/index.js'
import {whyAddress} from '../../src/lib/install/index.js'
import {cleanupAll, createNetns, makeTempDir, type Netns} from '../../src/lib/lab/index.js'
import {type CliResult, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'nft', 'ss']})
const OWN_ADDRESS = '203.0.113.1'

after(async () => {
  await cleanupAll()
})

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`why (${backend})`, {skip}, () => {
    let ns: Netns
    let configFile: string
    let stateDir: string
    let remove: () => void = () => {}
    const why = (addr: string, json = true): Promise<CliResult> =>
      runCli(['why', addr, '-c', configFile, ...(json ? ['--json'] : [])], {wrap: ['ip', 'netns', 'exec', ns.name]})
    const cli = (...args: string[]): Promise<CliResult> => runCli([...args, '-c', configFile, '--json'], {wrap: ['ip', 'netns', 'exec', ns.name]})

    before(async () => {
      const temp = makeTempDir('dw-why-')
      remove = () => temp.remove()
      const fwDir = join(temp.path, 'firewall')
      stateDir = join(temp.path, 'state')
      mkdirSync(join(fwDir, 'blacklist.d'), {recursive: true})
      mkdirSync(join(fwDir, 'whitelist.d'), {recursive: true})
      mkdirSync(stateDir)
      writeFileSync(join(fwDir, 'blacklist.d', '203.0.113.8'), '')
      configFile = join(temp.path, 'diswall.conf')
      writeFileSync(configFile, `[firewall]\nbackend = "${backend}"\ndir = "${fwDir}"\n[daemon]\nstate_dir = "${stateDir}"\nsocket = "${join(temp.path, 'none.sock')}"\n`)
      ns = await createNetns()
      await ns.run('ip', ['addr', 'add', `${OWN_ADDRESS}/32`, 'dev', 'lo'])
      const fw = createBackend(backend, DEFAULT_NAMES, DEFAULT_LIMITS, ns.exec)
      await fw.init()
      assert.equal((await cli('block', 'add', '203.0.113.7', '--timeout', '1h')).code, 0)
      assert.equal((await cli('allow', 'add', '198.51.100.0/24', '-m', 'office')).code, 0)
      // The daemon's journal records when the ban was written and when it ends.
      const now = Math.floor(Date.now() / 1000)
      writeFileSync(join(stateDir, 'sets.journal.1'), `# diswall journal v1 opened x\n# at ${now}\nblock 203.0.113.7 expires ${now + 3600}\n`)
    })

    after(async () => {
      await ns?.remove()
      remove()
    })

    it(`why (${backend}) - a banned address: blocked in the kernel, since and until from the journal, can be banned`, async () => {
      const {code, json} = await why('203.0.113.7')
      assert.equal(code, 0)
      const r = json.result
      assert.equal(r.verdict, 'blocked')
      assert.deepEqual({allowed: r.kernel.allowed, blocked: r.kernel.blocked}, {allowed: false, blocked: true})
      assert.equal(r.ban.recordedIn, 'journal')
      assert.ok(r.ban.untilSec - r.ban.sinceSec === 3600)
      assert.equal(r.ban.reportedBy, null)
      assert.equal(r.protectedBy, null)
      assert.equal(r.daemon.running, false)
    })

    it(`why (${backend}) - an address of an allow-listed network: allowed, and protected by the allow list`, async () => {
      const r = (await why('198.51.100.20')).json.result
      assert.equal(r.verdict, 'allowed')
      assert.equal(r.kernel.allowed, true)
      assert.match(r.protectedBy, /allow list \(198\.51\.100\.0\/24\)/)
    })

    it(`why (${backend}) - a blacklist.d file blocks without a kernel entry; the own address is protected; a stranger is not listed`, async () => {
      const file = (await why('203.0.113.8')).json.result
      assert.equal(file.verdict, 'blocked')
      assert.equal(file.kernel.blocked, false)
      assert.deepEqual(file.files.blacklist, [{disabled: false, entry: '203.0.113.8/32', file: 'blacklist.d/203.0.113.8'}])
      const own = (await why(OWN_ADDRESS)).json.result
      assert.equal(own.protectedBy, 'an address of this host')
      const stranger = (await why('203.0.113.99')).json.result
      assert.deepEqual([stranger.verdict, stranger.protectedBy, stranger.ban], ['not-listed', null, undefined])
    })

    it(`why (${backend}) - the running daemon's last bans give the reason and the source`, async () => {
      const config = parseConfig(readFileSync(configFile, 'utf8'), configFile).config
      const status = async (): Promise<DaemonStatus> => ({lastBans: [
        {at: new Date().toISOString(), reason: 'ssh', source: '/var/log/auth.log', target: '203.0.113.99', ttlSec: 60},
        {at: new Date().toISOString(), reason: 'port-scan 23/tcp', source: 'kmsg', target: '203.0.113.7', ttlSec: 3600},
      ]} as unknown as DaemonStatus)
      const r = await whyAddress(config, '203.0.113.7', {exec: ns.exec, status})
      assert.equal(r.daemon.running, true)
      assert.deepEqual([r.ban?.reason, r.ban?.source], ['port-scan 23/tcp', 'kmsg'])
    })

    it(`why (${backend}) - text output and a bad address`, async () => {
      const text = await why('203.0.113.7', false)
      assert.match(text.stdout, /^203\.0\.113\.7: blocked$/m)
      assert.match(text.stdout, /banned since .* until /)
      const bad = await why('203.0.113.300')
      assert.equal(bad.code, 2)
      assert.equal(bad.json.error.code, 'E_INVALID_VALUE')
    })
  })
}
