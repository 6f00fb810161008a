/**
 * The systemd units diswall installs, rendered from the paths they run with, and a small parser of unit
 * files that checks the keys the units depend on (for hosts and CI machines without `systemd-analyze`).
 * Pure: nothing is read or written here.
 */
import {UNIT_NAMES} from '../system/index.js'

/** What the units run and where: every path as it is on the live host (never a staging root). */
export interface UnitParams {
  /** The program and its arguments in front of a diswall command: `[node, /usr/lib/node_modules/diswall/bin/run.js]`. */
  command: readonly string[]
  /** The config file (`--config`). */
  configFile: string
  /** `[daemon] state_dir`. */
  stateDir: string
  /** Whether to render diswall-server.service too. */
  server: boolean
}

/** The default state directory, which `StateDirectory=diswall` creates with the right mode. */
const SYSTEMD_STATE_DIR = '/var/lib/diswall'

/**
 * Quotes one word of an ExecStart= line the way systemd splits it (systemd.syntax(7)): words without
 * space, quotes, backslashes, `$` or `%` stay bare; others are double-quoted with `\`, `"` escaped, and
 * `%` doubled (a specifier otherwise) and `$` doubled (an environment variable otherwise).
 */
export function quoteExecWord(word: string): string {
  if (word === '') return '""'
  const escaped = word.replaceAll('%', () => '%%').replaceAll('$', () => '$$') // functions: in a replacement string "$$" is one "$"
  if (/^[\w@%+=:,./-]+$/.test(word)) return escaped
  return `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', String.raw`\"`)}"`
}

/** Quotes a path in a list setting such as ReadWritePaths= (split on spaces, `%` specifiers, no `$`). */
export function quoteUnitPath(path: string): string {
  const escaped = path.replaceAll('%', () => '%%')
  return /^[\w@%+=:,./-]+$/.test(path) ? escaped : `"${escaped.replaceAll('\\', '\\\\').replaceAll('"', String.raw`\"`)}"`
}

function execLine(params: UnitParams, ...args: string[]): string {
  return [...params.command, ...args, '--config', params.configFile].map((w) => quoteExecWord(w)).join(' ')
}

/**
 * `diswall.service`, the daemon. Every hardening directive is checked against what the daemon does:
 * - CAP_NET_ADMIN: ipset, iptables, nft, `ss -K`, conntrack, binding an NFLOG group; CAP_NET_RAW: raw
 *   sockets of the tools (iptables' and ss's netlink dumps on some kernels).
 * - CAP_SYSLOG: reading /dev/kmsg with `kernel.dmesg_restrict=1` (Debian's default).
 * - CAP_DAC_READ_SEARCH: service logs of other users (nginx's `www-data:adm 0640` access log).
 * - CAP_SETUID, CAP_SETGID, CAP_SETPCAP, CAP_KILL: the NFLOG source starts tcpdump through `setpriv` as
 *   user tcpdump with CAP_NET_ADMIN only, and stops it (another user's process) when it ends.
 * - ProtectSystem=strict with ReadWritePaths: the state directory (snapshot, journal, kmsg position),
 *   /run (the control socket in /run/diswall and iptables' /run/xtables.lock); LogsDirectory creates
 *   /var/log/diswall, where the named pipe of the `pipe` source and a `--log-file` may go.
 * - ProtectHome=read-only, not yes: `npm install -g` under nvm puts diswall itself in /root or /home.
 * - ProtectKernelTunables: the daemon only reads /proc/sys (boot_id); ProtectKernelLogs stays off, it
 *   would hide /dev/kmsg. NoNewPrivileges: setpriv drops privileges, it gains none.
 * - No MemoryDenyWriteExecute: V8's JIT needs writable executable memory. No PrivateNetwork or
 *   RestrictAddressFamilies beyond the list: the daemon manages the host's own network namespace.
 * - Restart=always with StartLimitIntervalSec=0: a firewall daemon keeps trying; but not after exit 3
 *   (E_CONFIG), which a restart cannot fix: the unit stays failed and `systemctl status` shows why.
 * - KillMode=mixed and TimeoutStopSec=120: SIGTERM goes to the daemon only, which stops its helpers and
 *   saves the snapshot of up to 1,000,000 entries (a few seconds) before it exits.
 */
export function renderDaemonUnit(params: UnitParams): string {
  const extra = params.stateDir === SYSTEMD_STATE_DIR ? '' : ` ${quoteUnitPath(params.stateDir)}`
  return `# Installed by "diswall install"; "diswall install" rewrites it, "systemctl edit diswall" keeps your changes.
[Unit]
Description=diswall daemon: detection, kernel sets and fleet-wide bans
Documentation=man:systemd.exec(5)
Wants=${UNIT_NAMES.firewall} network-online.target
After=${UNIT_NAMES.firewall} network-online.target
StartLimitIntervalSec=0

[Service]
Type=simple
ExecStart=${execLine(params, 'daemon')}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2
RestartPreventExitStatus=3
KillMode=mixed
TimeoutStopSec=120
SyslogIdentifier=diswall
Environment=NODE_ENV=production
StateDirectory=diswall
StateDirectoryMode=0700
RuntimeDirectory=diswall
RuntimeDirectoryMode=0700
LogsDirectory=diswall
LogsDirectoryMode=0700
CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_SYSLOG CAP_DAC_READ_SEARCH CAP_SETUID CAP_SETGID CAP_SETPCAP CAP_KILL
ProtectSystem=strict
ReadWritePaths=/run${extra}
ProtectHome=read-only
PrivateTmp=yes
NoNewPrivileges=yes
ProtectClock=yes
ProtectHostname=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictNamespaces=~user pid ipc uts cgroup
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK AF_PACKET
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`
}

/**
 * `diswall-firewall.service`: at boot, before any network interface is up (`Before=network-pre.target`,
 * as nftables.service does), it restores the kernel sets from the snapshot and the journal and applies
 * the firewall directory, so a booting host is never open. Not hardened beyond the defaults: local.d
 * scripts run in it, and they are the operator's own root scripts.
 */
export function renderFirewallUnit(params: UnitParams): string {
  return `# Installed by "diswall install"; "diswall install" rewrites it, "systemctl edit diswall-firewall" keeps your changes.
[Unit]
Description=diswall firewall: kernel sets and ruleset restored before the network comes up
DefaultDependencies=no
Wants=network-pre.target
Before=network-pre.target shutdown.target
After=local-fs.target systemd-modules-load.service
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=${execLine(params, 'firewall', 'boot')}
TimeoutStartSec=300
SyslogIdentifier=diswall-firewall

[Install]
WantedBy=sysinit.target
`
}

/**
 * `diswall-server.service`, the central server: it needs no capability at all (a NATS client and a
 * SQLite file in the state directory).
 */
export function renderServerUnit(params: UnitParams): string {
  const extra = params.stateDir === SYSTEMD_STATE_DIR ? '' : `\nReadWritePaths=${quoteUnitPath(params.stateDir)}`
  return `# Installed by "diswall install --server"; "diswall install" rewrites it, "systemctl edit diswall-server" keeps your changes.
[Unit]
Description=diswall server: ban store, escalation and fleet-wide broadcast
Wants=network-online.target
After=network-online.target

[Service]
Type=simple
ExecStart=${execLine(params, 'server')}
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2
TimeoutStopSec=60
SyslogIdentifier=diswall-server
StateDirectory=diswall
StateDirectoryMode=0700
CapabilityBoundingSet=
NoNewPrivileges=yes
ProtectSystem=strict${extra}
ProtectHome=read-only
PrivateTmp=yes
PrivateDevices=yes
ProtectClock=yes
ProtectHostname=yes
ProtectKernelLogs=yes
ProtectKernelModules=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`
}

/** The units to install, by file name; the server unit only with `server`. */
export function renderUnits(params: UnitParams): Record<string, string> {
  return {
    [UNIT_NAMES.daemon]: renderDaemonUnit(params),
    [UNIT_NAMES.firewall]: renderFirewallUnit(params),
    ...(params.server ? {[UNIT_NAMES.server]: renderServerUnit(params)} : {}),
  }
}

/** A unit file as sections of keys, each key with its values in order (a key may repeat). */
export type ParsedUnit = Map<string, Map<string, string[]>>

/**
 * Parses a unit file (systemd.syntax(7): `[Section]`, `Key=Value`, `#`/`;` comments, `\` continuation).
 * @returns the sections, or the first problem as `line N: reason`.
 */
export function parseUnitFile(text: string): {problems: string[]; unit: ParsedUnit} {
  const unit: ParsedUnit = new Map()
  const problems: string[] = []
  let section: Map<string, string[]> | undefined
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!.trim()
    const number = i + 1
    while (line.endsWith('\\') && i + 1 < lines.length) line = line.slice(0, -1) + ' ' + lines[++i]!.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const header = /^\[([^\]]+)\]$/.exec(line)
    if (header) {
      section = unit.get(header[1]!) ?? new Map()
      unit.set(header[1]!, section)
      continue
    }
    const eq = line.indexOf('=')
    if (eq <= 0) {
      problems.push(`line ${number}: not a Key=Value assignment: ${line}`)
      continue
    }
    if (section === undefined) {
      problems.push(`line ${number}: assignment before the first [Section]`)
      continue
    }
    const key = line.slice(0, eq).trim()
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key)) problems.push(`line ${number}: bad key name ${JSON.stringify(key)}`)
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1).trim()])
  }
  return {problems, unit}
}

/** What a unit must have, by the unit's role: section, key, and a test of its last value. */
const REQUIRED: Record<'daemon' | 'firewall' | 'server', Array<[string, string, (v: string) => boolean]>> = {
  daemon: [
    ['Service', 'Type', (v) => v === 'simple'],
    ['Service', 'Restart', (v) => v === 'always'],
    ['Service', 'TimeoutStopSec', (v) => Number(v) >= 60],
    ['Service', 'KillMode', (v) => v === 'mixed'],
    ['Service', 'CapabilityBoundingSet', (v) => ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYSLOG'].every((c) => v.split(/\s+/).includes(c))],
    ['Service', 'ProtectSystem', (v) => v === 'strict'],
    ['Service', 'ReadWritePaths', (v) => v.split(/\s+/).includes('/run')],
    ['Install', 'WantedBy', (v) => v === 'multi-user.target'],
  ],
  firewall: [
    ['Unit', 'DefaultDependencies', (v) => v === 'no'],
    ['Unit', 'Wants', (v) => v.split(/\s+/).includes('network-pre.target')],
    ['Unit', 'Before', (v) => v.split(/\s+/).includes('network-pre.target')],
    ['Service', 'Type', (v) => v === 'oneshot'],
    ['Service', 'RemainAfterExit', (v) => v === 'yes'],
    ['Install', 'WantedBy', (v) => v === 'sysinit.target'],
  ],
  server: [
    ['Service', 'Type', (v) => v === 'simple'],
    ['Service', 'Restart', (v) => v === 'always'],
    ['Install', 'WantedBy', (v) => v === 'multi-user.target'],
  ],
}

/**
 * Checks a rendered unit with {@link parseUnitFile}: it parses, ExecStart= is an absolute program, and
 * the keys its role depends on have the values it needs. Returns the problems (none = fine).
 */
export function checkUnit(role: 'daemon' | 'firewall' | 'server', text: string): string[] {
  const {problems, unit} = parseUnitFile(text)
  const last = (section: string, key: string): string | undefined => unit.get(section)?.get(key)?.at(-1)
  const exec = last('Service', 'ExecStart')
  if (exec === undefined || !exec.startsWith('/')) problems.push('[Service] ExecStart= must start with an absolute path')
  for (const [section, key, ok] of REQUIRED[role]) {
    const value = last(section, key)
    if (value === undefined) problems.push(`[${section}] ${key}= is missing`)
    else if (!ok(value)) problems.push(`[${section}] ${key}=${value} is not what the ${role} unit needs`)
  }
  return problems
}
