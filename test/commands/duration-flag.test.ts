/**
 * durationFlag, the base command's duration flag: what it accepts (plain seconds and units, as
 * parseDurationSec), its bounds, and how a bad value reaches the user through the CLI. The CLI runs
 * with an empty PATH, so no firewall program could run even if a value got through.
 */
import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {durationFlag} from '../../src/base-command.js'
import {InvalidValueError} from '../../src/lib/errors.js'
import {runCli} from '../helpers/cli.js'

/** A flag definition as far as this test calls it. */
interface Parsable {
  parse: (input: string, context: never, opts: never) => Promise<unknown>
}

/** The flag's own parse function, as oclif calls it (with the flag's options). */
async function parse(flag: Parsable, input: string): Promise<unknown> {
  return flag.parse(input, {} as never, flag as never)
}

let dir: string
let config: string
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dw-duration-flag-'))
  config = join(dir, 'diswall.conf')
  writeFileSync(config, '[firewall]\nbackend = "ipset"\n')
})
after(() => rmSync(dir, {force: true, recursive: true}))

test('durationFlag - plain seconds and amounts with units become whole seconds', async () => {
  const flag = durationFlag({description: 'test'})
  assert.equal(flag.helpValue, 'DURATION')
  for (const [input, sec] of [['0', 0], ['900', 900], ['90s', 90], ['15m', 900], ['1h30m', 5400], ['8d', 691_200], ['2w', 1_209_600]] as const) {
    assert.equal(await parse(flag, input), sec, input)
  }
})

test('durationFlag - refuses text that is no duration with the value and the units as the hint', async () => {
  const flag = durationFlag({description: 'test'})
  for (const input of ['1x', '1.5h', '-5', '', 'm', '1m1h']) {
    await assert.rejects(parse(flag, input), (error: InvalidValueError) => {
      assert.ok(error instanceof InvalidValueError, input)
      assert.equal(error.exitCode, 2)
      assert.ok(error.message.includes(JSON.stringify(input)), error.message)
      assert.match(error.hint ?? '', /s, m, h, d, w/)
      return true
    })
  }
})

test('durationFlag - minSec and maxSec bound the value, inclusive', async () => {
  const flag = durationFlag({description: 'test', maxSec: 86_400, minSec: 1})
  assert.equal(await parse(flag, '1'), 1)
  assert.equal(await parse(flag, '1d'), 86_400)
  for (const input of ['0', '86401', '1d1s']) {
    await assert.rejects(parse(flag, input), (error: InvalidValueError) => {
      assert.ok(error instanceof InvalidValueError)
      assert.equal(error.message, `${JSON.stringify(input)} is out of range: the duration must be from 1s to 1d`)
      assert.match(error.hint ?? '', /from 1s to 1d/)
      return true
    })
  }
})

test('durationFlag - a bad --timeout exits 2 with E_INVALID_VALUE naming the flag and the value, before anything runs', async () => {
  for (const args of [['block', 'add', '203.0.113.7', '--timeout', '1x'], ['allow', 'add', '203.0.113.7', '-t', '1.5h']]) {
    const r = await runCli([...args, '-c', config, '--json'], {env: {PATH: dir}})
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`)
    assert.equal(r.json?.error.code, 'E_INVALID_VALUE')
    assert.match(r.json?.error.message, new RegExp(`^--timeout: "${args.at(-1)!.replace('.', '\\.')}" is not a valid duration: `))
    assert.match(r.json?.error.hint, /s, m, h, d, w/)
  }
})

test('durationFlag - firewall apply --confirm takes a duration of 1s to 1d', async () => {
  for (const value of ['0', '2d']) {
    const r = await runCli(['firewall', 'apply', '--confirm', value, '--dir', dir, '-c', config, '--json'], {env: {PATH: dir}})
    assert.equal(r.code, 2, r.stdout + r.stderr)
    assert.equal(r.json?.error.code, 'E_INVALID_VALUE')
    assert.equal(r.json?.error.message, `--confirm: "${value}" is out of range: the duration must be from 1s to 1d`)
  }
  const human = await runCli(['firewall', 'apply', '--confirm', 'soon', '--dir', dir, '-c', config], {env: {PATH: dir}})
  assert.equal(human.code, 2, human.stderr)
  assert.match(human.stderr.replaceAll(/\s*›\s*/g, ' '), /--confirm: "soon" is not a valid duration/)
  assert.match(human.stderr, /E_INVALID_VALUE/)
})
