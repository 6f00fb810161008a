/**
 * Every default location of diswall's own files on a host, in one place, under a root directory: `/`
 * on a host, a staging directory for `install --root DIR`, a scratch directory for the demo. The config
 * defaults, the sources and the install code take their paths from here. Pure: nothing is read or created.
 *
 * Host files that diswall only reads (/etc/services, /var/log/wtmp, /dev/kmsg) are not here: they
 * belong to the host, not to diswall, and do not move with a staging root.
 */
import {isAbsolute, posix} from 'node:path'

import {InvalidValueError} from '../errors.js'

/** File names of the systemd units diswall installs. */
export const UNIT_NAMES = {
  /** `diswall daemon`, the per-host agent. */
  daemon: 'diswall.service',
  /** `diswall firewall apply` at boot, before the network is up. */
  firewall: 'diswall-firewall.service',
  /** `diswall server`, the central server. */
  server: 'diswall-server.service',
} as const

/** Every default path of diswall under one root; all absolute, normalised, without a trailing slash. */
export interface DiswallPaths {
  /** The root everything below lies under (`/` on a host). */
  readonly root: string
  /** The TOML config file (`-c/--config FILE`). */
  readonly configFile: string
  /** The firewall directory (`[firewall] dir`): incoming.d, outgoing.d, whitelist.d, … */
  readonly firewallDir: string
  /** `patterns.d/` of the default firewall directory, where the shipped pattern files go. */
  readonly patternsDir: string
  /** State and snapshots of the kernel sets (`[daemon] state_dir`). */
  readonly stateDir: string
  /** The SQLite database of the server (`[server] db`). */
  readonly serverDb: string
  /** The daemon's local control socket (`[daemon] socket`). */
  readonly controlSocket: string
  /** The server's local control socket (`[server] socket`). */
  readonly serverSocket: string
  /** The named pipe fed by rsyslog (`[detect] pipe_path`). */
  readonly pipe: string
  /** Where diswall's systemd units go (the administrator's unit directory, which overrides packages'). */
  readonly unitDir: string
  /** Full paths of the unit files, by role; names from {@link UNIT_NAMES}. */
  readonly units: {readonly [K in keyof typeof UNIT_NAMES]: string}
}

/** The layout relative to the root. */
const LAYOUT = {
  configFile: 'etc/diswall/diswall.conf',
  controlSocket: 'run/diswall/diswall.sock',
  firewallDir: 'etc/diswall/firewall',
  patternsDir: 'etc/diswall/firewall/patterns.d',
  pipe: 'var/log/diswall/diswall.pipe',
  serverDb: 'var/lib/diswall/diswall.db',
  serverSocket: 'run/diswall/server.sock',
  stateDir: 'var/lib/diswall',
  unitDir: 'etc/systemd/system',
} as const

/**
 * diswall's default paths under `root` (`/` by default): `defaultPaths('/srv/stage').configFile` is
 * `/srv/stage/etc/diswall/diswall.conf`. `root` is normalised (`/srv//stage/` = `/srv/stage`). Pure.
 * @throws InvalidValueError when `root` is not an absolute path: a relative one would depend on the
 * working directory, so the caller resolves it first (a command with `path.resolve`).
 */
export function defaultPaths(root = '/'): DiswallPaths {
  if (!isAbsolute(root)) {
    throw new InvalidValueError(`root directory must be an absolute path, got ${JSON.stringify(root)}`,
      'Give an absolute directory, e.g. /srv/diswall-stage.')
  }

  const base = posix.normalize(root)
  const under = (relative: string): string => posix.join(base, relative)
  const unitDir = under(LAYOUT.unitDir)
  return {
    configFile: under(LAYOUT.configFile),
    controlSocket: under(LAYOUT.controlSocket),
    firewallDir: under(LAYOUT.firewallDir),
    patternsDir: under(LAYOUT.patternsDir),
    pipe: under(LAYOUT.pipe),
    root: base.length > 1 ? base.replace(/\/+$/, '') : base,
    serverDb: under(LAYOUT.serverDb),
    serverSocket: under(LAYOUT.serverSocket),
    stateDir: under(LAYOUT.stateDir),
    unitDir,
    units: {
      daemon: posix.join(unitDir, UNIT_NAMES.daemon),
      firewall: posix.join(unitDir, UNIT_NAMES.firewall),
      server: posix.join(unitDir, UNIT_NAMES.server),
    },
  }
}

/** diswall's default paths on a host (root `/`). */
export const DEFAULT_PATHS: DiswallPaths = defaultPaths()
