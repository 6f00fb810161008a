import {CommandFailedError} from '../errors.js'
import type {Address} from '../net/index.js'
import {exec as defaultExec} from '../system/index.js'
import type {Exec} from '../system/index.js'

export interface KillReport {
  /** TCP sockets closed by `ss -K`. */
  sockets: number
  /** conntrack entries removed. */
  conntrack: number
}

/**
 * Cuts the established connections of a blocked address: local TCP sockets whose peer it is
 * (`ss -K dst ADDR`, needs CONFIG_INET_DIAG_DESTROY) and its conntrack entries in both directions,
 * so that forwarded and UDP flows stop too. An address with no connections is not an error.
 */
export async function killConnections(addr: Address, exec: Exec = defaultExec): Promise<KillReport> {
  // ss filters take IPv6 addresses in brackets.
  const dst = addr.family === 6 ? `[${addr.text}]` : addr.text
  const {stdout} = await exec('ss', ['--no-header', '--numeric', '--tcp', '--kill', 'dst', dst])
  const sockets = stdout.split('\n').filter((l) => l.trim() !== '').length
  let conntrack = 0
  for (const direction of ['--orig-src', '--orig-dst']) {
    conntrack += await deleteConntrack(exec, ['-D', '-f', addr.family === 6 ? 'ipv6' : 'ipv4', direction, addr.text])
  }

  return {conntrack, sockets}
}

/** `conntrack -D` exits 1 with "0 flow entries have been deleted" when nothing matched. */
async function deleteConntrack(exec: Exec, args: string[]): Promise<number> {
  try {
    const {stderr} = await exec('conntrack', args)
    return parseDeleted(stderr)
  } catch (error) {
    if (error instanceof CommandFailedError && /0 flow entries/.test(error.stderr)) return 0
    throw error
  }
}

/** "conntrack v1.4.7 (conntrack-tools): 3 flow entries have been deleted." → 3 (pure). */
export function parseDeleted(text: string): number {
  return Number(text.match(/(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/)?.[1] ?? 0)
}
