import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {
  hasJournald,
  parseJournalEntry,
  ServiceJournalSource,
  serviceJournalctlArgs,
  superviseSource,
  untrustedReason,
} from '../../../../src/lib/detect/sources/index.js'
import type {LineStream} from '../../../../src/lib/system/stream.js'
import {Puller} from './collect.js'

/** A spawn whose runs print fixed lines and then end, recording the argv of each run. */
function fakeSpawn(runs: string[][], calls: Array<readonly string[]>) {
  return (program: string, args: readonly string[]): LineStream => {
    calls.push([program, ...args])
    const lines = runs.shift() ?? []
    return {
      async *[Symbol.asyncIterator]() {
        yield* lines
      },
      async close() {},
      pid: 4242,
    }
  }
}

// Recorded the shape `journalctl -o json` prints on Debian 12 (systemd 252), trimmed to the fields read.
/** sshd-session (OpenSSH 9.8+) of ssh.service, logging a failed password through syslog. */
const GENUINE_SSHD = {
  MESSAGE: 'Failed password for root from 203.0.113.7 port 51234 ssh2',
  SYSLOG_IDENTIFIER: 'sshd-session',
  _COMM: 'sshd-session',
  _EXE: '/usr/lib/openssh/sshd-session',
  _PID: '80412',
  _SYSTEMD_UNIT: 'ssh.service',
  _TRANSPORT: 'syslog',
  _UID: '0',
  __CURSOR: 's=8a1c0de3f15b4e0ca4ad0ad2e4a6e9a1;i=2f0a1;b=5d2e3f4a5b6c7d8e9f00112233445566;m=3a1b2c3d;t=60c8f2e1a4b3c;x=9e8d7c6b5a493827',
  __REALTIME_TIMESTAMP: '1700000000123456',
}
/** `logger -t sshd 'Failed password …'` run by uid 1000 from an SSH login session. */
const FORGED_SESSION = {
  ...GENUINE_SSHD,
  MESSAGE: 'Failed password for root from 198.51.100.9 port 1 ssh2',
  SYSLOG_IDENTIFIER: 'sshd',
  _COMM: 'logger',
  _EXE: '/usr/bin/logger',
  _PID: '91234',
  _SYSTEMD_UNIT: 'session-3.scope',
  _UID: '1000',
  __CURSOR: 'cur-forged-1',
}
/** The same from a user's systemd instance. */
const FORGED_USER_MANAGER = {...FORGED_SESSION, _SYSTEMD_UNIT: 'user@1000.service', __CURSOR: 'cur-forged-2'}

const UNITS = new Set(['ssh.service', 'postfix@-.service'])

function reason(fields: Record<string, unknown>): string | undefined {
  const entry = parseJournalEntry(JSON.stringify(fields))
  assert.ok(entry !== undefined)
  return untrustedReason(entry, UNITS)
}

test('trusted fields - a genuine sshd-session entry of ssh.service is accepted', () => {
  assert.equal(reason(GENUINE_SSHD), undefined)
  assert.equal(reason({...GENUINE_SSHD, _COMM: 'sshd', _EXE: '/usr/sbin/sshd'}), undefined)
  // postfix's smtpd runs as the postfix user (a system account) under postfix@-.service.
  assert.equal(reason({...GENUINE_SSHD, SYSLOG_IDENTIFIER: 'postfix/smtpd', _COMM: 'smtpd', _EXE: '/usr/lib/postfix/sbin/smtpd',
    _SYSTEMD_UNIT: 'postfix@-.service', _UID: '107'}), undefined)
})

test('trusted fields - logger -t sshd by uid 1000 is dropped, whatever its identifier says', () => {
  assert.match(reason(FORGED_SESSION) ?? '', /session-3\.scope is not a unit/)
  assert.match(reason(FORGED_USER_MANAGER) ?? '', /user@1000\.service is not a unit/)
  // A user whose shell stayed in ssh.service (no pam_systemd), still uid 1000.
  assert.match(reason({...FORGED_SESSION, _SYSTEMD_UNIT: 'ssh.service'}) ?? '', /_UID 1000/)
  // Even root or a service account running logger inside the unit is not the daemon.
  assert.match(reason({...FORGED_SESSION, _SYSTEMD_UNIT: 'ssh.service', _UID: '0'}) ?? '', /_EXE \/usr\/bin\/logger/)
  assert.match(reason({...GENUINE_SSHD, _COMM: 'systemd-cat', _EXE: '/usr/bin/systemd-cat'}) ?? '', /not in a directory of system daemons/)
  assert.match(reason({...GENUINE_SSHD, _EXE: '/usr/lib/../bin/logger'}) ?? '', /not in a directory/)
})

test('trusted fields - an entry of another unit is dropped', () => {
  assert.match(reason({...GENUINE_SSHD, _SYSTEMD_UNIT: 'cron.service', _COMM: 'cron', _EXE: '/usr/sbin/cron'}) ?? '', /cron\.service/)
})

test('trusted fields - an entry missing a trusted field is dropped', () => {
  for (const field of ['_SYSTEMD_UNIT', '_UID', '_EXE']) {
    const fields: Record<string, unknown> = {...GENUINE_SSHD}
    delete fields[field]
    assert.match(reason(fields) ?? '', new RegExp(`no ${field}`), field)
  }
  assert.match(reason({...GENUINE_SSHD, _UID: 'root'}) ?? '', /no _UID/)
  assert.match(reason({...GENUINE_SSHD, _UID: null}) ?? '', /no _UID/)
})

test('service journalctl arguments - the units as _SYSTEMD_UNIT matches, followed as JSON, no kernel log', () => {
  const args = serviceJournalctlArgs(['ssh.service', 'postfix@-.service'], undefined, 1_700_000_000_999)
  assert.deepEqual(args.slice(-3), ['--since=@1700000000', '_SYSTEMD_UNIT=ssh.service', '_SYSTEMD_UNIT=postfix@-.service'])
  for (const arg of ['--follow', '--output=json', '--all', '--no-pager']) assert.ok(args.includes(arg), arg)
  assert.ok(!args.includes('--dmesg') && !args.includes('-k'))
  const fields = args.find((a) => a.startsWith('--output-fields='))!
  for (const f of ['MESSAGE', '_SYSTEMD_UNIT', '_UID', '_EXE']) assert.ok(fields.split(/[=,]/).includes(f), f)
  assert.ok(serviceJournalctlArgs(['ssh.service'], 's=abc;i=7').includes('--after-cursor=s=abc;i=7'))
  assert.ok(serviceJournalctlArgs(['ssh.service']).includes('--since=now'))
})

test('service journal source - yields trusted entries as unit:NAME, counts the dropped ones', async () => {
  const calls: Array<readonly string[]> = []
  const source = new ServiceJournalSource({units: ['ssh.service']}, fakeSpawn([[
    JSON.stringify(FORGED_SESSION),
    JSON.stringify(GENUINE_SSHD),
    'not json',
    JSON.stringify(FORGED_USER_MANAGER),
  ]], calls))
  const lines = []
  for await (const line of source.start()) lines.push(line)
  assert.deepEqual(lines, [{source: 'unit:ssh.service', text: GENUINE_SSHD.MESSAGE, time: 1_700_000_000_123.456}])
  assert.equal(source.health().lines, 1)
  assert.equal(source.health().untrusted, 2)
  assert.equal(source.health().name, 'journal-services')
  assert.equal(calls.length, 1)
  assert.equal(calls[0]![0], 'journalctl')
  assert.ok(calls[0]!.includes('_SYSTEMD_UNIT=ssh.service'), JSON.stringify(calls[0]))
  assert.ok(calls[0]!.some((arg) => /^--since=@\d+$/.test(arg)), JSON.stringify(calls[0]))
})

test('service journal source - a restarted journalctl resumes after the last cursor, dropped entries included', async () => {
  const calls: Array<readonly string[]> = []
  const spawn = fakeSpawn([
    [JSON.stringify(GENUINE_SSHD), JSON.stringify(FORGED_SESSION)],
    [JSON.stringify({...GENUINE_SSHD, MESSAGE: 'second run', __CURSOR: 'cur-2'})],
  ], calls)
  const source = superviseSource(new ServiceJournalSource({units: ['ssh.service']}, spawn), {initialDelayMs: 10})
  const puller = new Puller(source.start())
  try {
    const lines = await puller.take(2)
    assert.deepEqual(lines.map((l) => l.text), [GENUINE_SSHD.MESSAGE, 'second run'])
    assert.equal(calls.length, 2)
    assert.ok(calls[0]!.some((arg) => /^--since=@\d+$/.test(arg)), JSON.stringify(calls[0]))
    // The last entry of the first run was dropped, but its cursor still counts: it is not read again.
    assert.ok(calls[1]!.includes('--after-cursor=cur-forged-1'), JSON.stringify(calls[1]))
    assert.equal(source.health().untrusted, 1)
    assert.ok(source.health().restarts >= 1)
  } finally {
    await source.close()
  }
})

test('hasJournald - true only for a socket at the path', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-journald-'))
  const server = createServer()
  try {
    const socket = join(dir, 'socket')
    assert.equal(hasJournald(socket), false) // missing
    await new Promise<void>((resolve) => server.listen(socket, resolve))
    assert.equal(hasJournald(socket), true)
    await writeFile(join(dir, 'file'), '')
    assert.equal(hasJournald(join(dir, 'file')), false)
    assert.equal(hasJournald(dir), false)
  } finally {
    await new Promise((resolve) => server.close(resolve))
    await rm(dir, {force: true, recursive: true})
  }
})
