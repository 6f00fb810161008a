import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {test} from 'node:test'

import {renderConfigReference} from '../../src/lib/config/index.js'
import {ExitCode} from '../../src/lib/errors.js'

test('readme - the configuration table matches the config schema', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const table = readme.match(/<!-- config-reference:start -->\n([\s\S]*?)<!-- config-reference:end -->/)?.[1]
  assert.ok(table, 'README.md lacks the config-reference markers')
  assert.equal(table, renderConfigReference(),
    'README.md is out of date: paste the output of renderConfigReference() between the markers')
})

/** Every `.ts` file below a directory. */
function sourceFiles(dir: URL): URL[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => {
    if (e.isDirectory()) return sourceFiles(new URL(`${e.name}/`, dir))
    return e.name.endsWith('.ts') ? [new URL(e.name, dir)] : []
  })
}

/**
 * The error codes src uses (quoted `'E_…'` strings), each with its exit code where the code is given
 * beside an `ExitCode.…` in the same call (`super(message, 'E_BUSY', ExitCode.COMMAND_FAILED, …)`).
 */
function codesInSource(): Map<string, Set<number>> {
  const codes = new Map<string, Set<number>>()
  for (const file of sourceFiles(new URL('../../src/', import.meta.url))) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/['"](E_[A-Z0-9_]+)['"]/g)) {
      const exits = codes.get(m[1]) ?? new Set<number>()
      codes.set(m[1], exits)
      const after = text.slice(m.index + m[0].length).split(/['"]E_[A-Z0-9_]+['"]|;|\n\s*\n/)[0].slice(0, 200)
      const exit = /ExitCode\.([A-Z_]+)/.exec(after)?.[1]
      if (exit) exits.add(ExitCode[exit as keyof typeof ExitCode])
    }
  }
  return codes
}

/** The rows of the README's table of error codes: code → exit codes (`5`, or `130, 143` for signals). */
function codesInReadme(): Map<string, number[]> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const section = readme.match(/\n### Exit codes\n([\s\S]*?)\n##/)?.[1]
  assert.ok(section, 'README.md lacks the section "### Exit codes"')
  const rows = [...section.matchAll(/^\| `(E_[A-Z0-9_]+)` \| (\d+(?:, \d+)*) \|/gm)]
  return new Map(rows.map((r) => [r[1]!, r[2]!.split(', ').map(Number)]))
}

test('readme - the finder of error codes sees literal codes and their exit codes, and only those', () => {
  const codes = codesInSource()
  assert.deepEqual([...codes.get('E_BUSY') ?? []], [ExitCode.COMMAND_FAILED])
  assert.deepEqual([...codes.get('E_INTERNAL') ?? []], [ExitCode.INTERNAL])
  assert.deepEqual([...codes.get('E_UNKNOWN_COMMAND') ?? []], [ExitCode.USAGE])
  assert.ok(codes.has('E_NATS')) // a default parameter, its exit code in the class
  assert.ok(![...codes.keys()].some((c) => c.endsWith('_')), 'no partial codes')
})

test('readme - the table of error codes lists every code src uses, with its exit code, and no other', () => {
  const used = codesInSource()
  const listed = codesInReadme()
  const missing = [...used.keys()].filter((c) => !listed.has(c)).sort()
  assert.deepEqual(missing, [], `README.md "Exit codes" lacks a row "| \`CODE\` | EXIT | meaning |" for: ${missing.join(', ')}`)
  const stale = [...listed.keys()].filter((c) => !used.has(c)).sort()
  assert.deepEqual(stale, [], `README.md "Exit codes" lists codes that src no longer uses: ${stale.join(', ')}`)
  for (const [code, exits] of used) {
    for (const exit of exits) assert.ok(listed.get(code)?.includes(exit), `README.md gives ${code} exit ${listed.get(code)?.join(', ')}, src exits ${exit}`)
  }
})
