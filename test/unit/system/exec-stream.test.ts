import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdtemp, readFile, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {CommandFailedError} from '../../../src/lib/errors.js'
import {exec} from '../../../src/lib/system/index.js'

/** A program that counts stdin bytes and writes the count to FILE only once it has seen the end of its input. */
const COUNT_TO_EOF = 'let n = 0; process.stdin.on("data", (d) => (n += d.length)); process.stdin.on("end", () => require("fs").writeFileSync(process.argv[1], String(n)))'

test('exec inputStream - a large stream reaches the program whole, chunk by chunk, with back-pressure', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'diswall-exec-'))
  try {
    const out = join(dir, 'count')
    const line = 'add diswall-bl-new 203.0.113.7 timeout 86400\n'
    let pulled = 0
    async function* script(): AsyncGenerator<string> {
      for (let i = 0; i < 200; i++) {
        pulled++
        yield line.repeat(1000)
      }
    }
    await exec(process.execPath, ['-e', COUNT_TO_EOF, out], {inputStream: script()})
    assert.equal(pulled, 200)
    assert.equal(await readFile(out, 'utf8'), String(line.length * 1000 * 200))
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
})

test('exec inputStream - a stream that throws kills the program before it sees the end of its input', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'diswall-exec-'))
  try {
    const out = join(dir, 'count')
    async function* cut(): AsyncGenerator<string> {
      yield 'flush set inet diswall diswall-bl\n'
      await new Promise((resolve) => setTimeout(resolve, 100))
      throw new Error('the init answer stopped after 1 entries')
    }
    await assert.rejects(exec(process.execPath, ['-e', COUNT_TO_EOF, out], {inputStream: cut()}), {message: 'the init answer stopped after 1 entries'})
    assert.equal(existsSync(out), false)
  } finally {
    await rm(dir, {force: true, recursive: true})
  }
})

test('exec inputStream - a program that fails early stops the feed and reports its own error', async () => {
  let pulled = 0
  async function* endless(): AsyncGenerator<string> {
    for (;;) {
      pulled++
      yield 'x'.repeat(64 * 1024)
    }
  }
  await assert.rejects(exec(process.execPath, ['-e', 'console.error("Error in line 1"); process.exit(3)'], {inputStream: endless()}),
    (error: unknown) => error instanceof CommandFailedError && error.programExitCode === 3 && /Error in line 1/.test(error.stderr))
  assert.ok(pulled < 10_000)
})
