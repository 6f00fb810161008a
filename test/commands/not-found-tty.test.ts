/**
 * A mistyped command at a terminal: @oclif/plugin-not-found asks "Did you mean …?" and runs the answer;
 * declined, it is the same E_UNKNOWN_COMMAND as for a script. The terminal is a pty from `script`
 * (util-linux); the answer is typed only once the question is on the screen.
 */
import assert from 'node:assert/strict'
import {spawn, spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {CLI} from '../helpers/cli.js'

const SCRIPT = spawnSync('script', ['--version']).status === 0

/** Runs `diswall ARGS` on a pty, types `answer` when the question appears; the output and exit code. */
async function atTerminal(args: string[], answer: string): Promise<{code: number; output: string; asked: boolean}> {
  const command = [process.execPath, CLI, ...args].map((w) => `'${w.replaceAll("'", String.raw`'\''`)}'`).join(' ')
  const child = spawn('script', ['-qec', command, '/dev/null'], {env: {...process.env, NO_COLOR: '1'}, stdio: ['pipe', 'pipe', 'pipe']})
  let output = ''
  let asked = false
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    output += d
    if (!asked && output.includes('Did you mean')) {
      asked = true
      child.stdin.write(answer)
    }
  })
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)))
  return {asked, code, output}
}

test('not found at a terminal - "y" runs the suggested command with the arguments typed', {skip: SCRIPT ? false : 'script (util-linux) is not installed', timeout: 60_000}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dw-notfound-'))
  try {
    const r = await atTerminal(['instal', '--root', join(dir, 'stage')], 'y\r')
    assert.equal(r.asked, true, r.output)
    assert.equal(r.code, 0, r.output)
    assert.ok(existsSync(join(dir, 'stage', 'etc', 'diswall', 'diswall.conf')), r.output)
  } finally {
    rmSync(dir, {force: true, recursive: true})
  }
})

test('not found at a terminal - "n" ends as for a script: E_UNKNOWN_COMMAND, exit 2, the closest command as hint', {skip: SCRIPT ? false : 'script (util-linux) is not installed', timeout: 60_000}, async () => {
  const r = await atTerminal(['blok', 'list'], 'n\r')
  assert.equal(r.asked, true, r.output)
  assert.equal(r.code, 2, r.output)
  assert.match(r.output, /Code: E_UNKNOWN_COMMAND/)
  assert.match(r.output, /Did you mean "diswall block list"\?/)
})
