import assert from 'node:assert/strict'
import {chmod, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, test} from 'node:test'

import {
  JournalSource,
  journalctlArgs,
  parseJournalEntry,
  superviseSource,
  type SupervisorEvent,
} from '../../../../src/lib/detect/sources/index.js'
import {MissingDependencyError} from '../../../../src/lib/errors.js'
import type {LineStream} from '../../../../src/lib/system/stream.js'
import {Puller, until} from './collect.js'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, {force: true, recursive: true})
})

/** A LineStream over fixed lines, recording the arguments it was started with. */
function fakeSpawn(runs: string[][], calls: Array<readonly string[]>) {
  return (_program: string, args: readonly string[]): LineStream => {
    calls.push(args)
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

function entry(fields: Record<string, unknown>): string {
  return JSON.stringify({__CURSOR: 's=1;i=1', __REALTIME_TIMESTAMP: '1700000000123456', _TRANSPORT: 'kernel', ...fields})
}

test('journal parser - MESSAGE as a string, with transport, time and cursor', () => {
  assert.deepEqual(parseJournalEntry(entry({MESSAGE: 'diswall-log: SRC=203.0.113.7 DPT=22'})), {
    cursor: 's=1;i=1',
    message: 'diswall-log: SRC=203.0.113.7 DPT=22',
    timeMs: 1_700_000_000_123.456,
    transport: 'kernel',
  })
})

test('journal parser - MESSAGE as a byte array is decoded as UTF-8', () => {
  const bytes = [...Buffer.from('dw: caf\u00e9\u0001 SRC=2001:db8::1', 'utf8')]
  assert.equal(parseJournalEntry(entry({MESSAGE: bytes}))?.message, 'dw: café\u0001 SRC=2001:db8::1')
})

test('journal parser - a field given several times: the first value counts', () => {
  assert.equal(parseJournalEntry(entry({MESSAGE: ['first', 'second']}))?.message, 'first')
  assert.equal(parseJournalEntry(entry({MESSAGE: [[104, 105], 'second']}))?.message, 'hi')
})

test('journal parser - no usable MESSAGE or no JSON object gives undefined', () => {
  for (const line of [entry({MESSAGE: null}), entry({}), 'not json', '[1,2]', '"text"', 'null', entry({MESSAGE: []})]) {
    assert.equal(parseJournalEntry(line), undefined, line)
  }
})

test('journalctl arguments - kernel messages only, followed as JSON, from now or after a cursor', () => {
  const first = journalctlArgs()
  for (const arg of ['--dmesg', '--follow', '--output=json', '--all', '--since=now']) assert.ok(first.includes(arg), arg)
  assert.ok(journalctlArgs(undefined, 1_700_000_000_999).includes('--since=@1700000000'))
  const later = journalctlArgs('s=abc;i=7')
  assert.ok(later.includes('--after-cursor=s=abc;i=7'))
  assert.ok(!later.includes('--since=now'))
})

test('journal source - only kernel-transport entries pass, so logger cannot forge packet lines', async () => {
  const calls: Array<readonly string[]> = []
  const source = new JournalSource({match: ['diswall-log: ']}, fakeSpawn([[
    entry({MESSAGE: 'diswall-log: SRC=198.51.100.9 DPT=23', _TRANSPORT: 'syslog'}), // logger "diswall-log: …"
    entry({MESSAGE: 'usb 1-1: new device'}), // kernel, but not a packet line
    'garbage',
    entry({MESSAGE: 'diswall-log: SRC=203.0.113.7 DPT=22', __CURSOR: 'c2'}),
  ]], calls))
  const lines = []
  for await (const line of source.start()) lines.push(line)
  assert.deepEqual(lines, [{source: 'journal', text: 'diswall-log: SRC=203.0.113.7 DPT=22', time: 1_700_000_000_123.456}])
  assert.equal(source.health().lines, 1)
  assert.equal(calls.length, 1)
  assert.ok(calls[0]!.some((arg) => /^--since=@\d+$/.test(arg)), JSON.stringify(calls[0]))
})

/** Writes an executable fake journalctl that logs its argv and prints `lines`, then exits with `code`. */
async function fakeJournalctl(lines: string[], code: number): Promise<{program: string; argvLog: string}> {
  const dir = await mkdtemp(join(tmpdir(), 'dw-journal-'))
  dirs.push(dir)
  const program = join(dir, 'journalctl')
  const argvLog = join(dir, 'argv.log')
  await writeFile(program, `#!${process.execPath}
require('node:fs').appendFileSync(${JSON.stringify(argvLog)}, JSON.stringify(process.argv.slice(2)) + '\\n')
process.stdout.write(${JSON.stringify(lines.map((l) => l + '\n').join(''))})
process.stderr.write('fake journalctl ends\\n')
process.exitCode = ${code}
`)
  await chmod(program, 0o755)
  return {argvLog, program}
}

test('journal source - a journalctl that exits is restarted by the supervisor after the last cursor', async () => {
  const {argvLog, program} = await fakeJournalctl([entry({MESSAGE: 'dw: one', __CURSOR: 'cur-1'})], 0)
  const events: SupervisorEvent[] = []
  const source = superviseSource(new JournalSource({program}), {initialDelayMs: 10, onEvent: (e) => events.push(e)})
  // The supervisor runs while someone pulls, as the daemon always does.
  const puller = new Puller(source.start())
  const ended = puller.end(10_000)
  try {
    await until(() => source.health().restarts >= 2, 'a second restart')
    assert.deepEqual(puller.items.slice(0, 2).map((l) => l.text), ['dw: one', 'dw: one'])
    const argvs = (await readFile(argvLog, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as string[])
    assert.ok(argvs[0]!.some((arg) => /^--since=@\d+$/.test(arg)), JSON.stringify(argvs[0]))
    assert.ok(argvs[1]!.includes('--after-cursor=cur-1'), JSON.stringify(argvs[1]))
    const restart = events.find((e) => e.type === 'restarting')
    assert.match(String((restart as {error: Error}).error.message), /ended unexpectedly/)
    assert.equal(source.health().name, 'journal')
  } finally {
    await source.close()
  }
  assert.equal(await ended, undefined)
})

test('journal source - a failing journalctl is reported with its stderr and restarted', async () => {
  const {program} = await fakeJournalctl([], 1)
  const source = superviseSource(new JournalSource({program}), {initialDelayMs: 10})
  const ended = new Puller(source.start()).end(10_000)
  try {
    await until(() => source.health().restarts >= 1, 'a restart')
    assert.match(source.health().lastError ?? '', /exited with code 1: fake journalctl ends/)
    assert.notEqual(source.health().state, 'failed')
  } finally {
    await source.close()
  }
  assert.equal(await ended, undefined)
})

test('journal source - a missing journalctl fails clearly and is not restarted', async () => {
  const source = superviseSource(new JournalSource({program: 'dw-no-such-journalctl'}), {initialDelayMs: 10})
  const error = await new Puller(source.start()).end()
  assert.ok(error instanceof MissingDependencyError, String(error))
  assert.equal(error.code, 'E_MISSING_PROGRAM')
  assert.equal(source.health().state, 'failed')
  assert.equal(source.health().restarts, 0)
  assert.match(source.health().lastError ?? '', /dw-no-such-journalctl/)
})
