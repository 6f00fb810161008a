// diswall's own ESLint rules (used by eslint.config.js).
//
// relative-import-suffix: a relative import names the file node loads, `./x.js` for `./x.ts` and
// `./dir/index.js` for a folder. Node's ESM resolver does no extension or index lookup, and tsc
// (module Node16) only reports the missing suffix without fixing it; eslint-plugin-import-x's
// `extensions` rule resolves `./x.js` to `x.ts` and then cannot tell a `.js` suffix from none.
import {existsSync, statSync} from 'node:fs'
import {dirname, resolve} from 'node:path'

const KNOWN_SUFFIX = /\.(c|m)?js$|\.json$|\.node$/

function isFile(path) {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** The specifier with the suffix it needs, or undefined when it is fine or cannot be found on disk. */
function fixedSpecifier(specifier, fromFile) {
  if (!specifier.startsWith('./') && !specifier.startsWith('../') && specifier !== '.' && specifier !== '..') return undefined
  if (KNOWN_SUFFIX.test(specifier)) return undefined
  const base = resolve(dirname(fromFile), specifier)
  if (specifier.endsWith('.ts') && isFile(base)) return specifier.replace(/\.ts$/, '.js')
  if (isFile(`${base}.ts`) || isFile(`${base}.js`)) return `${specifier}.js`
  if (existsSync(base) && (isFile(resolve(base, 'index.ts')) || isFile(resolve(base, 'index.js')))) {
    return `${specifier.replace(/\/$/, '')}/index.js`
  }

  return undefined
}

const relativeImportSuffix = {
  meta: {
    docs: {description: 'Relative imports carry the `.js` suffix of the file node loads (folders: `/index.js`).'},
    fixable: 'code',
    messages: {missing: 'Relative import "{{specifier}}" needs its suffix: "{{fixed}}".'},
    schema: [],
    type: 'problem',
  },
  create(context) {
    const check = (source) => {
      if (source?.type !== 'Literal' || typeof source.value !== 'string') return
      const fixed = fixedSpecifier(source.value, context.filename)
      if (fixed === undefined) return
      context.report({
        data: {fixed, specifier: source.value},
        fix: (fixer) => fixer.replaceText(source, `${source.raw[0]}${fixed}${source.raw[0]}`),
        messageId: 'missing',
        node: source,
      })
    }

    return {
      ExportAllDeclaration: (node) => check(node.source),
      ExportNamedDeclaration: (node) => check(node.source),
      ImportDeclaration: (node) => check(node.source),
      ImportExpression: (node) => check(node.source),
    }
  },
}

export default {meta: {name: 'eslint-plugin-diswall'}, rules: {'relative-import-suffix': relativeImportSuffix}}
