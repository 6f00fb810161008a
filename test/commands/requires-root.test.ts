/**
 * The root check of the base command (`static requiresRoot`), seen by a user without root: which
 * commands refuse, how the refusal reads, and that usage and config errors still come first. As root
 * the CLI runs as nobody (setpriv). PATH holds no firewall program, so even a command that got past
 * the check could not touch a firewall.
 */
import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, test} from 'node:test'

import {findProgram} from '../../src/lib/lab/index.js'
import {type CliResult, runCli} from '../helpers/cli.js'

const NOBODY = 65_534
const isRoot = process.getuid?.() === 0
const setpriv = findProgram('setpriv')
const skip = isRoot && setpriv === undefined ? 'running as root without setpriv to become nobody' : false

describe('requiresRoot', {skip}, () => {
  let dir: string
  let config: string
  let broken: string

  /** `diswall ARGS…` as a user without root, with no firewall program in PATH. */
  const asUser = (...args: string[]): Promise<CliResult> =>
    runCli(args, {
      // HOME: oclif reads its data directory there, and nobody cannot read /root.
      env: {HOME: dir, PATH: dir},
      wrap: isRoot ? [setpriv!, `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups'] : [],
    })

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'dw-requires-root-'))
    chmodSync(dir, 0o755)
    // The firewall directory: an empty incoming.d/ marks it as one.
    mkdirSync(join(dir, 'incoming.d'), {mode: 0o755})
    config = join(dir, 'diswall.conf')
    broken = join(dir, 'broken.conf')
    writeFileSync(config, '[firewall]\nbackend = "ipset"\n', {mode: 0o644})
    writeFileSync(broken, '[firewall\n', {mode: 0o644})
  })
  after(() => rmSync(dir, {force: true, recursive: true}))

  test('requiresRoot - commands that change or read the kernel refuse with E_NOT_ROOT, exit 4, naming the command', async () => {
    const cases: Array<[string[], string]> = [
      [['allow', 'add', '203.0.113.7'], 'allow add'],
      [['allow', 'del', '203.0.113.7'], 'allow del'],
      [['allow', 'list'], 'allow list'],
      [['block', 'add', '203.0.113.7'], 'block add'],
      [['block', 'del', '203.0.113.7'], 'block del'],
      [['block', 'rm', '203.0.113.7'], 'block del'], // an alias names the command itself
      [['block', 'list'], 'block list'],
      [['daemon', '--local-only'], 'diswall daemon'],
      [['firewall', 'apply', '--dir', dir], 'firewall apply'],
      [['firewall', 'diff', '--dir', dir], 'firewall diff'],
      [['firewall', 'flush'], 'firewall flush'],
      [['firewall', 'watch', '--dir', dir], 'firewall watch'],
    ]
    for (const [args, name] of cases) {
      const r = await asUser(...args, '-c', config, '--json')
      const what = `${args.join(' ')}: exit ${r.code}\n${r.stdout}${r.stderr}`
      assert.equal(r.code, 4, what)
      assert.deepEqual(r.json?.error, {code: 'E_NOT_ROOT', hint: 'Run it as root, e.g. with sudo.', message: `${name} needs root privileges`}, what)
    }
  })

  test('requiresRoot - without --json the refusal names the command, the code and the hint on stderr', async () => {
    const r = await asUser('firewall', 'flush', '-c', config)
    assert.equal(r.code, 4, r.stderr)
    assert.match(r.stderr, /firewall flush needs root privileges/)
    assert.match(r.stderr, /E_NOT_ROOT/)
    assert.match(r.stderr, /Run it as root/)
  })

  test('requiresRoot - a usage error comes before the root check (exit 2)', async () => {
    const unknownFlag = await asUser('block', 'add', '203.0.113.7', '--bogus', '-c', config, '--json')
    assert.equal(unknownFlag.code, 2, unknownFlag.stdout)
    assert.equal(unknownFlag.json?.error.code, 'E_USAGE')
    const missingArg = await asUser('allow', 'del', '-c', config, '--json')
    assert.equal(missingArg.code, 2, missingArg.stdout)
    // The daemon's flags are checked against the config first as well.
    const badSet = await asUser('daemon', '--local-only', '--block-set', 'bad!name', '-c', config, '--json')
    assert.equal(badSet.code, 2, badSet.stdout)
    assert.equal(badSet.json?.error.code, 'E_INVALID_VALUE')
    assert.match(badSet.json?.error.message, /--block-set/)
  })

  test('requiresRoot - a config error comes before the root check (exit 3)', async () => {
    for (const args of [['block', 'list'], ['daemon', '--local-only'], ['firewall', 'apply', '--dir', dir]]) {
      const r = await asUser(...args, '-c', broken, '--json')
      assert.equal(r.code, 3, `${args.join(' ')}: ${r.stdout}`)
      assert.equal(r.json?.error.code, 'E_CONFIG')
      assert.match(r.json?.error.message, /broken\.conf:1: invalid TOML/)
    }
    const missing = await asUser('block', 'list', '-c', join(dir, 'missing.conf'), '--json')
    assert.equal(missing.code, 3, missing.stdout)
    assert.match(missing.json?.error.message, /missing\.conf: config file not found/)
  })

  test('requiresRoot - firewall apply --dry-run and the read-only commands run without root', async () => {
    const dry = await asUser('firewall', 'apply', '--dry-run', '--dir', dir, '-c', config, '--json')
    assert.equal(dry.code, 0, dry.stdout + dry.stderr)
    assert.equal(dry.json?.result.dryRun, true)
    assert.deepEqual(dry.json?.result.transactions.map((t: {program: string}) => t.program), ['iptables-restore', 'ip6tables-restore'])
    for (const args of [['firewall', 'check', '--dir', dir], ['firewall', 'show', '--dir', dir]]) {
      const r = await asUser(...args, '-c', config, '--json')
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
      assert.equal(r.json?.ok, true)
    }
  })
})
