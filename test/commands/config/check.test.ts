import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {runCli} from '../../helpers/cli.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-config-check-'))
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

/** stderr without oclif's line wrapping (` ›   ` continuation lines). */
function unwrap(stderr: string): string {
  return stderr.replaceAll(/\s*\n\s*›\s+/g, ' ')
}

async function configFile(name: string, text: string): Promise<string> {
  const file = join(dir, name)
  await writeFile(file, text)
  return file
}

test('config check - a valid file exits 0 and says so', async () => {
  const file = await configFile('ok.conf', '[nats]\nserver = "nats.example.com"\nclient_name = "acme"\n')
  const out = await runCli(['config', 'check', '-c', file])
  assert.equal(out.code, 0, out.stderr)
  assert.equal(out.stdout, `${file}: valid\n`)
  assert.equal(out.stderr, '')
})

test('config check - --json returns file, valid and warnings', async () => {
  const file = await configFile('legacy.conf', 'max_block_time = 10\n[nats]\nserver = "diswall.stream"\n')
  const out = await runCli(['config', 'check', '-c', file, '--json'])
  assert.equal(out.code, 0, out.stderr)
  const warning = `${file}:1: max_block_time is ignored: ban times come from [firewall] block_timeout and [server] escalation`
  assert.deepEqual(out.json, {ok: true, result: {file, valid: true, warnings: [warning]}, warnings: [warning]})
})

test('config check - legacy keys are valid with warnings on stderr', async () => {
  const file = await configFile('subjects.conf', '[nats]\nbl_init_subject = "diswall.blacklist.x.init"\n')
  const out = await runCli(['config', 'check', '-c', file])
  assert.equal(out.code, 0, out.stderr)
  assert.equal(out.stdout, `${file}: valid\n`)
  assert.match(out.stderr, new RegExp(`warning: ${file}:2: \\[nats\\] bl_init_subject is ignored`))
})

test('config check - the DISWALL_CONFIG environment variable names the file', async () => {
  const file = await configFile('env.conf', 'local_only = true\n')
  const out = await runCli(['config', 'check'], {env: {DISWALL_CONFIG: file}})
  assert.equal(out.code, 0, out.stderr)
  assert.equal(out.stdout, `${file}: valid\n`)
})

test('config check - a bad value exits 3 with file:line, reason and hint', async () => {
  const file = await configFile('bad.conf', '[nats]\nport = "4222"\n')
  const out = await runCli(['config', 'check', '-c', file])
  assert.equal(out.code, 3)
  assert.equal(out.stdout, '')
  const stderr = unwrap(out.stderr)
  assert.ok(stderr.includes(`Error: ${file}:2: [nats] port: expected an integer from 1 to 65535, got "4222" (a string)`), stderr)
  assert.ok(stderr.includes('Try this: Write the number without quotes: 4222'), stderr)
  assert.ok(stderr.includes('Code: E_CONFIG'), stderr)
})

test('config check - --json on a bad file gives the error envelope and exit 3', async () => {
  const file = await configFile('typo.conf', 'local_only = false\n[nats]\nprot = 4222\nport = 0\n')
  const out = await runCli(['config', 'check', '-c', file, '--json'])
  assert.equal(out.code, 3)
  assert.deepEqual(out.json, {
    error: {code: 'E_CONFIG', hint: 'Did you mean [nats] port?', message: `${file}:3: unknown key [nats] prot`},
    ok: false,
    warnings: [`also invalid: ${file}:4: [nats] port: expected an integer from 1 to 65535, got 0 (an integer)`],
  })
})

test('config check - a TOML syntax error exits 3 with its line', async () => {
  const file = await configFile('syntax.conf', '[nats]\nserver = diswall.stream\n')
  const out = await runCli(['config', 'check', '-c', file, '--json'])
  assert.equal(out.code, 3)
  assert.equal(out.json?.ok, false)
  assert.equal(out.json?.error.code, 'E_CONFIG')
  assert.match(out.json?.error.message, new RegExp(`^${file}:2: invalid TOML: `))
  assert.ok(out.json?.error.hint)
})

test('config check - a missing file exits 3 with a hint to generate one', async () => {
  const file = join(dir, 'missing.conf')
  const out = await runCli(['config', 'check', '-c', file, '--json'])
  assert.equal(out.code, 3)
  assert.deepEqual(out.json, {
    error: {code: 'E_CONFIG', hint: `Create one with: diswall generate-config > ${file}`, message: `${file}: config file not found`},
    ok: false,
    warnings: [],
  })
  const human = await runCli(['config', 'check', '-c', file])
  assert.equal(human.code, 3)
  const stderr = unwrap(human.stderr)
  assert.ok(stderr.includes(`Error: ${file}: config file not found`), stderr)
  assert.ok(stderr.includes(`Try this: Create one with: diswall generate-config > ${file}`), stderr)
})
