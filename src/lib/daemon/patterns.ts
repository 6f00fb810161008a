/**
 * Reads the `patterns.d/` directory of the firewall directory: every `*.patterns` file, in byte order
 * of the names, parsed and compiled. Without the directory (diswall not installed yet) the shipped
 * pattern files are used, so a fresh host is protected against SSH brute force from the start.
 */
import {readdir, readFile} from 'node:fs/promises'
import {join} from 'node:path'

import type {DetectConfig} from '../config/index.js'
import {parsePatternFiles, PATTERN_FILE_SUFFIX, runsAtLevel, shippedPatternFiles} from '../detect/index.js'
import type {PatternFile} from '../detect/index.js'
import {loadServices} from '../firewall/ruleset/index.js'
import type {ServiceMap} from '../firewall/ruleset/index.js'

/** What {@link loadPatternDir} found. */
export interface LoadedPatterns {
  files: PatternFile[]
  /** `dir` when its files were read, `shipped` when the directory does not exist. */
  origin: 'dir' | 'shipped'
}

/**
 * Reads and compiles the pattern files of `dir` (`[firewall] dir`/patterns.d). Service names in
 * `ports =` are looked up in /etc/services when it exists.
 * @throws ConfigError naming `file:line` for the first bad file; the file system's error when the
 *   directory exists but cannot be read.
 */
export async function loadPatternDir(dir: string, {servicesPath}: {servicesPath?: string} = {}): Promise<LoadedPatterns> {
  // Without /etc/services, `ports =` takes numbers only (parsePatternFile then names the bad value).
  const services: ServiceMap = await loadServices(servicesPath).catch(() => new Map())
  const lookupService = (name: string): number | undefined => services.get(name)?.port
  let names: string[]
  try {
    names = (await readdir(dir, {withFileTypes: true}))
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && e.name.endsWith(PATTERN_FILE_SUFFIX))
      .map((e) => e.name)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {files: shippedPatternFiles(undefined, dir, {lookupService}), origin: 'shipped'}
    throw error
  }

  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
  const files = await Promise.all(names.map(async (name) => ({path: join(dir, name), text: await readFile(join(dir, name), 'utf8')})))
  return {files: parsePatternFiles(files, {lookupService}), origin: 'dir'}
}

/** Which service logs the daemon reads: log files followed like `tail -F`, and journald units. */
export interface ServiceLogPlan {
  /** Log files (`file =`), sorted. */
  files: string[]
  /** systemd services read from journald (`unit =`), sorted; empty when journald is not used. */
  units: string[]
}

/**
 * Chooses per pattern file between journald and its log file (pure). With `service_logs = "journal"`,
 * or `"auto"` on a host with journald, a file naming units reads those from journald and its
 * `file =` is not followed (unless a file without units reads it too); otherwise, and for files
 * without `unit =`, the log file is followed. Only ban files count, and allow files when the operator
 * opted in to auto-allow from log lines; files with no regex at `[detect] level` are not read.
 */
export function planServiceLogs(patterns: readonly PatternFile[],
  detect: Pick<DetectConfig, 'auto_allow' | 'auto_allow_from_logs' | 'service_logs'> & {level?: DetectConfig['level']},
  hostHasJournald: boolean): ServiceLogPlan {
  const useJournal = detect.service_logs === 'journal' || (detect.service_logs === 'auto' && hostHasJournald)
  const files = new Set<string>()
  const units = new Set<string>()
  for (const p of patterns) {
    if (p.action === 'allow' && !(detect.auto_allow && detect.auto_allow_from_logs)) continue
    if (!p.patterns.some((rule) => runsAtLevel(rule, detect.level ?? 'normal'))) continue // an aggressive file at level normal
    if (useJournal && p.units.length > 0) for (const unit of p.units) units.add(unit)
    else files.add(p.file)
  }
  return {files: [...files].sort(), units: [...units].sort()}
}
