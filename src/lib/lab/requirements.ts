/**
 * What the lab needs from the machine (root for namespaces and netfilter, programs in PATH), checked
 * before anything is created, so that the demo, the benchmarks and the tests can each say why they
 * cannot run instead of failing half-way.
 */
import {accessSync, constants, statSync} from 'node:fs'
import {delimiter, join} from 'node:path'

/** What a lab run needs from the machine. */
export interface LabRequirements {
  /** Needs root (namespaces, netfilter); true by default. */
  root?: boolean
  /** Programs that must be found in PATH, e.g. `['ip', 'ipset', 'nats-server']`. */
  programs?: readonly string[]
}

/**
 * The full path of an executable regular file `program` found in `path` (PATH by default), or
 * undefined. A `program` with a slash is checked as it is. Never throws.
 */
export function findProgram(program: string, path: string = process.env.PATH ?? ''): string | undefined {
  if (program.includes('/')) return isExecutable(program) ? program : undefined
  for (const dir of path.split(delimiter)) {
    if (dir === '') continue
    const candidate = join(dir, program)
    if (isExecutable(candidate)) return candidate
  }
  return undefined
}

/**
 * Why a lab run cannot happen on this machine ("not running as root; missing programs: ping (not in
 * PATH)"), or undefined when it can. Reads the effective user and PATH; changes nothing, never throws.
 */
export function labRequirementsProblem({programs = [], root = true}: LabRequirements = {}): string | undefined {
  const reasons: string[] = []
  if (root && process.getuid?.() !== 0) reasons.push('not running as root')
  const missing = programs.filter((p) => findProgram(p) === undefined)
  if (missing.length > 0) reasons.push(`missing programs: ${missing.join(', ')} (not in PATH)`)
  return reasons.length === 0 ? undefined : reasons.join('; ')
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}
