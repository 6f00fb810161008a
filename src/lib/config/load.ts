/**
 * Reading the config file from disk. The only I/O of this folder: a missing, unreadable or invalid file
 * is an error, never a silent fall-back to defaults (DisWall went local-only on a TOML typo).
 */
import {constants} from 'node:fs'
import type {Stats} from 'node:fs'
import {open} from 'node:fs/promises'
import {hostname as systemHostname} from 'node:os'

import {ConfigError} from '../errors.js'
import {parseConfig} from './parse.js'
import type {ParsedConfig} from './parse.js'
import type {Config} from './schema.js'

/** Paths that mean "read the config from standard input". */
const STDIN_PATHS = new Set(['-', '/dev/stdin'])

/** Largest config accepted, bytes: a real one is a few KiB; this keeps a wrong path (a log, an image) out. */
export const MAX_CONFIG_BYTES = 1024 * 1024

/**
 * Reads and parses the config file at `path` ("-" or "/dev/stdin": standard input, read to its end).
 * Only a regular file of at most {@link MAX_CONFIG_BYTES} is read: a FIFO would block the command and a
 * device or a huge file is never a config, so they are refused before reading.
 * Throws ConfigError when the file is missing (with a hint to generate one), unreadable, not a regular
 * file or too large, and the errors of parseConfig() when it is invalid.
 */
export async function loadConfig(path: string, {stdin = process.stdin}: {stdin?: NodeJS.ReadableStream} = {}): Promise<ParsedConfig> {
  let text: string
  try {
    // Not open('/dev/stdin'): when stdin is a socket (node's child_process pipes) open() fails with ENXIO.
    text = STDIN_PATHS.has(path) ? await readStream(stdin, path) : await readRegularFile(path)
  } catch (error) {
    throw error instanceof ConfigError ? error : readError(path, error)
  }
  return parseConfig(text, path)
}

async function readRegularFile(path: string): Promise<string> {
  // O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever, before fstat could refuse it.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK)
  try {
    const stats = await handle.stat()
    if (stats.isDirectory()) throw Object.assign(new Error('EISDIR'), {code: 'EISDIR'})
    if (!stats.isFile()) {
      throw new ConfigError({file: path}, `is ${fileKind(stats)}, not a regular file`, 'Pass the path of the config file with -c FILE.')
    }
    if (stats.size > MAX_CONFIG_BYTES) throw tooLarge(path)
    // Read at most one byte past the limit: the file may grow between fstat and the read.
    const buffer = Buffer.alloc(MAX_CONFIG_BYTES + 1)
    let length = 0
    for (;;) {
      const {bytesRead} = await handle.read(buffer, length, buffer.length - length, null)
      if (bytesRead === 0) break
      length += bytesRead
      if (length > MAX_CONFIG_BYTES) throw tooLarge(path)
    }
    return buffer.toString('utf8', 0, length)
  } finally {
    await handle.close()
  }
}

async function readStream(stream: NodeJS.ReadableStream, path: string): Promise<string> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of stream) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    length += buffer.length
    if (length > MAX_CONFIG_BYTES) throw tooLarge(path)
    chunks.push(buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function tooLarge(path: string): ConfigError {
  return new ConfigError({file: path}, `is larger than ${MAX_CONFIG_BYTES / 1024 / 1024} MiB: not a diswall config`,
    'Pass the path of the config file with -c FILE (diswall generate-config writes a fresh one).')
}

function fileKind(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO (named pipe)'
  if (stats.isCharacterDevice()) return 'a character device'
  if (stats.isBlockDevice()) return 'a block device'
  if (stats.isSocket()) return 'a socket'
  return 'a special file'
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
