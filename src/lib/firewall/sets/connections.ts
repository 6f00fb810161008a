import {CommandFailedError} from '../../errors.js'
import type {Address} from '../../net/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'

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
  const {conntrack, sockets} = await killConnectionsBatch([addr], {exec})
  return {conntrack, sockets}
}

/**
 * What the caller found in the kernel's tables before the kill (address texts): `ss -K` runs only for
 * addresses in `sockets`, `conntrack -D` only for those in `flows` (for all when `flows` is undefined:
 * the table was not read).
 */
export interface ConnectedAddresses {
  sockets: ReadonlySet<string>
  flows?: ReadonlySet<string> | undefined
}

/** Most addresses in one `ss -K` filter (its argv stays far below the kernel's limits). */
export const KILL_BATCH_MAX = 256

/**
 * killConnections() for many addresses at once: one `ss -K` per {@link KILL_BATCH_MAX} addresses
 * (`dst A or dst B …`), and `conntrack -D` in both directions for at most `conntrackMax` of them
 * (all by default): conntrack takes one address per run, and a flood of bans must not become a
 * flood of processes. Reports how many addresses were left out of the conntrack step. With `only`, an
 * address without sockets or flows costs no process.
 */
export async function killConnectionsBatch(addrs: readonly Address[],
  {conntrackMax = Number.POSITIVE_INFINITY, exec = defaultExec, only}: {conntrackMax?: number; exec?: Exec; only?: ConnectedAddresses} = {},
): Promise<KillReport & {conntrackSkipped: number}> {
  let sockets = 0
  const withSockets = only === undefined ? addrs : addrs.filter((a) => only.sockets.has(a.text))
  for (let i = 0; i < withSockets.length; i += KILL_BATCH_MAX) {
    // ss filters take IPv6 addresses in brackets.
    const filter = withSockets.slice(i, i + KILL_BATCH_MAX).flatMap((addr, j) =>
      [...(j === 0 ? [] : ['or']), 'dst', addr.family === 6 ? `[${addr.text}]` : addr.text])
    const {stdout} = await exec('ss', ['--no-header', '--numeric', '--tcp', '--kill', ...filter])
    sockets += stdout.split('\n').filter((l) => l.trim() !== '').length
  }

  let conntrack = 0
  const withFlows = only?.flows === undefined ? addrs : addrs.filter((a) => only.flows!.has(a.text))
  const flows = withFlows.slice(0, conntrackMax)
  for (const addr of flows) {
    for (const direction of ['--orig-src', '--orig-dst']) {
      conntrack += await deleteConntrack(exec, ['-D', '-f', addr.family === 6 ? 'ipv6' : 'ipv4', direction, addr.text])
    }
  }

  return {conntrack, conntrackSkipped: withFlows.length - flows.length, sockets}
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
