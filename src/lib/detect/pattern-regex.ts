/**
 * The regex lines of `patterns.d/*.patterns` files (the file format is in pattern-file.ts): `__IP__`
 * becomes the named group `ip`, the regex is anchored, and what JavaScript regexes cannot do or do
 * differently is refused. Pure: every mistake is a ConfigError naming `file:line` with a hint.
 *
 * A regex line is a regular expression in which `__IP__` stands for the offender's address (IPv4
 * or IPv6, optionally after `::ffff:`). Differences from Symbiosis, on purpose:
 * - the address is the named group `ip`, so earlier groups in a regex do not shift it; `(?<user>…)`
 *   names the account of an `action = allow` line (the comment of the allow entry);
 * - a regex that neither starts with `^` nor ends with an unescaped `$` gets `$` appended (the
 *   CVE-2014-3979 fix, as in Symbiosis, but an escaped `\$` does not count as an anchor), so text
 *   that an attacker controls cannot follow the address; `$` is the end of the line, never the end of
 *   an earlier line inside it;
 * - regexes are JavaScript regexes, checked with the `u` flag's strict syntax: Onigmo-only syntax (`\A`,
 *   `\z`, `\h`, atomic groups, possessive quantifiers, inline options, POSIX brackets) is refused with a
 *   hint instead of silently meaning something else; escaped punctuation (`\-`, `\@`) and literal
 *   braces keep working;
 * - matching time is bounded whatever the regex: every regex must be one that V8's linear-time engine
 *   can run (see enableLinearRegexEngine()), so back-references, lookarounds, Unicode property escapes
 *   (`\p{…}`), `\u{…}` and counted repetitions that copy their body more than 16 times (`(.*a){25}`)
 *   are refused; `.` and classes count UTF-16 units (no `u` flag at run time);
 * - refused as well: a regex without `__IP__` or with more than one, alternatives at the top level
 *   (`a|b`: the anchor would cover only one of them; write one regex per line), nested unbounded
 *   quantifiers such as `(\S+)+` (catastrophic backtracking), and regexes longer than 2,000 characters.
 */
import {setFlagsFromString} from 'node:v8'

import {ConfigError, type SourceLocation} from '../errors.js'

/** Longest regex line, in characters. */
export const MAX_REGEX_LENGTH = 2000

/** The placeholder for the offender's address in a regex line. */
export const IP_PLACEHOLDER = '__IP__'
/** What `__IP__` becomes: an optional `::ffff:` and the address as the named group `ip`. */
export const IP_GROUP = '(?:::ffff:)?(?<ip>[0-9a-fA-F:.]+)'

/** One compiled regex line of a pattern file. */
export interface CompiledPattern {
  /** The regex as written in the file. */
  readonly source: string
  /** Its 1-based line number. */
  readonly line: number
  /**
   * The JavaScript regex with the named group `ip` and, optionally, `user`; V8 runs it in its
   * linear-time engine when it backtracks too much (no flags: the linear engine has no `u` mode).
   */
  readonly regex: RegExp
  /**
   * A substring that every match contains (the longest literal outside groups), tested with
   * `includes()` before the regex runs; '' when the regex has none of 3 characters or more.
   */
  readonly literal: string
}

/**
 * Compiles one regex line: replaces `__IP__` (which must appear once, or not at all with `withoutIp`), anchors it (appends `$` unless it starts with `^` or
 * ends with an unescaped `$`) and checks what JavaScript regexes cannot do or do differently.
 * @throws ConfigError naming the location and the construct, with a hint.
 */
export function compilePattern(source: string, location: SourceLocation, {withoutIp = false}: {withoutIp?: boolean} = {}): CompiledPattern {
  if (source.length > MAX_REGEX_LENGTH) {
    throw new ConfigError(location, `the regex is ${source.length} characters long (at most ${MAX_REGEX_LENGTH})`,
      'Split it into several shorter regexes, one per line.')
  }
  const {js, literal, anchored} = translate(source, location, withoutIp)
  const anchoredJs = anchored ? js : `${js}$`
  try {
    new RegExp(anchoredJs, 'u') // the strict syntax of the u flag only; this one never runs
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    const reason = message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '')
    throw new ConfigError(location, `invalid regular expression: ${reason}`,
      'Check the regex with a JavaScript regex tester (flag u); escape literal ( ) [ ] { } . * + ? | ^ $ with "\\".',
      {cause: error})
  }
  if (!enableLinearRegexEngine()) {
    throw new ConfigError(location, `this Node.js (V8 ${process.versions.v8}) has no linear-time regex engine, so matching time cannot be bounded`,
      'Run diswall on the Node.js of package.json "engines" (20: V8 11.3 has it, flag --enable-experimental-regexp-engine).')
  }
  try {
    new RegExp(anchoredJs, LINEAR_FLAG) // V8 refuses here what its linear-time engine cannot run
  } catch (error) {
    throw new ConfigError(location, 'the regex cannot run in linear time: a counted repetition copies its body more than 16 times ' +
      '(like "(.*a){25}"; nested counts multiply)',
      'Lower the count (16 copies at most, nested counts multiplied), or use "*" or "+", e.g. "[0-9]+" for "[0-9]{1,20}".', {cause: error})
  }
  // The flag is set before this RegExp is built: V8 decides about the fallback when it compiles the regex.
  return {line: location.line ?? 0, literal, regex: new RegExp(anchoredJs, ''), source}
}

/**
 * Backtracks after which V8 stops a pattern regex and runs it again in its linear-time engine
 * (V8's default, set explicitly): ~0.3 ms of backtracking on the normal engine, which needs at most a
 * few hundred backtracks for a log line matched by the shipped patterns.
 */
export const BACKTRACKS_BEFORE_LINEAR = 50_000

/** V8's flag for its linear-time engine; valid once enableLinearRegexEngine() has run. */
const LINEAR_FLAG = 'l'
let linearEngine: boolean | undefined

/**
 * Turns on V8's linear-time regex engine for this process (idempotent) and says whether it runs:
 * the `l` flag (for the check in compilePattern()) and the fallback of every regex built afterwards
 * that the engine can run, after BACKTRACKS_BEFORE_LINEAR backtracks. Touches only V8 flags; changes
 * no result of any regex, only how long a catastrophic one takes.
 */
export function enableLinearRegexEngine(): boolean {
  if (linearEngine !== undefined) return linearEngine
  // Why the fallback and not the `l` flag or a worker (Node 20.20, V8 11.3, measured on 2 vCPU under load):
  // - `^x(.*a){16}b __IP__$` on 'x' + 40 × 'a': never ends on the normal engine (2^40 paths); 7 ms
  //   with the fallback (0.1 ms in the linear engine itself); setFlagsFromString() at run time works
  //   for regexes built afterwards;
  // - the linear engine alone (flag `l` on every regex) runs a matching sshd line in ~15 µs against
  //   ~0.2-0.5 µs on the normal engine: 145k lines/s against 417k on the P5 sshd mix; the fallback keeps the fast
  //   engine for every line that does not backtrack catastrophically;
  // - the linear engine refuses the `u` flag, back-references, lookarounds and counted repetitions
  //   that copy their body more than 16 times, and V8 falls back only for regexes it could run:
  //   compilePattern() refuses the others, so every pattern regex has the fallback;
  // - a worker with a time budget would cost a round trip per batch of lines and make the engine
  //   asynchronous; the linear engine bounds each line in the thread that reads it, so SIGTERM and
  //   the packet path wait at most one bounded match.
  setFlagsFromString('--enable-experimental-regexp-engine')
  setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks')
  setFlagsFromString(`--regexp-backtracks-before-fallback=${BACKTRACKS_BEFORE_LINEAR}`)
  try {
    new RegExp('a', LINEAR_FLAG)
    linearEngine = true
  } catch {
    linearEngine = false // an unknown V8 flag is ignored silently; the `l` flag then is invalid
  }
  return linearEngine
}

// ---- regex translation ----

/** Escapes of Onigmo (Ruby) that JavaScript lacks, with what to write instead. */
const ONIGMO_ESCAPES: Readonly<Record<string, string>> = {
  A: 'use "^" (each log line is matched on its own)',
  G: 'remove it; JavaScript has no "\\G"',
  H: 'use "[^0-9a-fA-F]"',
  K: 'remove it: only the text of __IP__ counts, not where the match starts',
  R: 'use "\\n" or "\\r?\\n"',
  X: 'use "." or an explicit class',
  Z: 'use "$"',
  h: 'use "[0-9a-fA-F]"',
  z: 'use "$"',
}
/** Letters that start a valid escape in a JavaScript regex with the `u` flag. */
const JS_ESCAPE_LETTERS = new Set('bBcdDfknprsStuvwWx')
/** Punctuation that may be escaped as is in a `u` regex (SyntaxCharacter and "/"); others become `\xHH`. */
const JS_SYNTAX = new Set('^$\\.*+?()[]{}|/')

interface Translation {
  js: string
  literal: string
  anchored: boolean
}

/** What the nested-quantifier check knows about one group (or the whole regex). */
interface Frame {
  /** Something inside is repeated without bound. */
  unbounded: boolean
  /** A group inside is repeated without bound and has unbounded parts itself, or alternatives do. */
  opaque: boolean
  /** JavaScript text of the atoms repeated without bound directly in this group. */
  repeated: string[]
  /** The literal character the group must start with, if any. */
  first: string | undefined
  /** Atoms seen so far. */
  atoms: number
}

const newFrame = (): Frame => ({atoms: 0, first: undefined, opaque: false, repeated: [], unbounded: false})

/**
 * Whether repeating a group without bound is safe from catastrophic backtracking: every repetition
 * starts with a literal separator that none of the group's repeated parts can match, so the places
 * where repetitions begin are unambiguous (`(?:/[a-z]+)+` is safe, `(\S+)+` and `(?:a\w+)+` are not).
 */
function isSafeRepetition(f: Frame): boolean {
  if (!f.unbounded) return true
  if (f.opaque || f.first === undefined) return false
  const sep = f.first
  return f.repeated.every((atom) => {
    try {
      return !new RegExp(`^(?:${atom})$`, 'u').test(sep)
    } catch {
      return false
    }
  })
}

function translate(source: string, location: SourceLocation, withoutIp: boolean): Translation {
  const fail = (reason: string, hint: string): ConfigError => new ConfigError(location, reason, hint)
  const n = source.length
  const frames: Frame[] = [newFrame()]
  let out = ''
  let ipCount = 0
  // The atom a following quantifier applies to: its kind and JavaScript text.
  let atom: 'group' | 'literal' | 'none' | 'other' = 'none'
  let atomText = ''
  let closed: Frame | undefined // the group just closed, when atom is 'group'
  let endsWithDollar = false
  let run = ''
  let best = ''
  const endRun = (): void => {
    if (run.length > best.length) best = run
    run = ''
  }
  const frame = (): Frame => frames[frames.length - 1]
  /** Records an atom of the current group; `literal` is its character when it is one. */
  const addAtom = (kind: 'group' | 'literal' | 'other', text: string, literal?: string): void => {
    const f = frame()
    if (f.atoms === 0 && literal !== undefined) f.first = literal
    f.atoms++
    atom = kind
    atomText = text
  }

  let i = 0
  while (i < n) {
    endsWithDollar = false
    const top = frames.length === 1
    if (source.startsWith(IP_PLACEHOLDER, i)) {
      out += IP_GROUP
      ipCount++
      addAtom('other', '[0-9a-fA-F:.]')
      frame().unbounded = true
      frame().repeated.push('[0-9a-fA-F:.]')
      atom = 'none' // __IP__ is a group with a quantifier already
      endRun()
      i += IP_PLACEHOLDER.length
      continue
    }
    const c = source[i]
    switch (c) {
      case '\\': {
        const d = source[i + 1]
        if (d === undefined) throw fail('the regex ends with a single "\\"', 'Write "\\\\" for a literal backslash.')
        if (isAsciiLetter(d)) {
          const hint = ONIGMO_ESCAPES[d]
          if (hint !== undefined || !JS_ESCAPE_LETTERS.has(d)) {
            throw fail(`"\\${d}" is not supported in JavaScript regular expressions`, hint === undefined
              ? `Remove the backslash or use an explicit class; diswall compiles patterns as JavaScript regexes (flag u).`
              : `${capitalise(hint)}.`)
          }
          refuseNonLinearEscape(source, i + 1, fail)
          const end = escapeEnd(source, i + 1)
          const text = source.slice(i, end)
          out += text
          i = end
          endRun()
          addAtom('other', text)
          continue
        }
        if (isDigit(d)) {
          if (d !== '0' || isDigit(source[i + 2] ?? '')) throw fail(`back-references ("\\${d}") cannot run in linear time`, BACKREF_HINT)
          out += '\\0'
          i += 2
          endRun()
          addAtom('other', '\\0')
          continue
        }
        const text = escapeLiteral(d, false)
        out += text
        if (top) run += d
        addAtom('literal', text, d)
        i += 2
        continue
      }
      case '[': {
        const cls = translateClass(source, i, fail)
        out += cls.js
        i = cls.next
        endRun()
        addAtom('other', cls.js)
        continue
      }
      case '(': {
        const opener = groupOpener(source, i, fail)
        out += opener
        i += opener.length
        frames.push(newFrame())
        endRun()
        atom = 'none'
        continue
      }
      case ')': {
        if (frames.length === 1) throw fail('unbalanced ")"', 'Escape a literal parenthesis as "\\)".')
        const f = frames.pop()!
        if (f.unbounded) frame().unbounded = true
        if (f.unbounded) frame().opaque ||= f.opaque
        out += ')'
        i++
        endRun()
        addAtom('group', '')
        closed = f
        continue
      }
      case '|': {
        if (top) {
          throw fail('alternatives at the top level ("a|b") are not allowed: the anchor would cover only one of them',
            'Write one regex per line, or group the alternatives: "(?:a|b)".')
        }
        // Alternatives may start differently: no common separator.
        frame().opaque ||= frame().unbounded
        frame().first = undefined
        frame().atoms = 1
        out += '|'
        i++
        atom = 'none'
        continue
      }
      case '*':
      case '+':
      case '?':
      case '{': {
        const q = c === '{' ? braceQuantifier(source, i) : {max: c === '?' ? 1 : Infinity, min: c === '+' ? 1 : 0, text: c}
        if (q === undefined) { // a literal "{", as in Onigmo
          out += '\\{'
          if (top) run += '{'
          addAtom('literal', '\\{', '{')
          i++
          continue
        }
        if (atom === 'none') throw fail(`"${q.text}" has nothing to repeat`, `Escape it as "\\${c}" if you mean the character.`)
        if (atom === 'literal' && isLowSurrogate(source.charCodeAt(i - 1))) {
          throw fail(`"${q.text}" after a character beyond U+FFFF`,
            'Group the character, e.g. "(?:😀)+": pattern regexes run without the u flag, so a quantifier takes one UTF-16 unit.')
        }
        let next = i + q.text.length
        let text = q.text
        if (source[next] === '+') {
          throw fail('possessive quantifiers ("*+", "++", "?+") are not supported in JavaScript regular expressions',
            'Drop the second "+"; anchored patterns do not need them.')
        }
        if (source[next] === '?') {
          text += '?'
          next++
        }
        const f = frame()
        const unbounded = q.max === Infinity
        if (atom === 'group' && unbounded && closed !== undefined && !isSafeRepetition(closed)) {
          throw fail('nested unbounded quantifiers (like "(\\S+)+" or "(.*)*") can backtrack catastrophically on long lines',
            'Remove the outer quantifier, make the inner part fixed-length, or start the group with a separator the inner part cannot match.')
        }
        if (unbounded) {
          f.unbounded = true
          if (atom === 'group') f.opaque ||= closed?.unbounded ?? false
          else f.repeated.push(atomText)
        }
        if (q.min === 0 && f.atoms === 1) f.first = undefined
        if (atom === 'literal' && top && q.min === 0) run = run.slice(0, -1)
        endRun()
        out += text
        i = next
        atom = 'none'
        continue
      }
      case '}':
      case ']':
        out += `\\${c}`
        if (top) run += c
        addAtom('literal', `\\${c}`, c)
        i++
        continue
      case '^':
      case '$':
        out += c
        i++
        endRun()
        atom = 'none'
        endsWithDollar = c === '$' && top
        continue
      case '.':
        out += '.'
        i++
        endRun()
        addAtom('other', '.')
        continue
      default:
        out += c
        if (top) run += c
        addAtom('literal', c, c)
        i++
    }
  }
  if (frames.length > 1) throw fail('unclosed "("', 'Close every group with ")", or escape a literal parenthesis as "\\(".')
  endRun()
  if (withoutIp) {
    if (ipCount > 0) {
      throw fail('__IP__ in a "[pid]" regex', 'A "[pid]" regex matches a line without an address (it comes from the same process); drop "[pid]" or __IP__.')
    }
  } else if (ipCount === 0) {
    throw fail('the regex has no __IP__', 'Put __IP__ where the offending address stands, e.g. "Failed password for .* from __IP__ port \\d+ ssh2$".')
  }
  if (ipCount > 1) {
    throw fail(`__IP__ appears ${ipCount} times`, 'Use __IP__ once per regex: it marks the one address to ban; write one regex per line.')
  }
  return {anchored: source.startsWith('^') || endsWithDollar, js: out, literal: best.length >= 3 ? best : ''}
}

/** Translates a character class starting at `start` ("["); returns the JavaScript text and the index after "]". */
function translateClass(source: string, start: number, fail: (reason: string, hint: string) => ConfigError): {js: string; next: number} {
  let i = start + 1
  let js = '['
  if (source[i] === '^') {
    js += '^'
    i++
  }
  const contentStart = i
  while (i < source.length) {
    const c = source[i]
    if (source.startsWith(IP_PLACEHOLDER, i)) {
      throw fail('__IP__ inside a character class "[…]"', 'Put __IP__ outside the brackets.')
    }
    if (c === '\\') {
      const d = source[i + 1]
      if (d === undefined) break
      if (isAsciiLetter(d)) {
        const hint = ONIGMO_ESCAPES[d]
        if (hint !== undefined || !JS_ESCAPE_LETTERS.has(d)) {
          throw fail(`"\\${d}" is not supported in JavaScript regular expressions`,
            hint === undefined ? 'Remove the backslash or list the characters.' : `${capitalise(hint)}.`)
        }
        refuseNonLinearEscape(source, i + 1, fail)
        const end = escapeEnd(source, i + 1)
        js += source.slice(i, end)
        i = end
        continue
      }
      js += isDigit(d) ? source.slice(i, i + 2) : escapeLiteral(d, true)
      i += 2
      continue
    }
    if (c === '[' && source[i + 1] === ':') {
      throw fail('POSIX bracket expressions ("[[:alpha:]]") are not supported in JavaScript regular expressions',
        'List the characters instead, e.g. "[a-zA-Z]" for [:alpha:], "[0-9]" for [:digit:], "\\s" for [:space:].')
    }
    if (c === '[' && source[i + 1] === '[') {
      throw fail('nested character classes are not supported in JavaScript regular expressions', 'Merge them into one class.')
    }
    if (c === '&' && source[i + 1] === '&') {
      throw fail('class intersection ("&&") is not supported in JavaScript regular expressions', 'List the characters of the intersection.')
    }
    if (c === ']') {
      if (i === contentStart) { // "[]…]" / "[^]…]": a literal "]" first, as in Onigmo
        js += '\\]'
        i++
        continue
      }
      return {js: `${js}]`, next: i + 1}
    }
    if (isHighSurrogate(c.charCodeAt(0)) || isLowSurrogate(c.charCodeAt(0))) {
      throw fail('a character beyond U+FFFF inside a character class "[…]"',
        'Write it outside the class (as an alternative "(?:…|…)"): pattern regexes run without the u flag, so a class holds UTF-16 units.')
    }
    js += c === '[' ? '\\[' : c
    i++
  }
  throw fail('unclosed "["', 'Close the character class with "]", or escape a literal bracket as "\\[".')
}

/** The text of a group opener at `start` ("(", "(?:", "(?<name>"), or an error for lookarounds and Onigmo-only groups. */
function groupOpener(source: string, start: number, fail: (reason: string, hint: string) => ConfigError): string {
  if (source[start + 1] !== '?') return '('
  const kind = source[start + 2]
  const lookaround = kind === '=' || kind === '!' || (kind === '<' && (source[start + 3] === '=' || source[start + 3] === '!'))
  if (lookaround) {
    throw fail('lookarounds ("(?=…)", "(?!…)", "(?<=…)", "(?<!…)") cannot run in linear time',
      'Match the text instead, e.g. "[^\\s-]\\S*" for "(?!-)\\S+"; the anchor already keeps attacker text from following __IP__.')
  }
  if (kind === ':') return source.slice(start, start + 3)
  if (kind === '<') {
    const close = source.indexOf('>', start + 3)
    const name = close === -1 ? '' : source.slice(start + 3, close)
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw fail(`invalid group name "${name}"`, 'Name groups with letters, digits and "_", e.g. "(?<user>\\S+)".')
    }
    if (name === 'ip') throw fail('the group name "ip" is reserved for __IP__', 'Use __IP__ for the address, or rename the group.')
    return source.slice(start, close + 1)
  }
  const what: Record<string, string> = {
    '#': 'comment groups "(?#…)"',
    "'": 'group names in quotes "(?\'name\'…)"',
    '(': 'conditionals "(?(cond)…)"',
    '>': 'atomic groups "(?>…)"',
    '~': 'absent operators "(?~…)"',
  }
  if (kind !== undefined && what[kind] !== undefined) {
    throw fail(`${what[kind]} are not supported in JavaScript regular expressions`,
      kind === "'" ? 'Write "(?<name>…)".' : kind === '#' ? 'Put comments on a "#" line of their own.' : 'Rewrite the regex without it; anchored patterns rarely need it.')
  }
  throw fail(`inline options "(?${kind ?? ''}…)" are not supported in JavaScript regular expressions`,
    'Remove them and spell out the cases, e.g. "[Ff]ailed" instead of "(?i)failed".')
}

const BACKREF_HINT = 'Repeat the pattern of the group instead of referring back to it; diswall runs pattern regexes in a linear-time engine.'

/** Refuses the escapes V8's linear-time engine cannot run or that mean something else without the u flag. */
function refuseNonLinearEscape(source: string, at: number, fail: (reason: string, hint: string) => ConfigError): void {
  const d = source[at]
  if (d === 'k') throw fail('named back-references ("\\k<name>") cannot run in linear time', BACKREF_HINT)
  if (d === 'p' || d === 'P') {
    throw fail(`Unicode property escapes ("\\${d}{…}") are not supported: pattern regexes run in a linear-time engine without the u flag`,
      'List the characters instead, e.g. "[A-Za-z]" for letters in ASCII logs.')
  }
  if (d === 'u' && source[at + 1] === '{') {
    throw fail('"\\u{…}" is not supported: pattern regexes run in a linear-time engine without the u flag',
      'Write "\\uHHHH" or the character itself.')
  }
}

/** Index after the escape whose letter is at `at` (\xHH, \uHHHH, \u{…}, \cX, \p{…}, \k<name>, or one letter). */
function escapeEnd(source: string, at: number): number {
  const d = source[at]
  if (d === 'x') return at + 3
  if (d === 'c') return at + 2
  if (d === 'u') {
    if (source[at + 1] === '{') {
      const close = source.indexOf('}', at)
      return close === -1 ? source.length : close + 1
    }
    return at + 5
  }
  if ((d === 'p' || d === 'P') && source[at + 1] === '{') {
    const close = source.indexOf('}', at)
    return close === -1 ? source.length : close + 1
  }
  if (d === 'k' && source[at + 1] === '<') {
    const close = source.indexOf('>', at)
    return close === -1 ? source.length : close + 1
  }
  return at + 1
}

/** A quantifier `{n}`, `{n,}` or `{n,m}` at `start`, or undefined when the brace is a literal one. */
function braceQuantifier(source: string, start: number): {min: number; max: number; text: string} | undefined {
  const m = /^\{(\d{1,6})(,(\d{0,6}))?\}/.exec(source.slice(start, start + 16))
  if (m === null) return undefined
  const min = Number(m[1])
  const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3])
  return {max, min, text: m[0]}
}

/** An escaped punctuation character, written so that a `u` regex accepts it. */
function escapeLiteral(d: string, inClass: boolean): string {
  if (JS_SYNTAX.has(d) || (inClass && d === '-')) return `\\${d}`
  const code = d.codePointAt(0)!
  if (code < 0x80) return `\\x${code.toString(16).padStart(2, '0')}`
  return d // an escaped non-ASCII character is the character itself
}

function isAsciiLetter(c: string): boolean {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff
}

function isDigit(c: string): boolean {
  return c >= '0' && c <= '9'
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}
