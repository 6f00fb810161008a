/**
 * What the daemon knows about its host and keeps fresh in the background: its own addresses, the ports
 * that are open (listening sockets), and the peers of established SSH sessions. Detection reads them on
 * every decision, so they are kept in memory and refreshed by a timer: never a process per packet.
 */
import {listOwnAddresses} from '../firewall/sets/index.js'
import {NetworkList, parseAddress} from '../net/index.js'
import type {Address} from '../net/index.js'
import {exec as defaultExec, spawnLines} from '../system/index.js'
import type {Exec} from '../system/index.js'

/** One socket endpoint of `ss` output. */
interface Endpoint {
  /** undefined for a wildcard (`*`, `0.0.0.0`, `[::]`). */
  address?: Address
  port: number
  /** Bound to a loopback address or the `lo` interface. */
  loopback: boolean
}

/**
 * Parses an `ss` endpoint: `0.0.0.0:22`, `*:80`, `[::]:443`, `[::ffff:192.0.2.1]:22`,
 * `127.0.0.53%lo:53`, `[fe80::1]%eth0:546` (pure). Undefined when it does not parse.
 */
export function parseSsEndpoint(text: string): Endpoint | undefined {
  const colon = text.lastIndexOf(':')
  if (colon <= 0) return undefined
  const port = Number(text.slice(colon + 1))
  if (!Number.isInteger(port) || port < 0 || port > 65_535) return undefined
  let host = text.slice(0, colon)
  let iface = ''
  const percent = host.indexOf('%')
  if (percent >= 0) {
    iface = host.slice(percent + 1)
    host = host.slice(0, percent)
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1)
  if (host === '*' || host === '0.0.0.0' || host === '::') return {loopback: iface === 'lo', port}
  let address: Address
  try {
    address = parseAddress(host)
  } catch {
    return undefined
  }
  const loopback = iface === 'lo' || (address.family === 4 ? address.text.startsWith('127.') : address.text === '::1')
  return {address, loopback, port}
}

/**
 * Open ports from `ss -Hlntu` output (pure): `tcp/22`, `udp/53`, … for every TCP socket in LISTEN and
 * every bound UDP socket that is reachable from outside (not bound to loopback).
 */
export function parseListeningPorts(text: string): Set<string> {
  const out = new Set<string>()
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 6) continue
    const [netid, state] = fields
    if (!((netid === 'tcp' && state === 'LISTEN') || netid === 'udp')) continue
    const local = parseSsEndpoint(fields[4]!)
    if (local === undefined || local.loopback || local.port === 0) continue
    out.add(`${netid}/${local.port}`)
  }
  return out
}

/**
 * Peer addresses of established TCP connections to one of `ports` from `ss -Htn state established`
 * output (`Recv-Q Send-Q LOCAL PEER`; pure).
 */
export function parseSshPeers(text: string, ports: ReadonlySet<number>): Address[] {
  const out: Address[] = []
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/)
    if (fields.length < 4) continue
    const local = parseSsEndpoint(fields[fields.length - 2]!)
    const peer = parseSsEndpoint(fields[fields.length - 1]!)
    if (local === undefined || peer?.address === undefined || !ports.has(local.port)) continue
    out.push(peer.address)
  }
  return out
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
  exec?: Exec
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
 * The host's own addresses, open ports and SSH peers, read with `ip -j addr` and `ss` at start and
 * then every few seconds. The NetworkLists are updated in place, so the detection engine (which holds
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

  /** Reads the listening sockets and the established SSH sessions again (two `ss` runs). */
  async refreshSockets(): Promise<void> {
    const listening = (await this.exec('ss', ['-H', '-l', '-n', '-t', '-u'])).stdout
    this.open = parseListeningPorts(listening)
    await this.refreshSshPeers()
  }

  /** Reads the established SSH sessions again (one `ss` run); `block add` needs only these and the addresses. */
  async refreshSshPeers(): Promise<void> {
    const established = (await this.exec('ss', ['-H', '-n', '-t', 'state', 'established'])).stdout
    replaceAll(this.sshPeers, parseSshPeers(established, this.sshPorts))
  }
}

function replaceAll(list: NetworkList, addresses: readonly Address[]): void {
  list.clear()
  for (const address of addresses) list.add(address)
}
