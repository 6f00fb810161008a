import assert from 'node:assert/strict'
import {lstatSync, writeFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, test} from 'node:test'

import {ensureFifo, LogSourceError, PipeSource} from '../../../../src/lib/detect/sources/index.js'
import {MissingDependencyError} from '../../../../src/lib/errors.js'
import {exec, type Exec} from '../../../../src/lib/system/exec.js'
import {Puller, until} from './collect.js'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, {force: true, recursive: true})
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dw-pipe-'))
  dirs.push(dir)
  return dir
}

/** Writes `text` to the FIFO from a separate process, as rsyslog does: open, write, close, exit. */
async function writeFromProcess(path: string, text: string): Promise<void> {
  await exec(process.execPath, ['-e', `require('node:fs').writeFileSync(${JSON.stringify(path)}, ${JSON.stringify(text)})`])
}

test('pipe source - creates the FIFO (0600, with its directory) and reads lines from writer after writer', async () => {
  const path = join(await tempDir(), 'diswall', 'diswall.pipe')
  const source = new PipeSource({path})
  const puller = new Puller(source.start())
  try {
    await until(() => source.health().state === 'running', 'the pipe source to run')
    const info = lstatSync(path)
    assert.ok(info.isFIFO())
    assert.equal(info.mode & 0o777, 0o600)
    assert.equal(lstatSync(join(path, '..')).mode & 0o777, 0o700)

    await writeFromProcess(path, '203.0.113.7 TCP 22\n198.51.100.9 UDP 161\n')
    assert.deepEqual((await puller.take(2)).map((l) => l.text), ['203.0.113.7 TCP 22', '198.51.100.9 UDP 161'])
    // The first writer is gone; the stream must not end, and the next writer is read as well.
    await writeFromProcess(path, '2001:db8::7 TCP 3389\n')
    const [line] = await puller.take(1)
    assert.deepEqual(line, {source: 'pipe', text: '2001:db8::7 TCP 3389'})
    assert.equal(source.health().lines, 3)

    // No busy loop once every writer has gone: the pipe is read through epoll.
    const before = process.cpuUsage()
    assert.equal(await puller.nothingWithin(500), 'nothing')
    const used = process.cpuUsage(before)
    assert.ok(used.user + used.system < 50_000, `${(used.user + used.system) / 1000} ms CPU in 500 ms while idle`)
  } finally {
    await source.close()
  }
  assert.equal(await puller.end(), undefined)
  assert.equal(source.health().state, 'stopped')
  assert.ok(lstatSync(path).isFIFO(), 'the FIFO stays for the next start')
})

test('pipe source - an existing FIFO is reused, and a line split across writes is joined', async () => {
  const path = join(await tempDir(), 'diswall.pipe')
  assert.deepEqual(await ensureFifo(path), {created: true})
  assert.deepEqual(await ensureFifo(path), {created: false})
  const source = new PipeSource({path, name: 'rsyslog'})
  const puller = new Puller(source.start())
  try {
    await until(() => source.health().state === 'running', 'the pipe source to run')
    writeFileSync(path, '203.0.113.')
    assert.equal(await puller.nothingWithin(100), 'nothing')
    writeFileSync(path, '8 TCP 25\n')
    assert.deepEqual(await puller.take(1), [{source: 'rsyslog', text: '203.0.113.8 TCP 25'}])
  } finally {
    await source.close()
  }
})

test('pipe source - refuses a path that is not a FIFO', async () => {
  const path = join(await tempDir(), 'diswall.pipe')
  writeFileSync(path, 'a regular file\n')
  const error = await new Puller(new PipeSource({path}).start()).end()
  assert.ok(error instanceof LogSourceError, String(error))
  assert.equal(error.code, 'E_LOG_SOURCE')
  assert.match(error.message, /is not a named pipe/)
})

test('pipe source - refuses a FIFO that group or others may write (anyone could forge bans)', async () => {
  const path = join(await tempDir(), 'diswall.pipe')
  await exec('mkfifo', ['-m', '0622', path])
  const source = new PipeSource({path})
  const error = await new Puller(source.start()).end()
  assert.ok(error instanceof LogSourceError, String(error))
  assert.match(error.message, /writable by group or others \(mode 0622\)/)
  assert.match(error.hint ?? '', /chmod 600/)
  assert.equal(source.health().state, 'failed')
})

test('pipe source - a missing mkfifo is reported as a missing program from coreutils', async () => {
  const path = join(await tempDir(), 'diswall.pipe')
  const calls: Array<{program: string; args: readonly string[]}> = []
  const fakeExec: Exec = async (program, args) => {
    calls.push({args, program})
    throw new MissingDependencyError(program)
  }
  const error = await new Puller(new PipeSource({path}, fakeExec).start()).end()
  assert.ok(error instanceof MissingDependencyError, String(error))
  assert.match(error.hint ?? '', /apt-get install coreutils/)
  assert.deepEqual(calls, [{args: ['-m', '0600', path], program: 'mkfifo'}])
})
