import assert from 'node:assert/strict'
import {readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {test} from 'node:test'
import {fileURLToPath} from 'node:url'
import ts from 'typescript'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const LIB = join(ROOT, 'src', 'lib')

/** Every index.ts below src/lib, as paths relative to the repository. */
function findIndexFiles(dir: string): string[] {
  return readdirSync(dir, {withFileTypes: true}).sort((a, b) => (a.name < b.name ? -1 : 1)).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return findIndexFiles(path)
    return entry.name === 'index.ts' ? [relative(ROOT, path)] : []
  })
}

/**
 * The re-exports of a module that do not name what they export (`export * from`, `export type * from`,
 * `export * as ns from`), as "line: text".
 */
function unnamedReExports(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true)
  return source.statements
    .filter((s): s is ts.ExportDeclaration => ts.isExportDeclaration(s))
    .filter((s) => s.exportClause === undefined || ts.isNamespaceExport(s.exportClause))
    .map((s) => `${source.getLineAndCharacterOfPosition(s.getStart()).line + 1}: ${s.getText()}`)
}

test('structure - the check finds export * and export type *, and accepts named lists and local exports', () => {
  const text = [
    '/** export * from "./comment.js" in a comment is no export */',
    "export {a, b} from './a.js'",
    "export type {T} from './a.js'",
    "export * from './b.js'",
    "export type * from './c.js'",
    "export * as d from './d.js'",
    'export const E = 1',
  ].join('\n')
  assert.deepEqual(unnamedReExports('index.ts', text), [
    "4: export * from './b.js'",
    "5: export type * from './c.js'",
    "6: export * as d from './d.js'",
  ])
})

test('structure - every src/lib folder exports a named list from its index.ts, never export *', () => {
  const indexFiles = findIndexFiles(LIB)
  // src/lib has a dozen folders with an index.ts; finding none would mean the walk is broken.
  assert.ok(indexFiles.length >= 5, `only ${indexFiles.length} index.ts files found under src/lib`)
  const offenders = indexFiles.flatMap((file) =>
    unnamedReExports(file, readFileSync(join(ROOT, file), 'utf8')).map((found) => `${file}:${found}`))
  assert.deepEqual(offenders, [], 'name what the folder exports: export {a, b} from \'./x.js\' and export type {T} from \'./x.js\'')
})
