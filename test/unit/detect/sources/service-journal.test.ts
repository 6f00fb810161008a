import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {
  hasJournald,
  loadJournalCursor,
  matchUnit,
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
  assert.deepEqual(lines, [{pid: 80_412, source: 'unit:ssh.service', text: GENUINE_SSHD.MESSAGE, time: 1_700_000_000_123.456}])
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

test('template units - ssh@.service stands for its instances, in the trusted-field check and in journalctl\'s matches', () => {
  const units = new Set(['ssh@.service', 'postfix@-.service', 'dovecot.service'])
  assert.equal(matchUnit('ssh@0-192.0.2.1:22-203.0.113.7:51234.service', units), 'ssh@.service')
  assert.equal(matchUnit('postfix@-.service', units), 'postfix@-.service')
  assert.equal(matchUnit('ssh@.service', units), 'ssh@.service')
  for (const unit of ['sshx@1.service', 'ssh.service', 'ssh@1.socket', 'postfix@x.service', '@1.service']) assert.equal(matchUnit(unit, units), undefined, unit)
  const instance = {...GENUINE_SSHD, _SYSTEMD_UNIT: 'ssh@3-192.0.2.1:22-203.0.113.7:51234.service'}
  const entry = parseJournalEntry(JSON.stringify(instance))!
  assert.equal(untrustedReason(entry, units), undefined)
  assert.match(untrustedReason({...entry, exe: '/usr/bin/logger'}, units) ?? '', /_EXE/)
  // journalctl: exact units by _SYSTEMD_UNIT, templates by the slice of their instances, ORed with "+".
  assert.deepEqual(serviceJournalctlArgs(['dovecot.service', 'ssh@.service', 'foo-bar@.service'], 'c').slice(-5),
    ['--after-cursor=c', '_SYSTEMD_UNIT=dovecot.service', '+', '_SYSTEMD_SLICE=system-ssh.slice', '_SYSTEMD_SLICE=system-foo\\x2dbar.slice'])
  assert.deepEqual(serviceJournalctlArgs(['ssh@.service'], 'c').slice(-2), ['--after-cursor=c', '_SYSTEMD_SLICE=system-ssh.slice'])
})

test('service journal source - an instance entry is read as its template, with _PID', async () => {
  const instance = {...GENUINE_SSHD, _SYSTEMD_UNIT: 'ssh@3-192.0.2.1:22-203.0.113.7:51234.service'}
  const source = new ServiceJournalSource({units: ['ssh@.service']}, fakeSpawn([[JSON.stringify(instance), JSON.stringify({...instance, _PID: 'x'})]], []))
  const lines = []
  for await (const line of source.start()) lines.push(line)
  assert.deepEqual(lines.map((l) => [l.source, l.pid]), [['unit:ssh@.service', 80_412], ['unit:ssh@.service', undefined]])
})

test('service journal source - the cursor survives a restart of the daemon in the cursor file', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-cursor-'))
  try {
    const cursorFile = join(dir, 'state', 'journal.cursor')
    const now = Date.now()
    const recent = {...GENUINE_SSHD, __REALTIME_TIMESTAMP: String((now - 5000) * 1000)}
    // First daemon: no file yet, so it starts at now; it reads one entry and stops.
    const calls: Array<readonly string[]> = []
    const first = new ServiceJournalSource({cursorFile, units: ['ssh.service']}, fakeSpawn([[JSON.stringify(recent)]], calls))
    for await (const line of first.start()) assert.equal(line.text, GENUINE_SSHD.MESSAGE)
    await first.close()
    assert.ok(calls[0]!.some((arg) => /^--since=@\d+$/.test(arg)), JSON.stringify(calls[0]))
    assert.deepEqual(loadJournalCursor(cursorFile), {cursor: GENUINE_SSHD.__CURSOR, timeMs: now - 5000})
    // Second daemon: resumes after that entry, so what was logged while it restarted is read.
    const again: Array<readonly string[]> = []
    const second = new ServiceJournalSource({cursorFile, units: ['ssh.service']}, fakeSpawn([[]], again))
    for await (const _ of second.start()) assert.fail('no lines')
    await second.close()
    assert.ok(again[0]!.includes(`--after-cursor=${GENUINE_SSHD.__CURSOR}`), JSON.stringify(again[0]))
    // A cursor older than the resume limit: the last ten minutes only, not days of logs.
    await writeFile(cursorFile, `diswall journal cursor v1 ${now - 86_400_000} s=old\n`)
    const stale: Array<readonly string[]> = []
    const third = new ServiceJournalSource({cursorFile, units: ['ssh.service']}, fakeSpawn([[]], stale))
    for await (const _ of third.start()) assert.fail('no lines')
    const since = Number(/^--since=@(\d+)$/.exec(stale[0]!.find((a) => a.startsWith('--since='))!)![1])
    assert.ok(Math.abs(since - Math.floor((now - 600_000) / 1000)) <= 5, String(since))
    assert.ok(!stale[0]!.some((a) => a.startsWith('--after-cursor')))
    // A damaged file or a cursor that is not a cursor is ignored.
    for (const text of ['garbage\n', `diswall journal cursor v1 ${now} --output=x y\n`, `diswall journal cursor v1 ${now} a b\n`]) {
      await writeFile(cursorFile, text)
      assert.equal(loadJournalCursor(cursorFile), undefined, text)
    }
    assert.match(await readFile(cursorFile, 'utf8'), /a b/)
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
})
