import assert from 'node:assert/strict'
import {mkdtemp, readdir, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, test} from 'node:test'

import {runCli} from '../helpers/cli.js'

/** What every error carries for a script: exit code, the --json envelope alone on stdout, nothing on stderr. */
function assertEnvelope(out: Awaited<ReturnType<typeof runCli>>, code: string, exit: number): {hint?: string; message: string} {
  assert.equal(out.code, exit, out.stdout + out.stderr)
  assert.ok(out.json, `stdout is not one JSON object: ${out.stdout}`)
  assert.equal(out.json.ok, false)
  assert.equal(out.json.error.code, code)
  assert.deepEqual(out.json.warnings, [])
  assert.equal(out.stderr, '')
  return out.json.error
}

/** The error text for people: the message, then the code and the hint, each on one line of stderr. */
function assertText(out: Awaited<ReturnType<typeof runCli>>, code: string, exit: number): string[] {
  assert.equal(out.code, exit, out.stderr)
  assert.equal(out.stdout, '')
  const lines = out.stderr.split('\n')
  assert.ok(lines.some((l) => l.endsWith(`Code: ${code}`)), out.stderr)
  return lines
}

describe('errors of the command line', {concurrency: 4}, () => {
  test('an argument too many for a command without arguments is E_USAGE, also with --json', async () => {
    const json = await runCli(['block', 'list', '198.51.100.7', '--json'])
    const error = assertEnvelope(json, 'E_USAGE', 2)
    assert.match(error.message, /Unexpected argument: 198\.51\.100\.7/)
    assert.ok(error.hint)
    const text = assertText(await runCli(['block', 'list', '198.51.100.7']), 'E_USAGE', 2)
    assert.ok(text.some((l) => l.includes('Error: Unexpected argument: 198.51.100.7')), text.join('\n'))
    assert.ok(text.some((l) => l.includes('Try this: ')), text.join('\n'))
  })

  test('an IPv6 argument too many is named whole (oclif joins command words with ":")', async () => {
    const error = assertEnvelope(await runCli(['status', '2001:db8::7', '--json']), 'E_USAGE', 2)
    assert.match(error.message, /Unexpected argument: 2001:db8::7$/m)
  })

  test('a mistyped command is E_UNKNOWN_COMMAND with the command it is a likely typo of', async () => {
    const error = assertEnvelope(await runCli(['blok', 'add', '198.51.100.7', '--json']), 'E_UNKNOWN_COMMAND', 2)
    assert.equal(error.message, 'unknown command "diswall blok add"')
    assert.equal(error.hint, 'Did you mean "diswall block add"?')
    const text = assertText(await runCli(['firewal', 'aply']), 'E_UNKNOWN_COMMAND', 2)
    assert.ok(text.some((l) => l.endsWith('Error: unknown command "diswall firewal aply"')), text.join('\n'))
    assert.ok(text.some((l) => l.endsWith('Try this: Did you mean "diswall firewall apply"?')), text.join('\n'))
    const sub = assertEnvelope(await runCli(['block', 'lst', '--json']), 'E_UNKNOWN_COMMAND', 2)
    assert.equal(sub.hint, 'Did you mean "diswall block list"?')
  })

  test('an unknown command gets no far-fetched suggestion, with --json or DISWALL_CONTENT_TYPE=json', async () => {
    const error = assertEnvelope(await runCli(['frobnicate', '--json']), 'E_UNKNOWN_COMMAND', 2)
    assert.equal(error.message, 'unknown command "diswall frobnicate"')
    assert.equal(error.hint, 'Run "diswall --help" to see the commands.')
    const env = assertEnvelope(await runCli(['frobnicate'], {env: {DISWALL_CONTENT_TYPE: 'json'}}), 'E_UNKNOWN_COMMAND', 2)
    assert.equal(env.message, 'unknown command "diswall frobnicate"')
    // "frob" is three edits from "rm": no "Did you mean diswall block rm?", but the topic's help.
    const inTopic = assertEnvelope(await runCli(['block', 'frob', '--json']), 'E_UNKNOWN_COMMAND', 2)
    assert.equal(inTopic.hint, 'Run "diswall block --help" to see its commands.')
    assertText(await runCli(['frobnicate']), 'E_UNKNOWN_COMMAND', 2)
  })

  test('an unknown flag is E_USAGE, before the command too', async () => {
    const error = assertEnvelope(await runCli(['block', 'list', '--bogus', '--json']), 'E_USAGE', 2)
    assert.match(error.message, /--bogus/)
    const first = assertText(await runCli(['--bogus']), 'E_USAGE', 2)
    assert.ok(first.some((l) => l.includes('Error: unknown flag --bogus')), first.join('\n'))
  })

  test('the original --server reaches diswall server, typed or from its flag (its config check answers)', async () => {
    const config = '/nonexistent/diswall.conf'
    const typed = assertEnvelope(await runCli(['server', '-c', config, '--json']), 'E_CONFIG', 3)
    assert.match(typed.message, /\/nonexistent\/diswall\.conf: config file not found/)
    const legacy = assertEnvelope(await runCli(['--server', '-c', config], {env: {DISWALL_CONTENT_TYPE: 'json'}}), 'E_CONFIG', 3)
    assert.match(legacy.message, /config file not found/)
  })

  test('the original --install and --uninstall reach install and uninstall (here into a staging root)', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'diswall-legacy-install-'))
    t.after(() => rm(dir, {force: true, recursive: true}))
    const installed = await runCli(['--install', '--root', dir, '--json'])
    assert.equal(installed.code, 0, installed.stderr)
    assert.equal(installed.json.result.changed, true)
    assert.equal(installed.json.result.live, false)
    const removed = await runCli(['--uninstall', '--root', dir, '--purge', '--json'])
    assert.equal(removed.code, 0, removed.stderr)
    assert.deepEqual((await readdir(dir)), [])
  })

  test('a flag only the original DisWall had is E_NOT_AVAILABLE with its hint, also as JSON', async () => {
    const error = assertEnvelope(await runCli(['--update', '--json']), 'E_NOT_AVAILABLE', 2)
    assert.match(error.message, /--update is not supported by diswall/)
    assert.match(error.hint ?? '', /package manager/)
  })

  test('error text is never wrapped: a long file:line stays on one line, with its hint and code', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'diswall-errors-'))
    t.after(() => rm(dir, {force: true, recursive: true}))
    const file = join(dir, 'a-directory-name-long-enough-to-pass-eighty-columns', 'etc', 'diswall', 'diswall.toml')
    assert.ok(file.length > 80)
    const lines = assertText(await runCli(['config', 'check', '-c', file]), 'E_CONFIG', 3)
    assert.ok(lines.some((l) => l.endsWith(`Error: ${file}: config file not found`)), lines.join('\n'))
    assert.ok(lines.some((l) => l.endsWith(`Try this: Create one with: diswall generate-config > ${file}`)), lines.join('\n'))
  })
})
