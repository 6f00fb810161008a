/**
 * Finds the line of a key in TOML text. @iarna/toml gives no source positions for keys, so this scans
 * the text for table headers and `key =` lines, skipping strings (also multi-line ones), comments and
 * multi-line arrays, and remembers where each key, and each element of an array value, starts.
 * Good enough for error messages; it never decides whether the text is valid (the TOML parser does).
 */

/** Where keys are in a text. Lines are 1-based. */
export interface KeyLocator {
  /**
   * The line of a key path (`['nats', 'port']`), or of element `index` of its array value. Falls back to
   * the first key under the path (a section named only through `[a.b]`), then to the closest enclosing
   * key or header (keys of inline tables); undefined if nothing matches.
   */
  lineOf(path: readonly string[], index?: number): number | undefined
}

/** Scans a TOML text once and returns a locator for its keys. */
export function locateKeys(text: string): KeyLocator {
  const keys = new Map<string, number>()
  const elements = new Map<string, number[]>()
  new Scanner(text, keys, elements).scan()
  return {
    lineOf(path, index) {
      const id = pathId(path)
      if (index !== undefined) {
        const line = elements.get(id)?.[index]
        if (line !== undefined) return line
      }
      const exact = keys.get(id)
      if (exact !== undefined) return exact
      let under: number | undefined
      for (const [other, line] of keys) {
        if (other.startsWith(id.slice(0, -1) + ',') && (under === undefined || line < under)) under = line
      }
      if (under !== undefined) return under
      for (let n = path.length - 1; n > 0; n--) {
        const line = keys.get(pathId(path.slice(0, n)))
        if (line !== undefined) return line
      }
      return undefined
    },
  }
}

function pathId(path: readonly string[]): string {
  return JSON.stringify(path)
}

const BARE_KEY = /[A-Za-z0-9_-]/

class Scanner {
  private i = 0
  private line = 1

  constructor(
    private readonly s: string,
    private readonly keys: Map<string, number>,
    private readonly elements: Map<string, number[]>,
  ) {}

  scan(): void {
    let table: string[] = []
    while (this.i < this.s.length) {
      const c = this.s[this.i]
      if (c === ' ' || c === '\t' || c === '\r' || c === '\n' || c === '\uFEFF') {
        this.advance()
      } else if (c === '#') {
        this.skipToEol()
      } else if (c === '[') {
        const line = this.line
        this.advance()
        if (this.s[this.i] === '[') this.advance() // [[array of tables]]
        table = this.readKeyPath()
        this.record(table, line)
        this.skipToEol()
      } else {
        const line = this.line
        const path = this.readKeyPath()
        this.skipBlanks()
        if (path.length === 0 || this.s[this.i] !== '=') {
          this.skipToEol() // not a key line; the TOML parser reports it
          continue
        }
        this.advance()
        const full = [...table, ...path]
        this.record(full, line)
        this.skipValue(full)
      }
    }
  }

  private record(path: string[], line: number): void {
    const id = pathId(path)
    if (!this.keys.has(id)) this.keys.set(id, line)
  }

  private advance(): void {
    if (this.s[this.i] === '\n') this.line++
    this.i++
  }

  private skipBlanks(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++
  }

  private skipToEol(): void {
    while (this.i < this.s.length && this.s[this.i] !== '\n') this.i++
  }

  /** `a.b."c d".'e'` up to `=` or `]`; returns the decoded parts. */
  private readKeyPath(): string[] {
    const parts: string[] = []
    for (;;) {
      this.skipBlanks()
      const c = this.s[this.i]
      if (c === '"') parts.push(this.readBasicString())
      else if (c === "'") parts.push(this.readLiteralString())
      else if (c !== undefined && BARE_KEY.test(c)) {
        const start = this.i
        while (this.i < this.s.length && BARE_KEY.test(this.s[this.i])) this.i++
        parts.push(this.s.slice(start, this.i))
      } else return parts
      this.skipBlanks()
      if (this.s[this.i] !== '.') return parts
      this.i++
    }
  }

  private readBasicString(): string {
    const start = this.i
    this.i++
    while (this.i < this.s.length && this.s[this.i] !== '"' && this.s[this.i] !== '\n') {
      if (this.s[this.i] === '\\') this.i++
      this.i++
    }
    if (this.s[this.i] === '"') this.i++
    const raw = this.s.slice(start, this.i)
    try {
      return JSON.parse(raw) as string
    } catch {
      return raw.slice(1, -1)
    }
  }

  private readLiteralString(): string {
    const start = ++this.i
    while (this.i < this.s.length && this.s[this.i] !== "'" && this.s[this.i] !== '\n') this.i++
    const value = this.s.slice(start, this.i)
    if (this.s[this.i] === "'") this.i++
    return value
  }

  /** Skips any string at the cursor, counting the lines of multi-line strings. */
  private skipString(): void {
    const quote = this.s[this.i]
    const triple = quote + quote + quote
    if (this.s.startsWith(triple, this.i)) {
      this.i += 3
      while (this.i < this.s.length && !this.s.startsWith(triple, this.i)) {
        if (quote === '"' && this.s[this.i] === '\\') this.advance()
        this.advance()
      }
      this.i += 3
      while (this.s[this.i] === quote) this.i++ // up to two quotes may end the content
      return
    }
    if (quote === '"') this.readBasicString()
    else this.readLiteralString()
  }

  /** Skips a value to the end of its line, or of its last line for multi-line arrays and strings. */
  private skipValue(path: string[]): void {
    let depth = 0
    let inArray = false
    let expectElement = false
    let index = -1
    while (this.i < this.s.length) {
      const c = this.s[this.i]
      if (c === '\n') {
        if (depth === 0) return
        this.advance()
      } else if (c === ' ' || c === '\t' || c === '\r') {
        this.i++
      } else if (c === '#') {
        this.skipToEol()
      } else {
        if (expectElement && c !== ']') {
          index++
          const id = pathId(path)
          const lines = this.elements.get(id) ?? []
          lines[index] = this.line
          this.elements.set(id, lines)
        }
        expectElement = false
        if (c === '"' || c === "'") {
          this.skipString()
        } else if (c === '[' || c === '{') {
          if (depth === 0 && c === '[') {
            inArray = true
            expectElement = true
          }
          depth++
          this.i++
        } else if (c === ']' || c === '}') {
          depth = Math.max(0, depth - 1)
          this.i++
        } else if (c === ',') {
          if (depth === 1 && inArray) expectElement = true
          this.i++
        } else {
          this.i++
        }
      }
    }
  }
}
