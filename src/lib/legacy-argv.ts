/**
 * Translation of the original DisWall command line (`diswall --bl-add-ip 1.2.3.4 -c FILE`) into the
 * commands of diswall (`diswall block add 1.2.3.4 -c FILE`), so existing scripts and units keep
 * working. Pure: bin/run.js calls it before oclif parses anything.
 */

export interface LegacyTranslation {
  /** The argv to hand to oclif. */
  args: string[]
  /** The command the legacy flags asked for, when argv used the legacy form. */
  commandId?: string
  /** Legacy flags that have no equivalent in this version: the caller reports them. */
  unavailable: string[]
}

/** Options of the daemon and the NATS-using commands: legacy flag → new flag, `value` if it takes one. */
const PASS_THROUGH: Record<string, {flag: string; value: boolean}> = {
  '--allow-list': {flag: '--allow-set', value: true},
  '--block-list': {flag: '--block-set', value: true},
  '--config': {flag: '--config', value: true},
  '--debug': {flag: '--debug', value: false},
  '--local-only': {flag: '--local-only', value: false},
  '--log': {flag: '--log-file', value: true},
  '--name': {flag: '--nats-name', value: true},
  '--nats-server': {flag: '--nats-server', value: true},
  '--pass': {flag: '--nats-pass', value: true},
  '--pipe-file': {flag: '--pipe-file', value: true},
  '--port': {flag: '--nats-port', value: true},
  '-P': {flag: '--nats-port', value: true},
  '-a': {flag: '--allow-set', value: true},
  '-b': {flag: '--block-set', value: true},
  '-c': {flag: '--config', value: true},
  '-d': {flag: '--debug', value: false},
  '-f': {flag: '--pipe-file', value: true},
  '-l': {flag: '--local-only', value: false},
  '-n': {flag: '--nats-name', value: true},
  '-p': {flag: '--nats-pass', value: true},
  '-s': {flag: '--nats-server', value: true},
}

/** Legacy flags that select what to do. */
const ACTIONS = new Set([
  '--bl-add-ip', '--bl-del-ip', '--edit', '--generate', '--help', '--install', '--interface', '--kill',
  '--server', '--uninstall', '--update', '--version', '--wl-add-comm', '--wl-add-ip', '--wl-del-ip',
  '-e', '-g', '-h', '-i', '-k', '-v',
])

/** Flags that only the original program had, and what to use instead. */
const UNAVAILABLE: Record<string, string> = {
  '--edit': 'edit the files under /etc/diswall/firewall, then run: diswall firewall apply',
  '--update': 'update diswall with the package manager it was installed with',
}

/**
 * The commands the original DisWall had, as the translation names them. One that this version lacks
 * (`server`, `install`, …) is reported as E_NOT_AVAILABLE, whether reached by its legacy flag or typed.
 */
export const LEGACY_COMMANDS: readonly string[] = [
  'allow add', 'allow del', 'block add', 'block del', 'daemon', 'generate-config', 'install', 'server', 'status',
  'uninstall',
]

/** True when argv is in the legacy form: it starts with a flag of the original program. */
export function isLegacyArgv(argv: readonly string[]): boolean {
  const first = argv[0]
  if (first === undefined || !first.startsWith('-')) return false
  if (first === '--help' || first === '--version') return false // oclif's own
  const name = first.includes('=') ? first.slice(0, first.indexOf('=')) : first
  return ACTIONS.has(name) || name in PASS_THROUGH
}

/**
 * Translates a legacy argv; any other argv is returned unchanged.
 * `--wl-add-ip IP --wl-add-comm C` → `allow add IP --comment C`; `--bl-add-ip IP [-k]` →
 * `block add IP [--kill]`; `--server` → `server`; `-g` → `generate-config`; daemon flags without an
 * action → `daemon`.
 */
export function translateLegacyArgv(argv: readonly string[]): LegacyTranslation {
  if (!isLegacyArgv(argv)) return {args: [...argv], unavailable: []}

  const values = new Map<string, string>()
  const switches = new Set<string>()
  const passThrough: string[] = []
  const rest: string[] = []
  const unavailable: string[] = []

  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1
    const name = eq > 0 ? raw.slice(0, eq) : raw
    const inline = eq > 0 ? raw.slice(eq + 1) : undefined
    const takeValue = (): string | undefined => inline ?? (i + 1 < argv.length ? argv[++i] : undefined)

    const mapped = PASS_THROUGH[name]
    if (mapped) {
      if (!mapped.value) {
        passThrough.push(mapped.flag)
        continue
      }
      const value = takeValue()
      passThrough.push(mapped.flag)
      if (value !== undefined) passThrough.push(value)
      continue
    }

    switch (name) {
      case '--bl-add-ip': case '--bl-del-ip': case '--wl-add-comm': case '--wl-add-ip': case '--wl-del-ip': {
        const value = takeValue()
        values.set(name, value ?? '')
        break
      }

      case '--kill': case '-k': {
        // The original declared -k as a switch; with --bl-add-ip it means "cut its connections too".
        switches.add('kill')
        const next = argv[i + 1]
        if (inline !== undefined) values.set('kill', inline)
        else if (next !== undefined && !next.startsWith('-')) values.set('kill', argv[++i])
        break
      }

      case '--generate': case '-g': { switches.add('generate'); break }
      case '--help': case '-h': { switches.add('help'); break }
      case '--install': { switches.add('install'); break }
      case '--interface': case '-i': { switches.add('status'); break }
      case '--server': { switches.add('server'); break }
      case '--uninstall': { switches.add('uninstall'); break }
      case '--version': case '-v': { switches.add('version'); break }
      case '--edit': case '-e': case '--update': {
        unavailable.push(name === '-e' ? '--edit' : name)
        break
      }

      default: {
        rest.push(raw)
      }
    }
  }

  const build = (commandId: string, ...args: string[]): LegacyTranslation => ({
    args: [...commandId.split(' '), ...args, ...passThrough, ...rest],
    commandId,
    unavailable,
  })

  if (switches.has('help')) return {args: ['--help'], unavailable}
  if (switches.has('version')) return {args: ['--version'], unavailable}
  if (unavailable.length > 0) return {args: [], unavailable}
  if (switches.has('generate')) return build('generate-config')
  if (values.has('--wl-add-ip') || values.has('--wl-add-comm')) {
    const target = values.get('--wl-add-ip')
    const comment = values.get('--wl-add-comm')
    // Without --wl-add-ip, `allow add` reports the missing address instead of silently dropping the comment.
    return build('allow add', ...(target === undefined ? [] : [target]),
      ...(comment === undefined ? [] : ['--comment', comment]))
  }

  if (values.has('--wl-del-ip')) return build('allow del', values.get('--wl-del-ip')!)
  if (values.has('--bl-add-ip')) {
    return build('block add', values.get('--bl-add-ip')!, ...(switches.has('kill') ? ['--kill'] : []))
  }

  if (values.has('--bl-del-ip')) return build('block del', values.get('--bl-del-ip')!)
  if (values.has('kill')) return build('block add', values.get('kill')!, '--kill')
  if (switches.has('install')) return build('install')
  if (switches.has('uninstall')) return build('uninstall')
  if (switches.has('status')) return build('status')
  if (switches.has('server')) return build('server')
  return build('daemon')
}

/** The hint shown for a legacy flag that has no equivalent. */
export function legacyHint(flag: string): string | undefined {
  return UNAVAILABLE[flag]
}
