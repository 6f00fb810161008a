/**
 * `diswall daemon` (the built CLI) reading service logs from journald, end to end into the kernel set
 * of a throwaway namespace. The test machine runs no journald, so `journalctl` is a fake first in PATH
 * that follows a file of recorded `journalctl -o json` entries the way the real one follows the journal:
 * it honours `--after-cursor` (entries after that one) and otherwise starts at the end (`--since=now`).
 * The test plays an sshd: each attempt is a process of its own (`_PID`) writing its lines as Debian
 * 12's OpenSSH 9.2 does, beside entries forged with `logger` that must count for nothing.
 */
import assert from 'node:assert/strict'
import {appendFileSync, chmodSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {SHIPPED_PATTERNS} from '../../src/lib/detect/index.js'
import {cleanupAll, createNetns, makeTempDir, type Netns, readKernelSet, type SpawnedProcess, waitFor} from '../../src/lib/lab/index.js'
import {CLI, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-restore', 'ss', 'conntrack']})

/** The fake journalctl: follows $DISWALL_FAKE_JOURNAL, logs its argv to $DISWALL_FAKE_JOURNAL.argv. */
const FAKE_JOURNALCTL = `#!/usr/bin/env node
const fs = require('node:fs')
const file = process.env.DISWALL_FAKE_JOURNAL
fs.appendFileSync(file + '.argv', JSON.stringify(process.argv.slice(2)) + '\\n')
const after = process.argv.find((a) => a.startsWith('--after-cursor='))?.slice(15)
let offset = 0
const lines = () => fs.readFileSync(file, 'utf8').split('\\n').filter((l) => l !== '')
if (after === undefined) {
  offset = fs.statSync(file).size // --since=now: what is logged from now on
} else {
  const all = lines()
  const i = all.findIndex((l) => JSON.parse(l).__CURSOR === after)
  const rest = i === -1 ? all : all.slice(i + 1)
  for (const l of rest) process.stdout.write(l + '\\n')
  offset = fs.statSync(file).size
}
setInterval(() => {
  const size = fs.statSync(file).size
  if (size <= offset) return
  const fd = fs.openSync(file, 'r')
  const buf = Buffer.alloc(size - offset)
  fs.readSync(fd, buf, 0, buf.length, offset)
  fs.closeSync(fd)
  offset = size
  process.stdout.write(buf)
}, 20)
`

let cursor = 0

/** One journal entry as `journalctl -o json` prints it on Debian 12 (the fields the daemon asks for). */
function entry(message: string, pid: number, forged = false): string {
  cursor++
  const fields = forged
    ? {_COMM: 'logger', _EXE: '/usr/bin/logger', _SYSTEMD_UNIT: 'session-3.scope', _UID: '1000'}
    : {_COMM: 'sshd', _EXE: '/usr/sbin/sshd', _SYSTEMD_UNIT: 'ssh.service', _UID: '0'}
  return JSON.stringify({
    MESSAGE: message, SYSLOG_IDENTIFIER: 'sshd', _PID: String(pid), _TRANSPORT: 'syslog', ...fields,
    __CURSOR: `s=5d2e3f4a5b6c7d8e9f00112233445566;i=${cursor.toString(16)};b=0;m=0;t=0;x=0`,
    __REALTIME_TIMESTAMP: String(Date.now() * 1000),
  }) + '\n'
}

/** One failed password attempt of an invalid user, as sshd 9.2 logs it with UsePAM: four lines, one attempt. */
function attempt(ip: string, pid: number): string {
  return [
    entry(`Invalid user admin from ${ip} port ${40_000 + pid % 1000}`, pid),
    entry('pam_unix(sshd:auth): check pass; user unknown', pid),
    entry(`pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=${ip}`, pid),
    entry(`Failed password for invalid user admin from ${ip} port ${40_000 + pid % 1000} ssh2`, pid),
  ].join('')
}

after(async () => {
  await cleanupAll()
})

describe('diswall daemon - sshd entries from journald reach the kernel set at the threshold', {skip}, () => {
  let victim: Netns
  let base: string
  let journal: string
  let configFile: string
  let socket: string
  let env: Record<string, string>
  let daemon: SpawnedProcess | undefined
  let removeBase = (): void => {}

  const blocked = async (): Promise<string[]> => [...(await readKernelSet(victim, 'ipset', 'diswall-bl')).keys()]

  const start = async (): Promise<SpawnedProcess> => {
    const proc = victim.spawn(process.execPath, [CLI, 'daemon', '-c', configFile, '--local-only'], {env})
    daemon = proc
    await waitFor(() => {
      if (proc.exitStatus) throw new Error(`the daemon exited: ${proc.output().stdout}${proc.output().stderr}`)
      return / ready: /.test(proc.output().stdout)
    }, {timeoutMs: 30_000, what: 'the daemon to be ready'})
    return proc
  }

  /** The daemon's engine counters, from `diswall status --json`. */
  const detectStats = async (): Promise<Record<string, number>> => {
    const status = await runCli(['status', '--socket', socket, '--json'])
    assert.equal(status.code, 0, status.stdout + status.stderr)
    return status.json.result.detect as Record<string, number>
  }

  before(async () => {
    victim = await createNetns()
    const temp = makeTempDir('diswall-journal-it-')
    base = temp.path
    removeBase = () => temp.remove()
    const bin = join(base, 'bin')
    mkdirSync(bin)
    writeFileSync(join(bin, 'journalctl'), FAKE_JOURNALCTL)
    chmodSync(join(bin, 'journalctl'), 0o755)
    journal = join(base, 'journal.json')
    writeFileSync(journal, '')
    env = {DISWALL_FAKE_JOURNAL: journal, NO_COLOR: '1', PATH: `${bin}:${process.env.PATH ?? ''}`}
    const dir = join(base, 'firewall')
    mkdirSync(join(dir, 'patterns.d'), {recursive: true})
    for (const name of ['openssh.patterns', 'openssh-accepted.patterns']) {
      writeFileSync(join(dir, 'patterns.d', name), SHIPPED_PATTERNS.find((f) => f.name === name)!.text)
    }
    socket = join(base, 'diswall.sock')
    configFile = join(base, 'diswall.conf')
    writeFileSync(configFile, [
      'local_only = true',
      '[firewall]',
      'backend = "ipset"',
      `dir = "${dir}"`,
      '[detect]',
      'service_logs = "journal"', // no journald socket on the test machine
      'source = "pipe"',
      `pipe_path = "${join(base, 'pipe')}"`,
      '[daemon]',
      `state_dir = "${join(base, 'state')}"`,
      `socket = "${socket}"`,
      '',
    ].join('\n'))
  })

  after(async () => {
    await daemon?.stop()
    await victim?.remove()
    removeBase()
  })

  it('daemon - four attempts and forged lines leave the address free; the fifth attempt bans it', async () => {
    const proc = await start()
    const offender = '203.0.113.77'
    await waitFor(() => readFileSync(`${journal}.argv`, 'utf8').includes('_SYSTEMD_UNIT=ssh.service'), {what: 'journalctl to run'})
    // Forged by a user with logger: as many "failures" as the threshold, for the offender and for a bystander.
    for (let i = 0; i < 5; i++) {
      appendFileSync(journal, entry(`Failed password for root from ${offender} port ${i} ssh2`, 9000 + i, true))
      appendFileSync(journal, entry(`Failed password for root from 198.51.100.99 port ${i} ssh2`, 9100 + i, true))
    }
    for (let pid = 1000; pid < 1004; pid++) appendFileSync(journal, attempt(offender, pid))
    await waitFor(async () => (await detectStats()).lines >= 16, {timeoutMs: 10_000, what: 'the 16 genuine lines to be read'})
    const stats = await detectStats()
    assert.equal(stats.bans, 0, JSON.stringify(stats))
    // Per attempt "Invalid user" counts; the PAM line and "Failed password" are the same attempt (echoes).
    assert.deepEqual([stats.pending, stats.echoes], [4, 8], JSON.stringify(stats))
    assert.deepEqual(await blocked(), [])
    appendFileSync(journal, attempt(offender, 1004))
    await waitFor(async () => (await blocked()).includes(offender), {
      timeoutMs: 10_000, what: `the ban of ${offender}: ${proc.output().stdout}${proc.output().stderr}`})
    assert.deepEqual(await blocked(), [offender])
    const status = await runCli(['status', '--socket', socket, '--json'])
    const source = status.json.result.sources.find((s: {name: string}) => s.name === 'journal-services')
    assert.equal(source.untrusted, 10, JSON.stringify(source))
    await proc.stop(10_000)
  })

  it('daemon - what sshd logged while the daemon restarted is read after the saved cursor', async () => {
    const offender = '203.0.113.78'
    const first = await start()
    await waitFor(() => readFileSync(`${journal}.argv`, 'utf8').split('\n').length >= 3, {what: 'journalctl to run again'})
    await first.stop(10_000) // SIGTERM: the cursor file is written on the way out
    for (let pid = 2000; pid < 2005; pid++) appendFileSync(journal, attempt(offender, pid))
    const second = await start()
    await waitFor(async () => (await blocked()).includes(offender), {
      timeoutMs: 10_000, what: `the ban of ${offender}: ${second.output().stdout}${second.output().stderr}`})
    const runs = readFileSync(`${journal}.argv`, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as string[])
    assert.ok(runs.at(-1)!.some((a) => a.startsWith('--after-cursor=')), JSON.stringify(runs.at(-1)))
    await second.stop(10_000)
  })
})
