import assert from 'node:assert/strict'
import {test} from 'node:test'

import {
  type LogLine,
  type LogSource,
  type SourceHealth,
  SourceEndedError,
  superviseSource,
  type SupervisorEvent,
} from '../../../../src/lib/detect/sources/index.js'
import {MissingDependencyError} from '../../../../src/lib/errors.js'
import {Puller, until} from './collect.js'

/** A source whose runs follow a script: each run yields its lines, then throws, ends, or waits for close. */
class ScriptedSource implements LogSource {
  readonly name = 'scripted'
  readonly startedAt: number[] = []
  private closed = false
  private wakeClosed: (() => void) | undefined
  private state: SourceHealth['state'] = 'stopped'

  constructor(private readonly runs: Array<{lines?: string[]; then: 'throw' | 'end' | 'wait' | 'fatal'}>) {}

  async *start(): AsyncGenerator<LogLine> {
    this.startedAt.push(performance.now())
    const run = this.runs.shift() ?? {then: 'wait'}
    this.state = 'running'
    for (const text of run.lines ?? []) yield {source: this.name, text}
    if (run.then === 'throw') {
      this.state = 'failed'
      throw new Error(`run ${this.startedAt.length} broke`)
    }
    if (run.then === 'fatal') throw new MissingDependencyError('journalctl', 'systemd')
    if (run.then === 'wait' && !this.closed) await new Promise<void>((resolve) => (this.wakeClosed = resolve))
  }

  async close(): Promise<void> {
    this.closed = true
    this.wakeClosed?.()
  }

  health(): SourceHealth {
    return {lines: 0, name: this.name, restarts: 0, state: this.state}
  }
}

test('supervisor - a source that throws is restarted with exponential back-off, and health shows it', async () => {
  const inner = new ScriptedSource([
    {lines: ['a'], then: 'throw'},
    {then: 'throw'},
    {then: 'throw'},
    {then: 'throw'},
    {lines: ['b'], then: 'wait'},
  ])
  const events: SupervisorEvent[] = []
  const source = superviseSource(inner, {initialDelayMs: 40, maxDelayMs: 100, onEvent: (e) => events.push(e)})
  const puller = new Puller(source.start())
  const [first] = await puller.take(1)
  assert.equal(first?.text, 'a')

  const [second] = await puller.take(1, 5000)
  assert.equal(second?.text, 'b')
  // Delays 40, 80, 100 (capped), 100 ms between the five starts: never shorter (the back-off holds);
  // the upper bound only catches a wait that is not the scheduled one (a loaded machine adds latency).
  const gaps = inner.startedAt.slice(1).map((t, i) => t - inner.startedAt[i]!)
  const expected = [40, 80, 100, 100]
  gaps.forEach((gap, i) => assert.ok(gap >= expected[i]! - 2 && gap < expected[i]! + 1000, `gap ${i}: ${gap} ms, expected ~${expected[i]}`))

  const health = source.health()
  assert.equal(health.restarts, 4)
  assert.equal(health.state, 'running')
  assert.equal(health.lastError, 'run 4 broke')
  const restarting = events.filter((e) => e.type === 'restarting') as Array<Extract<SupervisorEvent, {type: 'restarting'}>>
  assert.deepEqual(restarting.map((e) => e.delayMs), [40, 80, 100, 100])
  assert.deepEqual(restarting.map((e) => e.restarts), [1, 2, 3, 4])
  assert.equal(events.filter((e) => e.type === 'started').length, 5)

  await source.close()
  assert.equal(await puller.end(), undefined)
  assert.equal(source.health().state, 'stopped')
})

test('supervisor - health says restarting while it waits, and close() ends the wait at once', async () => {
  const source = superviseSource(new ScriptedSource([{then: 'throw'}]), {initialDelayMs: 60_000})
  const puller = new Puller(source.start())
  const ended = puller.end(5000)
  await until(() => source.health().state === 'restarting', 'state restarting')
  assert.equal(source.health().restarts, 1)
  assert.equal(source.health().lastError, 'run 1 broke')
  const started = performance.now()
  await source.close()
  assert.equal(await ended, undefined)
  assert.ok(performance.now() - started < 1000)
  assert.equal(source.health().state, 'stopped')
})

test('supervisor - a source that ends by itself is restarted too, never silently stopped', async () => {
  const events: SupervisorEvent[] = []
  const inner = new ScriptedSource([{lines: ['x'], then: 'end'}, {lines: ['y'], then: 'wait'}])
  const source = superviseSource(inner, {initialDelayMs: 5, onEvent: (e) => events.push(e)})
  const puller = new Puller(source.start())
  assert.deepEqual((await puller.take(2)).map((l) => l.text), ['x', 'y'])
  const restart = events.find((e) => e.type === 'restarting') as Extract<SupervisorEvent, {type: 'restarting'}>
  assert.ok(restart.error instanceof SourceEndedError)
  assert.equal(source.health().restarts, 1)
  await source.close()
  await puller.end()
})

test('supervisor - a fatal error (missing program) stops with state failed and is rethrown', async () => {
  const events: SupervisorEvent[] = []
  const source = superviseSource(new ScriptedSource([{then: 'fatal'}]), {initialDelayMs: 5, onEvent: (e) => events.push(e)})
  const error = await new Puller(source.start()).end()
  assert.ok(error instanceof MissingDependencyError)
  assert.equal(source.health().state, 'failed')
  assert.equal(source.health().restarts, 0)
  assert.deepEqual(events.map((e) => e.type), ['started', 'failed'])
})

test('supervisor - a run that lasted long enough resets the back-off', async () => {
  const events: SupervisorEvent[] = []
  const inner = new ScriptedSource([{then: 'throw'}, {then: 'throw'}, {lines: ['slow'], then: 'throw'}, {then: 'wait'}])
  const source = superviseSource(inner, {initialDelayMs: 20, onEvent: (e) => events.push(e), stableAfterMs: 150})
  const puller = new Puller(source.start())
  // Two quick failures (20, 40 ms), then a run that is held for 200 ms by not pulling its line.
  const [line] = await puller.take(1, 3000)
  assert.equal(line?.text, 'slow')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const ended = puller.end(5000)
  await until(() => inner.startedAt.length === 4, 'the fourth run')
  const delays = (events.filter((e) => e.type === 'restarting') as Array<Extract<SupervisorEvent, {type: 'restarting'}>>).map((e) => e.delayMs)
  assert.deepEqual(delays, [20, 40, 20])
  await source.close()
  await ended
})
