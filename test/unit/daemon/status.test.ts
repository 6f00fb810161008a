import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {createServer} from 'node:net'
import type {Socket} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {DAEMON_SERVICE, queryDaemon} from '../../../src/lib/daemon/index.js'
import {DiswallError} from '../../../src/lib/errors.js'
import {openControlServer} from '../../../src/lib/service/index.js'

// Scripts and operators read these messages; they are the daemon's since before the control socket
// was shared with other services, and must stay word for word.

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dw-dst-')) // short: a unix socket path has at most 107 bytes
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

async function rejection(promise: Promise<unknown>): Promise<DiswallError> {
  try {
    await promise
  } catch (error) {
    assert.ok(error instanceof DiswallError, `expected a DiswallError, got ${String(error)}`)
    return error
  }
  assert.fail('expected a rejection')
}

test('daemon control - the client names the daemon: not running, timeout', async () => {
  const missing = join(dir, 'missing.sock')
  const notRunning = await rejection(queryDaemon(missing, 'status'))
  assert.deepEqual([notRunning.code, notRunning.exitCode, notRunning.message, notRunning.hint], ['E_DAEMON_NOT_RUNNING', 4,
    `the diswall daemon is not running: its control socket does not exist (${missing})`,
    'Start it: systemctl start diswall (or run "diswall daemon").'])

  const mutePath = join(dir, 'mute.sock')
  const connections: Socket[] = []
  const mute = createServer((socket) => connections.push(socket)) // accepts, never answers
  await new Promise<void>((resolve) => mute.listen(mutePath, resolve))
  try {
    const timeout = await rejection(queryDaemon(mutePath, 'status', {timeoutMs: 50}))
    assert.deepEqual([timeout.code, timeout.message, timeout.hint], ['E_DAEMON_TIMEOUT',
      `the diswall daemon did not answer "status" within 50 ms on ${mutePath}`,
      'It may be busy or hung; check its log: journalctl -u diswall.'])
  } finally {
    for (const socket of connections) socket.destroy()
    await new Promise((resolve) => mute.close(resolve))
  }
})

test('daemon control - the server names the daemon: a second daemon, a file in the way', async () => {
  const path = join(dir, 'diswall.sock')
  const first = await openControlServer(path, {status: () => ({pid: 1})}, DAEMON_SERVICE)
  try {
    const running = await rejection(openControlServer(path, {status: () => ({pid: 2})}, DAEMON_SERVICE))
    assert.deepEqual([running.code, running.message, running.hint], ['E_DAEMON_RUNNING',
      `another diswall daemon is already listening on ${path}`,
      'Stop it first (systemctl stop diswall), or give this one another [daemon] socket.'])
    assert.deepEqual(await queryDaemon(path, 'status'), {pid: 1})
  } finally {
    await first.close()
  }

  const file = join(dir, 'file.sock')
  await writeFile(file, '')
  const inTheWay = await rejection(openControlServer(file, {status: () => ({pid: 1})}, DAEMON_SERVICE))
  assert.deepEqual([inTheWay.code, inTheWay.message, inTheWay.hint], ['E_CONTROL_SOCKET',
    `${file} exists and is not a socket; the daemon will not replace it`,
    'Move the file away, or set another [daemon] socket in the config.'])
})
