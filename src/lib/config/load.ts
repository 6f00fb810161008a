/**
 * Reading the config file from disk. The only I/O of this folder: a missing, unreadable or invalid file
 * is an error, never a silent fall-back to defaults (DisWall went local-only on a TOML typo).
 */
import {readFile} from 'node:fs/promises'
import {hostname as systemHostname} from 'node:os'
import {text as readAll} from 'node:stream/consumers'

import {ConfigError} from '../errors.js'
import {parseConfig} from './parse.js'
import type {ParsedConfig} from './parse.js'
import type {Config} from './schema.js'

/** Paths that mean "read the config from standard input". */
const STDIN_PATHS = new Set(['-', '/dev/stdin'])

/**
 * Reads and parses the config file at `path` ("-" or "/dev/stdin": standard input, read to its end).
 * Throws ConfigError when the file is missing (with a hint to generate one), unreadable or a directory,
 * and the errors of parseConfig() when it is invalid.
 */
export async function loadConfig(path: string, {stdin = process.stdin}: {stdin?: NodeJS.ReadableStream} = {}): Promise<ParsedConfig> {
  let text: string
  try {
    // Not readFile('/dev/stdin'): when stdin is a socket (node's child_process pipes) open() fails with ENXIO.
    text = STDIN_PATHS.has(path) ? await readAll(stdin) : await readFile(path, 'utf8')
  } catch (error) {
    throw readError(path, error)
  }
  return parseConfig(text, path)
}

function readError(path: string, error: unknown): ConfigError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  const at = {file: path}
  switch (code) {
    case 'ENOENT': {
      return new ConfigError(at, 'config file not found',
        `Create one with: diswall generate-config > ${path}`, {cause: error})
    }
    case 'EACCES':
    case 'EPERM': {
      return new ConfigError(at, 'cannot read the config file: permission denied',
        'Run the command as root (e.g. with sudo), or make the file readable.', {cause: error})
    }
    case 'EISDIR': {
      return new ConfigError(at, 'is a directory, not a config file',
        'Pass the path of the config file with -c FILE.', {cause: error})
    }
    case 'ENOTDIR': {
      return new ConfigError(at, 'config file not found (a parent of the path is not a directory)',
        'Check the path given with -c FILE.', {cause: error})
    }
    default: {
      const reason = error instanceof Error ? error.message : String(error)
      return new ConfigError(at, `cannot read the config file: ${reason}`, undefined, {cause: error})
    }
  }
}

/**
 * The host's name in NATS subjects: `[nats] hostname` if set, else the system host name with "." (and
 * anything else that cannot be in one subject token) replaced by "_"; "unknown" if there is none.
 */
export function natsHostname(config: Pick<Config, 'nats'>, system: string = systemHostname()): string {
  if (config.nats.hostname !== '') return config.nats.hostname
  const token = system.trim().replaceAll(/[\s.*>]/gu, '_')
  return token === '' ? 'unknown' : token
}
