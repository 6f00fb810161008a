/**
 * User templates: `rule.d/NAME.incoming` and `rule.d/NAME.outgoing` in the firewall directory.
 *
 * ## Format
 *
 * One rule per line; `#` starts a comment (also after a rule); blank lines are skipped. A rule is words
 * separated by spaces, in any order:
 *
 * | word | meaning |
 * |---|---|
 * | `proto=tcp\|udp\|icmp\|icmpv6` | protocol (icmp is IPv4, icmpv6 is IPv6) |
 * | `dport=PORTS`, `sport=PORTS` | destination / source ports: a comma list of ports (`22`), ranges (`5000:5010`) and `$PORT`, |
 * |  | at most 15 ports (a range counts 2); needs `proto=tcp` or `proto=udp` |
 * | `state=STATES` | conntrack states, a comma list of `new`, `established`, `related`, `invalid` |
 * | `icmp-type=TYPE` | an ICMP type name (`echo-request`, `packet-too-big`, …) or number; needs `proto=icmp`/`icmpv6` |
 * | `family=4\|6` | IPv4 or IPv6 only (default both, or the family of `proto=icmp`/`icmpv6`) |
 * | `limit=N/second\|minute\|hour` | rate limit, e.g. for `log` |
 * | `owner=USER` | the local user owning the socket (user name or uid); `.outgoing` templates only |
 * | `accept`, `drop`, `reject`, `log` | the verdict, one per line; `reject` answers TCP with a reset, the rest with ICMP port-unreachable |
 *
 * `$PORT` is the port of the file using the template: for `incoming.d/10-mysql`, the port of `mysql` in
 * /etc/services (or NAME itself when it is a number). A template using `$PORT` from a file whose name gives
 * no port is an error.
 *
 * Every rule is restricted to the addresses listed in the `incoming.d`/`outgoing.d` file that uses the
 * template (sources for incoming, destinations for outgoing); an empty file means everyone. As with the
 * built-in templates, a rule is emitted per family of those addresses.
 *
 * Names are letters, digits, `_` and `-`. A user template may add a name, or take the name of a service
 * (`rule.d/ssh.incoming` replaces the default accept for `NN-ssh`), but not the name of a built-in template:
 * that is an error, so `10-accept` always means the same thing.
 *
 * Symbiosis templates (ERB, or the legacy format with `$SRC`/`$DEST` and iptables commands) are refused
 * with an error that shows the new format: diswall never runs shell commands from templates.
 *
 * Example, `rule.d/mysql.incoming`:
 * ```
 * # MySQL for the addresses of the file (incoming.d/50-mysql), new connections only
 * proto=tcp dport=$PORT state=new accept
 * ```
 */
import {readdir, readFile, stat} from 'node:fs/promises'
import {join} from 'node:path'

import type {Family, Network} from '../../net/index.js'
import type {ConnState, Origin, Protocol, Rule, Verdict} from './model.js'
import {describeFsError, isIgnoredName, parsePortOrRange, RulesetError, sortByteOrder, splitLines, stripComment} from './resolve.js'
import type {RulesetProblem} from './resolve.js'
import {ICMP_TYPES, ICMPV6_TYPES, isBuiltinTemplate, withPeers} from './templates.js'
import type {Direction, TemplateRule} from './templates.js'

/** The variable that stands for the port of the file using the template. */
export const PORT_VARIABLE = '$PORT'

/** Names a user template may have (the part before `.incoming`/`.outgoing`). */
export const USER_TEMPLATE_NAME = /^[A-Za-z0-9_-]+$/

/** The hint of every bad word: the valid words. */
export const USER_TEMPLATE_TOKENS_HINT = 'Valid words: proto=tcp|udp|icmp|icmpv6, dport=PORTS, sport=PORTS '
  + '(ports, ranges a:b and $PORT, comma-separated), state=new,established,related,invalid, icmp-type=TYPE, '
  + 'family=4|6, limit=N/second|minute|hour, owner=USER (outgoing only), and one verdict: accept, drop, reject or log.'

const LEGACY_HINT = 'Rewrite it in the diswall format, one rule per line, e.g. "proto=tcp dport=$PORT accept"; '
  + 'the addresses of the incoming.d/outgoing.d file are added to every rule, so $SRC and $DEST are not needed.'

/** One parsed line of a user template. */
export interface UserTemplateLine {
  line: number
  /** The rule, with `$PORT` still in `dport`/`sport` when the line uses it. */
  rule: TemplateRule
}

/** A parsed user template. */
export interface UserTemplate {
  name: string
  direction: Direction
  /** Path of the template file, for messages and rule origins. */
  file: string
  lines: readonly UserTemplateLine[]
  /** The first line using `$PORT`, if any. */
  portLine?: number
}

/** User templates by file name (`mysql.incoming`). */
export type UserTemplateSet = ReadonlyMap<string, UserTemplate>

const VERDICTS = new Set<Verdict>(['accept', 'drop', 'log', 'reject'])
const PROTOCOLS = new Set<Protocol>(['icmp', 'icmpv6', 'tcp', 'udp'])
const STATES = new Set<ConnState>(['established', 'invalid', 'new', 'related'])
const KEYS = new Set(['dport', 'family', 'icmp-type', 'limit', 'owner', 'proto', 'sport', 'state'])
const MULTIPORT_MAX = 15 // iptables' multiport match takes at most 15 ports, a range counting as 2

/**
 * Parses the text of a user template (see the format above). Pure; `file` is used in messages only.
 * @throws RulesetError listing every bad line (`file:line: reason`, hint: the valid words), or one error for
 * a Symbiosis template, a template without rules, or an `owner=` in an incoming template.
 */
export function parseUserTemplate(text: string, {direction, file, name}: {direction: Direction; file: string; name: string}): UserTemplate {
  const lines = splitLines(text)
  const legacy = lines.findIndex((l) => isLegacyLine(l))
  if (legacy !== -1) {
    throw new RulesetError({file, line: legacy + 1},
      'this is a Symbiosis template (iptables commands, $SRC/$DEST or ERB), which diswall does not run', LEGACY_HINT)
  }
  const problems: RulesetProblem[] = []
  const parsed: UserTemplateLine[] = []
  let portLine: number | undefined
  for (const [index, raw] of lines.entries()) {
    const content = stripComment(raw)
    if (content === '') continue
    const line = index + 1
    const result = parseRuleLine(content, direction)
    if (typeof result === 'string') {
      problems.push({hint: USER_TEMPLATE_TOKENS_HINT, location: {file, line}, reason: result})
      continue
    }
    if (portLine === undefined && (result.dport?.includes(PORT_VARIABLE) || result.sport?.includes(PORT_VARIABLE))) portLine = line
    parsed.push({line, rule: result})
  }
  if (problems.length > 0) throw RulesetError.fromProblems(problems)
  if (parsed.length === 0) {
    throw new RulesetError({file}, 'the template has no rules',
      `Add one rule per line, e.g. "proto=tcp dport=$PORT accept", or delete the template. ${USER_TEMPLATE_TOKENS_HINT}`)
  }
  return {direction, file, lines: parsed, name, portLine}
}

function isLegacyLine(line: string): boolean {
  const text = stripComment(line)
  return /\$(SRC|DEST)\b/.test(text) || /<%|%>/.test(text) || text.startsWith('%')
    || /^(\/usr)?(\/sbin\/)?ip6?tables(-restore)?(\s|$)/.test(text)
}

/** Parses one rule line into a rule, or returns the reason it is bad. */
function parseRuleLine(text: string, direction: Direction): TemplateRule | string {
  const values = new Map<string, string>()
  const verdicts: Verdict[] = []
  for (const word of text.split(/\s+/)) {
    if (VERDICTS.has(word as Verdict)) {
      verdicts.push(word as Verdict)
      continue
    }
    const eq = word.indexOf('=')
    if (eq === -1) return `unknown word ${JSON.stringify(word)}`
    const key = word.slice(0, eq)
    if (!KEYS.has(key)) return `unknown key ${JSON.stringify(key)} in ${JSON.stringify(word)}`
    if (values.has(key)) return `${key}= is given twice`
    values.set(key, word.slice(eq + 1))
  }
  if (verdicts.length === 0) return 'the rule has no verdict'
  if (verdicts.length > 1) return `the rule has ${verdicts.length} verdicts (${verdicts.join(', ')}); give exactly one`
  const rule: TemplateRule = {verdict: verdicts[0]}
  for (const [key, value] of values) {
    const problem = setValue(rule, key, value, direction)
    if (problem !== undefined) return problem
  }
  if ((rule.dport !== undefined || rule.sport !== undefined) && rule.proto !== 'tcp' && rule.proto !== 'udp') {
    return 'dport= and sport= need proto=tcp or proto=udp'
  }
  if (rule.icmpType !== undefined && rule.proto !== 'icmp' && rule.proto !== 'icmpv6') {
    return 'icmp-type= needs proto=icmp or proto=icmpv6'
  }
  if (rule.icmpType !== undefined && !/^[0-9]+$/.test(rule.icmpType)) {
    const names: readonly string[] = rule.proto === 'icmp' ? ICMP_TYPES : ICMPV6_TYPES
    if (!names.includes(rule.icmpType)) {
      return `unknown ${rule.proto} type ${JSON.stringify(rule.icmpType)} (known: ${names.join(', ')}, or a number 0-255)`
    }
  }
  const protoFamily: Family | undefined = rule.proto === 'icmp' ? 4 : (rule.proto === 'icmpv6' ? 6 : undefined)
  if (protoFamily !== undefined) {
    if (rule.family !== undefined && rule.family !== protoFamily) {
      return `family=${rule.family} contradicts proto=${rule.proto} (IPv${protoFamily} only)`
    }
    rule.family = protoFamily
  }
  if (rule.verdict === 'reject' && rule.proto === 'tcp') rule.tcpReset = true
  return rule
}

function setValue(rule: TemplateRule, key: string, value: string, direction: Direction): string | undefined {
  const bad = (expected: string): string => `bad value ${JSON.stringify(value)} for ${key}=: expected ${expected}`
  switch (key) {
    case 'proto': {
      if (!PROTOCOLS.has(value as Protocol)) return bad('tcp, udp, icmp or icmpv6')
      rule.proto = value as Protocol
      return undefined
    }

    case 'dport':
    case 'sport': {
      const ports = parsePortList(value)
      if (ports.startsWith('!')) return `bad value ${JSON.stringify(value)} for ${key}=: ${ports.slice(1)}`
      rule[key] = ports
      return undefined
    }

    case 'state': {
      const states = value.split(',')
      if (!states.every((s) => STATES.has(s as ConnState))) return bad('a comma list of new, established, related, invalid')
      rule.state = [...new Set(states as ConnState[])]
      return undefined
    }

    case 'icmp-type': {
      if (!/^([a-z]+(-[a-z]+)*|[0-9]{1,3})$/.test(value) || (/^[0-9]/.test(value) && Number(value) > 255)) {
        return bad('an ICMP type name such as echo-request, or a number 0-255')
      }
      rule.icmpType = value
      return undefined
    }

    case 'family': {
      if (value !== '4' && value !== '6') return bad('4 or 6')
      rule.family = Number(value) as Family
      return undefined
    }

    case 'limit': {
      const match = /^([0-9]{1,6})\/(second|minute|hour)$/.exec(value)
      if (match === null || Number(match[1]) === 0) return bad('N/second, N/minute or N/hour with N from 1, e.g. 10/second')
      rule.limit = `${Number(match[1])}/${match[2]}`
      return undefined
    }

    case 'owner': {
      if (direction === 'incoming') return 'owner= works in .outgoing templates only (the kernel knows the owner of outgoing packets only)'
      if (!/^([a-z_][a-z0-9_-]{0,31}|[0-9]{1,10})$/.test(value)) return bad('a user name (www-data) or a uid')
      rule.uidOwner = value
      return undefined
    }

    default: {
      return `unknown key ${JSON.stringify(key)}`
    }
  }
}

/** Canonical comma list of ports, ranges and `$PORT`; or "!reason". */
function parsePortList(value: string): string {
  const items = value.split(',')
  const out: string[] = []
  let count = 0
  for (const item of items) {
    if (item === PORT_VARIABLE) {
      out.push(item)
      count += 1
      continue
    }
    if (item.startsWith('$')) return `!unknown variable ${JSON.stringify(item)} (only ${PORT_VARIABLE} exists)`
    try {
      const canonical = parsePortOrRange(item)
      out.push(canonical)
      count += canonical.includes(':') ? 2 : 1
    } catch (error) {
      return `!${error instanceof Error ? error.message : String(error)}`
    }
  }
  if (items.length > 1 && count > MULTIPORT_MAX) return `!more than ${MULTIPORT_MAX} ports in one list (a range counts 2); split the rule`
  return out.join(',')
}

/** What {@link scanUserTemplates} found: the good templates, the problems, and the file names of bad ones. */
export interface UserTemplateScan {
  templates: UserTemplateSet
  problems: readonly RulesetProblem[]
  /** File names (`mysql.incoming`) of templates that exist but have problems. */
  broken: ReadonlySet<string>
}

/**
 * Reads every `NAME.incoming`/`NAME.outgoing` template of a directory and reports the bad ones instead of
 * throwing, so a reader can skip the files that use a broken template (its problem is already reported).
 * A missing directory has no templates; other files, dotfiles and backups are ignored. Bad: a name that is
 * not letters, digits, `_`, `-`; the name of a built-in template; a bad line; an unreadable file.
 */
export async function scanUserTemplates(dir: string): Promise<UserTemplateScan> {
  let names: string[]
  try {
    names = await readdir(dir)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {broken: new Set(), problems: [], templates: new Map()}
    const {hint, reason} = describeFsError(error)
    return {broken: new Set(), problems: [{hint, location: {file: dir}, reason: `cannot read the template directory: ${reason}`}],
      templates: new Map()}
  }
  const problems: RulesetProblem[] = []
  const broken = new Set<string>()
  const templates = new Map<string, UserTemplate>()
  for (const fileName of sortByteOrder(names)) {
    const match = /^(.*)\.(incoming|outgoing)$/.exec(fileName)
    if (match === null || isIgnoredName(fileName)) continue
    const [, name, direction] = match
    const file = join(dir, fileName)
    const fail = (problem: RulesetProblem): void => {
      problems.push(problem)
      broken.add(fileName)
    }
    if (!USER_TEMPLATE_NAME.test(name)) {
      fail({hint: 'Name templates NAME.incoming or NAME.outgoing, NAME made of letters, digits, "_" and "-".',
        location: {file}, reason: `${JSON.stringify(name)} is not a valid template name`})
      continue
    }
    if (isBuiltinTemplate(name)) {
      fail({hint: `Rename it (e.g. my-${name}.${direction}) and the ${direction}.d files that use it; built-in templates cannot be replaced, so NN-${name} always means the same thing.`,
        location: {file}, reason: `user template "${name}" has the name of a built-in template`})
      continue
    }
    try {
      if (!(await stat(file)).isFile()) throw Object.assign(new Error('not a file'), {code: 'EISDIR'})
      const text = await readFile(file, 'utf8')
      templates.set(fileName, parseUserTemplate(text, {direction: direction as Direction, file, name}))
    } catch (error) {
      if (error instanceof RulesetError) for (const p of error.problems) fail(p)
      else fail({...describeFsError(error), location: {file}})
    }
  }
  return {broken, problems, templates}
}

/**
 * Reads every user template of a directory (see {@link scanUserTemplates}).
 * @throws RulesetError listing every bad template.
 */
export async function readUserTemplates(dir: string): Promise<UserTemplateSet> {
  const {problems, templates} = await scanUserTemplates(dir)
  if (problems.length > 0) throw RulesetError.fromProblems(problems)
  return templates
}

/** The user template for `name` in `direction`, if there is one. */
export function findUserTemplate(templates: UserTemplateSet, name: string, direction: Direction): UserTemplate | undefined {
  return templates.get(`${name}.${direction}`)
}

/**
 * Instantiates a user template for one file: `$PORT` becomes `port`, and the file's peers are added as for
 * built-in templates (see `withPeers`). Each rule's origin is its template line.
 * @throws RulesetError at `origin` (the file using the template) when the template uses `$PORT` and the
 * file gives no port.
 */
export function expandUserTemplate(
  template: UserTemplate,
  {origin, peers, port}: {origin: Origin; peers?: readonly Network[]; port?: number},
): Rule[] {
  if (template.portLine !== undefined && port === undefined) {
    throw new RulesetError(origin,
      `template ${template.file} uses ${PORT_VARIABLE} (line ${template.portLine}), but "${template.name}" gives no port`,
      `${PORT_VARIABLE} is the port of NAME in /etc/services, or NAME itself when it is a number; write the port into the template instead.`)
  }
  const substitute = (ports: string | undefined): string | undefined =>
    ports === undefined ? undefined : ports.split(',').map((p) => (p === PORT_VARIABLE ? String(port) : p)).join(',')
  return template.lines.flatMap(({line, rule}) => {
    const concrete: TemplateRule = {...rule}
    if (rule.dport !== undefined) concrete.dport = substitute(rule.dport)
    if (rule.sport !== undefined) concrete.sport = substitute(rule.sport)
    return withPeers([concrete], peers, {file: template.file, line})
  })
}
