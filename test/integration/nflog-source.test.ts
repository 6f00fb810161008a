/**
 * The NFLOG source against the real kernel: nft `log group … queue-threshold 1` rules inside a namespace,
 * tcpdump run inside that namespace by the source (NFLOG groups are per namespace), and TCP SYNs, UDP
 * datagrams and pings sent to it from a second namespace over a veth pair. The lines must be kernel LOG
 * lines that parseKernelLog reads; the latency from send to LogLine is reported.
 */
import assert from 'node:assert/strict'
import {readFile} from 'node:fs/promises'
import {after, before, describe, it} from 'node:test'

import {parseKernelLog} from '../../src/lib/detect/kernel-log.js'
import {type LogLine, NflogSource} from '../../src/lib/detect/sources/index.js'
import {cleanupAll, connectNetns, createNetns, findProgram, type Netns, uniqueLogPrefix, type VethPair, waitFor} from '../../src/lib/lab/index.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'nft', 'tcpdump']})

/** The closed port the probes go to; the log rules match it. */
const PROBE_PORT = 9
/** The NFLOG group of the rules (groups are per namespace, so no other test can clash). */
const GROUP = 5

/**
 * Sends one TCP SYN (or UDP datagram) per source port in argv[4] (JSON array) to argv[2]:argv[3], 20 ms
 * apart, each from that local port, and prints one JSON object {port: epochMs} with the time just before
 * each send. argv[1] is `tcp` or `udp`.
 */
const SENDER_SCRIPT = `
const net = require('node:net')
const dgram = require('node:dgram')
const [proto, host, port, ports] = [process.argv[1], process.argv[2], Number(process.argv[3]), JSON.parse(process.argv[4])]
const sent = {}
const tcp = (localPort) => new Promise((resolve) => {
  sent[localPort] = performance.timeOrigin + performance.now()
  const socket = net.connect({host, port, localPort})
  socket.setTimeout(1000, () => { socket.destroy(); resolve() })
  socket.on('error', () => resolve())
  socket.on('connect', () => { socket.destroy(); resolve() })
})
const udp = (localPort) => new Promise((resolve) => {
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  socket.on('error', () => { socket.close(); resolve() })
  socket.bind(localPort, () => {
    sent[localPort] = performance.timeOrigin + performance.now()
    socket.send('probe', port, host, () => { socket.close(); resolve() })
  })
})
;(async () => {
  for (const p of ports) {
    await (proto === 'udp' ? udp(p) : tcp(p))
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

/** Collects the lines of a source with their arrival time, until it ends. */
class Collector {
  readonly lines: Array<{line: LogLine; at: number}> = []
  readonly done: Promise<void>

  constructor(iterable: AsyncIterable<LogLine>) {
    const iterator = iterable[Symbol.asyncIterator]()
    this.done = (async () => {
      for (;;) {
        const r = await iterator.next()
        if (r.done) return
        this.lines.push({at: now(), line: r.value})
      }
    })()
    this.done.catch(() => undefined) // observed by the tests
  }

  /** The collected lines whose SPT= is `port`. */
  forPort(port: number): Array<{line: LogLine; at: number}> {
    return this.lines.filter(({line}) => line.text.includes(` SPT=${port} `))
  }
}

/** Whether a process runs (signal 0 reaches it). */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

describe('nflog source (kernel)', {skip}, () => {
  let target: Netns
  let sender: Netns
  let veth: VethPair
  let prefix: string
  const sources: NflogSource[] = []

  before(async () => {
    target = await createNetns()
    sender = await createNetns()
    veth = await connectNetns(target, sender)
    prefix = uniqueLogPrefix('nfl')
    const log = `log prefix "${prefix}" group ${GROUP} queue-threshold 1`
    await target.run('nft', ['-f', '-'], {
      input: `table inet dwnfl {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport ${PROBE_PORT} ${log}
    udp dport ${PROBE_PORT} ${log}
    icmp type echo-request ${log}
    icmpv6 type echo-request ${log}
  }
}
`,
    })
  })

  after(async () => {
    for (const source of sources) await source.close()
    await target?.remove()
    await sender?.remove()
    await cleanupAll()
  })

  /** A source that runs tcpdump inside the target namespace. */
  function newSource(): NflogSource {
    const source = new NflogSource({group: GROUP, logPrefix: prefix, wrap: ['ip', 'netns', 'exec', target.name]})
    sources.push(source)
    return source
  }

  async function send(proto: 'tcp' | 'udp', host: string, ports: readonly number[]): Promise<Record<string, number>> {
    const stdout = await sender.run(process.execPath, ['-e', SENDER_SCRIPT, proto, host, String(PROBE_PORT), JSON.stringify(ports)])
    return JSON.parse(stdout.trim()) as Record<string, number>
  }

  /** Starts collecting and waits until tcpdump listens: probes from `warmPort` up until one arrives. */
  async function startListening(source: NflogSource, warmPort: number): Promise<Collector> {
    const collector = new Collector(source.start())
    let port = warmPort
    await waitFor(async () => {
      await send('tcp', veth.a.ipv4, [port++])
      await new Promise((r) => setTimeout(r, 100))
      return collector.lines.length > 0
    }, {timeoutMs: 10_000, what: 'tcpdump to listen on the NFLOG group'})
    return collector
  }

  for (const family of ['ipv4', 'ipv6'] as const) {
    it(`nflog (${family}) - SYNs arrive as kernel LOG lines with their addresses and ports; latency measured`, {timeout: 60_000}, async (t) => {
      const source = newSource()
      try {
        const collector = await startListening(source, family === 'ipv4' ? 39_900 : 39_950)
        const ports = Array.from({length: 25}, (_, i) => (family === 'ipv4' ? 40_000 : 41_000) + i)
        const sent = await send('tcp', veth.a[family], ports)
        await waitFor(() => ports.every((p) => collector.forPort(p).length > 0), {what: 'a LogLine for every probe'})

        const latencies: number[] = []
        for (const port of ports) {
          const lines = collector.forPort(port)
          assert.equal(lines.length, 1, `port ${port} delivered ${lines.length} times`)
          const [{at, line}] = lines as [{line: LogLine; at: number}]
          assert.equal(line.source, 'nflog')
          const packet = parseKernelLog(line.text, prefix)
          assert.ok(packet, line.text)
          assert.equal(packet.src.text, veth.b[family])
          assert.equal(packet.dst?.text, veth.a[family])
          assert.equal(packet.proto, 'tcp')
          assert.equal(packet.spt, port)
          assert.equal(packet.dpt, PROBE_PORT)
          latencies.push(at - sent[String(port)]!)
        }
        latencies.sort((a, b) => a - b)
        t.diagnostic(`nflog (${family}) latency send → LogLine over ${latencies.length} packets: min ${latencies[0]!.toFixed(2)} ms, ` +
          `p50 ${percentile(latencies, 50).toFixed(2)} ms, p90 ${percentile(latencies, 90).toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`)
        assert.ok(percentile(latencies, 50) < 50, `median latency ${percentile(latencies, 50)} ms`)
        assert.equal(source.health().state, 'running')
        assert.ok(source.health().lines >= ports.length)
      } finally {
        await source.close()
      }
    })
  }

  it('nflog - UDP carries its ports; pings arrive without a port (the engine counts them portless)', {timeout: 60_000}, async (t) => {
    const source = newSource()
    try {
      const collector = await startListening(source, 39_980)
      await send('udp', veth.a.ipv4, [42_000])
      await send('udp', veth.a.ipv6, [42_001])
      await waitFor(() => collector.forPort(42_000).length > 0 && collector.forPort(42_001).length > 0, {what: 'the UDP lines'})
      for (const [port, family] of [[42_000, 'ipv4'], [42_001, 'ipv6']] as const) {
        const packet = parseKernelLog(collector.forPort(port)[0]!.line.text, prefix)
        assert.ok(packet)
        assert.deepEqual([packet.proto, packet.src.text, packet.spt, packet.dpt], ['udp', veth.b[family], port, PROBE_PORT])
      }

      if (findProgram('ping') === undefined) {
        t.diagnostic('ping is not installed: the ICMP part is left out')
        return
      }
      await sender.run('ping', ['-c', '1', '-W', '1', veth.a.ipv4]).catch(() => '')
      await sender.run('ping', ['-6', '-c', '1', '-W', '1', veth.a.ipv6]).catch(() => '')
      const portless = (proto: string) => collector.lines.map(({line}) => parseKernelLog(line.text, prefix)).find((p) => p?.proto === proto)
      await waitFor(() => portless('icmp') !== undefined && portless('icmpv6') !== undefined, {what: 'the ping lines'})
      for (const [proto, family] of [['icmp', 'ipv4'], ['icmpv6', 'ipv6']] as const) {
        const packet = portless(proto)!
        assert.equal(packet.src.text, veth.b[family])
        assert.equal(packet.dpt, undefined)
      }
    } finally {
      await source.close()
    }
  })

  it('nflog - close() stops tcpdump (checked by PID) and ends the iteration without an error', {timeout: 60_000}, async (t) => {
    const source = newSource()
    const collector = await startListening(source, 39_990)
    const pid = source.pid
    assert.ok(pid !== undefined && isRunning(pid))
    assert.ok((await target.pids()).includes(pid), 'tcpdump does not run inside the target namespace')
    // tcpdump gives up root after opening the group (Debian builds it with --with-user=tcpdump).
    const uid = /^Uid:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1]
    t.diagnostic(`tcpdump runs as uid ${uid}`)
    await source.close()
    await collector.done
    assert.equal(isRunning(pid), false, `tcpdump (PID ${pid}) still runs`)
    assert.equal(source.pid, undefined)
    assert.equal(source.health().state, 'stopped')
    assert.equal(source.health().lastError, undefined)
  })

  it('nflog - a group another program holds makes the run fail with tcpdump\'s message', {timeout: 60_000}, async (t) => {
    const holder = newSource()
    const source = newSource()
    try {
      await startListening(holder, 39_995)
      const collector = new Collector(source.start())
      const error = await collector.done.then(() => undefined, (e: unknown) => e)
      assert.ok(error instanceof Error, 'the second tcpdump did not fail')
      assert.equal(source.health().state, 'failed')
      assert.match(source.health().lastError ?? '', /tcpdump|nflog/i)
      t.diagnostic(`the second tcpdump: ${source.health().lastError}`)
    } finally {
      await source.close()
      await holder.close()
    }
  })
})
