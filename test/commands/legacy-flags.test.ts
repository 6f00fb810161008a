import assert from 'node:assert/strict'
import {test} from 'node:test'

import {runCli} from '../helpers/cli.js'

/** stderr without oclif's line wrapping and "›" margins. */
const text = (stderr: string) => stderr.replaceAll(/\s*›\s*/g, ' ').replaceAll(/\s+/g, ' ')

test('legacy flags - -g prints the same config as generate-config', async () => {
  const [legacy, current] = await Promise.all([runCli(['-g']), runCli(['generate-config'])])
  assert.equal(legacy.code, 0)
  assert.equal(legacy.stdout, current.stdout)
  assert.match(legacy.stdout, /^ipset_black_list = "diswall-bl"$/m)
})

test('legacy flags - --server runs the server (its config check answers), not a crash', async () => {
  const r = await runCli(['--server', '-c', '/nonexistent/diswall.conf'])
  assert.equal(r.code, 3, r.stderr)
  assert.match(text(r.stderr), /\/nonexistent\/diswall\.conf: config file not found/)
  assert.doesNotMatch(r.stderr, /at .*\.js:\d+/) // no stack trace
})

test('legacy flags - daemon flags without an action reach the daemon (its config check answers)', async () => {
  const r = await runCli(['-c', '/nonexistent/diswall.conf', '-l', '-f', '/tmp/x.pipe'])
  assert.equal(r.code, 3)
  assert.match(text(r.stderr), /\/nonexistent\/diswall\.conf: config file not found/)
})

test('legacy flags - --update and -e are refused with a hint', async () => {
  const update = await runCli(['--update'])
  assert.equal(update.code, 2)
  assert.match(text(update.stderr), /--update is not supported by diswall/)
  assert.match(text(update.stderr), /package manager/)
  const edit = await runCli(['-e'])
  assert.equal(edit.code, 2)
  assert.match(text(edit.stderr), /firewall apply/)
})

test('legacy flags - --bl-add-ip reaches block add (its argument checks answer)', async () => {
  const r = await runCli(['--bl-add-ip', 'not-an-address', '-c', '/nonexistent/diswall.conf'])
  assert.equal(r.code, 3) // the config is read first: the translated command really ran
  assert.match(text(r.stderr), /\/nonexistent\/diswall\.conf: config file not found/)
})
