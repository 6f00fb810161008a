/**
 * The flags and arguments of the commands that scripts run in loops (`block add|del|list`,
 * `allow add|del|list`, `status`, `why`), as plain data without oclif: base-command.ts turns them
 * into oclif's flags (help text, the full parser), and ./parse.ts reads the same data on the fast path
 * of bin/run.js, which starts these commands without loading @oclif/core.
 */
import {DEFAULT_CONFIG_PATH} from '../lib/config/index.js'

/** One flag. `duration` parses to whole seconds (parseDurationSec), `integer` to a number. */
export interface FlagSpec {
  /** Other long names (`--local-only` for `--local`). */
  aliases?: readonly string[]
  char?: string
  /** The value when the flag is absent (string and integer flags). */
  default?: number | string
  description: string
  /** An environment variable that gives the value when the flag is absent. */
  env?: string
  helpValue?: string
  /** Smallest value of an `integer` flag. */
  min?: number
  type: 'boolean' | 'duration' | 'integer' | 'string'
}

/** The positional argument of a command (each of these commands has at most one name for them). */
export interface ArgSpec {
  description: string
  /** Do not read a missing argument from piped stdin (oclif does otherwise). */
  ignoreStdin?: boolean
  name: string
  required?: boolean
}

/** A command's flags and arguments. `strict: false`: any number of arguments (a list). */
export interface CommandSpec {
  arg?: ArgSpec
  flags: Readonly<Record<string, FlagSpec>>
  requiresRoot: boolean
  strict: boolean
}

/** `-c/--config FILE`, shared by every command that reads the config. */
export const CONFIG_FLAG: FlagSpec = {
  char: 'c',
  default: DEFAULT_CONFIG_PATH,
  description: 'Path of the diswall config file.',
  env: 'DISWALL_CONFIG',
  helpValue: 'FILE',
  type: 'string',
}

/**
 * `--file FILE` of `allow|block add|del`: the entries of a list file, one per line ("-" = stdin),
 * besides or instead of the arguments.
 */
export const LIST_FILE_FLAG: FlagSpec = {
  description: 'Read the entries from FILE, one per line: an address (or network), optionally followed by a comment ("ADDR # comment" or "ADDR comment"); blank lines and lines starting with # are skipped. "-" reads stdin. The whole list goes to the kernel in one batch, and one bad line (reported as FILE:LINE) changes nothing.',
  helpValue: 'FILE',
  type: 'string',
}

/**
 * `-l/--local` (also `--local-only`, the original DisWall's spelling, which its `-l` translates to) of
 * `allow|block add|del`: change this host only, never publish, whatever `[nats]` says.
 */
export const LOCAL_FLAG: FlagSpec = {
  aliases: ['local-only'],
  char: 'l',
  description: 'Change this host\'s sets only: do not publish the change to the fleet over NATS, even when [nats] is configured.',
  type: 'boolean',
}

export const BLOCK_ADD: CommandSpec = {
  arg: {description: 'IP address to block (several may follow).', ignoreStdin: true, name: 'address'},
  flags: {
    config: CONFIG_FLAG,
    file: LIST_FILE_FLAG,
    force: {description: 'Block even addresses that the never-ban list protects.', type: 'boolean'},
    kill: {char: 'k', description: 'Also cut the established connections of the addresses.', type: 'boolean'},
    local: LOCAL_FLAG,
    reason: {description: 'Why the addresses are blocked (shown in the output and its --json).', type: 'string'},
    timeout: {char: 't', description: 'How long the ban lasts: seconds or a duration like 15m, 1h, 1d; 0 = until removed. Default: [firewall] block_timeout.', helpValue: 'DURATION', type: 'duration'},
  },
  requiresRoot: true,
  strict: false,
}

export const BLOCK_DEL: CommandSpec = {
  arg: {description: 'IP address to unblock (several may follow).', ignoreStdin: true, name: 'address'},
  flags: {config: CONFIG_FLAG, file: LIST_FILE_FLAG, local: LOCAL_FLAG},
  requiresRoot: true,
  strict: false,
}

export const ALLOW_ADD: CommandSpec = {
  arg: {description: 'IP address or CIDR network (several may follow).', ignoreStdin: true, name: 'target'},
  flags: {
    comment: {char: 'm', description: 'Note stored with the entries (at most 128 bytes, no quotes); a line of --file with its own comment keeps that one.', type: 'string'},
    config: CONFIG_FLAG,
    file: LIST_FILE_FLAG,
    force: {description: 'Allow networks broader than a /8 (IPv4) or /16 (IPv6) too.', type: 'boolean'},
    local: LOCAL_FLAG,
    timeout: {char: 't', description: 'Remove the entries after this time (seconds or 15m, 1h, 8d); default: never.', helpValue: 'DURATION', type: 'duration'},
  },
  requiresRoot: true,
  strict: false,
}

export const ALLOW_DEL: CommandSpec = {
  arg: {description: 'IP address or network to remove from the allow list (several may follow).', ignoreStdin: true, name: 'address'},
  flags: {config: CONFIG_FLAG, file: LIST_FILE_FLAG, local: LOCAL_FLAG},
  requiresRoot: true,
  strict: false,
}

/** `block list` and `allow list`. */
export const LIST: CommandSpec = {flags: {config: CONFIG_FLAG}, requiresRoot: true, strict: true}

export const STATUS: CommandSpec = {
  flags: {
    config: CONFIG_FLAG,
    socket: {description: 'Control socket of the daemon; the config file is not read when given.', helpValue: 'PATH', type: 'string'},
    timeout: {default: 5000, description: 'How long to wait for the answer, milliseconds.', helpValue: 'MS', min: 1, type: 'integer'},
  },
  requiresRoot: false,
  strict: true,
}

export const WHY: CommandSpec = {
  arg: {description: 'IPv4 or IPv6 address.', name: 'address', required: true},
  flags: {config: CONFIG_FLAG},
  requiresRoot: true,
  strict: true,
}
