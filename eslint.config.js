// ESLint for diswall (flat config). Type errors are tsc's job (`npm run lint` runs both); these rules
// keep what review should not have to: import order, `.js` suffixes on relative imports, `import type`
// for types, line length, and the few formatting rules the code already follows. All but max-len and a
// few recommended checks are fixed by `eslint --fix`.
import js from '@eslint/js'
import stylistic from '@stylistic/eslint-plugin'
import {createTypeScriptImportResolver} from 'eslint-import-resolver-typescript'
import {importX} from 'eslint-plugin-import-x'
import tseslint from 'typescript-eslint'

import diswall from './scripts/eslint-plugin-diswall.js'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'oclif.manifest.json', 'bench/results/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      globals: {
        AbortController: 'readonly', Buffer: 'readonly', URL: 'readonly', clearInterval: 'readonly', clearTimeout: 'readonly',
        console: 'readonly', process: 'readonly', setImmediate: 'readonly', setInterval: 'readonly', setTimeout: 'readonly',
      },
      sourceType: 'module',
    },
    plugins: {'@stylistic': stylistic, diswall, 'import-x': importX},
    rules: {
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/eol-last': 'error',
      // Long user-facing strings and regexes stay on one line (greppable); code wraps at 160.
      '@stylistic/max-len': ['error', {code: 160, ignoreRegExpLiterals: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreUrls: true}],
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/quotes': ['error', 'single', {allowTemplateLiterals: 'always', avoidEscape: true}],
      '@stylistic/semi': ['error', 'never'],
      '@typescript-eslint/consistent-type-imports': ['error', {fixStyle: 'separate-type-imports', prefer: 'type-imports'}],
      // Test fakes and parsed JSON from tools are typed loosely on purpose; tsc's strict mode covers the rest.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      // noUnusedLocals/noUnusedParameters in tsconfig report these already, with the same meaning.
      '@typescript-eslint/no-unused-vars': 'off',
      'diswall/relative-import-suffix': 'error',
      'import-x/first': 'error',
      'import-x/newline-after-import': 'error',
      'import-x/no-duplicates': 'error',
      'import-x/order': ['error', {
        alphabetize: {caseInsensitive: true, order: 'asc'},
        groups: [['builtin', 'external'], ['parent', 'sibling', 'index']],
        'newlines-between': 'always',
      }],
      'no-control-regex': 'off', // parsers of tool output and log lines match control characters on purpose
    },
    settings: {
      'import-x/resolver-next': [createTypeScriptImportResolver({project: './tsconfig.test.json'})],
    },
  },
  {
    // scripts/ and bin/ are plain JavaScript run by node: no type imports to check.
    files: ['**/*.js', '**/*.cjs', '**/*.mjs'],
    rules: {'@typescript-eslint/consistent-type-imports': 'off'},
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {globals: {module: 'writable', require: 'readonly'}, sourceType: 'commonjs'},
    rules: {'@typescript-eslint/no-require-imports': 'off'},
  },
)
