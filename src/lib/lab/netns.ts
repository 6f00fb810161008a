/**
 * Throwaway network namespaces for the demo, integration tests and benchmarks, joined by veth pairs. Firewall programs run
 * only inside these namespaces, never in the machine's own one. Everything created here is in the
 * process-wide cleanup registry (./cleanup.ts), so an interrupted run removes it too.
 */
import {randomBytes} from 'node:crypto'
import {writeFileSync} from 'node:fs'
import {readFile, writeFile} from 'node:fs/promises'

import {CommandFailedError} from '../errors.js'
import {exec, type Exec, type ExecOptions, execSync, netnsExec} from '../system/index.js'
import {registerCleanup} from './cleanup.js'
import {LabError} from './errors.js'
import {type SpawnedProcess, type SpawnProcessOptions, spawnProcess} from './process.js'
import {waitFor} from './wait.js'

/** Every namespace created by these helpers is named `dw-…`. */
export const NETNS_PREFIX = 'dw-'

/** Linux limit for interface names (IFNAMSIZ - 1); namespace names stay within it too. */
export const MAX_IFNAME_LENGTH = 15

/** A network namespace created by {@link createNetns}. */
export interface Netns {
  /** Its name, e.g. `dw-2hzxs-1a7`: at most 15 characters. */
  readonly name: string
  /** Runs a program inside the namespace (the project's `Exec`: pass it to adapters under test). */
  readonly exec: Exec
  /** True once {@link Netns.remove} has started. */
  readonly removed: boolean
  /** Runs a program inside the namespace and resolves with its stdout. Throws CommandFailedError. */
  run(program: string, args?: readonly string[], options?: ExecOptions): Promise<string>
  /** Starts a long-running program inside the namespace; {@link Netns.remove} stops it. */
  spawn(program: string, args?: readonly string[], options?: Omit<SpawnProcessOptions, 'netns'>): SpawnedProcess
  /** PIDs of all processes that run inside the namespace (`ip netns pids`). */
  pids(): Promise<number[]>
  /**
   * Stops every process inside the namespace (SIGTERM, then SIGKILL after 3 s) and deletes it,
   * and with it its end of every veth pair (the peer end vanishes with it). Safe to call twice.
   */
  remove(): Promise<void>
}

/** Options of {@link createNetns}. */
export interface CreateNetnsOptions {
  /** Bring the loopback interface up (true by default). */
  loopback?: boolean
}

let netnsCounter = 0
let vethCounter = 0
let logPrefixCounter = 0

/**
 * Creates a network namespace with a unique name (`dw-<pid>-<counter><random>`, base 36) and brings
 * its `lo` up. It is registered for removal at exit; tests still call `remove()` in `after`.
 * Throws CommandFailedError when `ip netns add` fails (not root), MissingDependencyError without `ip`.
 */
export async function createNetns({loopback = true}: CreateNetnsOptions = {}): Promise<Netns> {
  // Synchronous on purpose: a signal cannot arrive between creating the namespace and registering
  // it, so an interrupted run cannot leak one.
  const name = addUniqueNetns()
  const spawned = new Set<SpawnedProcess>()
  let removing: Promise<void> | undefined

  const unregister = registerCleanup({
    description: `network namespace ${name}`,
    remove: () => netns.remove(),
    removeSync: () => removeNetnsSync(name),
  })

  const netns: Netns = {
    exec: netnsExec(name),
    name,
    async pids() {
      return parsePids((await exec('ip', ['netns', 'pids', name])).stdout)
    },
    get removed() {
      return removing !== undefined
    },
    remove() {
      removing ??= (async () => {
        await Promise.all([...spawned].map((p) => p.stop()))
        try {
          await stopNetnsProcesses(netns)
          await exec('ip', ['netns', 'del', name])
        } catch (error) {
          // Already deleted (by hand, or by the exit handler of an interrupted run): nothing to do.
          if (!(error instanceof CommandFailedError && /No such file/.test(error.stderr))) throw error
        }
        unregister()
      })()
      return removing
    },
    async run(program, args = [], options) {
      return (await netns.exec(program, args, options)).stdout
    },
    spawn(program, args = [], options = {}) {
      if (removing) throw new LabError(`network namespace ${name} is removed`)
      const child = spawnProcess(program, args, {...options, netns: name})
      spawned.add(child)
      child.onExit(() => spawned.delete(child))
      return child
    },
  }

  if (loopback) {
    try {
      await exec('ip', ['-n', name, 'link', 'set', 'lo', 'up'])
    } catch (error) {
      await netns.remove().catch(() => {})
      throw error
    }
  }

  return netns
}

/**
 * Starts a long-running program inside a namespace (`ip netns exec`), returning it with its PID;
 * removing the namespace stops it. See {@link spawnProcess}.
 */
export function spawnIn(
  netns: Netns | string,
  program: string,
  args: readonly string[] = [],
  options: Omit<SpawnProcessOptions, 'netns'> = {},
): SpawnedProcess {
  if (typeof netns !== 'string') return netns.spawn(program, args, options)
  return spawnProcess(program, args, {...options, netns})
}

/** One end of a veth pair. Addresses are given without prefix length. */
export interface VethEnd {
  readonly netns: Netns
  /** Interface name inside `netns`. */
  readonly ifname: string
  /** IPv4 address of this end, e.g. `10.200.1.1`. */
  readonly ipv4: string
  /** IPv6 address of this end, e.g. `fd00:0:0:1::1` (added with `nodad`: usable at once). */
  readonly ipv6: string
}

/** A veth pair joining two namespaces; both ends share one IPv4 /24 and one IPv6 /64. */
export interface VethPair {
  readonly a: VethEnd
  readonly b: VethEnd
  readonly ipv4PrefixLength: number
  readonly ipv6PrefixLength: number
}

/** Options of {@link connectNetns}; everything has a unique default per pair. */
export interface ConnectNetnsOptions {
  /** Interface names in `a` and `b`; `dwv<n>a` and `dwv<n>b` by default. */
  ifnames?: readonly [string, string]
  /** IPv4 addresses of `a` and `b` in one /24; `10.<200+…>.<n>.1` and `.2` by default. */
  ipv4?: readonly [string, string]
  /** IPv6 addresses of `a` and `b` in one /64; `fd00:0:0:<n>::1` and `::2` by default. */
  ipv6?: readonly [string, string]
  /** How long to wait for both links to come up, in milliseconds; 5000 by default. */
  timeoutMs?: number
}

/**
 * Joins two namespaces with a veth pair, created directly inside them (nothing touches the
 * machine's own namespace), gives both ends an IPv4 and an IPv6 address and waits until both links
 * are up, so packets pass as soon as it resolves. Each call picks fresh addresses (a per-process
 * counter). Throws CommandFailedError when `ip` refuses, WaitTimeoutError when a link stays down.
 */
export async function connectNetns(a: Netns, b: Netns, options: ConnectNetnsOptions = {}): Promise<VethPair> {
  const n = ++vethCounter
  const [ifA, ifB] = options.ifnames ?? [`dwv${n}a`, `dwv${n}b`]
  const v4Net = `10.${200 + (Math.floor(n / 256) % 56)}.${n % 256}`
  const v6Net = `fd00:0:0:${n.toString(16)}`
  const [v4A, v4B] = options.ipv4 ?? [`${v4Net}.1`, `${v4Net}.2`]
  const [v6A, v6B] = options.ipv6 ?? [`${v6Net}::1`, `${v6Net}::2`]
  const pair: VethPair = {
    a: {ifname: ifA, ipv4: v4A, ipv6: v6A, netns: a},
    b: {ifname: ifB, ipv4: v4B, ipv6: v6B, netns: b},
    ipv4PrefixLength: 24,
    ipv6PrefixLength: 64,
  }

  await exec('ip', ['-n', a.name, 'link', 'add', ifA, 'type', 'veth', 'peer', 'name', ifB, 'netns', b.name])
  for (const end of [pair.a, pair.b]) {
    const ns = end.netns.name
    await exec('ip', ['-n', ns, 'link', 'set', end.ifname, 'up'])
    await exec('ip', ['-n', ns, 'addr', 'add', `${end.ipv4}/${pair.ipv4PrefixLength}`, 'dev', end.ifname])
    // nodad: without it the address stays "tentative" (unusable) for about a second.
    await exec('ip', ['-n', ns, '-6', 'addr', 'add', `${end.ipv6}/${pair.ipv6PrefixLength}`, 'dev', end.ifname, 'nodad'])
  }

  // The kernel activates a veth's queue asynchronously (linkwatch) once both ends are up; until then
  // packets are dropped. operstate UP is set in the same step, so wait for it.
  for (const end of [pair.a, pair.b]) {
    await waitFor(async () => (await linkOperState(end.netns.name, end.ifname)) === 'UP', {
      timeoutMs: options.timeoutMs ?? 5000,
      what: `link ${end.ifname} in ${end.netns.name} to come up`,
    })
  }

  return pair
}

/** Names of all network namespaces of the machine (`ip netns list`). */
export async function listNetns(): Promise<string[]> {
  const {stdout} = await exec('ip', ['netns', 'list'])
  return stdout
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0] ?? '')
    .filter((name) => name !== '')
}

const NF_LOG_ALL_NETNS = '/proc/sys/net/netfilter/nf_log_all_netns'

/**
 * Sets the host sysctl `net.netfilter.nf_log_all_netns=1`, without which the kernel drops LOG and
 * nft `log` lines from non-initial namespaces, and registers putting the previous value back (with the
 * other lab resources: cleanupAll(), or at exit), so the host keeps the setting it had.
 * Throws when the sysctl is missing or not writable (not root).
 */
export async function enableNetnsLogging(): Promise<void> {
  const previous = (await readFile(NF_LOG_ALL_NETNS, 'utf8')).trim()
  if (previous === '1') return
  await writeFile(NF_LOG_ALL_NETNS, '1\n')
  registerCleanup({
    description: `sysctl net.netfilter.nf_log_all_netns (back to ${previous})`,
    removeSync: () => writeFileSync(NF_LOG_ALL_NETNS, `${previous}\n`),
  })
}

/**
 * A log prefix no other test, test file or run shares (`dw-<tag>-<pid>-<counter><random>: `), for
 * the LOG/nft `log` rules of one test: every namespace writes to the same `/dev/kmsg`, so tests tell
 * their lines apart by it. It ends in ": " so that no prefix is the beginning of another, and stays
 * within the 29 characters iptables allows. `tag` is up to 8 letters or digits.
 */
export function uniqueLogPrefix(tag = 't'): string {
  if (!/^[a-z0-9]{1,8}$/i.test(tag)) throw new TypeError(`invalid log prefix tag: ${JSON.stringify(tag)}`)
  const counter = (++logPrefixCounter).toString(36)
  return `dw-${tag}-${process.pid.toString(36)}-${counter}${randomBytes(1).toString('hex')}: `
}

function addUniqueNetns(): string {
  for (let attempt = 1; ; attempt++) {
    const name = `${NETNS_PREFIX}${process.pid.toString(36)}-${(++netnsCounter).toString(36)}${randomBytes(1).toString('hex')}`
    if (name.length > MAX_IFNAME_LENGTH) throw new LabError(`generated namespace name too long: ${name}`)
    try {
      execSync('ip', ['netns', 'add', name], {timeoutMs: 10_000})
      return name
    } catch (error) {
      // A leftover of a killed run with the same PID: try another name.
      if (error instanceof CommandFailedError && /File exists/.test(error.stderr) && attempt < 5) continue
      throw error
    }
  }
}

async function stopNetnsProcesses(netns: Netns): Promise<void> {
  const signalAll = async (signal: NodeJS.Signals): Promise<number[]> => {
    const pids = await netns.pids()
    for (const pid of pids) {
      try {
        process.kill(pid, signal)
      } catch {
        // Exited meanwhile.
      }
    }
    return pids
  }

  if ((await signalAll('SIGTERM')).length === 0) return
  try {
    await waitFor(async () => (await netns.pids()).length === 0, {timeoutMs: 3000, what: `processes in ${netns.name} to exit`})
  } catch {
    await signalAll('SIGKILL')
    await waitFor(async () => (await netns.pids()).length === 0, {timeoutMs: 3000, what: `processes in ${netns.name} to die`})
  }
}

function removeNetnsSync(name: string): void {
  let pids: number[] = []
  try {
    pids = parsePids(execSync('ip', ['netns', 'pids', name], {timeoutMs: 5000}).stdout)
  } catch {
    // The namespace is gone already, or ip failed: still try to delete it below.
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // Exited meanwhile.
    }
  }
  try {
    execSync('ip', ['netns', 'del', name], {timeoutMs: 5000})
  } catch (error) {
    if (!(error instanceof CommandFailedError && /No such file/.test(error.stderr))) throw error
  }
}

function parsePids(text: string): number[] {
  return text
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number)
    .filter((pid) => pid !== process.pid)
}

async function linkOperState(netns: string, ifname: string): Promise<string | undefined> {
  const {stdout} = await exec('ip', ['-n', netns, '-j', 'link', 'show', 'dev', ifname])
  const links = JSON.parse(stdout) as Array<{operstate?: string}>
  return links[0]?.operstate
}
