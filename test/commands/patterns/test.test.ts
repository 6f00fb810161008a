import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {runCli} from '../../helpers/cli.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-patterns-test-'))
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

/** stderr without oclif's line wrapping (` ›   ` continuation lines). */
function unwrap(stderr: string): string {
  return stderr.replaceAll(/\s*\n\s*›\s+/g, ' ')
}

const sshd = (pid: number, msg: string): string => `May  1 09:14:04 web1 sshd[${pid}]: ${msg}`
const LOG = [
  ...[1, 2, 3, 4, 5].map((i) => sshd(100 + i, `Failed password for root from 203.0.113.7 port ${i} ssh2`)),
  sshd(200, 'Connection closed by authenticating user root 203.0.113.8 port 1 [preauth]'),
  'May  1 09:14:05 web1 CRON[1]: (root) CMD (true)',
].join('\n') + '\n'

test('patterns test - the shipped files over a log file: per regex counts, the bans, unmatched samples', async () => {
  const log = join(dir, 'auth.log')
  await writeFile(log, LOG)
  const out = await runCli(['patterns', 'test', '--log', log])
  assert.equal(out.code, 0, out.stderr)
  assert.match(out.stdout, /^7 lines, 5 matched \(level normal\)$/m) // line 6 is pre-auth noise: level aggressive
  assert.match(out.stdout, /would ban 1:\n {2}203\.0\.113\.7 +ssh \(input line 5\)/)
  assert.match(out.stdout, /lines nothing matched \(first 2\):\n {2}6: May {2}1 09:14:04 web1 sshd\[200\]: Connection closed by authenticating user root 203\.0\.113\.8 port 1 \[preauth\]\n {2}7: May {2}1 09:14:05 web1 CRON/)
  assert.match(out.stdout, /openssh\.patterns \(ban, threshold 5 in 600 s\)\n +5 {2}line \d+\n/)
})

test('patterns test - --json lists every matching line of stdin, a journal export included, at the level asked', async () => {
  const journal = [
    JSON.stringify({MESSAGE: 'error: kex_exchange_identification: Connection closed by remote host', _PID: '300'}),
    JSON.stringify({MESSAGE: 'Connection closed by 203.0.113.9 port 4444', _PID: '300'}),
  ].join('\n')
  const out = await runCli(['patterns', 'test', '--level', 'aggressive', '--json'], {input: `${LOG}${journal}\n`})
  assert.equal(out.code, 0, out.stderr)
  const {result} = out.json
  assert.equal(result.level, 'aggressive')
  const rows = result.matches.filter((m: {file: string}) => m.file.endsWith('/openssh.patterns'))
    .map((m: {action: string; address: string | null; level: string; line: number; outcome: string}) => [m.line, m.address, m.level, m.action, m.outcome])
  assert.deepEqual(rows, [
    [1, '203.0.113.7', 'normal', 'ban', 'counted'], [2, '203.0.113.7', 'normal', 'ban', 'counted'], [3, '203.0.113.7', 'normal', 'ban', 'counted'],
    [4, '203.0.113.7', 'normal', 'ban', 'counted'], [5, '203.0.113.7', 'normal', 'ban', 'banned'], [6, '203.0.113.8', 'aggressive', 'ban', 'counted'],
    [8, null, 'aggressive', 'ban', 'held'], [9, '203.0.113.9', 'normal', 'ban', 'tracked'],
  ])
  for (const m of result.matches) assert.equal(typeof m.regexLine, 'number')
})

test('patterns test - a broken pattern file exits 3 with file:line; a missing log or pattern file exits 2', async () => {
  const broken = join(dir, 'broken.patterns')
  await writeFile(broken, 'file = /var/log/auth.log\n[agressive] Failed .* from __IP__\n')
  const bad = await runCli(['patterns', 'test', broken, '--log', '-'], {input: LOG})
  assert.equal(bad.code, 3, bad.stdout + bad.stderr)
  assert.match(unwrap(bad.stderr), new RegExp(`${broken}:2: unknown flag "agressive"`))
  const json = await runCli(['patterns', 'test', broken, '--json'], {input: LOG})
  assert.equal(json.code, 3)
  assert.equal(json.json.error.code, 'E_CONFIG')
  const missingLog = await runCli(['patterns', 'test', '--log', join(dir, 'nope.log'), '--json'])
  assert.equal(missingLog.code, 2)
  assert.equal(missingLog.json.error.code, 'E_USAGE')
  assert.match(missingLog.json.error.message, /nope\.log/)
  const missingFile = await runCli(['patterns', 'test', join(dir, 'nope.patterns'), '--json'], {input: LOG})
  assert.equal(missingFile.code, 2)
  assert.match(missingFile.json.error.message, /nope\.patterns/)
  const level = await runCli(['patterns', 'test', '--level', 'loud'], {input: LOG})
  assert.equal(level.code, 2)
})
