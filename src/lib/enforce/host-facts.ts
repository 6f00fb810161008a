/**
 * What the daemon knows about its host and keeps fresh in the background: its own addresses, the ports
 * that are open (listening sockets), and the peers of established SSH sessions. Detection reads them on
 * every decision, so they are kept in memory and refreshed by a timer: never a process per packet.
 *
 * Sockets are read from the kernel's tables in /proc/net (tcp, tcp6, udp, udp6 of the daemon's network
 * namespace), not with `ss`: starting a process blocks the event loop until the child has called
 * exec (~2.5 ms on a small heap, more on a large one, far more on a busy machine), and a probe that
 * arrives meanwhile waits for it. A read of /proc/net runs on libuv's thread pool.
 */
import {readFile} from 'node:fs/promises'
import {endianness} from 'node:os'

import {listOwnAddresses} from '../firewall/sets/index.js'
import {NetworkList, parseAddress} from '../net/index.js'
import type {Address} from '../net/index.js'
import {exec as defaultExec, spawnLines} from '../system/index.js'
import type {Exec} from '../system/index.js'

/** One socket endpoint. */
interface Endpoint {
  /** undefined for a wildcard (`*`, `0.0.0.0`, `[::]`). */
  address?: Address
  port: number
  /** Bound to a loopback address or the `lo` interface. */
  loopback: boolean
}

/** The socket tables of the kernel, for the network namespace of the reading process. */
export const PROC_NET_TABLES = {tcp: ['/proc/net/tcp', '/proc/net/tcp6'], udp: ['/proc/net/udp', '/proc/net/udp6']} as const

/** States of /proc/net/tcp (include/net/tcp_states.h). */
const TCP_ESTABLISHED = 1
export const TCP_LISTEN = 10
/** A UDP socket that is bound but not connected shows as TCP_CLOSE (7): what `ss -l -u` lists. */
const UDP_UNCONNECTED = 7

/** The byte order /proc/net prints addresses in: the host's, one 32-bit word at a time. */
const LITTLE_ENDIAN = endianness() === 'LE'

/**
 * Parses an endpoint of /proc/net/{tcp,udp}{,6}: `0100007F:0016` (127.0.0.1:22), 32 hex digits for
 * IPv6; each 32-bit word in the host's byte order (pure). Undefined when it does not parse.
 */
export function parseProcNetEndpoint(text: string, littleEndian = LITTLE_ENDIAN): Endpoint | undefined {
  const colon = text.indexOf(':')
  const hex = text.slice(0, colon)
  if ((hex.length !== 8 && hex.length !== 32) || !/^[0-9A-Fa-f]+$/.test(hex) || !/^[0-9A-Fa-f]{4}$/.test(text.slice(colon + 1))) return undefined
  const port = Number.parseInt(text.slice(colon + 1), 16)
  const bytes: number[] = []
  for (let w = 0; w < hex.length; w += 8) {
    const word = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(w + i, w + i + 2), 16))
    bytes.push(...(littleEndian ? word.reverse() : word))
  }
  if (bytes.every((b) => b === 0)) return {loopback: false, port}
  const host = bytes.length === 4
    ? bytes.join('.')
    : Array.from({length: 8}, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16)).join(':')
  let address: Address
  try {
    address = parseAddress(host)
  } catch {
    return undefined
  }
  const loopback = address.family === 4 ? address.text.startsWith('127.') : address.text === '::1'
  return {address, loopback, port}
}

/** One socket of a /proc/net table: the hex state and the two endpoints, not parsed yet. */
export function* procNetSockets(text: string): Generator<{state: number; local: string; remote: string}> {
  let start = text.indexOf('\n') + 1
  while (start > 0 && start < text.length) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    // `   0: 0100007F:0016 00000000:0000 0A …`
    const fields = text.slice(start, Math.min(end, start + 120)).trim().split(/\s+/, 4)
    start = end + 1
    if (fields.length < 4 || !/^[0-9A-Fa-f]{2}$/.test(fields[3]!)) continue
    yield {local: fields[1]!, remote: fields[2]!, state: Number.parseInt(fields[3]!, 16)}
  }
}

/**
 * Open ports from the /proc/net tables (pure): `tcp/22`, `udp/53`, … for every TCP socket in LISTEN and
 * every bound, unconnected UDP socket that is reachable from outside (not bound to a loopback address;
 * a socket bound to the `lo` device with SO_BINDTODEVICE does not show as such there and counts as open).
 * `tcp` and `udp` are the tables of both families, concatenated.
 */
export function parseProcNetListening(tables: {tcp: readonly string[]; udp: readonly string[]}, littleEndian = LITTLE_ENDIAN): Set<string> {
  const out = new Set<string>()
  for (const proto of ['tcp', 'udp'] as const) {
    const wanted = proto === 'tcp' ? TCP_LISTEN : UDP_UNCONNECTED
    for (const text of tables[proto]) {
      for (const {local, state} of procNetSockets(text)) {
        if (state !== wanted) continue
        const endpoint = parseProcNetEndpoint(local, littleEndian)
        if (endpoint === undefined || endpoint.loopback || endpoint.port === 0) continue
        out.add(`${proto}/${endpoint.port}`)
      }
    }
  }
  return out
}

/** Peer addresses of established TCP connections to one of `ports` from the /proc/net tcp tables (pure). */
export function parseProcNetSshPeers(tcp: readonly string[], ports: ReadonlySet<number>, littleEndian = LITTLE_ENDIAN): Address[] {
  const out: Address[] = []
  for (const text of tcp) {
    for (const {local, remote, state} of procNetSockets(text)) {
      if (state !== TCP_ESTABLISHED || !ports.has(Number.parseInt(local.slice(local.indexOf(':') + 1), 16))) continue
      const peer = parseProcNetEndpoint(remote, littleEndian)
      if (peer?.address !== undefined) out.push(peer.address)
    }
  }
  return out
}

/** Reads a text file; the /proc/net tables by default. */
export type ReadText = (path: string) => Promise<string>

/** A missing table (IPv6 disabled: no tcp6) reads as empty. */
const readProcText: ReadText = async (path) => {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return ''
    throw error
  }
}

/** One line of `ip -o monitor address`: an address added to or deleted from an interface. */
export interface AddressEvent {
  deleted: boolean
  address: Address
}

/**
 * Parses a line of `ip -o monitor address` (iproute2 6.1: `1: lo    inet 192.0.2.44/32 scope global lo\ …`,
 * `Deleted 1: lo    inet …`); undefined for anything else (pure).
 */
export function parseAddressEvent(line: string): AddressEvent | undefined {
  const m = /^(Deleted )?\d+:\s+\S+\s+inet6?\s+([0-9A-Fa-f.:]+)\/\d+/.exec(line)
  if (m === null) return undefined
  try {
    return {address: parseAddress(m[2]!), deleted: m[1] !== undefined}
  } catch {
    return undefined
  }
}

/** Options of {@link HostFacts}. */
export interface HostFactsOptions {
  /** Runs `ip` (own addresses, address changes). */
  exec?: Exec
  /** Reads the socket tables ({@link PROC_NET_TABLES}); the files in /proc/net by default. */
  readText?: ReadText
  /** Ports of the SSH server, whose established peers are never banned; [22] by default. */
  sshPorts?: readonly number[]
  /** How often listening ports and SSH peers are read again, ms; 5000 by default. */
  refreshMs?: number
  /** How often the host's own addresses are read again, ms; 30,000 by default. */
  addressesRefreshMs?: number
  /** Told about a failed refresh (the previous facts are kept). */
  onError?: (what: string, error: unknown) => void
  /**
   * Follow address changes as the kernel announces them (`ip -o monitor address`), so that an address
   * added to the host is protected at once rather than at the next refresh; or the lines to read
   * instead (tests). Off by default.
   */
  followAddresses?: boolean | (() => AsyncIterable<string> & {close(): Promise<void>})
}

/**
 * The host's own addresses, open ports and SSH peers, read with `ip -j addr` and from /proc/net at
 * start and then every few seconds. The NetworkLists are updated in place, so the detection engine (which holds
 * them by reference) sees changes at once.
 */
export class HostFacts {
  /** The host's own addresses. */
  readonly own = new NetworkList()
  /** Peers of established SSH sessions. */
  readonly sshPeers = new NetworkList()
  private open = new Set<string>()
  private sshPorts: ReadonlySet<number>
  private readonly exec: Exec
  private readonly readText: ReadText
  private timers: NodeJS.Timeout[] = []
  private monitor: (AsyncIterable<string> & {close(): Promise<void>}) | undefined
  private following: Promise<void> | undefined
  private refreshing: Promise<void> | undefined
  private refreshAgain = false
  /** Addresses announced by the monitor with the count of announcements at that time. */
  private announced: Array<{address: Address; seq: number}> = []
  private announcements = 0
  private readsStarted = 0
  private newestApplied = 0

  constructor(private readonly options: HostFactsOptions = {}) {
    this.exec = options.exec ?? defaultExec
    this.readText = options.readText ?? readProcText
    this.sshPorts = new Set(options.sshPorts ?? [22])
  }

  /** Whether a port is open on this host (`proto` in lower case: `tcp`, `udp`). */
  isOpenPort(proto: string, port: number): boolean {
    return this.open.has(`${proto}/${port}`)
  }

  /** Open ports as `tcp/22`, sorted (status, tests). */
  openPorts(): string[] {
    return [...this.open].sort()
  }

  /** Changes the SSH ports (after a reload); takes effect at the next refresh. */
  setSshPorts(ports: readonly number[]): void {
    this.sshPorts = new Set(ports)
  }

  /** Reads everything once (throws what the first read throws), then refreshes in the background. */
  async start(): Promise<void> {
    // Follow first: an address added while the first read runs is not missed.
    this.followAddresses()
    await this.refreshAddresses()
    await this.refreshSockets()
    const {addressesRefreshMs = 30_000, refreshMs = 5000} = this.options
    this.timers = [
      setInterval(() => void this.refreshSockets().catch((error: unknown) => this.options.onError?.('open ports and SSH peers', error)), refreshMs),
      setInterval(() => void this.refreshAddresses().catch((error: unknown) => this.options.onError?.('own addresses', error)), addressesRefreshMs),
    ]
    for (const timer of this.timers) timer.unref()
  }

  /** Stops the background refresh and the address monitor. */
  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer)
    this.timers = []
    const monitor = this.monitor
    this.monitor = undefined
    await monitor?.close()
    await this.following
  }

  /**
   * Starts reading address changes: an added address is protected the moment its line arrives; then the
   * whole list is read again (one `ip -j addr` for a burst of changes), which also drops deleted ones.
   */
  private followAddresses(): void {
    const {followAddresses} = this.options
    if (!followAddresses) return
    const monitor = followAddresses === true ? spawnLines('ip', ['-o', 'monitor', 'address']) : followAddresses()
    this.monitor = monitor
    this.following = (async () => {
      try {
        for await (const line of monitor) {
          const event = parseAddressEvent(line)
          if (event === undefined) continue
          if (!event.deleted) {
            this.own.add(event.address)
            this.announced.push({address: event.address, seq: ++this.announcements})
          }
          this.scheduleAddressRefresh()
        }
      } catch (error) {
        // The timer keeps refreshing every addressesRefreshMs.
        if (this.monitor !== undefined) this.options.onError?.('address changes (ip monitor)', error)
      }
    })()
  }

  /** One refresh at a time; changes that arrive during it cause exactly one more. */
  private scheduleAddressRefresh(): void {
    if (this.refreshing !== undefined) {
      this.refreshAgain = true
      return
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false
        await this.refreshAddresses().catch((error: unknown) => this.options.onError?.('own addresses', error))
      } while (this.refreshAgain)
      this.refreshing = undefined
    })()
  }

  /** Reads the host's addresses again (`ip -j addr`). */
  async refreshAddresses(): Promise<void> {
    const seen = this.announcements
    const read = ++this.readsStarted
    const addresses = await listOwnAddresses(this.exec)
    // A read that answers after a newer one has nothing newer to say.
    if (read < this.newestApplied) return
    this.newestApplied = read
    replaceAll(this.own, addresses)
    // An address announced while `ip` ran may be missing from its answer: keep it until a read that
    // started after the announcement has seen the list.
    this.announced = this.announced.filter((a) => a.seq > seen)
    for (const {address} of this.announced) this.own.add(address)
  }

  /** Reads the listening sockets and the established SSH sessions again (the four /proc/net tables). */
  async refreshSockets(): Promise<void> {
    const [tcp, udp] = await Promise.all([this.readTables(PROC_NET_TABLES.tcp), this.readTables(PROC_NET_TABLES.udp)])
    this.open = parseProcNetListening({tcp, udp})
    replaceAll(this.sshPeers, parseProcNetSshPeers(tcp, this.sshPorts))
  }

  /** Reads the established SSH sessions again (the TCP tables); `block add` needs only these and the addresses. */
  async refreshSshPeers(): Promise<void> {
    replaceAll(this.sshPeers, parseProcNetSshPeers(await this.readTables(PROC_NET_TABLES.tcp), this.sshPorts))
  }

  private readTables(paths: readonly string[]): Promise<string[]> {
    return Promise.all(paths.map((path) => this.readText(path)))
  }
}

function replaceAll(list: NetworkList, addresses: readonly Address[]): void {
  list.clear()
  for (const address of addresses) list.add(address)
}
