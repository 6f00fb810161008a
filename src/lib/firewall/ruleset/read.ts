/**
 * Reads the firewall directory (default `/etc/diswall/firewall`, Symbiosis-compatible) into a
 * {@link RulesetModel}. Fails closed: every file that does not parse stops the read with `file:line: reason`.
 *
 * ## The directory
 *
 * - `incoming.d/`, `outgoing.d/`: files `NN-NAME` (`^[0-9]*-(.+)$`; the digits may be empty), applied in the
 *   byte order of the whole file name, not numerically: `100-x` comes before `20-x`. NAME is, first match
 *   wins:
 *   1. a user template `rule.d/NAME.incoming` (or `.outgoing`), see user-template.ts;
 *   2. a built-in template (accept, allow, whitelist, drop, blacklist, reject, established, related, new,
 *      invalid, syn-ack-flood-protection, ping, icmp, icmpv6, essential-icmpv6, dns, ftp, log,
 *      reject-www-data);
 *   3. a service name from /etc/services (case-insensitive): accept its port, for the protocols the
 *      service is defined for (ssh: tcp; ntp: udp; https: tcp and udp);
 *   4. a port (`NN-5000`) or range (`NN-5000:5010`): accept it, TCP and UDP.
 *   A `.tcp` or `.udp` suffix (`NN-ssh.tcp`, `NN-5000.udp`, `NN-60000:61000.udp`) makes NAME a service or
 *   port (never a template) and picks the protocol. Any other NAME is an error, not a skip.
 *   File content: one IPv4/IPv6 address, CIDR network (host bits masked) or host name per line (resolved
 *   to A and AAAA addresses through /etc/hosts and DNS, every time the ruleset is read); `#` starts a
 *   comment, also after an entry; blank lines are skipped. A file with no entries (empty, or comments only)
 *   applies to everyone. A line that does not parse or a host name that does not resolve is an error:
 *   never "everyone" by accident.
 * - `whitelist.d/`, `blacklist.d/`: one file per address or network, named `ADDR` or `ADDR|PREFIXLEN`
 *   (`192.0.2.0|24`, `2001:db8::|64`; host bits masked), with an optional `.auto` suffix (written by diswall,
 *   expiring). A name that is not an address or network is an error: names are never resolved as host
 *   names, and `/0` is refused. Content: ports, one per line: a number, a range `a:b` (TCP and UDP), a
 *   service name (its protocols) or `all`; `#` comments. Empty, comments only, or any `all` = all ports. An
 *   unknown service name is an error (Symbiosis took it as all ports). Entries are sorted by file name
 *   (byte order).
 * - `local.d/`: executables run after a successful apply, in byte order of their names; like run-parts,
 *   only names made of letters, digits, `_` and `-` (so `x.sh` is skipped) and files with an execute bit
 *   count; the others are skipped with a warning.
 * - `rule.d/`: user templates (see user-template.ts).
 * - The flags, each with one meaning: `disabled` in the directory = the firewall is off: apply changes
 *   nothing (the running rules stay), flush still works; `whitelist.d/disabled` (`blacklist.d/disabled`)
 *   = that list is off: its files are not read and none of its entries is applied, and diswall writes no
 *   `.auto` files into it. Other spellings (`disabled.whitelist`) are errors.
 * - Everywhere, dotfiles, editor backups (`*~`, `*.bak`) and dpkg leftovers (`*.dpkg-*`) are ignored. A
 *   missing sub-directory is empty.
 */
import {access, readdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'

import {InvalidValueError} from '../../errors.js'
import {parseTarget, toNetwork} from '../../net/index.js'
import type {Network} from '../../net/index.js'
import type {ListFile, LocalScript, Rule, RuleFile, RulesetModel} from './model.js'
import {
  describeFsError,
  isIgnoredName,
  lookupHost,
  parsePortOrRange,
  parseRuleFileName,
  ProblemCollector,
  readPeerLines,
  RulesetError,
  sortByteOrder,
  splitLines,
  stripComment,
} from './resolve.js'
import type {PortProto, ResolveHost, RulesetProblem} from './resolve.js'
import {loadServices, serviceProtos} from './services.js'
import type {Service, ServiceMap} from './services.js'
import {BUILTIN_TEMPLATE_NAMES, DEFAULT_TEMPLATE, expandBuiltinTemplate, isBuiltinTemplate} from './templates.js'
import type {Direction, PortSpec} from './templates.js'
import {expandUserTemplate, findUserTemplate, scanUserTemplates} from './user-template.js'
import type {UserTemplate, UserTemplateSet} from './user-template.js'

export {RulesetError} from './resolve.js'
export type {ResolveHost, RulesetProblem} from './resolve.js'

/** Options of {@link readRuleset}. */
export interface ReadRulesetOptions {
  /** Services by name; default: /etc/services, read only when a name needs it. */
  services?: ServiceMap
  /** Host-name resolver for address lines; default: the system resolver (/etc/hosts, then DNS). */
  resolveHost?: ResolveHost
  /** Where user templates are; default `<dir>/rule.d`. */
  lookupTemplateDir?: string
  /** Called for things that are skipped but may be a mistake (e.g. a non-executable file in local.d). */
  onWarning?: (warning: RulesetProblem) => void
}

const TOP_DIRS = {blacklist: 'blacklist.d', incoming: 'incoming.d', local: 'local.d', outgoing: 'outgoing.d', templates: 'rule.d',
  whitelist: 'whitelist.d'} as const

/** The name of the flag files. */
export const DISABLED_FLAG = 'disabled'

/** What a rule file name stands for, after resolution. */
export type RuleNameResolution =
  | {kind: 'builtin'; template: string}
  | {kind: 'port'; port: PortSpec}
  | {kind: 'service'; service: string; port: PortSpec}
  | {kind: 'user'; template: UserTemplate; port?: number}

/** Looks services up, reading /etc/services on first use only (a directory without service names never needs it). */
class ServiceLookup {
  private loading?: Promise<ServiceMap>
  constructor(private readonly given?: ServiceMap) {}

  async get(name: string): Promise<Service | undefined> {
    if (this.given !== undefined) return this.given.get(name.toLowerCase())
    this.loading ??= loadServices()
    return (await this.loading).get(name.toLowerCase())
  }
}

interface Context {
  dir: string
  services: ServiceLookup
  resolveHost: ResolveHost
  templates: UserTemplateSet
  brokenTemplates: ReadonlySet<string>
  warn: (warning: RulesetProblem) => void
}

/**
 * Reads the firewall directory `dir` into a model (see the module documentation for the format). Host
 * names are resolved; nothing is applied.
 * @throws RulesetError when the directory is missing (hint: `diswall install`), or listing every problem
 * found in its files, each as `file:line: reason` (the first one first), with the first problem's hint.
 */
export async function readRuleset(dir: string, options: ReadRulesetOptions = {}): Promise<RulesetModel> {
  await checkFirewallDir(dir)
  const problems = new ProblemCollector()
  const scan = await scanUserTemplates(options.lookupTemplateDir ?? join(dir, TOP_DIRS.templates))
  problems.problems.push(...scan.problems)
  const ctx: Context = {
    brokenTemplates: scan.broken,
    dir,
    resolveHost: options.resolveHost ?? lookupHost,
    services: new ServiceLookup(options.services),
    templates: scan.templates,
    warn: options.onWarning ?? (() => {}),
  }
  const sections = await problems.captureAll<unknown>([
    () => readRuleDir(ctx, 'incoming'),
    () => readRuleDir(ctx, 'outgoing'),
    () => readListDir(ctx, 'whitelist'),
    () => readListDir(ctx, 'blacklist'),
    () => readLocalDir(ctx),
    () => isFirewallDisabled(dir),
  ])
  if (problems.problems.length > 0) throw RulesetError.fromProblems(dedupe(problems.problems))
  const [incoming, outgoing, whitelist, blacklist, local, disabled] = sections as [
    RuleFile[], RuleFile[], RulesetModel['whitelist'], RulesetModel['blacklist'], LocalScript[], boolean]
  return {blacklist, dir, disabled, incoming, local, outgoing, whitelist}
}

/** True when the firewall is switched off by a `disabled` file (of any kind) in `dir`. */
export async function isFirewallDisabled(dir: string): Promise<boolean> {
  return exists(join(dir, DISABLED_FLAG))
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path)
    return true
  } catch {
    return false
  }
}

async function checkFirewallDir(dir: string): Promise<void> {
  let isDir: boolean
  try {
    isDir = (await stat(dir)).isDirectory()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new RulesetError({file: dir}, 'firewall directory not found',
        'Create it with the default rules: diswall install (or point the config at the directory that holds incoming.d/).')
    }
    const {hint, reason} = describeFsError(error)
    throw new RulesetError({file: dir}, `cannot read the firewall directory: ${reason}`, hint, {cause: error})
  }
  if (!isDir) {
    throw new RulesetError({file: dir}, 'not a directory',
      'Point the config at the firewall directory (the one that holds incoming.d/), e.g. /etc/diswall/firewall.')
  }
  // Any directory would read as an empty ruleset (a typo in --dir, /usr/share/doc, …), and applying it would
  // drop every DROP and LOG rule of the host: the incoming.d/ sub-directory marks a firewall directory.
  if (!(await isDirectory(join(dir, TOP_DIRS.incoming)))) {
    throw new RulesetError({file: dir}, 'no incoming.d/ in this directory: it is not a firewall directory',
      'Point the config or --dir at the directory that holds incoming.d/ (e.g. /etc/diswall/firewall); an empty incoming.d/ is valid.')
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory()
  } catch {
    return false
  }
}

/** The same problem can come from several files (e.g. a missing /etc/services): report it once. */
function dedupe(problems: readonly RulesetProblem[]): RulesetProblem[] {
  const seen = new Set<string>()
  return problems.filter((p) => {
    const key = `${p.location.file}\0${p.location.line ?? ''}\0${p.reason}`
    if (seen.has(key)) return false
    seen.add(key)
    return true
  })
}

/** The entries of a sub-directory, sorted in byte order and without ignored names; missing = none. */
async function listDir(path: string): Promise<string[]> {
  let names: string[]
  try {
    names = await readdir(path)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    const {hint, reason} = describeFsError(error)
    throw new RulesetError({file: path}, `cannot read the directory: ${reason}`, hint, {cause: error})
  }
  return sortByteOrder(names.filter((n) => !isIgnoredName(n)))
}

/** Reads a regular file (following symbolic links) as UTF-8; throws RulesetError for directories and I/O errors. */
async function readTextFile(file: string): Promise<string> {
  try {
    if (!(await stat(file)).isFile()) throw Object.assign(new Error('not a file'), {code: 'EISDIR'})
    return await readFile(file, 'utf8')
  } catch (error) {
    const {hint, reason} = describeFsError(error)
    throw new RulesetError({file}, reason === 'is a directory, not a file' ? reason : `cannot read: ${reason}`, hint, {cause: error})
  }
}

async function readRuleDir(ctx: Context, direction: Direction): Promise<RuleFile[]> {
  const path = join(ctx.dir, TOP_DIRS[direction])
  const problems = new ProblemCollector()
  const files = await problems.captureAll((await listDir(path)).map((name) =>
    () => readRuleFile(ctx, direction, join(path, name), name)))
  problems.throwIfAny()
  return files.filter((f): f is RuleFile => f !== undefined && f !== null)
}

/** Reads one `incoming.d`/`outgoing.d` file; null when it uses a broken user template (already reported). */
async function readRuleFile(ctx: Context, direction: Direction, file: string, name: string): Promise<RuleFile | null> {
  const origin = {file}
  const parts = parseRuleFileName(name)
  if (parts !== undefined && ctx.brokenTemplates.has(`${parts.name}.${direction}`)) return null
  // Name and content are independent: check both, so one run reports the problems of both.
  const problems = new ProblemCollector()
  const [resolution, peers] = await problems.captureAll<RuleNameResolution | Network[]>([
    () => resolveRuleName(name, direction, {origin, services: ctx.services, userTemplates: ctx.templates}),
    async () => readPeerLines(await readTextFile(file), file, ctx.resolveHost),
  ])
  problems.throwIfAny()
  const rules = expandResolution(resolution as RuleNameResolution, direction, peers as Network[], origin)
  return {name, origin, rules, templateName: parts!.name}
}

function expandResolution(resolution: RuleNameResolution, direction: Direction, peers: Network[], origin: {file: string}): Rule[] {
  switch (resolution.kind) {
    case 'builtin': {
      return expandBuiltinTemplate(resolution.template, {direction, origin, peers})
    }

    case 'user': {
      return expandUserTemplate(resolution.template, {origin, peers, port: resolution.port})
    }

    default: {
      return expandBuiltinTemplate(DEFAULT_TEMPLATE, {direction, origin, peers, port: resolution.port})
    }
  }
}

const PORT_OR_RANGE = /^[0-9]+(:[0-9]+)?$/

/**
 * Resolves the NAME of a rule file `NN-NAME` (see the module documentation): user template for the
 * direction, built-in template, service, port or range. `services` is a map or a lookup reading
 * /etc/services on demand; a user template gets the service's port (or NAME, if numeric) for `$PORT`.
 * @throws RulesetError at `origin` (default: the file name) for a name not shaped `NN-NAME`, a bad port or
 * range, a suffix on a template name, or a name that is none of these.
 */
export async function resolveRuleName(
  fileName: string,
  direction: Direction,
  {origin = {file: fileName}, services, userTemplates = new Map()}:
    {origin?: {file: string}; services: ServiceMap | {get(name: string): Promise<Service | undefined>}; userTemplates?: UserTemplateSet},
): Promise<RuleNameResolution> {
  const lookup = async (name: string): Promise<Service | undefined> => services.get(name.toLowerCase())
  const parts = parseRuleFileName(fileName)
  if (parts === undefined) {
    throw new RulesetError(origin, `${JSON.stringify(fileName)} is not named NN-NAME`,
      `Name rule files NN-NAME, e.g. 10-ssh, 20-5000 or 30-accept; dotfiles and backups (*~, *.bak, *.dpkg-*) are ignored.`)
  }
  const {base, proto} = parts
  const numeric = PORT_OR_RANGE.test(base)
  if (proto === undefined && !base.includes(':')) {
    const template = findUserTemplate(userTemplates, base, direction)
    if (template !== undefined) {
      let port: number | undefined
      if (template.portLine !== undefined) port = numeric ? Number(parsePortOrRange(base)) : (await lookup(base))?.port
      return {kind: 'user', port, template}
    }
    if (isBuiltinTemplate(base)) return {kind: 'builtin', template: base}
  }
  if (numeric) {
    let port: string
    try {
      port = parsePortOrRange(base)
    } catch (error) {
      if (!(error instanceof InvalidValueError)) throw error
      throw new RulesetError(origin, error.message, error.hint)
    }
    return {kind: 'port', port: {port, protos: proto === undefined ? ['tcp', 'udp'] : [proto]}}
  }
  const service = await lookup(base)
  if (service !== undefined) {
    const protos: PortProto[] = proto === undefined ? serviceProtos(service) : [proto]
    return {kind: 'service', port: {port: String(service.port), protos}, service: base.toLowerCase()}
  }
  if (proto !== undefined && (isBuiltinTemplate(base) || findUserTemplate(userTemplates, base, direction) !== undefined)) {
    throw new RulesetError(origin, `"${base}" is a template; a .${proto} suffix only works with a service name or a port`,
      `Rename the file to NN-${base}, or name a port or service, e.g. NN-5000.${proto}.`)
  }
  throw new RulesetError(origin, `${JSON.stringify(parts.name)} is not a template, a service or a port`,
    `Use a built-in template (${BUILTIN_TEMPLATE_NAMES.join(', ')}), a service name from /etc/services, a port (5000) `
    + `or range (5000:5010) with an optional .tcp/.udp suffix, or write a user template rule.d/${base}.${direction}.`)
}

// ---- whitelist.d and blacklist.d ----

const LIST_NAME_HINT = 'Name the file after the address (192.0.2.7) or network (192.0.2.0|24, 2001:db8::|64), '
  + 'optionally with .auto; host names are not resolved here.'

/**
 * Parses the file name of a whitelist.d/blacklist.d entry: `ADDR` or `ADDR|PREFIXLEN`, optional `.auto`,
 * case-insensitive; host bits are masked. Pure.
 * @throws RulesetError at `file` for a name that is not an address or network, or a /0 network.
 */
export function parseListFileName(name: string, file: string): {network: Network; auto: boolean} {
  const auto = name.endsWith('.auto')
  const base = (auto ? name.slice(0, -'.auto'.length) : name).toLowerCase()
  if (base === 'disabled.whitelist' || base === 'disabled.blacklist') {
    throw new RulesetError({file}, `"${name}" is not a diswall flag`,
      `Rename it to "${DISABLED_FLAG}": diswall knows only that spelling, inside the list directory.`)
  }
  if (!/^[0-9a-f.:]+(\|[0-9]+)?$/.test(base)) {
    throw new RulesetError({file}, `file name ${JSON.stringify(name)} is not an address or network (ADDR or ADDR|PREFIXLEN)`,
      LIST_NAME_HINT)
  }
  let network: Network
  try {
    network = toNetwork(parseTarget(base.replace('|', '/')))
  } catch (error) {
    if (!(error instanceof InvalidValueError)) throw error
    throw new RulesetError({file}, `file name ${JSON.stringify(name)} is not an address or network: ${error.message}`, LIST_NAME_HINT)
  }
  if (network.prefix === 0) {
    throw new RulesetError({file}, `file name ${JSON.stringify(name)} is ${network.text}, which covers every address`,
      'List single addresses or real networks; to switch the list off, create a file named "disabled" in it.')
  }
  return {auto, network}
}

/**
 * Parses the content of a whitelist.d/blacklist.d file: ports, one per line (number, range `a:b`, service
 * name, `all`), `#` comments. Returns undefined for all ports (no ports, or any `all`), otherwise the ports
 * in order of appearance without duplicates: numbers and ranges for TCP and UDP, services for their own
 * protocols.
 * @throws RulesetError listing every bad line (unknown service, bad port, several words).
 */
export async function parseListPorts(text: string, file: string,
  services: ServiceMap | {get(name: string): Promise<Service | undefined>}): Promise<ListFile['ports']> {
  const problems = new ProblemCollector()
  const ports: NonNullable<ListFile['ports']> = []
  const seen = new Set<string>()
  let all = false
  const add = (port: string, protos: readonly PortProto[]): void => {
    for (const proto of protos) {
      if (seen.has(`${port}/${proto}`)) continue
      seen.add(`${port}/${proto}`)
      ports.push({port, proto})
    }
  }
  for (const [index, raw] of splitLines(text).entries()) {
    const word = stripComment(raw).toLowerCase()
    if (word === '') continue
    const location = {file, line: index + 1}
    const hint = 'Write one port per line: a number (22), a range (5000:5010), a service name from /etc/services (ssh) or "all".'
    if (/\s/.test(word)) {
      problems.add(location, `${JSON.stringify(word)}: expected one port per line`, hint)
      continue
    }
    if (word === 'all') {
      all = true
      continue
    }
    if (PORT_OR_RANGE.test(word)) {
      try {
        add(parsePortOrRange(word), ['tcp', 'udp'])
      } catch (error) {
        if (!(error instanceof InvalidValueError)) throw error
        problems.add(location, error.message, error.hint)
      }
      continue
    }
    const before = problems.problems.length
    const service = await problems.capture(() => services.get(word))
    if (service === undefined) {
      // When /etc/services itself cannot be read, that problem is reported instead.
      if (problems.problems.length === before) {
        problems.add(location, `unknown service ${JSON.stringify(word)}`,
          `${hint} An unknown name is an error, not "all ports".`)
      }
      continue
    }
    add(String(service.port), serviceProtos(service))
  }
  problems.throwIfAny()
  return all || ports.length === 0 ? undefined : ports
}

async function readListDir(ctx: Context, kind: 'blacklist' | 'whitelist'): Promise<RulesetModel['whitelist']> {
  const path = join(ctx.dir, TOP_DIRS[kind])
  const names = await listDir(path)
  if (names.includes(DISABLED_FLAG)) return {disabled: true, entries: []}
  const problems = new ProblemCollector()
  const entries = await problems.captureAll(names.map((name) => async (): Promise<ListFile> => {
    const file = join(path, name)
    const {auto, network} = parseListFileName(name, file)
    const ports = await parseListPorts(await readTextFile(file), file, ctx.services)
    const entry: ListFile = {auto, name, network, origin: {file}}
    if (ports !== undefined) entry.ports = ports
    return entry
  }))
  problems.throwIfAny()
  return {disabled: false, entries: entries.filter((e): e is ListFile => e !== undefined)}
}

// ---- local.d ----

/** Names run-parts accepts (Debian run-parts without --lsbsysinit). */
export const RUN_PARTS_NAME = /^[A-Za-z0-9_-]+$/

async function readLocalDir(ctx: Context): Promise<LocalScript[]> {
  const path = join(ctx.dir, TOP_DIRS.local)
  const scripts: LocalScript[] = []
  for (const name of await listDir(path)) {
    const file = join(path, name)
    if (!RUN_PARTS_NAME.test(name)) {
      ctx.warn({hint: 'Rename it to letters, digits, "_" and "-" only (e.g. drop the .sh), as run-parts requires.',
        location: {file}, reason: 'skipped: not a run-parts name'})
      continue
    }
    let mode: number
    let isFile: boolean
    try {
      const st = await stat(file)
      mode = st.mode
      isFile = st.isFile()
    } catch (error) {
      const {hint, reason} = describeFsError(error)
      ctx.warn({hint, location: {file}, reason: `skipped: ${reason}`})
      continue
    }
    if (!isFile) {
      ctx.warn({location: {file}, reason: 'skipped: not a file'})
      continue
    }
    if ((mode & 0o111) === 0) {
      ctx.warn({hint: `Make it executable (chmod +x ${file}) to run it after each apply.`, location: {file},
        reason: 'skipped: not executable'})
      continue
    }
    scripts.push({name, path: file})
  }
  return scripts
}
