import assert from 'node:assert/strict'
import {spawn} from 'node:child_process'
import {EventEmitter} from 'node:events'
import {test} from 'node:test'
import {fileURLToPath} from 'node:url'

import {runService} from '../../../src/lib/service/index.js'
import type {ServiceLifecycle, SignalAction} from '../../../src/lib/service/index.js'

const HANDLED = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const

/** An EventEmitter that delivers signals the way `process` does: the listener gets the signal's name. */
class FakeSignals extends EventEmitter {
  send(signal: NodeJS.Signals): void {
    this.emit(signal, signal)
  }

  listening(): Record<string, number> {
    return Object.fromEntries(HANDLED.map((signal) => [signal, this.listenerCount(signal)]))
  }
}

/** A service that records what runService() asks of it; start() resolves when the test says so. */
function recordingService(options: {reload?: boolean} = {}): ServiceLifecycle & {events: string[]; finishStart(): void} {
  const events: string[] = []
  let finishStart!: () => void
  const started = new Promise<void>((resolve) => (finishStart = resolve))
  return {
    events,
    finishStart,
    onSignal: (signal: NodeJS.Signals, action: SignalAction) => void events.push(`${signal}:${action}`),
    ...(options.reload ? {reload: async () => void events.push('reload')} : {}),
    async start() {
      events.push('start')
      await started
      events.push('started')
    },
    async stop() {
      events.push('stop')
    },
  }
}

/** Lets pending promise callbacks and timers run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 10))

test('runService - a SIGTERM during start() stops the service once, after start() is done; listeners are removed', async () => {
  const signals = new FakeSignals()
  const service = recordingService()
  let resolved = false
  const running = runService(service, signals).then(() => (resolved = true))
  assert.deepEqual(signals.listening(), {SIGHUP: 0, SIGINT: 1, SIGTERM: 1}) // before start() returned
  signals.send('SIGTERM')
  signals.send('SIGTERM')
  await settle()
  assert.equal(resolved, false)
  assert.deepEqual(service.events, ['start', 'SIGTERM:stop', 'SIGTERM:stop'])

  service.finishStart()
  await running
  assert.deepEqual(service.events, ['start', 'SIGTERM:stop', 'SIGTERM:stop', 'started', 'stop'])
  assert.deepEqual(signals.listening(), {SIGHUP: 0, SIGINT: 0, SIGTERM: 0})
})

test('runService - SIGHUP calls reload() and keeps running; SIGINT stops', async () => {
  const signals = new FakeSignals()
  const service = recordingService({reload: true})
  service.finishStart()
  let resolved = false
  const running = runService(service, signals).then(() => (resolved = true))
  await settle()
  assert.deepEqual(signals.listening(), {SIGHUP: 1, SIGINT: 1, SIGTERM: 1})
  signals.send('SIGHUP')
  signals.send('SIGHUP')
  await settle()
  assert.equal(resolved, false)
  assert.deepEqual(service.events, ['start', 'started', 'SIGHUP:reload', 'SIGHUP:reload', 'reload', 'reload'])

  signals.send('SIGINT')
  await running
  assert.deepEqual(service.events.slice(6), ['SIGINT:stop', 'stop'])
  assert.deepEqual(signals.listening(), {SIGHUP: 0, SIGINT: 0, SIGTERM: 0})
})

test('runService - without reload() SIGHUP is left alone (its default action applies)', async () => {
  const signals = new FakeSignals()
  const service = recordingService()
  service.finishStart()
  const running = runService(service, signals)
  await settle()
  assert.equal(signals.listenerCount('SIGHUP'), 0)
  signals.send('SIGTERM')
  await running
  assert.deepEqual(service.events, ['start', 'started', 'SIGTERM:stop', 'stop'])
})

test('runService - a failing start() rejects without stop(), and the listeners are removed', async () => {
  const signals = new FakeSignals()
  const events: string[] = []
  await assert.rejects(runService({
    reload: async () => void events.push('reload'),
    start: async () => {
      throw new Error('socket in use')
    },
    stop: async () => void events.push('stop'),
  }, signals), /socket in use/)
  assert.deepEqual(events, [])
  assert.deepEqual(signals.listening(), {SIGHUP: 0, SIGINT: 0, SIGTERM: 0})
})

test('runService - a reload() that rejects stops the service and runService() rejects with its error', async () => {
  const signals = new FakeSignals()
  const events: string[] = []
  const running = runService({
    reload: async () => {
      throw new Error('reload bug')
    },
    start: async () => void events.push('start'),
    stop: async () => void events.push('stop'),
  }, signals)
  await settle()
  signals.send('SIGHUP')
  await assert.rejects(running, /reload bug/)
  assert.deepEqual(events, ['start', 'stop'])
  assert.deepEqual(signals.listening(), {SIGHUP: 0, SIGINT: 0, SIGTERM: 0})
})

test('runService - real signals: SIGTERM during the start, SIGHUP, then the process exits 0 with its listeners gone', {timeout: 30_000}, async () => {
  const lifecycle = fileURLToPath(new URL('../../../src/lib/service/lifecycle.ts', import.meta.url))
  // start() waits for a line on stdin, so the test decides when the start ends; every step is printed.
  const script = `
    import {once} from 'node:events'
    import {runService} from ${JSON.stringify(lifecycle)}
    const say = (text) => process.stdout.write(text + '\\n')
    const count = (signal) => process.listenerCount(signal)
    const before = ['SIGTERM', 'SIGINT', 'SIGHUP'].map(count).join(',')
    await runService({
      onSignal: (signal, action) => say(signal + ':' + action),
      reload: async () => say('reload'),
      async start() {
        say('starting')
        await once(process.stdin, 'data')
        say('started')
      },
      async stop() {
        say('stop')
      },
    })
    process.stdin.destroy()
    say('done ' + (['SIGTERM', 'SIGINT', 'SIGHUP'].map(count).join(',') === before))
  `
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script],
    {cwd: fileURLToPath(new URL('../../..', import.meta.url)), stdio: ['pipe', 'pipe', 'pipe']})
  let out = ''
  let err = ''
  const waiters: Array<() => void> = []
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d
    for (const wake of waiters.splice(0)) wake()
  })
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d))
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (code, signal) => resolve([code, signal])))
  const printed = async (line: string) => {
    while (!out.split('\n').includes(line)) {
      await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), exited.then(() => {
        throw new Error(`exited before printing "${line}": ${out} ${err}`)
      })])
    }
  }

  try {
    await printed('starting')
    child.kill('SIGHUP')
    await printed('reload')
    child.kill('SIGTERM') // during the start: the service must come up, then stop
    await printed('SIGTERM:stop')
    child.stdin.write('go\n')
    assert.deepEqual(await exited, [0, null], err)
    assert.deepEqual(out.trim().split('\n'), ['starting', 'SIGHUP:reload', 'reload', 'SIGTERM:stop', 'started', 'stop', 'done true'])
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
})
