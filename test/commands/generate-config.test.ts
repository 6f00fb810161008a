import assert from 'node:assert/strict'
import {test} from 'node:test'

import {defaultConfig, parseConfig, renderConfig} from '../../src/lib/config/index.js'
import {runCli} from '../helpers/cli.js'

test('generate-config - prints the commented default config as raw TOML', async () => {
  const out = await runCli(['generate-config'])
  assert.equal(out.code, 0, out.stderr)
  assert.equal(out.stdout, renderConfig())
  assert.equal(out.stderr, '')
  assert.deepEqual(parseConfig(out.stdout, 'stdout').config, defaultConfig())
})

test('generate-config - --json returns the text in the envelope', async () => {
  const out = await runCli(['generate-config', '--json'])
  assert.equal(out.code, 0, out.stderr)
  assert.deepEqual(out.json, {ok: true, result: {config: renderConfig()}, warnings: []})
})

test('generate-config - the output passes config check through a pipe', async () => {
  const generated = await runCli(['generate-config'])
  const checked = await runCli(['config', 'check', '-c', '/dev/stdin'], {input: generated.stdout})
  assert.equal(checked.code, 0, checked.stderr)
  assert.equal(checked.stdout, '/dev/stdin: valid\n')
  assert.equal(checked.stderr, '')
})

test('generate-config - the original -g flag prints the same config', async () => {
  const out = await runCli(['-g'])
  assert.equal(out.code, 0, out.stderr)
  assert.equal(out.stdout, renderConfig())
})
