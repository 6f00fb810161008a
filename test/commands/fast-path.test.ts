import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, test} from 'node:test'
import {pathToFileURL} from 'node:url'

import {runCli} from '../helpers/cli.js'
import {fakeRootSkip, openFakeHost, withFakeHost} from './fake-host.js'

const skip = fakeRootSkip()

/** A loopback port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const {port} = server.address() as {port: number}
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

/** A config like the fake host's, but sharing over NATS with a server that is not there. */
async function natsConfig(configPath: string): Promise<string> {
  const text = (await readFile(configPath, 'utf8')).replace('local_only = true', 'local_only = false')
  const path = `${configPath}.nats`
  await writeFile(path, `${text}\n[nats]\nserver = "127.0.0.1"\nport = ${await closedPort()}\nconnect_timeout = "3s"\n`)
  return path
}

describe('--local of allow|block add|del', {skip}, () => {
  test('--local - with an unreachable [nats] server: exit 0, no publish attempt; without it, exit 8', withFakeHost(async (host) => {
    const config = await natsConfig(host.configPath)
    const shared = await host.run(['block', 'add', '203.0.113.7', '-c', config, '--json'])
    assert.equal(shared.code, 8, shared.stderr)
    assert.equal(shared.json.result.shared.published, false)

    for (const args of [
      ['block', 'add', '203.0.113.8', '--local'],
      ['block', 'del', '203.0.113.8', '-l'],
      ['allow', 'add', '198.51.100.0/24', '--local-only'],
      ['allow', 'del', '198.51.100.0/24', '--local'],
    ]) {
      const out = await host.run([...args, '-c', config, '--json'])
      assert.equal(out.code, 0, `${args.join(' ')}: ${out.stderr}`)
      assert.equal(out.json.ok, true)
      assert.equal(out.json.result.shared, undefined, args.join(' '))
      assert.deepEqual(out.json.warnings, [])
    }
    assert.deepEqual(Object.keys((await host.state()).ipset['diswall-bl'].entries), ['203.0.113.7'])
  }))

  test('--local - the original DisWall\'s -l with --bl-add-ip keeps the change on this host', withFakeHost(async (host) => {
    const config = await natsConfig(host.configPath)
    const out = await host.run(['--bl-add-ip', '203.0.113.9', '-l', '-c', config])
    assert.equal(out.code, 0, out.stderr)
    assert.doesNotMatch(out.stdout + out.stderr, /shared|NATS/)
  }))
})

/** Invocations run on both paths, in this order on a fresh host each: good ones, then bad ones. */
const INVOCATIONS: string[][] = [
  ['block', 'add', '203.0.113.7', '--json'],
  ['block', 'add', '203.0.113.7', '198.51.100.9', '-t', '1h', '--reason', 'manual'],
  ['block', 'add', '--timeout=2h', '2001:db8::7', '-k'],
  ['block', 'list'],
  ['block', 'ls', '--json'],
  ['allow', 'add', '198.51.100.0/24', '-m', 'office', '--json'],
  ['allow', 'add', '192.0.2.0/24', '--comment=lab'],
  ['allow', 'list'],
  ['allow', 'rm', '192.0.2.0/24'],
  ['block', 'del', '203.0.113.7', '--json'],
  ['block', 'rm', '203.0.113.7'],
  ['block', 'add', '203.0.113.999', '--json'],
  ['block', 'add', '203.0.113.999'],
  ['block', 'add', '127.0.0.1'],
  ['block', 'add', '--bogus', '203.0.113.7'],
  ['block', 'add', '203.0.113.7', '-t', 'soon', '--json'],
  ['block', 'add', '203.0.113.7', '--reason'],
  ['block', 'add', '--json'],
  ['block', 'list', 'extra'],
  ['why', '--json'],
  ['why'],
  ['block', 'add', '--help'],
  ['status', '--json'],
  ['status', '--timeout', '0'],
]

describe('the fast path of bin/run.js', {skip}, () => {
  test('fast path - the same stdout, stderr, exit code and --json as oclif for good and bad invocations', async () => {
    const fast = await openFakeHost()
    const oclif = await openFakeHost()
    try {
      for (const args of INVOCATIONS) {
        const a = await fast.run(args)
        const b = await oclif.run(args, {DISWALL_FAST_PATH: '0'})
        const norm = (text: string, dir: string): string => text.replaceAll(dir, 'HOST')
        const what = args.join(' ')
        assert.equal(a.code, b.code, `${what}: exit code`)
        assert.equal(norm(a.stdout, fast.dir), norm(b.stdout, oclif.dir), `${what}: stdout`)
        assert.equal(norm(a.stderr, fast.dir), norm(b.stderr, oclif.dir), `${what}: stderr`)
      }
      // The hosts ended in the same state: both paths changed the same sets.
      assert.deepEqual(Object.keys((await fast.state()).ipset), Object.keys((await oclif.state()).ipset))
      assert.deepEqual((await fast.state()).ipset['diswall-bl'].entries, (await oclif.state()).ipset['diswall-bl'].entries)
    } finally {
      await fast.close()
      await oclif.close()
    }
  })

  test('fast path - block add, and status --json failing, load neither @oclif/core nor execa (oclif\'s own run does)', withFakeHost(async (host) => {
    const dir = await mkdtemp(join(tmpdir(), 'diswall-fast-'))
    try {
      // A loader hook that names every package module that is resolved (ES modules and the CommonJS
      // entry points ES modules import), and a require hook for CommonJS requires.
      const hook = join(dir, 'hook.mjs')
      await writeFile(hook, [
        'export async function resolve(specifier, context, next) {',
        '  const r = await next(specifier, context)',
        '  if (r.url.includes("/node_modules/")) process._rawDebug("LOADED " + r.url)',
        '  return r',
        '}',
      ].join('\n'))
      const register = join(dir, 'register.mjs')
      await writeFile(register, [
        'import {register} from "node:module"',
        'import Module from "node:module"',
        `register(${JSON.stringify(pathToFileURL(hook).href)})`,
        'const load = Module._load',
        'Module._load = function (request, ...rest) { const m = load.call(this, request, ...rest); process._rawDebug("LOADED " + request); return m }',
      ].join('\n'))
      const importOnly = await runCli(['--version'], {env: {NODE_OPTIONS: `--import ${register}`}})
      // The hook works: oclif's own run loads @oclif/core.
      assert.match(importOnly.stderr, /LOADED .*@oclif\/core/)

      const out = await host.run(['block', 'add', '203.0.113.7', '--json'], {NODE_OPTIONS: `--import ${register}`})
      assert.equal(out.code, 0, out.stderr)
      assert.equal(out.json.result.added, 1)
      const loaded = out.stderr.split('\n').filter((l) => l.startsWith('LOADED '))
      assert.ok(loaded.length > 0, 'the hook saw no package at all')
      assert.deepEqual(loaded.filter((l) => /@oclif\/core|execa|listr2|chalk/.test(l)), [])

      // An error with --json (no daemon: exit 4) stays on the fast path too.
      const status = await host.run(['status', '--json', '--socket', join(dir, 'none.sock')], {NODE_OPTIONS: `--import ${register}`})
      assert.equal(status.code, 4, status.stderr)
      assert.equal(JSON.parse(status.stdout).error.code, 'E_DAEMON_NOT_RUNNING')
      assert.deepEqual(status.stderr.split('\n').filter((l) => /^LOADED .*(@oclif\/core|execa)/.test(l)), [])
    } finally {
      await rm(dir, {force: true, recursive: true})
    }
  }))
})
