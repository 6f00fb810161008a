/**
 * The lowest layer of the firewall-directory reader: the `RulesetError` every reader throws, file-name
 * rules shared by all sub-directories (ignored names, byte order, `NN-NAME`), port specs, and the address
 * lines of `incoming.d/` and `outgoing.d/` files with their host-name resolution.
 */
import {lookup} from 'node:dns/promises'

import {DiswallError, ExitCode, formatLocation, InvalidValueError} from '../../errors.js'
import type {SourceLocation} from '../../errors.js'
import {parseAddress, parsePort, parseTarget, toNetwork} from '../../net/index.js'
import type {Address, Network} from '../../net/index.js'

/** One problem in the firewall directory: where (`file` or `file:line`), why, and what to do. */
export interface RulesetProblem {
  readonly location: SourceLocation
  readonly reason: string
  readonly hint?: string
}

/** Options of {@link RulesetError}: `more` are further problems listed after the first. */
export interface RulesetErrorOptions extends ErrorOptions {
  more?: readonly RulesetProblem[]
}

/**
 * The firewall directory (or a file in it) is invalid: exit 3, code `E_RULESET`. The message is one line
 * `file:line: reason` per problem, the first problem first; `hint` is the first problem's hint and
 * `problems` keeps every problem with its own hint (for `diswall firewall check`).
 */
export class RulesetError extends DiswallError {
  readonly problems: readonly RulesetProblem[]

  constructor(
    readonly location: SourceLocation,
    reason: string,
    hint?: string,
    options?: RulesetErrorOptions,
  ) {
    const problems: RulesetProblem[] = [{hint, location, reason}, ...(options?.more ?? [])]
    super(problems.map((p) => `${formatLocation(p.location)}: ${p.reason}`).join('\n'), 'E_RULESET', ExitCode.CONFIG,
      hint, options)
    this.problems = problems
  }

  /** One error listing all the problems (at least one), in the given order. */
  static fromProblems(problems: readonly RulesetProblem[]): RulesetError {
    if (problems.length === 0) throw new Error('RulesetError.fromProblems needs at least one problem')
    const [first, ...more] = problems
    return new RulesetError(first.location, first.reason, first.hint, {more})
  }
}

/**
 * Collects the problems of many files, so one `firewall check` reports all of them. `capture` runs a step
 * and turns a thrown RulesetError into collected problems; any other error (a bug) is re-thrown.
 */
export class ProblemCollector {
  readonly problems: RulesetProblem[] = []

  /** Records one problem. */
  add(location: SourceLocation, reason: string, hint?: string): void {
    this.problems.push({hint, location, reason})
  }

  /** Runs `step`; returns its value, or undefined after recording the problems of a RulesetError. */
  async capture<T>(step: () => Promise<T> | T): Promise<T | undefined> {
    try {
      return await step()
    } catch (error) {
      if (!(error instanceof RulesetError)) throw error
      this.problems.push(...error.problems)
      return undefined
    }
  }

  /**
   * Runs the steps concurrently and returns their values in step order (undefined for a step that threw a
   * RulesetError); the problems are recorded in step order too, whatever order the steps finish in.
   */
  async captureAll<T>(steps: ReadonlyArray<() => Promise<T> | T>): Promise<Array<T | undefined>> {
    type Outcome = {ok: true; value: T} | {ok: false; problems: readonly RulesetProblem[]}
    const outcomes = await Promise.all(steps.map(async (step): Promise<Outcome> => {
      try {
        return {ok: true, value: await step()}
      } catch (error) {
        if (!(error instanceof RulesetError)) throw error
        return {ok: false, problems: error.problems}
      }
    }))
    return outcomes.map((outcome) => {
      if (!outcome.ok) {
        this.problems.push(...outcome.problems)
        return undefined
      }
      return outcome.value
    })
  }

  /** Throws one RulesetError listing every recorded problem, if there is any. */
  throwIfAny(): void {
    if (this.problems.length > 0) throw RulesetError.fromProblems(this.problems)
  }
}

/** The reason (and hint) of a file-system error, e.g. "permission denied". */
export function describeFsError(error: unknown): {reason: string; hint?: string} {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  switch (code) {
    case 'EACCES':
    case 'EPERM': {
      return {hint: 'Run diswall as root, or fix the permissions of the firewall directory.', reason: 'permission denied'}
    }

    case 'ENOENT': {
      return {hint: 'Remove the dangling symbolic link, or point it at an existing file.', reason: 'not found (a dangling symbolic link?)'}
    }

    case 'ENOTDIR': {
      return {hint: 'Check the path: one of its parents is a file.', reason: 'a parent of the path is not a directory'}
    }

    case 'EISDIR': {
      return {hint: 'Move the directory out of the firewall directory; only files are read here.', reason: 'is a directory, not a file'}
    }

    default: {
      return {reason: error instanceof Error ? error.message : String(error)}
    }
  }
}

/**
 * True for directory entries every reader skips silently: dotfiles (`.x`, editor swap files), editor
 * backups (`x~`, `x.bak`) and dpkg leftovers (`x.dpkg-old`, `x.dpkg-dist`, …, anything with `.dpkg-`).
 */
export function isIgnoredName(name: string): boolean {
  return name.startsWith('.') || name.endsWith('~') || name.endsWith('.bak') || name.includes('.dpkg-')
}

/**
 * Sorts names in the byte order of their UTF-8 text, like `LC_ALL=C ls`: `100-x` before `20-x`, upper case
 * before lower case. Returns a new array.
 */
export function sortByteOrder(names: Iterable<string>): string[] {
  return [...names]
    .map((name) => ({bytes: Buffer.from(name, 'utf8'), name}))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map(({name}) => name)
}

/** The protocols a port can be opened for. */
export type PortProto = 'tcp' | 'udp'

/** The parts of an `incoming.d`/`outgoing.d` file name `NN-NAME`. */
export interface RuleFileName {
  /** The digits before the first dash (may be empty: `-http`). */
  order: string
  /** Everything after the first dash, e.g. `ssh`, `ssh.tcp`, `5000:5010`. */
  name: string
  /** NAME without a `.tcp`/`.udp` suffix. */
  base: string
  /** The protocol of a `.tcp`/`.udp` suffix. */
  proto?: PortProto
}

const RULE_FILE_NAME = /^([0-9]*)-(.+)$/

/**
 * Splits a rule file name `NN-NAME` (digits, then a dash, then NAME) into its parts, with an optional
 * `.tcp`/`.udp` protocol suffix on NAME; returns undefined for a name of another shape.
 */
export function parseRuleFileName(fileName: string): RuleFileName | undefined {
  const match = RULE_FILE_NAME.exec(fileName)
  if (match === null) return undefined
  const [, order, name] = match
  const suffix = /^(.+)\.(tcp|udp)$/.exec(name)
  if (suffix === null) return {base: name, name, order}
  return {base: suffix[1], name, order, proto: suffix[2] as PortProto}
}

const RANGE_HINT = 'Write a port as a number from 1 to 65535 (22) or a range as two ports with a colon (49152:65535).'

/**
 * Parses a port (`22`) or a port range (`5000:5010`) into its canonical text (`a:a` becomes `a`).
 * @throws InvalidValueError naming the text: bad numbers, or a range whose start is above its end.
 */
export function parsePortOrRange(text: string): string {
  const colon = text.indexOf(':')
  if (colon === -1) return String(parsePort(text))
  let first: number
  let last: number
  try {
    first = parsePort(text.slice(0, colon))
    last = parsePort(text.slice(colon + 1))
  } catch (error) {
    const reason = error instanceof InvalidValueError ? error.message : String(error)
    throw new InvalidValueError(`${JSON.stringify(text)} is not a valid port range: ${reason}`, RANGE_HINT)
  }
  if (first > last) {
    throw new InvalidValueError(`${JSON.stringify(text)} is not a valid port range: ${first} is above ${last}`,
      `Write the lower port first: ${last}:${first}.`)
  }
  return first === last ? String(first) : `${first}:${last}`
}

/** Resolves a host name to its addresses (IPv4 and IPv6); rejects when it has none. */
export type ResolveHost = (hostname: string) => Promise<Address[]>

/**
 * The default {@link ResolveHost}: `dns.promises.lookup(name, {all: true})`, i.e. the system resolver,
 * which honours /etc/hosts and nsswitch.conf, A and AAAA records both.
 */
export const lookupHost: ResolveHost = async (hostname) => {
  const found = await lookup(hostname, {all: true})
  return found.map(({address}) => parseAddress(address))
}

const LABEL = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?'
const HOSTNAME = new RegExp(`^(?:${LABEL}\\.)*${LABEL}\\.?$`, 'i')

/** True for text shaped like a DNS host name (RFC 1123 labels, a top label that is not all digits). */
export function isHostname(text: string): boolean {
  if (text.length > 254 || !HOSTNAME.test(text)) return false
  const labels = text.replace(/\.$/, '').split('.')
  return !/^[0-9]+$/.test(labels.at(-1) ?? '')
}

/** The text of a line without its `#` comment, trimmed. */
export function stripComment(line: string): string {
  const hash = line.indexOf('#')
  return (hash === -1 ? line : line.slice(0, hash)).trim()
}

/** Splits text into lines (LF or CRLF). */
export function splitLines(text: string): string[] {
  return text.split(/\r?\n/)
}

const PEER_HINT = 'Write one IPv4 or IPv6 address, CIDR network (203.0.113.0/24) or host name per line; "#" starts a comment.'

/**
 * Reads the peer lines of an `incoming.d`/`outgoing.d` file: one address, CIDR network (host bits masked)
 * or host name per line, `#` comments (also after an entry) and blank lines. Host names are resolved with
 * `resolveHost` (all lines at once); every address becomes a host network. Duplicates are dropped, file
 * order kept. An empty result (no entries) means everyone. `file` is used in messages only.
 * @throws RulesetError listing every line that is not an address, network or resolvable host name, so a
 * bad line never turns into "everyone".
 */
export async function readPeerLines(text: string, file: string, resolveHost: ResolveHost): Promise<Network[]> {
  const problems: RulesetProblem[] = []
  const fail = (line: number, reason: string, hint: string): Network[] => {
    problems.push({hint, location: {file, line}, reason})
    return []
  }
  const perLine = await Promise.all(splitLines(text).map(async (raw, index): Promise<Network[]> => {
    const line = index + 1
    const entry = stripComment(raw)
    if (entry === '') return []
    if (/\s/.test(entry)) return fail(line, `${JSON.stringify(entry)}: expected one address, network or host name per line`, PEER_HINT)
    if (!isHostname(entry)) {
      try {
        return [toNetwork(parseTarget(entry))]
      } catch (error) {
        if (!(error instanceof InvalidValueError)) throw error
        if (entry.includes('|')) {
          return fail(line, error.message,
            'Write networks with "/" here, e.g. 192.0.2.0/24 (the "|" spelling is for whitelist.d and blacklist.d file names).')
        }
        const numeric = /^[0-9a-f.:/]+$/i.test(entry)
        return fail(line, numeric ? error.message : `${JSON.stringify(entry)} is not an address, a network or a host name`,
          numeric ? (error.hint ?? PEER_HINT) : PEER_HINT)
      }
    }
    try {
      const addresses = await resolveHost(entry)
      if (addresses.length === 0) throw Object.assign(new Error('no addresses'), {code: 'ENODATA'})
      return addresses.map((a) => toNetwork(a))
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? (error instanceof Error ? error.message : String(error))
      return fail(line, `host name ${JSON.stringify(entry)} does not resolve (${code})`,
        'Fix the name or write its address instead: host names are resolved (through /etc/hosts and DNS) every time the ruleset is compiled, and one that does not resolve stops the apply.')
    }
  }))
  if (problems.length > 0) {
    // Lines are checked concurrently (host names resolve in parallel): report them in line order.
    throw RulesetError.fromProblems(problems.sort((a, b) => (a.location.line ?? 0) - (b.location.line ?? 0)))
  }
  const seen = new Set<string>()
  const peers: Network[] = []
  for (const net of perLine.flat()) {
    if (seen.has(net.text)) continue
    seen.add(net.text)
    peers.push(net)
  }
  return peers
}
