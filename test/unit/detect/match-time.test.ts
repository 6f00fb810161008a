import assert from 'node:assert/strict'
import {test} from 'node:test'
import {Worker} from 'node:worker_threads'

import {DetectEngine, parsePatternFile} from '../../../src/lib/detect/index.js'
import type {SlowPatternReport} from '../../../src/lib/detect/index.js'
import {configErrorOf, configWith} from './helpers.js'

const F = '/etc/diswall/firewall/patterns.d/app.patterns'
const LOG = '/var/log/app.log'

test('match-time - a pattern whose matching time has no bound, such as ^x(.*a){25}b __IP__$, is refused with file:line and a hint', () => {
  const e = configErrorOf(() => parsePatternFile(`file = ${LOG}\nthreshold = 1\n# backtracks ~10^10 times on a 41-character line\n^x(.*a){25}b __IP__$\n`, F))
  assert.equal(e.code, 'E_CONFIG')
  assert.equal(e.message, `${F}:4: the regex cannot run in linear time: a counted repetition copies its body more than 16 times ` +
    '(like "(.*a){25}"; nested counts multiply)')
  assert.ok(e.hint?.includes('Lower the count'), e.hint)
})

/**
 * Runs an engine with one pattern file over `lines` in a worker, so that a match that never ends fails
 * the test after `boundMs` instead of hanging it. Returns the events and the engine's stats.
 */
async function runInWorker(patternText: string, lines: string[], boundMs: number): Promise<{events: unknown[]; stats: Record<string, number>}> {
  const code = `
    const {parentPort, workerData} = require('node:worker_threads')
    ;(async () => {
      ;(await import(workerData.tsx)).register() // tsx runs TypeScript in the test process; a worker starts without it
      const {DetectEngine, parsePatternFile} = await import(workerData.detect)
      const {configWith} = await import(workerData.helpers)
      const engine = new DetectEngine({config: configWith(), patterns: [parsePatternFile(workerData.text, workerData.path)]})
      const events = workerData.lines.map((text) => {
        const e = engine.handleLine({source: workerData.log, text})
        return e === undefined ? null : {kind: e.kind, reason: e.reason, target: e.target.text}
      })
      parentPort.postMessage({events, stats: {...engine.stats}})
    })().catch((error) => parentPort.postMessage({error: String(error && error.stack || error)}))
  `
  const worker = new Worker(code, {eval: true, workerData: {
    detect: new URL('../../../src/lib/detect/index.ts', import.meta.url).href,
    helpers: new URL('helpers.ts', import.meta.url).href,
    lines,
    log: LOG,
    path: F,
    text: patternText,
    tsx: import.meta.resolve('tsx/esm/api'),
  }})
  let timer: NodeJS.Timeout | undefined
  try {
    const reply = await Promise.race([
      new Promise<{error?: string; events: unknown[]; stats: Record<string, number>}>((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
      }),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`matching did not return within ${boundMs} ms`)), boundMs)
      }),
    ])
    if (reply.error !== undefined) throw new Error(reply.error)
    return reply
  } finally {
    clearTimeout(timer)
    await worker.terminate() // interrupts a regex that is still running
  }
}

test('match-time - a catastrophic line returns, a normal line still bans, and a match found after the fallback captures the address', async () => {
  // Both regexes backtrack ~10^12 times on these 60 "a" on the normal engine; the linear-time engine takes over.
  const text = `file = ${LOG}\nthreshold = 1\ntag = app\n^x(.*a){12}b __IP__$\n^y(?:(?:.*a){12}c|.*) __IP__$\n`
  const lines = ['x' + 'a'.repeat(60), `x${'a'.repeat(12)}b 203.0.113.7`, `y${'a'.repeat(60)} 203.0.113.8`]
  const {events, stats} = await runInWorker(text, lines, 30_000)
  assert.deepEqual(events, [null, {kind: 'ban', reason: 'app', target: '203.0.113.7'}, {kind: 'ban', reason: 'app', target: '203.0.113.8'}])
  assert.equal(stats.lines, 3)
  assert.equal(stats.matches, 2)
})

test('match-time - a line over the time budget is dropped and counted, the regex reported once, and the engine goes on', () => {
  const file = parsePatternFile(`file = ${LOG}\nthreshold = 2\ntag = app\n# c\nFailed for .* from __IP__$\n`, F)
  const timer = {step: 0, t: 0}
  const reports: SlowPatternReport[] = []
  const engine = new DetectEngine({
    config: configWith(),
    matchClock: () => (timer.t += timer.step), // each regex run "takes" timer.step ms
    onSlowPattern: (r) => reports.push(r),
    patterns: [file],
    slowMatchMs: 100,
  })
  const line = (ip: string) => ({source: LOG, text: `Failed for root from ${ip}`})
  assert.equal(engine.handleLine(line('203.0.113.9')), undefined) // 1 of 2
  timer.step = 101
  assert.equal(engine.handleLine(line('203.0.113.9')), undefined) // would be 2 of 2: dropped
  assert.equal(engine.handleLine(line('203.0.113.9')), undefined)
  assert.equal(engine.handleLine({source: LOG, text: 'unrelated'}), undefined) // the prefilter skips it: not timed
  assert.equal(engine.stats.slowLines, 2)
  assert.equal(engine.stats.matches, 1)
  assert.deepEqual(reports, [{file: F, line: 5, ms: 101, source: 'Failed for .* from __IP__$'}])
  assert.deepEqual(engine.slowPatterns(), [`${F}:5`])
  timer.step = 100 // at the budget: not slow
  const event = engine.handleLine(line('203.0.113.9'))
  assert.equal(event?.kind, 'ban')
  assert.equal(engine.stats.slowLines, 2)
  assert.equal(reports.length, 1)
})
