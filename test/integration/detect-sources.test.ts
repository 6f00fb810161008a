/**
 * Detection sources against the real kernel: an nft `log` rule with this file's own prefix inside a
 * namespace, TCP SYNs sent to it from a second namespace over a veth pair, and the LOG lines read back
 * through the kmsg source (and the journal source, where journald runs). Every namespace writes to the
 * same /dev/kmsg, so each test matches only its own prefix.
 */
import assert from 'node:assert/strict'
import {existsSync} from 'node:fs'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {JournalSource, KmsgSource, type LogLine} from '../../src/lib/detect/sources/index.js'
import {cleanupAll, connectNetns, createNetns, enableNetnsLogging, type Netns, uniqueLogPrefix, type VethPair, waitFor} from '../../src/lib/lab/index.js'
import {exec} from '../../src/lib/system/exec.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'nft']})

/** The closed port the probes go to; the log rule matches it. */
const PROBE_PORT = 9

/**
 * Sends one TCP SYN per source port in argv[3] (JSON array) to argv[1]:argv[2], 20 ms apart, each from
 * that local port, and prints one JSON object {port: epochMs} with the time just before each connect.
 * The port is closed, so each attempt ends with a reset at once.
 */
const SENDER_SCRIPT = `
const net = require('node:net')
const [host, port, ports] = [process.argv[1], Number(process.argv[2]), JSON.parse(process.argv[3])]
const sent = {}
const one = (localPort) => new Promise((resolve) => {
  sent[localPort] = performance.timeOrigin + performance.now()
  const socket = net.connect({host, port, localPort})
  socket.setTimeout(1000, () => { socket.destroy(); resolve() })
  socket.on('error', () => resolve())
  socket.on('connect', () => { socket.destroy(); resolve() })
})
;(async () => {
  for (const p of ports) {
    await one(p)
    await new Promise((r) => setTimeout(r, 20))
  }
  console.log(JSON.stringify(sent))
})()
`

function now(): number {
  return performance.timeOrigin + performance.now()
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!
}

/** Collects the lines of a source (from its first next() on) with their arrival time, until stopped. */
class Collector {
  readonly lines: Array<{line: LogLine; at: number}> = []
  readonly done: Promise<void>

  constructor(iterable: AsyncIterable<LogLine>, limit = Infinity) {
    const iterator = iterable[Symbol.asyncIterator]()
    this.done = (async () => {
      while (this.lines.length < limit) {
        const r = await iterator.next()
        if (r.done) return
        this.lines.push({at: now(), line: r.value})
      }
      await iterator.return?.()
    })()
  }

  /** The collected lines whose SPT= is `port`. */
  forPort(port: number): Array<{line: LogLine; at: number}> {
    return this.lines.filter(({line}) => line.text.includes(` SPT=${port} `))
  }
}

describe('detect sources (kernel)', {skip}, () => {
  let target: Netns
  let sender: Netns
  let veth: VethPair
  let prefix: string

  before(async () => {
    await enableNetnsLogging()
    target = await createNetns()
    sender = await createNetns()
    veth = await connectNetns(target, sender)
    prefix = uniqueLogPrefix('src')
    await target.run('nft', ['-f', '-'], {
      input: `table inet dwsrc {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport ${PROBE_PORT} log prefix "${prefix}"
  }
}
`,
    })
  })

  after(async () => {
    await target?.remove()
    await sender?.remove()
    await cleanupAll()
  })

  /** Sends SYNs from `ports` and returns the send time of each, by port. */
  async function sendSyns(ports: readonly number[]): Promise<Record<string, number>> {
    const stdout = await sender.run(process.execPath, ['-e', SENDER_SCRIPT, veth.a.ipv4, String(PROBE_PORT), JSON.stringify(ports)])
    return JSON.parse(stdout.trim()) as Record<string, number>
  }

  const modes = [
    {before: 39_900, mode: 'blocking reads', options: {}},
    {before: 39_905, mode: 'polling every 0.5 ms', options: {pollIntervalMs: 0.5}},
    {before: 39_910, mode: 'blocking, polling 0.5 ms for 1 s after a record', options: {burstPollMs: 0.5}},
  ]
  for (const {before, mode, options} of modes) {
    it(`kmsg (${mode}) - a packet logged in a namespace arrives as a LogLine with its prefix; latency measured`, async (t) => {
      const source = new KmsgSource({match: [prefix], ...options})
      try {
        // Logged before the source starts: must not be delivered (the source starts at the end).
        await sendSyns([before])
        const collector = new Collector(source.start())
        await waitFor(() => source.health().state === 'running', {what: 'the kmsg source to run'})

        const ports = Array.from({length: 25}, (_, i) => 40_000 + i)
        const sent = await sendSyns(ports)
        await waitFor(() => ports.every((p) => collector.forPort(p).length > 0), {what: 'a LogLine for every probe'})

        assert.deepEqual(collector.forPort(before), [], 'a record from before the start was delivered')
        const latencies: number[] = []
        const kernelToLine: number[] = []
        for (const port of ports) {
          const lines = collector.forPort(port)
          assert.equal(lines.length, 1, `port ${port} delivered ${lines.length} times`)
          const [{at, line}] = lines as [{line: LogLine; at: number}]
          assert.equal(line.source, 'kmsg')
          assert.ok(line.text.startsWith(prefix), line.text)
          assert.match(line.text, new RegExp(`SRC=${veth.b.ipv4.replaceAll('.', '\\.')} DST=${veth.a.ipv4.replaceAll('.', '\\.')} `))
          assert.match(line.text, new RegExp(`PROTO=TCP SPT=${port} DPT=${PROBE_PORT} `))
          latencies.push(at - sent[String(port)]!)
          kernelToLine.push(at - line.time!)
        }
        latencies.sort((a, b) => a - b)
        kernelToLine.sort((a, b) => a - b)
        t.diagnostic(`kmsg (${mode}) latency send → LogLine over ${latencies.length} packets: min ${latencies[0]!.toFixed(2)} ms, ` +
          `p50 ${percentile(latencies, 50).toFixed(2)} ms, p90 ${percentile(latencies, 90).toFixed(2)} ms, ` +
          `max ${latencies.at(-1)!.toFixed(2)} ms`)
        t.diagnostic(`kernel timestamp → LogLine (includes the boot-time estimate's error): p50 ${percentile(kernelToLine, 50).toFixed(2)} ms`)
        assert.ok(percentile(latencies, 50) < 50, `median latency ${percentile(latencies, 50)} ms`)

        const health = source.health()
        assert.equal(health.state, 'running')
        assert.ok(health.lines >= ports.length)
      } finally {
        await source.close()
      }
      assert.equal(source.health().state, 'stopped')
    })
  }

  it('kmsg (burstPollMs) - records are delivered once each across the switches between blocking reads and polling', async () => {
    // Polling and blocking reads use two descriptors with their own positions: the one that falls
    // behind must skip what the other delivered, and nothing may be lost in between.
    const source = new KmsgSource({burstPollMs: 0.5, burstWindowMs: 150, match: [prefix]})
    try {
      const collector = new Collector(source.start())
      await waitFor(() => source.health().state === 'running', {what: 'the kmsg source to run'})
      const ports: number[] = []
      for (const burst of [[43_000, 43_001, 43_002], [43_010, 43_011], [43_020]]) {
        await sendSyns(burst) // 20 ms apart: the first read blocking, the rest polled
        ports.push(...burst)
        await waitFor(() => burst.every((p) => collector.forPort(p).length > 0), {what: 'the burst\'s LogLines'})
        await new Promise((r) => setTimeout(r, 300)) // past the window: back to blocking reads
      }
      for (const port of ports) assert.equal(collector.forPort(port).length, 1, `port ${port}: ${JSON.stringify(collector.lines)}`)
      assert.equal(collector.lines.length, ports.length)
      assert.equal(source.health().lost ?? 0, 0)
    } finally {
      await source.close()
    }
    assert.equal(source.health().state, 'stopped')
  })

  it('kmsg - a second run of the same source resumes after the last record it delivered', async () => {
    const source = new KmsgSource({match: [prefix]})
    try {
      const first = new Collector(source.start(), 1)
      await waitFor(() => source.health().state === 'running', {what: 'the kmsg source to run'})
      await sendSyns([41_000])
      await waitFor(() => first.lines.length > 0, {what: 'the first run\'s line', timeoutMs: 5000})
      await first.done
      assert.equal(first.forPort(41_000).length, 1, JSON.stringify(first.lines))

      // Between the runs: nobody reads, yet the next run must deliver this one (and not the first again).
      await sendSyns([41_001])
      const second = new Collector(source.start())
      await sendSyns([41_002])
      await waitFor(() => second.forPort(41_002).length > 0, {what: 'the probe sent during the second run'})
      assert.equal(second.forPort(41_001).length, 1, 'the record logged between the runs was lost')
      assert.equal(second.forPort(41_000).length, 0, 'the first run\'s record was delivered twice')
    } finally {
      await source.close()
    }
  })

  for (const ending of ['close()', 'process.exit() without close()'] as const) {
    it(`kmsg - a reader thread blocked in read does not hold up the exit (${ending})`, async (t) => {
      const dir = await mkdtemp(join(tmpdir(), 'dw-kmsg-'))
      try {
        const script = join(dir, 'close.mts')
        const module = new URL('../../src/lib/detect/sources/kmsg.ts', import.meta.url).href
        await writeFile(script, `
import {KmsgSource} from ${JSON.stringify(module)}
const source = new KmsgSource({match: ['dw-never-matches-anything']})
const next = source.start().next()
while (source.health().state !== 'running') await new Promise((r) => setTimeout(r, 5))
await new Promise((r) => setTimeout(r, 300)) // past the backlog: now blocked in read(2)
${ending === 'close()' ? 'await source.close()\nconsole.log(JSON.stringify(await next))' : 'console.log(\'{"done":true}\')\nprocess.exit(0)'}
`)
        const started = performance.now()
        const {stdout} = await exec(process.execPath, ['--import', 'tsx', script], {timeoutMs: 20_000})
        assert.equal(stdout.trim(), '{"done":true}')
        // Node joins worker threads at exit: a reader still blocked in read(2) would hold the process
        // until the next kernel record (none on a quiet machine) and hit the timeout.
        const ms = performance.now() - started
        t.diagnostic(`start, ${ending} and exit took ${ms.toFixed(0)} ms`)
        assert.ok(ms < 15_000)
      } finally {
        await rm(dir, {force: true, recursive: true})
      }
    })
  }

  it('journal - a logged packet arrives through journalctl -k', async (t) => {
    const reason = journaldSkipReason()
    if (reason !== undefined) {
      // Not a missing requirement of the suite: most containers have no journald.
      t.skip(reason)
      return
    }
    const source = new JournalSource({match: [prefix]})
    try {
      const collector = new Collector(source.start())
      await waitFor(() => source.health().state === 'running', {what: 'journalctl to run'})
      // journalctl has no "ready" signal; give it a moment to reach the end of the journal.
      await new Promise((r) => setTimeout(r, 500))
      const sent = await sendSyns([42_000])
      const [{at, line}] = await waitFor(() => collector.forPort(42_000).length > 0 && collector.forPort(42_000), {
        timeoutMs: 10_000,
        what: 'the probe through the journal',
      }) as [{line: LogLine; at: number}]
      assert.equal(line.source, 'journal')
      assert.ok(line.text.startsWith(prefix), line.text)
      t.diagnostic(`journal latency send → LogLine: ${(at - sent['42000']!).toFixed(2)} ms`)
    } finally {
      await source.close()
    }
  })
})

/** Why the journal test cannot run here, or undefined when journald is running. */
function journaldSkipReason(): string | undefined {
  if (!existsSync('/run/systemd/journal/socket')) return 'journald is not running on this machine (no /run/systemd/journal/socket)'
  return undefined
}
