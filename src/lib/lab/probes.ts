/**
 * Many TCP and UDP probes from one namespace in one go (one `node -e` process runs them all at once),
 * and a tiny UDP echo server: for tests that check a whole matrix of clients, families and ports
 * against a ruleset. Traffic only ever goes to addresses inside the test's own namespaces.
 */
import type {Netns} from './netns.js'
import {startScriptServer} from './tcp.js'
import type {EchoServer} from './tcp.js'

/** UDP echo server on `::` (dual stack: IPv4 clients arrive as v4-mapped peers). */
const UDP_ECHO_SCRIPT = `
const dgram = require('node:dgram')
const socket = dgram.createSocket({ipv6Only: false, type: 'udp6'})
socket.on('error', () => {})
socket.on('message', (msg, rinfo) => socket.send(msg, rinfo.port, rinfo.address))
socket.bind(Number(process.argv[1]), '::', () => console.log('listening ' + socket.address().port))
`

/**
 * Runs every probe of argv[1] (JSON [{proto, host, port, from?}]) at once and prints one JSON array of
 * {ok, ms} / {ok: false, code, ms}, in order. TCP: connect, send a line, wait for its echo. UDP:
 * a connected socket sends a datagram every 200 ms until the echo comes back; an ICMP
 * port-unreachable (a REJECT) ends it as ECONNREFUSED. No answer within the timeout = ETIMEDOUT.
 */
const MULTI_PROBE_SCRIPT = `
const net = require('node:net')
const dgram = require('node:dgram')
const probes = JSON.parse(process.argv[1])
const timeoutMs = Number(process.argv[2])
const one = ({from, host, port, proto}) => new Promise((resolve) => {
  const started = performance.now()
  let settled = false
  let cleanup = () => {}
  const done = (result) => {
    if (settled) return
    settled = true
    clearTimeout(timer)
    cleanup()
    resolve({...result, ms: Math.round(performance.now() - started)})
  }
  const timer = setTimeout(() => done({code: 'ETIMEDOUT', ok: false}), timeoutMs)
  if (proto === 'tcp') {
    const socket = net.connect({host, port, ...(from ? {localAddress: from} : {})})
    cleanup = () => socket.destroy()
    socket.on('error', (error) => done({code: error.code ?? String(error), ok: false}))
    socket.on('connect', () => socket.write('probe\\n'))
    let echoed = ''
    socket.on('data', (chunk) => {
      echoed += chunk
      if (echoed === 'probe\\n') done({ok: true})
    })
    return
  }
  const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4')
  let resend
  cleanup = () => {
    clearInterval(resend)
    socket.close()
  }
  socket.on('error', (error) => done({code: error.code ?? String(error), ok: false}))
  socket.on('message', (msg) => {
    if (String(msg) === 'probe') done({ok: true})
  })
  const start = () => socket.connect(port, host, () => {
    const send = () => socket.send('probe', () => {})
    send()
    resend = setInterval(send, 200)
  })
  if (from) socket.bind({address: from}, start)
  else start()
})
Promise.all(probes.map(one)).then((results) => {
  console.log(JSON.stringify(results))
  process.exit(0)
})
`

/** One probe of {@link probeMany}. */
export interface Probe {
  proto: 'tcp' | 'udp'
  host: string
  port: number
  /** Source address (one of the namespace's own); the kernel picks one by default. */
  from?: string
}

/** The result of one probe: the echo came back, or the error code; `ms` after the start either way. */
export type ProbeOutcome = {ok: true; ms: number} | {ok: false; code: string; ms: number}

/**
 * Runs all `probes` at once from inside `netns` (one process) and resolves with their outcomes, in
 * order. Each probe gives up after `timeoutMs` (1500 by default) as ETIMEDOUT; a refused connection is
 * ECONNREFUSED (TCP reset, or ICMP port-unreachable for UDP). Never throws for a failed probe.
 */
export async function probeMany(netns: Netns, probes: readonly Probe[], timeoutMs = 1500): Promise<ProbeOutcome[]> {
  if (probes.length === 0) return []
  const stdout = await netns.run(process.execPath, ['-e', MULTI_PROBE_SCRIPT, JSON.stringify(probes), String(timeoutMs)], {
    timeoutMs: timeoutMs + 15_000,
  })
  return JSON.parse(stdout.trim()) as ProbeOutcome[]
}

/** A running UDP echo server started by {@link startUdpEchoServer}. */
export type UdpEchoServer = EchoServer

/**
 * Starts a UDP echo server on `[::]:port` (IPv4 and IPv6) inside `netns` and resolves once it is bound.
 * Removing the namespace stops it too. Throws with its stderr when it does not start.
 */
export async function startUdpEchoServer(netns: Netns, port: number): Promise<UdpEchoServer> {
  return startScriptServer(netns, UDP_ECHO_SCRIPT, port, 'UDP echo server')
}
