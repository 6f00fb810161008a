/**
 * The files of an installation under a root directory (`/` on a host, a staging directory for packaging
 * and tests): the config, the firewall directory with the shipped pattern files, the state directory and
 * the systemd units. Installing never overwrites what an operator may have edited (the config, anything in
 * the firewall directory); only the units, which are diswall's own, are rewritten when they differ.
 *
 * The directories an install had to create above diswall's own (a fresh staging root has no `etc/`) are
 * recorded in `install.json` of the state directory, so that `uninstall --purge` removes them again when
 * they are empty and leaves the root as it was before.
 */
import {lstat, mkdir, readFile, rm, rmdir, writeFile} from 'node:fs/promises'
import {dirname, join, posix, relative} from 'node:path'

import {defaultConfig, parseConfig, renderConfig} from '../config/index.js'
import type {Config} from '../config/index.js'
import {SHIPPED_PATTERNS} from '../detect/index.js'
import {DiswallError, ExitCode} from '../errors.js'
import {writeDefaultFirewallDir} from '../firewall/ruleset/index.js'
import {defaultPaths, UNIT_NAMES, writeFileAtomic} from '../system/index.js'
import type {DiswallPaths} from '../system/index.js'
import {renderUnits} from './units.js'

/** What happened to one path. */
export type InstallAction = 'changed' | 'created' | 'removed' | 'unchanged'

/** One path of the report: what was done to it, and why when it is not obvious. */
export interface InstallItem {
  action: InstallAction
  /** The path under the root, absolute. */
  path: string
  kind: 'dir' | 'file'
  note?: string
}

/** The firewall backend written to a new config (`--backend`). */
export type InstallBackend = 'auto' | 'ipset' | 'nftables'

/** Options of {@link installFiles}. */
export interface InstallFilesOptions {
  /** The root to install under; `/` on a host. */
  root: string
  /** Install diswall-server.service too. */
  server?: boolean
  /** `[firewall] backend` of a new config. An existing config is never changed. */
  backend?: InstallBackend
  /** The program and arguments in front of a diswall command in the units (`[node, bin/run.js]`). */
  command: readonly string[]
}

/** What {@link installFiles} did. */
export interface InstallFilesReport {
  root: string
  /** True when anything was created or changed. */
  changed: boolean
  items: InstallItem[]
  /** The config in effect (the existing file's, or the new one's). */
  config: Config
  /** Units created or changed: systemd must reload them. */
  unitsChanged: string[]
}

/** An install that cannot go on: a path in the way, no permission. */
export class InstallError extends DiswallError {
  constructor(message: string, hint?: string, options?: ErrorOptions) {
    super(message, 'E_INSTALL', ExitCode.ENVIRONMENT, hint, options)
  }
}

/** The record of directories an install created above diswall's own, in the state directory. */
export const INSTALL_RECORD = 'install.json'

/** A path as it is under the root: `/etc/diswall` under `/srv/stage` is `/srv/stage/etc/diswall`. */
export function underRoot(root: string, path: string): string {
  return posix.join(root, path)
}

async function exists(path: string): Promise<'dir' | 'file' | false> {
  try {
    return (await lstat(path)).isDirectory() ? 'dir' : 'file'
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw cannot('read', path, error)
  }
}

function cannot(what: string, path: string, error: unknown): InstallError {
  const code = (error as NodeJS.ErrnoException).code
  const reason = code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'ENOTDIR' ? 'a file is in the way' : (error as Error).message
  return new InstallError(`cannot ${what} ${path}: ${reason}`,
    code === 'EACCES' || code === 'EPERM' ? 'Run it as root, or install into a staging directory with --root DIR.' : 'Check the path and run the command again.',
    {cause: error})
}

/**
 * Creates `dir` and its missing parents, each with `mode`; returns the directories it created, top first.
 * @throws InstallError when one cannot be created.
 */
async function makeDirs(dir: string, mode: number): Promise<string[]> {
  const missing: string[] = []
  for (let d = dir; ; d = dirname(d)) {
    const kind = await exists(d)
    if (kind === 'dir') break
    if (kind === 'file') throw new InstallError(`cannot create ${dir}: ${d} is a file`, 'Move that file away, then run the command again.')
    missing.unshift(d)
    if (dirname(d) === d) break
  }
  for (const d of missing) {
    try {
      await mkdir(d, {mode})
    } catch (error) {
      throw cannot('create', d, error)
    }
  }
  return missing
}

/** Reads the config at `file` (for its paths), or undefined when there is none. */
async function readConfig(file: string): Promise<Config | undefined> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw cannot('read', file, error)
  }
  // An invalid config throws InvalidConfigError (file:line) before anything is written.
  return parseConfig(text, file).config
}

/**
 * Installs the files under `root`, idempotently: creates what is missing, rewrites units that differ,
 * leaves everything else alone, and reports each path. Changes nothing outside `root`.
 * @throws InstallError (a path in the way, no permission), InvalidConfigError (an existing config that
 *   does not parse: nothing is written then).
 */
export async function installFiles(options: InstallFilesOptions): Promise<InstallFilesReport> {
  const paths = defaultPaths(options.root)
  const live = defaultPaths('/')
  const items: InstallItem[] = []
  const createdDirs: string[] = []

  // The config first: the rest takes its paths from it.
  let config = await readConfig(paths.configFile)
  if (config === undefined) {
    config = defaultConfig()
    if (options.backend !== undefined) config.firewall.backend = options.backend
    createdDirs.push(...await makeDirs(dirname(paths.configFile), 0o755))
    try {
      // 0600: the config holds the NATS password.
      await writeFile(paths.configFile, renderConfig(config), {flag: 'wx', mode: 0o600})
    } catch (error) {
      throw cannot('write', paths.configFile, error)
    }
    items.push({action: 'created', kind: 'file', path: paths.configFile})
  } else {
    const note = options.backend !== undefined && options.backend !== config.firewall.backend
      ? `kept as it is: [firewall] backend stays "${config.firewall.backend}"; edit the file to change it`
      : 'kept as it is'
    items.push({action: 'unchanged', kind: 'file', note, path: paths.configFile})
  }

  const firewallDir = underRoot(paths.root, config.firewall.dir)
  createdDirs.push(...await makeDirs(dirname(firewallDir), 0o755))
  let createdInDir: string[]
  try {
    createdInDir = await writeDefaultFirewallDir(firewallDir)
  } catch (error) {
    throw new InstallError((error as Error).message, 'Check the path and run the command again.', {cause: error})
  }
  if (createdInDir.length === 0) items.push({action: 'unchanged', kind: 'dir', note: 'existing files left alone', path: firewallDir})
  for (const rel of createdInDir) {
    const path = rel === './' ? firewallDir : join(firewallDir, rel)
    items.push({action: 'created', kind: rel.endsWith('/') ? 'dir' : 'file', path: path.replace(/\/$/, '')})
  }

  const patternsDir = join(firewallDir, 'patterns.d')
  createdDirs.push(...(await makeDirs(patternsDir, 0o755)).filter((d) => d === patternsDir))
  if (createdDirs.includes(patternsDir)) items.push({action: 'created', kind: 'dir', path: patternsDir})
  for (const {name, text} of SHIPPED_PATTERNS) {
    const file = join(patternsDir, name)
    try {
      await writeFile(file, text, {flag: 'wx', mode: 0o644})
      items.push({action: 'created', kind: 'file', path: file})
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw cannot('write', file, error)
      items.push({action: 'unchanged', kind: 'file', note: 'existing file left alone', path: file})
    }
  }

  const stateDir = underRoot(paths.root, config.daemon.state_dir)
  const newState = await makeDirs(stateDir, 0o700)
  createdDirs.push(...newState)
  items.push({action: newState.includes(stateDir) ? 'created' : 'unchanged', kind: 'dir', path: stateDir})

  createdDirs.push(...await makeDirs(paths.unitDir, 0o755))
  const units = renderUnits({command: options.command, configFile: live.configFile, server: options.server ?? false,
    stateDir: config.daemon.state_dir})
  const unitsChanged: string[] = []
  for (const [name, text] of Object.entries(units)) {
    const file = join(paths.unitDir, name)
    let old: string | undefined
    try {
      old = await readFile(file, 'utf8')
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw cannot('read', file, error)
    }
    if (old === text) {
      items.push({action: 'unchanged', kind: 'file', path: file})
      continue
    }
    try {
      await writeFileAtomic(file, text, {mode: 0o644})
    } catch (error) {
      throw cannot('write', file, error)
    }
    unitsChanged.push(name)
    items.push({action: old === undefined ? 'created' : 'changed', kind: 'file', path: file})
  }

  await recordCreatedDirs(paths, stateDir, createdDirs.filter((d) => !isOwnDir(paths, config, d)))
  return {changed: items.some((i) => i.action !== 'unchanged'), config, items, root: paths.root, unitsChanged}
}

/** diswall's own directories, removed with --purge anyway: the config's, the firewall's and the state's, and all below. */
function ownDirs(paths: DiswallPaths, config: Config): string[] {
  return [dirname(paths.configFile), underRoot(paths.root, config.firewall.dir), underRoot(paths.root, config.daemon.state_dir)]
}

function isOwnDir(paths: DiswallPaths, config: Config, dir: string): boolean {
  return ownDirs(paths, config).some((own) => dir === own || dir.startsWith(own + '/'))
}

interface InstallRecord {
  version: 1
  /** Directories relative to the root that the install created above diswall's own, top first. */
  createdDirs: string[]
}

async function readRecord(stateDir: string): Promise<InstallRecord> {
  try {
    const parsed = JSON.parse(await readFile(join(stateDir, INSTALL_RECORD), 'utf8')) as Partial<InstallRecord>
    const dirs = Array.isArray(parsed.createdDirs) ? parsed.createdDirs.filter((d): d is string => typeof d === 'string') : []
    return {createdDirs: dirs, version: 1}
  } catch {
    return {createdDirs: [], version: 1}
  }
}

/** Adds newly created directories to the record; writes nothing when there are none. */
async function recordCreatedDirs(paths: DiswallPaths, stateDir: string, dirs: string[]): Promise<void> {
  if (dirs.length === 0) return
  const record = await readRecord(stateDir)
  const all = [...new Set([...record.createdDirs, ...dirs.map((d) => relative(paths.root, d))])]
  await writeFileAtomic(join(stateDir, INSTALL_RECORD), JSON.stringify({createdDirs: all, version: 1}, null, 2) + '\n', {mode: 0o600})
}

/** Options of {@link uninstallFiles}. */
export interface UninstallFilesOptions {
  root: string
  /** Remove the config, the firewall directory and the state directory too. */
  purge?: boolean
}

/**
 * Removes the units under `root` and, with `purge`, the config, the firewall directory, the state
 * directory and the directories the install created (when empty). Absent paths are reported as
 * unchanged; running it twice changes nothing the second time.
 * @throws InstallError when a path cannot be removed.
 */
export async function uninstallFiles(options: UninstallFilesOptions): Promise<{changed: boolean; items: InstallItem[]; unitsRemoved: string[]}> {
  const paths = defaultPaths(options.root)
  const items: InstallItem[] = []
  const unitsRemoved: string[] = []
  for (const name of Object.values(UNIT_NAMES)) {
    const file = join(paths.unitDir, name)
    if (await exists(file) === false) continue
    await remove(file)
    unitsRemoved.push(name)
    items.push({action: 'removed', kind: 'file', path: file})
  }

  const config = await readConfig(paths.configFile).catch(() => undefined) ?? defaultConfig()
  if (!options.purge) {
    for (const [path, kind] of [[paths.configFile, 'file'], [underRoot(paths.root, config.firewall.dir), 'dir'],
      [underRoot(paths.root, config.daemon.state_dir), 'dir']] as const) {
      if (await exists(path) !== false) items.push({action: 'unchanged', kind, note: 'kept (remove it with --purge)', path})
    }
    return {changed: items.some((i) => i.action === 'removed'), items, unitsRemoved}
  }

  const stateDir = underRoot(paths.root, config.daemon.state_dir)
  const record = await readRecord(stateDir)
  const own = [paths.configFile, underRoot(paths.root, config.firewall.dir), stateDir, dirname(paths.configFile)]
  for (const path of own) {
    const kind = await exists(path)
    if (kind === false) continue
    // The config directory goes only when empty: an operator may keep other files there.
    if (path === dirname(paths.configFile)) {
      if (await removeIfEmpty(path)) items.push({action: 'removed', kind: 'dir', path})
      continue
    }
    // A config naming "/" or "/var" as a directory must not turn --purge into rm -rf of the system.
    if (relative(paths.root, path).split('/').filter((p) => p !== '' && p !== '..').length < 2 || relative(paths.root, path).startsWith('..')) {
      items.push({action: 'unchanged', kind, note: 'not removed: too broad a path for diswall to own; remove it yourself', path})
      continue
    }
    await remove(path)
    items.push({action: 'removed', kind, path})
  }

  for (const rel of [...record.createdDirs].reverse()) {
    const dir = underRoot(paths.root, rel)
    if (!dir.startsWith(paths.root) || dir === paths.root) continue
    if (await removeIfEmpty(dir)) items.push({action: 'removed', kind: 'dir', path: dir})
  }

  return {changed: items.length > 0, items, unitsRemoved}
}

async function remove(path: string): Promise<void> {
  try {
    await rm(path, {force: true, recursive: true})
  } catch (error) {
    throw cannot('remove', path, error)
  }
}

async function removeIfEmpty(dir: string): Promise<boolean> {
  try {
    await rmdir(dir)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOENT') return false
    throw cannot('remove', dir, error)
  }
}
