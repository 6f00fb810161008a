/**
 * A diswall host inside a lab namespace: its files (firewall directory, config, state dir, control
 * socket) written in one place, its ruleset applied with `diswall firewall apply`, and `diswall daemon`
 * started as systemd runs it (the CLI in the foreground) and awaited until it prints `ready`.
 * Everything runs inside the namespace given; the machine's own firewall is never touched.
 */
import {mkdirSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'

import {formatTomlValue} from '../config/index.js'
import {LabError, WaitTimeoutError} from './errors.js'
import type {Netns} from './netns.js'
import type {SpawnedProcess} from './process.js'
import {waitFor} from './wait.js'

/** A value of the config file: a string, number, boolean or list of strings. */
export type LabConfigValue = string | number | boolean | readonly string[]

/** The keys of a config file: top-level keys, and sections (`firewall`, `detect`, `nats`, …) as objects. */
export type LabConfig = Readonly<Record<string, LabConfigValue | Readonly<Record<string, LabConfigValue>>>>

/** What {@link writeLabHost} writes. */
export interface LabHostOptions {
  /** The host's folder, created: firewall/, state/, diswall.conf and diswall.sock go there. */
  dir: string
  /**
   * Files of the firewall directory, by path inside it: a list of empty files (a template named by the
   * file, e.g. `incoming.d/90-log`) or path → content; a path ending in `/` is an empty directory
   * (`patterns.d/`: no pattern files, rather than the shipped ones).
   */
  firewall: readonly string[] | Readonly<Record<string, string>>
  /** The config; `[firewall] dir`, `[daemon] state_dir` and `[daemon] socket` are filled in unless given. */
  config: LabConfig
}

/** The paths of a host written by {@link writeLabHost}. */
export interface LabHost {
  dir: string
  /** diswall.conf, for `-c`. */
  config: string
  firewallDir: string
  stateDir: string
  socket: string
}

/**
 * Writes a host's firewall directory and config file (mode 0600: it may hold a NATS password) below
 * `dir`. Synchronous; throws what node:fs throws.
 */
export function writeLabHost({config, dir, firewall}: LabHostOptions): LabHost {
  const host: LabHost = {
    config: join(dir, 'diswall.conf'),
    dir,
    firewallDir: join(dir, 'firewall'),
    socket: join(dir, 'diswall.sock'),
    stateDir: join(dir, 'state'),
  }
  const files: Readonly<Record<string, string>> = isList(firewall) ? Object.fromEntries(firewall.map((path) => [path, ''])) : firewall
  mkdirSync(host.firewallDir, {recursive: true})
  for (const [path, text] of Object.entries(files)) {
    const full = join(host.firewallDir, path)
    if (path.endsWith('/')) {
      mkdirSync(full, {recursive: true})
      continue
    }
    mkdirSync(dirname(full), {recursive: true})
    writeFileSync(full, text)
  }
  const sections = {firewall: {}, daemon: {}, ...config} as Record<string, LabConfigValue | Record<string, LabConfigValue>>
  sections.firewall = {dir: host.firewallDir, ...(sections.firewall as Record<string, LabConfigValue>)}
  sections.daemon = {socket: host.socket, state_dir: host.stateDir, ...(sections.daemon as Record<string, LabConfigValue>)}
  writeFileSync(host.config, renderLabConfig(sections), {mode: 0o600})
  return host
}

/** Array.isArray() does not narrow a readonly array out of a union (TypeScript 5). */
function isList(value: readonly string[] | Readonly<Record<string, string>>): value is readonly string[] {
  return Array.isArray(value)
}

/** The TOML text of a {@link LabConfig}: top-level keys first, then each section in order. Pure. */
export function renderLabConfig(config: LabConfig): string {
  const isSection = (value: unknown): value is Record<string, LabConfigValue> =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
  const line = ([key, value]: [string, unknown]): string => `${key} = ${formatTomlValue(value)}`
  const entries = Object.entries(config)
  const lines = entries.filter(([, value]) => !isSection(value)).map(line)
  for (const [name, section] of entries) {
    if (isSection(section)) lines.push(`[${name}]`, ...Object.entries(section).map(line))
  }
  return lines.join('\n') + '\n'
}

/**
 * How the lab runs the diswall CLI: node's arguments before the command, e.g. `[bin/run.js]` (the
 * build) or `['--import', 'tsx', 'bin/dev.js']` (the TypeScript sources).
 */
export type LabCli = readonly string[]

/**
 * `diswall firewall apply -c CONFIG` inside `netns`: the ruleset and kernel sets of the host.
 * Throws CommandFailedError (with the CLI's stderr) when it fails.
 */
export async function applyLabFirewall(netns: Netns, cli: LabCli, config: string, {timeoutMs = 120_000}: {timeoutMs?: number} = {}): Promise<void> {
  await netns.run(process.execPath, [...cli, 'firewall', 'apply', '-c', config], {env: {NO_COLOR: '1'}, timeoutMs})
}

/** Options of {@link startLabDaemon}. */
export interface LabDaemonOptions {
  netns: Netns
  cli: LabCli
  /** The config file (`-c`). */
  config: string
  /** More arguments of `diswall daemon`, e.g. `['--local-only']`. */
  args?: readonly string[]
  /** The daemon in messages ("the daemon", "daemon a"); "the daemon" by default. */
  name?: string
  /** How long it may take to be ready, ms; 30 s by default. */
  timeoutMs?: number
  /** How often its output is looked at, ms (25 by default; 1 to act the moment it is ready). */
  intervalMs?: number
}

/** Starts `diswall daemon -c CONFIG ARGS…` inside the namespace, without waiting (see {@link startLabDaemon}). */
export function spawnLabDaemon({args = [], cli, config, netns}: Pick<LabDaemonOptions, 'args' | 'cli' | 'config' | 'netns'>): SpawnedProcess {
  return netns.spawn(process.execPath, [...cli, 'daemon', '-c', config, ...args], {env: {NO_COLOR: '1'}})
}

/**
 * Starts `diswall daemon` inside the namespace and resolves once it printed `ready`. When it exits
 * first or is not ready in time, it is stopped and LabError is thrown with its output.
 */
export async function startLabDaemon(options: LabDaemonOptions): Promise<SpawnedProcess> {
  const proc = spawnLabDaemon(options)
  try {
    await waitForReady(proc, options.name ?? 'the daemon', options)
  } catch (error) {
    await proc.stop()
    throw error
  }
  return proc
}

/**
 * Waits until a diswall daemon or server prints `ready`. Throws LabError with its output when it exits
 * first (at once, not at the deadline) or is not ready within `timeoutMs` (30 s by default).
 */
export async function waitForReady(proc: SpawnedProcess, name: string,
  {intervalMs, timeoutMs = 30_000}: {intervalMs?: number; timeoutMs?: number} = {}): Promise<void> {
  const output = (): string => {
    const {stderr, stdout} = proc.output()
    return `${stdout}${stderr}`.trim()
  }
  const exited = new AbortController()
  proc.onExit((exit) => exited.abort(new LabError(`${name} exited ${JSON.stringify(exit)}: ${output()}`)))
  try {
    await waitFor(() => / ready: /.test(proc.output().stdout), {intervalMs, signal: exited.signal, timeoutMs, what: `${name} to be ready`})
  } catch (error) {
    if (error instanceof WaitTimeoutError) throw new LabError(`${name} was not ready within ${timeoutMs} ms: ${output()}`, {cause: error})
    throw error
  }
}
