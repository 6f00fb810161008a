/**
 * The one description of the config file: every section and key, its type, its default and a one-line
 * doc. Defaults are defined here only (default paths come from system/paths.ts); parseConfig(),
 * renderConfig() and the README table derive from it.
 */
import {IPSET_MAX_TIMEOUT_SEC} from '../net/index.js'
// system/paths.js, not system/index.js: the index loads execa, ~0.15 s of start-up on 2 vCPU, which
// loading a config (generate-config, every command) does not need.
import {DEFAULT_PATHS} from '../system/paths.js'
import {
  bool,
  checkHost,
  checkListen,
  checkLogPrefix,
  checkNftName,
  checkSetName,
  checkSubjectToken,
  duration,
  durationList,
  ignored,
  int,
  oneOf,
  path,
  pathList,
  port,
  secret,
  str,
  strList,
  targetList,
} from './values.js'
import type {IgnoredKeySpec, KeySpec, ParsedValue} from './values.js'

const MAX_INT32 = 2_147_483_647

const SUBJECTS_IGNORED = 'NATS subjects derive from [nats] client_name and hostname'

const subject = (doc: string) => ignored(str('', doc), SUBJECTS_IGNORED)
const setName = (def: string, doc: string) => str(def, doc, {type: 'set name', validate: checkSetName})

/** A section of the file: a one-line doc and its keys, in the order renderConfig() writes them. */
export interface SectionSpec {
  readonly doc: string
  readonly keys: Readonly<Record<string, KeySpec<unknown>>>
}

function section<K extends Record<string, KeySpec<unknown>>>(doc: string, keys: K): {doc: string; keys: K} {
  return {doc, keys}
}

/**
 * Every key of the config file. The section named "" holds the top-level keys (they must come before
 * any `[section]` header in TOML). Key order is the order of the generated file.
 */
export const CONFIG_SCHEMA = {
  '': section('Top level: these keys keep the meaning they had in the original DisWall.', {
    local_only: bool(false, 'Protect this host only: no NATS, no shared bans, no init from the server.'),
    server_mode: bool(false, 'Run as the central server: `diswall daemon` then runs `diswall server` (as the original did).'),
    send_statistics: bool(true, 'Send hourly statistics to the server (never with client_name "default").'),
    ipset_white_list: setName('diswall-wl', 'Name of the allow set; the IPv6 twin is this name + "6".'),
    ipset_black_list: setName('diswall-bl', 'Name of the block set; the IPv6 twin is this name + "6".'),
    ignore_ips: targetList([], 'Addresses and CIDR networks that are never blocked, e.g. ["192.0.2.7", "10.0.0.0/8"].'),
    max_block_time: ignored(int(0, 'Unused since DisWall 0.7; accepted for old config files.', {max: MAX_INT32, min: 0}),
      'ban times come from [firewall] block_timeout and [server] escalation'),
  }),
  nats: section('NATS: how this host shares bans with the other hosts of its account.', {
    server: str('', 'Host name or address of the NATS server; "" = no NATS (the daemon runs local-only).',
      {type: 'host or ""', validate: checkHost}),
    port: port(4222, 'Port of the NATS server.'),
    client_name: str('default', 'Account (client) name: one NATS subject token, shared by the hosts of the account.',
      {type: 'subject token', validate: (value) => checkSubjectToken(value)}),
    client_pass: secret('default', 'Password of the account.'),
    hostname: str('', 'Name of this host in NATS subjects; "" = the system host name with "." replaced by "_".',
      {type: 'subject token or ""', validate: (value) => checkSubjectToken(value, {optional: true})}),
    honeypots: strList([], 'Server only: accounts whose reports are trusted and broadcast to every host.',
      {type: 'list of account names', validate: (value) => checkSubjectToken(value)}),
    tls: bool(false, 'Connect with TLS.'),
    tls_ca: path('', 'CA certificate file that signs the NATS server certificate; "" = system CAs.', {optional: true}),
    tls_cert: path('', 'Client certificate file for TLS client authentication; "" = none.', {optional: true}),
    tls_key: path('', 'Private key file of tls_cert; "" = none.', {optional: true}),
    creds: path('', 'NATS credentials file (JWT + NKey) used instead of client_name/client_pass; "" = none.',
      {optional: true}),
    connect_timeout: duration('10s', 'How long to wait for the NATS connection.'),
    request_timeout: duration('10s', 'How long to wait for a reply to a request (e.g. init).'),
    bl_init_subject: subject('DisWall subject; ignored.'),
    wl_init_subject: subject('DisWall subject; ignored.'),
    bl_push_subject: subject('DisWall subject; ignored.'),
    bl_subscribe_subject: subject('DisWall subject; ignored.'),
    bl_del_subject: subject('DisWall subject; ignored.'),
    wl_push_subject: subject('DisWall subject; ignored.'),
    wl_subscribe_subject: subject('DisWall subject; ignored.'),
    wl_del_subject: subject('DisWall subject; ignored.'),
    stats_subject: subject('DisWall subject; ignored.'),
    bl_global_subject: subject('DisWall subject; ignored.'),
  }),
  nginx: section('nginx logs to follow for bans.', {
    logs: pathList([], 'nginx error logs, e.g. ["/var/log/nginx/error.log"].'),
    access: pathList([], 'nginx access logs.'),
  }),
  clickhouse: section('ClickHouse statistics (server only); empty url = off.', {
    url: str('', 'ClickHouse HTTP URL; "" = no statistics to ClickHouse.'),
    login: str('', 'ClickHouse user.'),
    password: secret('', 'ClickHouse password.'),
    database: str('', 'ClickHouse database.'),
    salt: secret('', 'Salt for hashing client names in statistics.'),
  }),
  firewall: section('The host firewall and the kernel sets.', {
    backend: oneOf(['auto', 'ipset', 'nftables'], 'auto',
      'Kernel backend: "ipset" (ipset + iptables), "nftables", or "auto" (nftables on nftables-native hosts).'),
    dir: path(DEFAULT_PATHS.firewallDir, 'Ruleset directory (incoming.d, outgoing.d, whitelist.d, blacklist.d, ...).'),
    block_timeout: duration('1d', 'How long a ban lasts unless the server says otherwise.',
      {maxSec: IPSET_MAX_TIMEOUT_SEC, maxWhy: 'the ipset timeout limit'}),
    block_max: int(1_000_000, 'Capacity of the block set (entries).', {max: MAX_INT32, min: 1}),
    allow_max: int(65_536, 'Capacity of the allow set (entries).', {max: MAX_INT32, min: 1}),
    kill_connections: bool(true, 'Kill the open connections of an address when it is blocked.'),
    nft_table: str('diswall', 'Name of the nftables table (family inet) that diswall owns.',
      {type: 'nft name', validate: checkNftName}),
  }),
  detect: section('Detection: which packets and log lines lead to bans.', {
    source: oneOf(['kmsg', 'journal', 'pipe', 'nflog'], 'kmsg',
      'Where logged packets come from: "kmsg" (/dev/kmsg), "journal" (journald), "pipe" (rsyslog FIFO) or "nflog" ' +
      '(NFLOG group read with tcpdump: lowest latency; needs the tcpdump package).'),
    service_logs: oneOf(['auto', 'journal', 'files'], 'auto',
      'Where pattern files with "unit =" read service logs: "journal" (journald, trusting only the fields journald sets ' +
      'itself), "files" (their "file =", like files without "unit ="), or "auto" (journald where the host has it).'),
    level: oneOf(['normal', 'aggressive'], 'normal',
      'Which regexes of the pattern files run: "normal" (failed logins, as fail2ban\'s normal mode) or "aggressive" ' +
      '(also pre-auth noise: connections closed before authentication, key-exchange and banner errors).'),
    log_prefix: str('diswall-log: ', 'Prefix of the firewall LOG lines (at most 29 characters).',
      {type: 'log prefix', validate: (v) => checkLogPrefix(v, 'any')}),
    pipe_path: path(DEFAULT_PATHS.pipe, 'Named pipe read when source = "pipe".'),
    nflog_group: int(5, 'NFLOG group of the `log` rules and of tcpdump when source = "nflog"; no other program may use it.',
      {max: 65_535, min: 1}),
    ephemeral_port_min: port(49_152, 'Ports from here up are ephemeral: they need ephemeral_hits hits to ban.'),
    ephemeral_hits: int(3, 'Packets to ephemeral ports within ephemeral_window that lead to a ban.',
      {max: 1_000_000, min: 1}),
    ephemeral_window: duration('1h', 'Window for counting ephemeral_hits.'),
    skip_private: bool(true, 'Never ban private, CGNAT and ULA addresses.'),
    ipv6_group_prefix: int(64, 'Ban IPv6 offenders by this prefix length; 128 = single addresses.',
      {max: 128, min: 32}),
    auto_allow: bool(true, 'Allow the addresses of successful logins, as wtmp (root-only) records them.'),
    auto_allow_from_logs: bool(false, 'Also allow addresses of "Accepted ..." lines of pattern files (action = allow); off because any local user can write a syslog line.'),
    auto_allow_ttl: duration('8d', 'How long an automatic allow entry lasts.'),
    dedup_ttl: duration('60s', 'Repeated lines for one address within this time are handled once.'),
    dedup_max: int(100_000, 'Capacity of the de-duplication cache (addresses).', {max: 100_000_000, min: 1}),
  }),
  daemon: section('The per-host daemon.', {
    state_dir: path(DEFAULT_PATHS.stateDir, 'State and snapshots of the kernel sets.'),
    socket: path(DEFAULT_PATHS.controlSocket, 'Local control socket (root only), used by `diswall status`.'),
    snapshot_interval: duration('10m', 'How often the snapshot of the kernel sets is saved; it bounds the journal, and a stop saves one only when the journal may lack a change. "0s" = only on stop, always.',
      {minSec: 0}),
  }),
  server: section('The central server (`diswall server`).', {
    db: path(DEFAULT_PATHS.serverDb, 'SQLite database of the server.'),
    escalation: durationList(['15m', '30m', '1h', '6h', '1d', '1w'],
      'Ban time for the 1st, 2nd, ... ban of an address; the last step repeats (capped at the ipset maximum, ~24.8 days).'),
    escalation_window: duration('30d', 'A ban that ended longer ago than this no longer counts: the next ban starts again at the first step.'),
    socket: path(DEFAULT_PATHS.serverSocket, 'Local control socket of the server (root only), used by `diswall server status`.'),
    global_min_accounts: int(2, 'Distinct accounts that must report an address before it is banned everywhere.',
      {max: 1_000_000, min: 1}),
    account_rate_limit: int(100, 'Reports per second accepted from one account; the rest are dropped.',
      {max: 1_000_000, min: 1}),
  }),
  metrics: section('Prometheus metrics.', {
    listen: str('', 'Address of the metrics endpoint, "HOST:PORT"; "" = off.',
      {type: 'HOST:PORT or ""', validate: checkListen}),
  }),
} as const satisfies Readonly<Record<string, SectionSpec>>

type Schema = typeof CONFIG_SCHEMA

/** Names of the `[sections]` of the file (not the top level). */
export type SectionName = Exclude<keyof Schema, ''>

/** The parsed values of one section of the schema; legacy (ignored) keys are left out. */
type ValuesOf<K extends Record<string, KeySpec<unknown>>> = {
  [N in keyof K as K[N] extends IgnoredKeySpec<unknown> ? never : N]: ParsedValue<K[N]>
}

type Simplify<T> = {[K in keyof T]: T[K]} & {}

/**
 * The effective configuration: the file's shape (snake_case keys; top-level keys at the root, each
 * `[section]` as a nested object), with every key present (defaults filled in) and values parsed:
 * - durations (`connect_timeout`, `request_timeout`, `block_timeout`, `ephemeral_window`, `auto_allow_ttl`,
 *   `dedup_ttl`, and each `[server] escalation` step) are numbers of **seconds**, under the file's key name;
 * - `ignore_ips` is a list of `{text, target}`: the text as written and the parsed Address or Network;
 * - enums are string unions; paths and names are strings, "" where the doc says "" means unset.
 * Legacy DisWall keys that have no effect (`max_block_time`, `[nats] *_subject`) are not part of it.
 * See CONFIG_SCHEMA for each key's type, default and meaning.
 */
export type Config = Simplify<
  ValuesOf<Schema['']['keys']> & {[S in SectionName]: Simplify<ValuesOf<Schema[S]['keys']>>}
>

/** `[nats]` of Config. */
export type NatsConfig = Config['nats']
/** `[firewall]` of Config. */
export type FirewallConfig = Config['firewall']
/** `[detect]` of Config. */
export type DetectConfig = Config['detect']
/** `[daemon]` of Config. */
export type DaemonConfig = Config['daemon']
/** `[server]` of Config. */
export type ServerConfig = Config['server']

/** How a key is named in messages: `ignore_ips` at the top level, `[nats] port` in a section. */
export function keyName(sectionName: string, key: string): string {
  return sectionName === '' ? key : `[${sectionName}] ${key}`
}

/** The schema as a list of rows, in file order; for tables and generic code. */
export function schemaRows(): Array<{doc: string; key: string; section: string; spec: KeySpec<unknown>}> {
  const rows: Array<{doc: string; key: string; section: string; spec: KeySpec<unknown>}> = []
  for (const [sectionName, {keys}] of Object.entries(CONFIG_SCHEMA) as Array<[string, SectionSpec]>) {
    for (const [key, spec] of Object.entries(keys)) rows.push({doc: spec.doc, key, section: sectionName, spec})
  }
  return rows
}
