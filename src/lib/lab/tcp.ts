/**
 * Real TCP traffic between test namespaces: a tiny echo server, one-shot connection probes and
 * long-lived client connections, each a small `node -e` program run inside a namespace (no nc,
 * no shell). Traffic only ever goes to addresses inside the test's own namespaces.
 */
import {LabError} from './errors.js'
import type {Netns} from './netns.js'
import type {SpawnedProcess} from './process.js'
import {waitFor} from './wait.js'

/** Echo server on `::` (dual stack: IPv4 clients arrive as v4-mapped peers, as with most daemons). */
const ECHO_SERVER_SCRIPT = `
const net = require('node:net')
const server = net.createServer((socket) => {
  socket.on('error', () => {}) // a socket cut by ss -K reports ECONNABORTED; the server stays up
  socket.pipe(socket)
})
server.listen({host: '::', ipv6Only: false, port: Number(process.argv[1])}, () => {
  console.log('listening ' + server.address().port)
})
`

/**
 * Connects, sends a line and waits for its echo; prints one JSON line {ok, ms} or {ok: false, code}.
 * A connect that no SYN-ACK answers (a DROP rule) ends as ETIMEDOUT after the given time.
 */
const PROBE_SCRIPT = `
const net = require('node:net')
const [host, port, timeoutMs] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])]
const started = performance.now()
const done = (result) => {
  console.log(JSON.stringify(result))
  process.exit(0)
}
const socket = net.connect({host, port})
socket.setTimeout(timeoutMs, () => done({code: 'ETIMEDOUT', ok: false}))
socket.on('error', (error) => done({code: error.code ?? String(error), ok: false}))
socket.on('connect', () => socket.write('probe\\n'))
let echoed = ''
socket.on('data', (chunk) => {
  echoed += chunk
  if (echoed === 'probe\\n') done({ms: Math.round(performance.now() - started), ok: true})
})
`

/**
 * Opens one connection and keeps it: prints "connected <local port>", then one JSON line
 * {closed: true, code} when the connection ends (reset, closed by the peer), and exits.
 */
const LONG_CLIENT_SCRIPT = `
const net = require('node:net')
const [host, port] = [process.argv[1], Number(process.argv[2])]
let code
const socket = net.connect({host, port}, () => console.log('connected ' + socket.localPort))
socket.on('error', (error) => { code = error.code ?? String(error) })
socket.on('data', () => {})
socket.on('close', () => {
  console.log(JSON.stringify({closed: true, code: code ?? null}))
  process.exit(0)
})
`

/** A running echo server started by {@link startEchoServer}. */
export interface EchoServer {
  readonly port: number
  readonly process: SpawnedProcess
  stop(): Promise<void>
}

/**
 * Starts a TCP echo server listening on `[::]:port` (IPv4 and IPv6) inside `netns` and resolves once
 * it listens. Removing the namespace stops it too. Throws with its stderr when it does not start.
 */
export async function startEchoServer(netns: Netns, port: number): Promise<EchoServer> {
  return startScriptServer(netns, ECHO_SERVER_SCRIPT, port, 'echo server')
}

/**
 * Runs a node `-e` server script with the port as its argument inside `netns` and resolves once it
 * prints "listening "; stops it and throws with its stderr when it does not get there.
 */
export async function startScriptServer(netns: Netns, script: string, port: number, what: string): Promise<EchoServer> {
  const proc = netns.spawn(process.execPath, ['-e', script, String(port)])
  try {
    await waitFor(() => {
      if (proc.exitStatus) throw new LabError(`${what} exited: ${proc.output().stderr}`)
      return proc.output().stdout.includes('listening ')
    }, {timeoutMs: 10_000, what: `${what} on port ${port} in ${netns.name}`})
  } catch (error) {
    await proc.stop()
    throw error
  }

  return {
    port,
    process: proc,
    async stop() {
      await proc.stop()
    },
  }
}

/** Result of {@link probeTcp}: the echo came back (`ms` after the start), or the error code. */
export type ProbeResult = {ok: true; ms: number} | {ok: false; code: string}

/**
 * Opens a TCP connection from inside `netns` to `host:port`, sends a line and waits for the echo, within
 * `timeoutMs` (1500 by default); never throws for a refused or timed-out connection, it reports it.
 */
export async function probeTcp(netns: Netns, host: string, port: number, timeoutMs = 1500): Promise<ProbeResult> {
  const stdout = await netns.run(process.execPath, ['-e', PROBE_SCRIPT, host, String(port), String(timeoutMs)], {
    timeoutMs: timeoutMs + 10_000,
  })
  return JSON.parse(stdout.trim()) as ProbeResult
}

/** Polls {@link probeTcp} until the echo comes back; throws LabError with the last result (cause: the WaitTimeoutError). */
export async function waitForTcp(netns: Netns, host: string, port: number, timeoutMs = 5000): Promise<void> {
  let last: ProbeResult | undefined
  try {
    await waitFor(async () => (last = await probeTcp(netns, host, port, 1000)).ok, {
      intervalMs: 50,
      timeoutMs,
      what: `a TCP connection from ${netns.name} to ${host}:${port}`,
    })
  } catch (error) {
    throw new LabError(`${(error as Error).message}; last probe: ${JSON.stringify(last)}`, {cause: error})
  }
}

/** A long-lived client connection started by {@link openTcpConnection}. */
export interface TcpConnection {
  /** The client's local port (the server sees the client as `addr:localPort`). */
  readonly localPort: number
  readonly process: SpawnedProcess
  /** How the connection ended ({code: 'ECONNRESET'} for a reset), or undefined while it is open. */
  closed(): {code: string | null} | undefined
  /** Waits until the connection has ended; throws WaitTimeoutError when it stays open. */
  waitClosed(timeoutMs?: number): Promise<{code: string | null}>
  stop(): Promise<void>
}

/**
 * Opens one TCP connection from inside `netns` to `host:port` and keeps it open in a child process,
 * so a test can cut it. Resolves once it is established. Throws when it cannot connect.
 */
export async function openTcpConnection(netns: Netns, host: string, port: number): Promise<TcpConnection> {
  const proc = netns.spawn(process.execPath, ['-e', LONG_CLIENT_SCRIPT, host, String(port)])
  const closed = (): {code: string | null} | undefined => {
    const line = proc.output().stdout.split('\n').find((l) => l.startsWith('{'))
    return line === undefined ? undefined : {code: (JSON.parse(line) as {code: string | null}).code}
  }

  let localPort: number
  try {
    localPort = await waitFor(() => {
      if (closed()) throw new LabError(`connection to ${host}:${port} ended at once: ${JSON.stringify(closed())}`)
      const m = proc.output().stdout.match(/^connected (\d+)$/m)
      return m ? Number(m[1]) : undefined
    }, {timeoutMs: 5000, what: `a connection from ${netns.name} to ${host}:${port}`})
  } catch (error) {
    await proc.stop()
    throw error
  }

  return {
    closed,
    localPort,
    process: proc,
    async stop() {
      await proc.stop()
    },
    waitClosed: (timeoutMs = 5000) => waitFor(closed, {timeoutMs, what: `the connection from ${netns.name} to ${host}:${port} to end`}),
  }
}

/** The peer of an established connection. IPv4-mapped peers are given as plain IPv4. */
export interface TcpPeer {
  address: string
  port: number
}

/** Established TCP connections of a local port inside `netns` (`ss -Htn state established`), as their peers. */
export async function establishedPeers(netns: Netns, localPort: number): Promise<TcpPeer[]> {
  const stdout = await netns.run('ss', ['-H', '-t', '-n', 'state', 'established', 'sport', '=', `:${localPort}`])
  const peers: TcpPeer[] = []
  for (const line of stdout.split('\n')) {
    // With a state filter ss leaves out the state column: Recv-Q Send-Q Local:Port Peer:Port
    const peer = line.trim().split(/\s+/)[3]
    const m = peer?.match(/^(?:\[(?:::ffff:)?([^\]]+)\]|([\d.]+)):(\d+)$/)
    if (m) peers.push({address: (m[1] ?? m[2])!, port: Number(m[3])})
  }

  return peers
}
