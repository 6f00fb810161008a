// The import graph of diswall, checked by `npm run depcheck` (also part of `npm run lint` and CI).
// The rules state the layout of DESIGN.md "Layout" and STYLE.md section 2: dependencies run one way,
// each outside package has one owner, and a folder is entered through its index.ts.

/** Folders of src/lib (firewall/sets and firewall/ruleset are folders of their own). */
const FOLDER = '^src/lib/(firewall/[^/]+|[^/]+)/'
/** The public surface of a folder: its own index.ts, not the index.ts of a subfolder. */
const FOLDER_INDEX = '^src/lib/(firewall/[^/]+|[^/]+)/index\\.ts$'

const BASE = ['errors', 'net', 'system', 'config']
const MIDDLE = ['firewall/sets', 'firewall/ruleset', 'detect', 'transport', 'service', 'enforce']

/**
 * What each folder of src/lib may import besides itself (errors.ts is src/lib/errors.ts).
 * base: errors ← net ← system ← config; middle: the base (enforce also the firewall, ruleset also
 * the sets); top: daemon, server, install and ops use everything below them, server and
 * daemon never import each other, and install (the operator's tools: install, boot, why) reads the
 * daemon's snapshot, journal and status. lab (namespaces, nats-server, processes for demo, tests and
 * bench) may use anything in src/lib.
 */
const MAY_IMPORT = {
  'net': ['errors'],
  'system': ['errors'],
  'config': ['errors', 'net', 'system'],
  'firewall/sets': BASE,
  'firewall/ruleset': [...BASE, 'firewall/sets'],
  'detect': BASE,
  'transport': BASE,
  'service': BASE,
  'enforce': [...BASE, 'firewall/sets', 'firewall/ruleset'],
  'ops': [...BASE, ...MIDDLE, 'install'],
  'install': [...BASE, ...MIDDLE, 'ops', 'daemon'],
  'daemon': [...BASE, ...MIDDLE, 'ops'],
  'server': [...BASE, ...MIDDLE, 'install', 'ops'],
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const folderPath = (folder) => folder === 'errors' ? '^src/lib/errors\\.ts$' : `^src/lib/${escapeRegExp(folder)}/`

const layerRules = Object.entries(MAY_IMPORT).map(([folder, allowed]) => ({
  name: `layer-${folder.replace('/', '-')}`,
  comment: `src/lib/${folder} may import only ${allowed.join(', ')} (and itself): dependencies point down the layers.`,
  severity: 'error',
  from: {path: folderPath(folder)},
  to: {path: '^src/', pathNot: [folder, ...allowed].map(folderPath)},
}))

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'A cycle ties its modules into one unit that cannot be loaded, tested or moved apart.',
      severity: 'error',
      from: {path: '^src/'},
      to: {circular: true},
    },
    {
      name: 'src-not-to-test-or-bench',
      comment: 'Product code never depends on tests or benchmarks.',
      severity: 'error',
      from: {path: '^src/'},
      to: {path: '^(test|bench)/'},
    },
    {
      name: 'lib-not-to-cli',
      comment: 'src/lib returns data and emits events; only src/commands and base-command.ts render (oclif, chalk, listr2).',
      severity: 'error',
      from: {path: '^src/lib/'},
      to: {path: ['^src/commands/', '^src/base-command\\.ts$', 'node_modules/(@oclif/core|chalk|listr2)/']},
    },
    {
      name: 'errors-at-the-bottom',
      comment: 'src/lib/errors.ts imports nothing of diswall: every layer may use it.',
      severity: 'error',
      from: {path: '^src/lib/errors\\.ts$'},
      to: {path: '^src/'},
    },
    ...layerRules,
    {
      name: 'lab-only-from-commands',
      comment: 'src/lib/lab (namespaces, nats-server, processes) serves demo, tests and bench; the rest of src/lib does not use it.',
      severity: 'error',
      from: {path: '^src/lib/', pathNot: '^src/lib/lab/'},
      to: {path: '^src/lib/lab/'},
    },
    {
      name: 'nats-only-in-transport',
      comment: 'The NATS client has one owner: src/lib/transport.',
      severity: 'error',
      from: {path: '^src/', pathNot: '^src/lib/transport/'},
      to: {path: 'node_modules/nats/'},
    },
    {
      name: 'sqlite-only-in-store',
      comment: 'The SQLite driver has one owner: src/lib/server/store.',
      severity: 'error',
      from: {path: '^src/', pathNot: '^src/lib/server/store/'},
      to: {path: 'node_modules/better-sqlite3/'},
    },
    {
      name: 'processes-only-in-system',
      comment: 'Every external program starts in src/lib/system (argument arrays, no shell, typed errors).',
      severity: 'error',
      from: {path: '^src/', pathNot: '^src/lib/system/'},
      to: {path: ['node_modules/execa/', '^(node:)?child_process$']},
    },
    {
      name: 'folder-entered-through-index',
      comment: 'From outside a folder of src/lib, import its index.ts: the named list there is what the folder promises.',
      severity: 'error',
      from: {path: FOLDER},
      // system/paths.ts is a leaf of constants: config and detect read it directly, because system's index
      // loads execa (~0.15 s of start-up on 2 vCPU) that reading a config (every command) does not need.
      to: {path: '^src/lib/.+/', pathNot: ['^src/lib/$1/', FOLDER_INDEX, '^src/lib/system/paths[.]ts$']},
    },
    {
      name: 'folder-entered-through-index-from-outside-lib',
      comment: 'Commands and the files directly in src/lib import a folder of src/lib through its index.ts.',
      severity: 'error',
      from: {path: '^src/', pathNot: FOLDER},
      // ops/lists.ts is what the allow/block commands run: ops's index also loads ops/ruleset.ts and the
      // whole ruleset compiler (~40 ms of CPU at start-up on 2 vCPU), which adding an address does not need.
      // daemon/status.ts is what `status` runs: daemon's index loads the whole agent (~60 modules).
      to: {path: '^src/lib/.+/', pathNot: [FOLDER_INDEX, '^src/lib/ops/lists[.]ts$', '^src/lib/daemon/status[.]ts$']},
    },
  ],
  options: {
    doNotFollow: {path: 'node_modules'},
    exclude: {path: '^dist/'},
    // `import type` counts: a type import up the layers couples the folders as much as a value import.
    tsPreCompilationDeps: true,
    tsConfig: {fileName: 'tsconfig.json'},
    enhancedResolveOptions: {
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      exportsFields: ['exports'],
      extensions: ['.ts', '.js', '.json'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    reporterOptions: {text: {highlightFocused: true}},
  },
}
