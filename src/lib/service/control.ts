/**
 * The local control socket of a long-running command (the daemon's is `[daemon] socket`,
 * /run/diswall/diswall.sock): newline-delimited JSON over a root-only unix socket. A request is one line
 * `{"command":"status"}`; the answer is one line `{"ok":true,"result":…}` or
 * `{"ok":false,"error":{"code","message","hint"?,"exitCode"?}}`. queryControl() is the client (`diswall status`).
 * Errors name the service from its ServiceIdentity; their codes are the same for every service.
 */
import {Buffer} from 'node:buffer'
import {chmod, link, lstat, mkdir, mkdtemp, rm, unlink} from 'node:fs/promises'
import {createConnection, createServer} from 'node:net'
import type {Server, Socket} from 'node:net'
import {dirname, join} from 'node:path'

import {asDiswallError, DiswallError, ExitCode} from '../errors.js'
import type {ServiceIdentity} from './identity.js'

/** Longest request or response line, bytes; a peer that sends a longer one is disconnected. */
export const MAX_CONTROL_LINE_BYTES = 64 * 1024
/** Longest answer the client accepts, bytes (a status is a few KiB; this only bounds a broken peer). */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024
/** Linux `sun_path` holds 108 bytes including the final NUL. */
const MAX_SOCKET_PATH_BYTES = 107
/** Name of the private directory the socket is bound in before it is linked into place, plus `/s`. */
const PRIVATE_DIR_PREFIX = '.dw'
const PRIVATE_SOCKET_SUFFIX_BYTES = `/${PRIVATE_DIR_PREFIX}XXXXXX/s`.length
/**
 * Connections served at once; the socket is root-only, this only bounds a runaway local script. When
 * all are open, a new client takes the slot of the connection idle the longest, so that idle or
 * forgotten clients can never lock `diswall status` out (with net.Server's maxConnections they did:
 * the 129th connection was closed at once).
 */
export const MAX_CONTROL_CONNECTIONS = 128
/** A connection with no request for this long is closed, milliseconds. */
export const CONTROL_IDLE_TIMEOUT_MS = 30_000
/** How long openControlServer() waits for an existing socket to accept a probe connection. */
const PROBE_TIMEOUT_MS = 1000

/** One request line, parsed. Handlers may read further fields (arguments of the command). */
export interface ControlRequest {
  command: string
  [field: string]: unknown
}

/** Answers one command; what it returns (or resolves to) must be JSON-serialisable. */
export type ControlHandler = (request: ControlRequest) => unknown

/** The commands the control socket answers: `status` (a status of type S) always, others as the service provides them. */
export interface ControlHandlers<S> {
  status(request: ControlRequest): S | Promise<S>
  reload?(request: ControlRequest): Promise<unknown>
  [command: string]: ControlHandler | undefined
}

/** One answer line. `exitCode` and `hint` travel so that the client can report the service's error as its own. */
export type ControlResponse =
  | {ok: false; error: {code: string; exitCode?: number; hint?: string; message: string}}
  | {ok: true; result: unknown}

/** Limits of {@link openControlServer}; the defaults suit every service (tests make them small). */
export interface ControlServerOptions {
  /** A connection with no request in progress for this long is closed; {@link CONTROL_IDLE_TIMEOUT_MS} by default. */
  idleTimeoutMs?: number
  /** Connections served at once; {@link MAX_CONTROL_CONNECTIONS} by default. */
  maxConnections?: number
}

/** A listening control socket. */
export interface ControlServer {
  /** The socket's path. */
  readonly path: string
  /** Stops listening, disconnects open clients and removes the socket file. Safe to call twice. */
  close(): Promise<void>
}

// The codes say DAEMON for every service: scripts match E_DAEMON_NOT_RUNNING and friends since the daemon
// was the only service, so they stay as they are.

/** Nothing answers on the service's control socket: E_DAEMON_NOT_RUNNING (exit 4). */
export class ServiceNotRunningError extends DiswallError {
  constructor(service: ServiceIdentity, path: string, why: string, options?: ErrorOptions) {
    super(`the diswall ${service.name} is not running: ${why} (${path})`, 'E_DAEMON_NOT_RUNNING', ExitCode.ENVIRONMENT,
      `Start it: systemctl start ${service.unit} (or run "diswall ${service.name}").`, options)
  }
}

/** Another instance of the service already answers on the control socket: E_DAEMON_RUNNING (exit 4). */
export class ServiceRunningError extends DiswallError {
  constructor(service: ServiceIdentity, path: string) {
    super(`another diswall ${service.name} is already listening on ${path}`, 'E_DAEMON_RUNNING', ExitCode.ENVIRONMENT,
      `Stop it first (systemctl stop ${service.unit}), or give this one another ${service.socketSetting}.`)
  }
}

/** The service did not answer in time: E_DAEMON_TIMEOUT (exit 4). */
export class ServiceTimeoutError extends DiswallError {
  constructor(service: ServiceIdentity, path: string, command: string, timeoutMs: number) {
    super(`the diswall ${service.name} did not answer "${command}" within ${timeoutMs} ms on ${path}`, 'E_DAEMON_TIMEOUT',
      ExitCode.ENVIRONMENT, `It may be busy or hung; check its log: journalctl -u ${service.unit}.`)
  }
}

/** The control socket path cannot be used: not a socket, too long, or not accessible (exit 4). */
export class ControlSocketError extends DiswallError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, 'E_CONTROL_SOCKET', ExitCode.ENVIRONMENT, hint, options)
  }
}

/** The service's answer was not a valid response line: E_DAEMON_PROTOCOL (exit 1: a bug on one side). */
export class ControlProtocolError extends DiswallError {
  constructor(service: ServiceIdentity, path: string, why: string) {
    super(`invalid answer from the diswall ${service.name} on ${path}: ${why}`, 'E_DAEMON_PROTOCOL', ExitCode.INTERNAL,
      `Check that "${service.client}" and the ${service.name} are the same version (restart the ${service.name} after an upgrade).`)
  }
}

/** Options of {@link queryControl}. */
export interface QueryControlOptions {
  /** Fields sent beside `command` (the command's arguments). */
  args?: Record<string, unknown>
  /** Who answers on the socket, for the messages of the errors. */
  service: ServiceIdentity
  /** How long to wait for the answer, milliseconds; 5000 by default. */
  timeoutMs?: number
}

/**
 * Listens on the unix socket `path` and answers requests with `handlers`. The parent directory is
 * created (0755) when missing. The socket is bound inside a fresh 0700 directory, made 0600 and then
 * hard-linked into place, so it is never connectable by other users, and a live socket is never replaced.
 * An existing socket nobody listens on (ECONNREFUSED) is removed.
 * `service` names the service in errors. Throws ServiceRunningError when another instance answers on
 * `path`, ControlSocketError when `path` exists and is not a socket (it is left alone) or is too long for
 * a unix socket.
 */
export async function openControlServer<S>(
  path: string,
  handlers: ControlHandlers<S>,
  service: ServiceIdentity,
  {idleTimeoutMs = CONTROL_IDLE_TIMEOUT_MS, maxConnections = MAX_CONTROL_CONNECTIONS}: ControlServerOptions = {},
): Promise<ControlServer> {
  const dir = dirname(path)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES || Buffer.byteLength(dir) + PRIVATE_SOCKET_SUFFIX_BYTES > MAX_SOCKET_PATH_BYTES) {
    throw new ControlSocketError(`control socket path ${path} is too long for a unix socket (at most `
      + `${MAX_SOCKET_PATH_BYTES - PRIVATE_SOCKET_SUFFIX_BYTES} bytes for its directory)`, `Set a shorter ${service.socketSetting} in the config.`)
  }
  let privateDir: string
  try {
    await mkdir(dir, {mode: 0o755, recursive: true})
    privateDir = await mkdtemp(join(dir, PRIVATE_DIR_PREFIX)) // mode 0700: nobody else can reach what is bound here
  } catch (error) {
    throw setupError(service, path, error)
  }
  const bound = join(privateDir, 's')
  const connections = new Map<Socket, Connection>()
  const server = createServer((socket) => {
    if (connections.size >= maxConnections && !evictIdlest(connections)) {
      socket.destroy() // every slot is busy answering a request: this client fails at once, as before
      return
    }
    serveConnection(socket, handlers, connections, idleTimeoutMs)
  })
  try {
    await listen(server, bound)
    await chmod(bound, 0o600)
    await linkIntoPlace(service, bound, path)
  } catch (error) {
    await closeServer(server, connections)
    throw setupError(service, path, error)
  } finally {
    await rm(privateDir, {force: true, recursive: true})
  }

  const {ino} = await lstat(path)
  let closing: Promise<void> | undefined
  return {
    close() {
      closing ??= (async () => {
        await closeServer(server, connections)
        // Only our own socket: if someone replaced it meanwhile, theirs stays.
        const now = await lstat(path).catch(() => undefined)
        if (now?.ino === ino) await unlink(path).catch(() => {})
      })()
      return closing
    },
    path,
  }
}

/**
 * Sends `command` to the service on the unix socket `path` and returns its result (of type T, unchecked).
 * Throws ServiceNotRunningError (no socket, or nobody listening), a DiswallError with code E_NOT_ROOT
 * (permission denied), ServiceTimeoutError (no answer within `timeoutMs`), ControlProtocolError (a
 * malformed answer), and the service's own error (its code, message and hint) when it answers `ok: false`.
 */
export async function queryControl<T = unknown>(
  path: string,
  command: string,
  {args = {}, service, timeoutMs = 5000}: QueryControlOptions,
): Promise<T> {
  const line = await new Promise<string>((resolve, reject) => {
    const socket = createConnection({path})
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const finish = (error: Error | undefined, value?: string) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      if (error) reject(error)
      else resolve(value!)
    }

    const timer = setTimeout(() => finish(new ServiceTimeoutError(service, path, command, timeoutMs)), timeoutMs)
    socket.on('connect', () => socket.write(JSON.stringify({...args, command}) + '\n'))
    socket.on('data', (chunk: Buffer) => {
      const newline = chunk.indexOf(0x0a)
      if (newline === -1) {
        chunks.push(chunk)
        size += chunk.length
        if (size > MAX_RESPONSE_BYTES) finish(new ControlProtocolError(service, path, `answer longer than ${MAX_RESPONSE_BYTES} bytes`))
        return
      }
      chunks.push(chunk.subarray(0, newline))
      finish(undefined, Buffer.concat(chunks).toString('utf8'))
    })
    socket.on('end', () => finish(new ControlProtocolError(service, path, 'the connection closed before an answer')))
    socket.on('close', () => finish(new ControlProtocolError(service, path, 'the connection closed before an answer')))
    socket.on('error', (error: NodeJS.ErrnoException) => finish(connectError(service, path, error)))
  })
  const response = parseResponse(service, path, line)
  if (!response.ok) {
    const {code, exitCode, hint, message} = response.error
    const exit = typeof exitCode === 'number' && Number.isInteger(exitCode) && exitCode >= 1 && exitCode <= 7
      ? exitCode
      : ExitCode.INTERNAL
    throw new DiswallError(message, code, exit, hint)
  }
  return response.result as T
}

function setupError(service: ServiceIdentity, path: string, error: unknown): DiswallError {
  if (error instanceof DiswallError) return error
  const {code, message} = error as NodeJS.ErrnoException
  return new ControlSocketError(`cannot create the control socket ${path}: ${message}`,
    code === 'EACCES' || code === 'EPERM' ? `Run the ${service.name} as root.` : `Check ${service.socketSetting} in the config.`,
    {cause: error})
}

function connectError(service: ServiceIdentity, path: string, error: NodeJS.ErrnoException): DiswallError {
  switch (error.code) {
    case 'ENOENT':
    case 'ENOTDIR': {
      return new ServiceNotRunningError(service, path, 'its control socket does not exist', {cause: error})
    }
    case 'ECONNREFUSED': {
      return new ServiceNotRunningError(service, path, 'nothing listens on its control socket', {cause: error})
    }
    case 'EACCES':
    case 'EPERM': {
      return new DiswallError(`permission denied on the ${service.name}'s control socket ${path} (it is root only)`, 'E_NOT_ROOT',
        ExitCode.ENVIRONMENT, 'Run it as root, e.g. with sudo.', {cause: error})
    }
    default: {
      return new ControlSocketError(`cannot connect to the ${service.name}'s control socket ${path}: ${error.message}`,
        `Check ${service.socketSetting} in the config, or pass --socket PATH.`, {cause: error})
    }
  }
}

function parseResponse(service: ServiceIdentity, path: string, line: string): ControlResponse {
  let value: unknown
  try {
    value = JSON.parse(line)
  } catch {
    throw new ControlProtocolError(service, path, 'not JSON')
  }
  if (typeof value !== 'object' || value === null) throw new ControlProtocolError(service, path, 'not a JSON object')
  const response = value as Record<string, unknown>
  if (response.ok === true && 'result' in response) return response as ControlResponse
  const error = response.error as Record<string, unknown> | undefined
  if (response.ok === false && typeof error?.code === 'string' && typeof error.message === 'string') {
    return response as ControlResponse
  }
  throw new ControlProtocolError(service, path, 'neither {"ok":true,"result":…} nor {"ok":false,"error":…}')
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

async function closeServer(server: Server, connections: Map<Socket, Connection>): Promise<void> {
  if (!server.listening) return
  const closed = new Promise<void>((resolve) => server.close(() => resolve()))
  for (const socket of connections.keys()) socket.destroy() // server.close() waits for open connections
  await closed
}

/**
 * Hard-links the bound socket to `path`. link() never replaces an existing file, so a socket that a
 * live service holds, or a file that is not ours, survives; a stale socket is removed and the link retried.
 */
async function linkIntoPlace(service: ServiceIdentity, bound: string, path: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await link(bound, path)
      return
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw error
    }
    await removeIfStale(service, path)
  }
}

async function removeIfStale(service: ServiceIdentity, path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = (await lstat(path)).isSocket()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return // gone meanwhile
    throw error
  }
  if (!isSocket) {
    throw new ControlSocketError(`${path} exists and is not a socket; the ${service.name} will not replace it`,
      `Move the file away, or set another ${service.socketSetting} in the config.`)
  }
  switch (await probe(service, path)) {
    case 'live': {
      throw new ServiceRunningError(service, path)
    }
    case 'refused': {
      await unlink(path).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error
      })
      break
    }
    case 'missing': {
      break
    }
  }
}

/** Connects to an existing socket: `live` when something accepts, `refused` when nobody listens. */
function probe(service: ServiceIdentity, path: string): Promise<'live' | 'missing' | 'refused'> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({path})
    // A service that accepts but is hung still counts as live: replacing its socket would hide it.
    const timer = setTimeout(() => done(() => resolve('live')), PROBE_TIMEOUT_MS)
    const done = (fn: () => void) => {
      clearTimeout(timer)
      socket.destroy()
      fn()
    }

    socket.on('connect', () => done(() => resolve('live')))
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ECONNREFUSED') done(() => resolve('refused'))
      else if (error.code === 'EAGAIN') done(() => resolve('live')) // backlog full: someone listens
      else if (error.code === 'ENOENT') done(() => resolve('missing'))
      else done(() => reject(connectError(service, path, error)))
    })
  })
}

/** The handlers as the server calls them: whatever their status type, results are only serialised. */
type AnyHandlers = ControlHandlers<unknown>

/** What the server knows of one open connection. */
interface Connection {
  /** A request is being answered (or its answer is waiting to be written). */
  busy: boolean
  /** When the last request was answered, or the connection opened (ms, monotonic). */
  idleSince: number
}

/** Closes the connection idle the longest, to free its slot; false when every connection is busy. */
function evictIdlest(connections: Map<Socket, Connection>): boolean {
  let oldest: Socket | undefined
  let since = Infinity
  for (const [socket, {busy, idleSince}] of connections) {
    if (!busy && idleSince < since) {
      oldest = socket
      since = idleSince
    }
  }
  if (oldest === undefined) return false
  connections.delete(oldest)
  oldest.destroy()
  return true
}

/**
 * Reads request lines of one connection and answers them one at a time, in order. Never throws.
 * Back-pressure: reading pauses from the moment a chunk arrives until every request in it is answered
 * and the answers are written out, so a client that pipelines without reading its answers is held
 * by the kernel's socket buffers instead of the service's memory (200,000 pipelined requests grew the
 * daemon from 67 to 336 MB when every line was queued at once). At most one chunk plus one
 * unfinished line (MAX_CONTROL_LINE_BYTES) is buffered per connection.
 */
function serveConnection(socket: Socket, handlers: AnyHandlers, connections: Map<Socket, Connection>, idleTimeoutMs: number): void {
  const state: Connection = {busy: false, idleSince: performance.now()}
  connections.set(socket, state)
  let idleTimer: NodeJS.Timeout | undefined
  const armIdle = (): void => {
    clearTimeout(idleTimer)
    state.idleSince = performance.now()
    idleTimer = setTimeout(() => socket.destroy(), idleTimeoutMs)
    idleTimer.unref()
  }
  armIdle()
  socket.on('close', () => {
    clearTimeout(idleTimer)
    connections.delete(socket)
  })
  socket.on('error', () => {}) // a client that went away (EPIPE, ECONNRESET) is no concern of the service
  let pending: Buffer = Buffer.alloc(0)

  const drain = async (): Promise<void> => {
    let newline: number
    while ((newline = pending.indexOf(0x0a)) !== -1 && !socket.destroyed) {
      const line = pending.subarray(0, newline)
      pending = pending.subarray(newline + 1)
      if (line.length > MAX_CONTROL_LINE_BYTES) {
        socket.destroy()
        return
      }
      const text = line.toString('utf8').trim()
      if (text === '') continue
      const answer = await answerLine(text, handlers)
      if (socket.destroyed || !socket.writable) return
      if (!socket.write(answer + '\n')) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            socket.off('drain', done)
            socket.off('close', done)
            resolve()
          }
          socket.on('drain', done)
          socket.on('close', done)
        })
      }
    }
  }

  const pump = (): void => {
    state.busy = true
    clearTimeout(idleTimer)
    socket.pause()
    void drain().then(() => {
      state.busy = false
      if (socket.destroyed) return
      if (pending.length > MAX_CONTROL_LINE_BYTES) {
        socket.destroy()
        return
      }
      if (pending.includes(0x0a)) return pump() // a chunk that came in after the last look
      armIdle()
      socket.resume()
    })
  }

  socket.on('data', (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    if (!state.busy) pump() // while busy, drain() reads `pending` again before it ends
  })
}

/** The response line for one request line: the handler's result, or an error; never throws. */
async function answerLine(text: string, handlers: AnyHandlers): Promise<string> {
  let response: ControlResponse
  try {
    response = {ok: true, result: (await handle(text, handlers)) ?? null} // undefined would drop the key
    return JSON.stringify(response)
  } catch (error) {
    const e = asDiswallError(error)
    response = {error: {code: e.code, exitCode: e.exitCode, hint: e.hint, message: e.message}, ok: false}
    return JSON.stringify(response)
  }
}

async function handle(text: string, handlers: AnyHandlers): Promise<unknown> {
  let request: unknown
  try {
    request = JSON.parse(text)
  } catch {
    throw new DiswallError('the request is not valid JSON', 'E_BAD_REQUEST', ExitCode.USAGE,
      'Send one JSON object per line, e.g. {"command":"status"}.')
  }
  if (typeof request !== 'object' || request === null || Array.isArray(request)
    || typeof (request as {command?: unknown}).command !== 'string') {
    throw new DiswallError('the request is not an object with a "command" string', 'E_BAD_REQUEST', ExitCode.USAGE,
      'Send one JSON object per line, e.g. {"command":"status"}.')
  }
  const {command} = request as ControlRequest
  // Only own command names: "constructor", "toString", "__proto__" must not reach Object.prototype.
  const handler = /^[a-z][\w-]{0,63}$/i.test(command) && !(command in Object.prototype) ? handlers[command] : undefined
  if (typeof handler !== 'function') {
    const known = Object.keys(handlers).filter((k) => typeof handlers[k] === 'function').sort()
    throw new DiswallError(`unknown command ${JSON.stringify(command.slice(0, 64))}`, 'E_UNKNOWN_COMMAND', ExitCode.USAGE,
      known.length > 0 ? `Known commands: ${known.join(', ')}.` : undefined)
  }
  return handler.call(handlers, request as ControlRequest)
}
