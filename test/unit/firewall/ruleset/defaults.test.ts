import assert from 'node:assert/strict'
import {mkdtemp, readdir, readFile, rm, unlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {DEFAULT_FIREWALL_DIRS, DEFAULT_FIREWALL_FILES, writeDefaultFirewallDir} from '../../../../src/lib/firewall/ruleset/defaults.js'
import {readRuleset, RulesetError} from '../../../../src/lib/firewall/ruleset/read.js'

const INCOMING = [
  '00-established', '00-related', '00-syn-ack-flood-protection', '05-essential-icmpv6', '05-ping', '07-ssh', '10-http',
  '10-https', '20-ftp', '30-imap', '30-imaps', '40-pop3', '40-pop3s', '50-smtp', '50-smtps', '50-submission', '60-sieve',
  '98-log', '99-drop',
]
const OUTGOING = ['00-established', '00-related', '05-essential-icmpv6']

let root: string
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'diswall-defaults-'))
})
after(async () => {
  await rm(root, {force: true, recursive: true})
})

test('defaults - the Symbiosis rule files, ending in log and drop, plus a README', () => {
  assert.deepEqual(Object.keys(DEFAULT_FIREWALL_FILES), [
    'README', ...INCOMING.map((n) => `incoming.d/${n}`), ...OUTGOING.map((n) => `outgoing.d/${n}`),
  ])
  for (const [path, content] of Object.entries(DEFAULT_FIREWALL_FILES)) {
    if (path !== 'README') assert.equal(content, '', `${path} is empty: it applies to everyone`)
  }
  assert.ok(DEFAULT_FIREWALL_FILES.README.includes('incoming.d/, outgoing.d/'))
})

test('defaults - writeDefaultFirewallDir creates the directory and reports what it created', async () => {
  const dir = join(root, 'fresh', 'firewall')
  const created = await writeDefaultFirewallDir(dir)
  assert.deepEqual(created, ['./', ...DEFAULT_FIREWALL_DIRS.map((d) => `${d}/`), ...Object.keys(DEFAULT_FIREWALL_FILES)])
  assert.deepEqual((await readdir(dir)).sort(), ['README', ...DEFAULT_FIREWALL_DIRS].sort())
  assert.deepEqual((await readdir(join(dir, 'incoming.d'))).sort(), INCOMING)
  assert.deepEqual(await readdir(join(dir, 'whitelist.d')), [])
  assert.equal(await readFile(join(dir, 'README'), 'utf8'), DEFAULT_FIREWALL_FILES.README)
})

test('defaults - every default file compiles, against the real /etc/services', async () => {
  const dir = join(root, 'compiled')
  await writeDefaultFirewallDir(dir)
  const model = await readRuleset(dir) // real /etc/services, real resolver (no host names in the defaults)
  assert.deepEqual(model.incoming.map((f) => f.name), INCOMING)
  assert.deepEqual(model.outgoing.map((f) => f.name), OUTGOING)
  const ports = (name: string): string[] => model.incoming.find((f) => f.name === name)!.rules.map((r) => `${r.dport}/${r.proto}`)
  assert.deepEqual(ports('07-ssh'), ['22/tcp'])
  assert.deepEqual(ports('30-imap'), ['143/tcp'])
  assert.deepEqual(ports('50-smtps'), ['465/tcp'])
  assert.deepEqual(ports('50-submission'), ['587/tcp'])
  assert.deepEqual(ports('60-sieve'), ['4190/tcp'])
  assert.deepEqual(ports('20-ftp'), ['21,49152:65535/tcp'])
  for (const file of model.incoming) {
    assert.ok(file.rules.length > 0, file.name)
    for (const rule of file.rules) assert.equal(rule.peers, undefined, `${file.name} applies to everyone`)
  }
  assert.deepEqual(model.incoming.at(-2)!.rules.map((r) => r.verdict), ['log'])
  assert.deepEqual(model.incoming.at(-1)!.rules.map((r) => [r.verdict, r.proto]), [['drop', undefined]])
  assert.equal(model.disabled, false)
  assert.deepEqual(model.whitelist, {disabled: false, entries: []})
  assert.deepEqual(model.local, [])
})

test('defaults - a second run creates nothing and overwrites nothing', async () => {
  const dir = join(root, 'again')
  await writeDefaultFirewallDir(dir)
  await writeFile(join(dir, 'incoming.d/07-ssh'), '192.0.2.7\n')
  assert.deepEqual(await writeDefaultFirewallDir(dir), [])
  assert.equal(await readFile(join(dir, 'incoming.d/07-ssh'), 'utf8'), '192.0.2.7\n')
})

test('defaults - files deleted from an existing directory do not come back', async () => {
  const dir = join(root, 'deleted')
  await writeDefaultFirewallDir(dir)
  await unlink(join(dir, 'incoming.d/10-http'))
  await unlink(join(dir, 'README'))
  await rm(join(dir, 'outgoing.d'), {recursive: true})
  assert.deepEqual(await writeDefaultFirewallDir(dir), ['outgoing.d/', 'README', ...OUTGOING.map((n) => `outgoing.d/${n}`)])
  assert.ok(!(await readdir(join(dir, 'incoming.d'))).includes('10-http'))
})

test('defaults - a path that cannot be created is a RulesetError naming it', async () => {
  const file = join(root, 'plain-file')
  await writeFile(file, '')
  await assert.rejects(writeDefaultFirewallDir(join(file, 'firewall')), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.equal(error.message, `${join(file, 'firewall')}: cannot create: a parent of the path is not a directory`)
    assert.equal(error.hint, 'Check the path: one of its parents is a file.')
    return true
  })
})
