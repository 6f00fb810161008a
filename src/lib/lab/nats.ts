/**
 * A real nats-server per demo, benchmark or test file: generated config (users, passwords, permissions), a free port
 * (`listen: "…:-1"`), the URL read back from the ports file, and removal at exit.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {readdir, readFile, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

import {registerCleanup} from './cleanup.js'
import {LabError} from './errors.js'
import type {Netns} from './netns.js'
import {type SpawnedProcess, spawnProcess} from './process.js'
import {waitFor} from './wait.js'

/** A value of the nats-server config format. Strings are always written quoted. */
export type NatsConfValue = string | number | boolean | readonly NatsConfValue[] | NatsConfMap

/** A map (block) of the nats-server config format; undefined entries are left out. */
export interface NatsConfMap {
  readonly [key: string]: NatsConfValue | undefined
}

/**
 * Quotes a string for the nats-server config format: double quotes, with `\\`, `\"`, `\n`, `\r`,
 * `\t` and `\xHH` for other control characters, the only escapes its lexer knows (2.9).
 * Quoted strings are never variable references, so `$` needs no escape.
 */
export function quoteNatsString(value: string): string {
  let out = '"'
  for (const char of value) {
    const code = char.codePointAt(0)!
    if (char === '\\') out += '\\\\'
    else if (char === '"') out += '\\"'
    else if (char === '\n') out += '\\n'
    else if (char === '\r') out += '\\r'
    else if (char === '\t') out += '\\t'
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`
    else out += char
  }
  return out + '"'
}

/**
 * Renders a config map in the nats-server config format, one `key: value` per line, nested maps as
 * indented blocks. Pure. Throws TypeError for a key with a quote or control character, or a number
 * that is not finite.
 */
export function renderNatsConf(config: NatsConfMap): string {
  return renderEntries(config, '') + '\n'
}

/** Allow and deny lists of subjects (wildcards `*` and `>` allowed). Empty lists are left out. */
export interface NatsSubjectPermission {
  allow?: readonly string[]
  deny?: readonly string[]
}

/** What one user may publish and subscribe to. */
export interface NatsUserPermissions {
  publish?: NatsSubjectPermission
  subscribe?: NatsSubjectPermission
  /**
   * Lets the user answer requests it received, whatever its publish list says: `true`, or limits
   * (`maxMsgs` replies per request, within `expiresMs` milliseconds).
   */
  allowResponses?: boolean | {maxMsgs?: number; expiresMs?: number}
}

/** A user of the `authorization` block. */
export interface NatsUser {
  user: string
  /** Plain text; a value starting with `$2a$` would be taken as a bcrypt hash by nats-server. */
  password: string
  permissions?: NatsUserPermissions
}

/** Input of {@link buildNatsServerConfig}. */
export interface NatsServerConfigOptions {
  /** `host:port`; port -1 picks a free one (e.g. `127.0.0.1:-1`). */
  listen: string
  /** Directory where nats-server writes `nats-server_<pid>.ports`. */
  portsFileDir?: string
  /** Users with passwords and permissions; without users the server needs no authentication. */
  users?: readonly NatsUser[]
  /** Further top-level settings, added as they are (e.g. `{max_payload: 65536, accounts: {…}}`). */
  settings?: NatsConfMap
}

/** Builds the config map of a nats-server from listen address, ports dir and users. Pure. */
export function buildNatsServerConfig({listen, portsFileDir, settings = {}, users = []}: NatsServerConfigOptions): NatsConfMap {
  return {
    listen,
    ports_file_dir: portsFileDir,
    authorization: users.length === 0 ? undefined : {users: users.map(userEntry)},
    ...settings,
  }
}

/** Renders the nats-server config file for these options. Pure. */
export function renderNatsServerConfig(options: NatsServerConfigOptions): string {
  return renderNatsConf(buildNatsServerConfig(options))
}

/** Options of {@link startNatsServer}. */
export interface StartNatsServerOptions {
  /** `host:port` to listen on; `127.0.0.1:-1` (loopback, free port) by default. */
  listen?: string
  /** Run the server inside this network namespace; then listen on one of its addresses. */
  netns?: Netns | string
  users?: readonly NatsUser[]
  settings?: NatsConfMap
  /** Config text appended as it is (e.g. the `authorization` block of `diswall server nats-config`). */
  extraConfig?: string
  /** How long to wait for the ports file, in milliseconds; 10000 by default. */
  startTimeoutMs?: number
}

/** A running nats-server started by {@link startNatsServer}. */
export interface NatsServer {
  /** Client URL, e.g. `nats://127.0.0.1:41234` (the first of `urls`). */
  readonly url: string
  /** Every client URL from the ports file. */
  readonly urls: readonly string[]
  /** The port the server listens on. */
  readonly port: number
  /** PID of the nats-server process. */
  readonly pid: number
  /** Temporary directory with the config and ports files; removed by `stop()`. */
  readonly dir: string
  readonly configFile: string
  readonly process: SpawnedProcess
  /** The server's log (it logs to stderr) so far. */
  log(): string
  /** SIGTERM (SIGKILL after 3 s), waits for the exit, removes the directory. Safe to call twice. */
  stop(): Promise<void>
}

/**
 * Starts a real `nats-server` with a generated config in a fresh temporary directory, on a free
 * port, optionally inside a network namespace, and resolves once it listens. The server and its
 * directory are registered for removal at exit; tests still call `stop()` in `after`.
 * Throws, with the server's stderr, when it exits early or writes no ports file in time.
 */
export async function startNatsServer(options: StartNatsServerOptions = {}): Promise<NatsServer> {
  const {extraConfig = '', listen = '127.0.0.1:-1', netns, settings, startTimeoutMs = 10_000, users} = options
  const dir = mkdtempSync(join(tmpdir(), 'dw-nats-'))
  const unregisterDir = registerCleanup({
    description: `directory ${dir}`,
    removeSync: () => rmSync(dir, {force: true, recursive: true}),
  })
  const configFile = join(dir, 'nats-server.conf')

  let proc: SpawnedProcess | undefined
  const stop = async (): Promise<void> => {
    await proc?.stop()
    rmSync(dir, {force: true, recursive: true})
    unregisterDir()
  }

  try {
    await writeFile(configFile, renderNatsServerConfig({listen, portsFileDir: dir, settings, users}) + extraConfig, {mode: 0o600})
    proc = spawnProcess('nats-server', ['-c', configFile], {netns: typeof netns === 'string' ? netns : netns?.name})
    const started = proc
    const ac = new AbortController()
    // Not `started.exited`: that would keep this process alive for as long as the server runs.
    // onExit: after the exit and the last of its stderr.
    started.onExit((exit) => {
      ac.abort(new LabError(`nats-server exited during startup (${describeExit(exit)}): ${tail(started.output().stderr)}`))
    })
    let urls: string[]
    try {
      urls = await waitFor(() => readPortsFile(dir, started.pid), {
        intervalMs: 10,
        signal: ac.signal,
        timeoutMs: startTimeoutMs,
        what: `nats-server (pid ${started.pid}) to write its ports file in ${dir}`,
      })
    } catch (error) {
      if (ac.signal.aborted) throw ac.signal.reason
      throw new LabError(`${(error as Error).message}; nats-server stderr: ${tail(started.output().stderr)}`, {cause: error})
    }
    const url = urls[0]!
    return {
      configFile,
      dir,
      log: () => started.output().stderr,
      pid: started.pid,
      port: Number(new URL(url).port),
      process: started,
      stop,
      url,
      urls,
    }
  } catch (error) {
    await stop()
    throw error
  }
}

async function readPortsFile(dir: string, pid: number): Promise<string[] | undefined> {
  // nats-server names it after its own executable: nats-server_<pid>.ports.
  const name = (await readdir(dir)).find((file) => file.endsWith(`_${pid}.ports`))
  if (name === undefined) return undefined
  const ports = JSON.parse(await readFile(join(dir, name), 'utf8')) as {nats?: unknown}
  if (!Array.isArray(ports.nats) || ports.nats.length === 0) return undefined
  return ports.nats.map(String)
}

function userEntry({password, permissions, user}: NatsUser): NatsConfMap {
  return {user, password, permissions: permissions && permissionsEntry(permissions)}
}

function permissionsEntry({allowResponses, publish, subscribe}: NatsUserPermissions): NatsConfMap {
  let responses: NatsConfValue | undefined
  if (typeof allowResponses === 'boolean') responses = allowResponses
  else if (allowResponses) {
    responses = {
      expires: allowResponses.expiresMs === undefined ? undefined : `${allowResponses.expiresMs}ms`,
      max: allowResponses.maxMsgs,
    }
  }
  return {
    publish: publish && subjectEntry(publish),
    subscribe: subscribe && subjectEntry(subscribe),
    allow_responses: responses,
  }
}

function subjectEntry({allow = [], deny = []}: NatsSubjectPermission): NatsConfMap {
  return {allow: allow.length > 0 ? allow : undefined, deny: deny.length > 0 ? deny : undefined}
}

const BARE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/

function renderKey(key: string): string {
  // `include` is a directive when bare.
  if (BARE_KEY.test(key) && key.toLowerCase() !== 'include') return key
  // Quoted keys know no escapes in the nats-server lexer.
  if (key === '' || /["\p{Cc}]/u.test(key)) throw new TypeError(`invalid nats-server config key: ${JSON.stringify(key)}`)
  return `"${key}"`
}

function renderEntries(map: NatsConfMap, indent: string): string {
  return Object.entries(map)
    .filter((entry): entry is [string, NatsConfValue] => entry[1] !== undefined)
    .map(([key, value]) => `${indent}${renderKey(key)}: ${renderValue(value, indent)}`)
    .join('\n')
}

function renderValue(value: NatsConfValue, indent: string): string {
  if (typeof value === 'string') return quoteNatsString(value)
  if (typeof value === 'boolean') return String(value)
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError(`invalid number in nats-server config: ${value}`)
    return String(value)
  }
  const inner = indent + '  '
  if (isConfArray(value)) {
    if (value.length === 0) return '[]'
    return `[\n${value.map((v) => inner + renderValue(v, inner)).join(',\n')}\n${indent}]`
  }
  const entries = renderEntries(value, inner)
  return entries === '' ? '{}' : `{\n${entries}\n${indent}}`
}

function isConfArray(value: NatsConfValue): value is readonly NatsConfValue[] {
  return Array.isArray(value)
}

function describeExit({code, signal}: {code: number | null; signal: string | null}): string {
  return signal === null ? `exit code ${code}` : `signal ${signal}`
}

function tail(text: string, maxChars = 2000): string {
  const trimmed = text.trim()
  if (trimmed === '') return '(no output)'
  return trimmed.length <= maxChars ? trimmed : '…' + trimmed.slice(-maxChars)
}
