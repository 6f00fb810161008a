import assert from 'node:assert/strict'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {type AddressInfo, createServer, type Server} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {CommandFailedError, MissingDependencyError} from '../../../src/lib/errors.js'
import {threadExec} from '../../../src/lib/system/index.js'

test('threadExec - output, stdin, environment and errors are the ones of exec', async () => {
  const run = threadExec()
  try {
    assert.deepEqual(await run('sh', ['-c', 'cat; printf "%s" "$X" >&2', 'x'], {env: {X: 'from env'}, input: 'from stdin\n'}),
      {stderr: 'from env', stdout: 'from stdin\n'})
    await assert.rejects(run('sh', ['-c', 'echo nope >&2; exit 3']), (error: unknown) => {
      assert.ok(error instanceof CommandFailedError)
      assert.equal(error.programExitCode, 3)
      assert.equal(error.stderr, 'nope\n')
      assert.equal(error.code, 'E_COMMAND_FAILED')
      return true
    })
    await assert.rejects(run('sleep', ['5'], {timeoutMs: 100}), (error: unknown) => error instanceof CommandFailedError && error.timedOut)
    await assert.rejects(run('diswall-no-such-program', []), MissingDependencyError)
    // Many at once: each answer reaches its own caller.
    const answers = await Promise.all(Array.from({length: 20}, (_, i) => run('echo', [String(i)])))
    assert.deepEqual(answers.map((a) => a.stdout), Array.from({length: 20}, (_, i) => `${i}\n`))
  } finally {
    await run.close()
  }
})

test('threadExec - the event loop keeps turning while a program starts', async () => {
  const run = threadExec()
  try {
    await run('true', []) // the thread is up
    let turns = 0
    const timer = setInterval(() => turns++, 0)
    try {
      await run('sleep', ['0.2'])
    } finally {
      clearInterval(timer)
    }
    assert.ok(turns > 10, `only ${turns} timer turns while the program ran`)
  } finally {
    await run.close()
  }
})

test('threadExec - close() is safe twice, and a call after it starts a new thread', async () => {
  const run = threadExec()
  await run('true', [])
  await run.close()
  await run.close()
  try {
    assert.equal((await run('echo', ['again'])).stdout, 'again\n')
  } finally {
    await run.close()
  }
})

test('threadExec - readText reads a file whole on the thread, /proc files of size 0 too', async () => {
  const run = threadExec()
  const dir = mkdtempSync(join(tmpdir(), 'diswall-read-'))
  try {
    // Several reads of 64 KiB, the last one short; and a file whose length is a whole number of reads.
    const text = 'x'.repeat(200_000) + '\nlast line\n'
    writeFileSync(join(dir, 'big'), text)
    assert.equal(await run.readText(join(dir, 'big')), text)
    writeFileSync(join(dir, 'even'), 'y'.repeat(2 * 65_536))
    assert.equal(await run.readText(join(dir, 'even')), 'y'.repeat(2 * 65_536))
    writeFileSync(join(dir, 'empty'), '')
    assert.equal(await run.readText(join(dir, 'empty')), '')
    // A /proc table longer than a page: every line, in order (one TCP socket line per listener).
    const servers = await Promise.all(Array.from({length: 40}, () => listenLocal()))
    try {
      const table = await run.readText('/proc/net/tcp') ?? ''
      assert.ok(table.length > 4096, `the table is ${table.length} bytes`)
      for (const server of servers) {
        const port = (server.address() as AddressInfo).port.toString(16).toUpperCase().padStart(4, '0')
        assert.match(table, new RegExp(`: 0100007F:${port} 00000000:0000 0A `), `listener on port ${port}`)
      }
    } finally {
      for (const server of servers) server.close()
    }
    assert.equal(await run.readText(join(dir, 'missing')), undefined)
    // /proc/self/status is the thread's process: size 0 in stat, read to its end.
    assert.match(await run.readText('/proc/self/status') ?? '', /^Name:.*\n[\s\S]*\nPid:\s+\d+\n[\s\S]*\n$/)
    await assert.rejects(run.readText(dir), /EISDIR/)
    // Reads and programs share the thread; each answer reaches its own caller.
    const [echoed, read] = await Promise.all([run('echo', ['beside']), run.readText(join(dir, 'big'))])
    assert.equal(echoed.stdout, 'beside\n')
    assert.equal(read?.length, text.length)
  } finally {
    await run.close()
    rmSync(dir, {force: true, recursive: true})
  }
})

/** A TCP listener on 127.0.0.1, any port. */
function listenLocal(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => resolve(server))
  })
}
