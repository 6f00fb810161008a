/**
 * The daemon in distributed mode: the NATS transport made from `[nats]`, the NATS server's addresses
 * added to the never-ban lists (a ban of the server would cut the host off the fleet), the offline
 * queue in the state dir, and the hourly statistics on the original stats subject.
 */
import {lookup} from 'node:dns/promises'
import {join} from 'node:path'

import type {Config} from '../config/index.js'
import {natsHostname} from '../config/index.js'
import {NetworkList, parseAddress} from '../net/index.js'
import type {Logger} from '../service/index.js'
import {DEFAULT_ACCOUNT, NatsTransport, QUEUE_FILE} from '../transport/index.js'
import type {TransportStats} from '../transport/index.js'

/** What the daemon needs for distributed mode. */
export interface Fleet {
  transport: NatsTransport
  /** The NATS server's addresses, never banned. */
  protect: Array<{label: string; list: NetworkList}>
  transportStatus: () => TransportStats
}

/** True when the config asks for NATS: not local-only and a server is set. */
export function isDistributed(config: Pick<Config, 'local_only' | 'nats'>): boolean {
  return !config.local_only && config.nats.server !== ''
}

/**
 * The addresses of the NATS server (every A/AAAA record of its name, or the address itself). A name
 * that does not resolve now yields an empty list and a warning; it is resolved again at each reconnect
 * by nats.js, and the never-ban list is refreshed by {@link refreshServerAddresses}.
 */
export async function resolveServerAddresses(server: string): Promise<NetworkList> {
  const list = new NetworkList()
  try {
    list.add(parseAddress(server))
    return list
  } catch {
    // a host name
  }
  const records = await lookup(server, {all: true})
  for (const {address} of records) list.add(parseAddress(address))
  return list
}

/** Fills `list` with the server's current addresses (keeps the old ones when the lookup fails). */
export async function refreshServerAddresses(server: string, list: NetworkList): Promise<boolean> {
  try {
    const fresh = await resolveServerAddresses(server)
    for (const net of fresh) list.add(net)
    return true
  } catch {
    return false
  }
}

/** The transport and never-ban list of a distributed daemon. */
export async function openFleet(config: Config, logger: Logger, tune: {reconnectWaitMs?: number; reconnectJitterMs?: number} = {}): Promise<Fleet> {
  const servers = new NetworkList()
  if (!(await refreshServerAddresses(config.nats.server, servers))) {
    logger.log('warning', `[nats] server ${config.nats.server} does not resolve now; its addresses are protected from bans once it does`)
  }
  const transport = new NatsTransport({
    host: natsHostname(config),
    log: (level, message) => logger.log(level, `nats: ${message}`),
    nats: config.nats,
    queuePath: join(config.daemon.state_dir, QUEUE_FILE),
    role: 'host',
    ...tune,
  })
  if (servers.size === 0) {
    // Resolved again in the background until it works.
    const timer = setInterval(() => void refreshServerAddresses(config.nats.server, servers).then((ok) => ok && clearInterval(timer)), 30_000)
    timer.unref()
    void transport.closed().then(() => clearInterval(timer))
  }
  return {protect: [{label: 'the NATS server', list: servers}], transport, transportStatus: () => transport.stats()}
}

/** The original stats payload (JSON, field order as DisWall sends it). */
export interface StatsPayload {
  time: number
  banned: number
  packets_dropped: number
  bytes_dropped: number
  packets_accepted: number
  bytes_accepted: number
}

/** Whether this host sends hourly statistics: `send_statistics`, and never for the account `default`. */
export function sendsStatistics(config: Pick<Config, 'nats' | 'send_statistics'>): boolean {
  return config.send_statistics && config.nats.client_name !== DEFAULT_ACCOUNT
}

/** Milliseconds until the next full UTC hour plus a random delay of up to 59 s (as the original). */
export function nextStatsDelayMs(now: number, random: () => number = Math.random): number {
  const hour = 3_600_000
  return hour - (now % hour) + Math.floor(random() * 60) * 1000
}

/**
 * Sends the statistics every hour: `banned` = bans of this host since the last report. Packet and
 * byte counters are sent when `counters` reads them, else 0 (fields are always present).
 */
export function scheduleStatistics(transport: NatsTransport, read: () => Promise<{bans: number; counters?: Omit<StatsPayload, 'banned' | 'time'>}>,
  log: Logger['log']): () => void {
  let lastBans: number | undefined
  let timer: NodeJS.Timeout | undefined
  const tick = async (): Promise<void> => {
    try {
      const {bans, counters} = await read()
      const banned = lastBans === undefined ? bans : Math.max(0, bans - lastBans)
      lastBans = bans
      const payload: StatsPayload = {time: Math.floor(Date.now() / 1000), banned, bytes_accepted: 0, bytes_dropped: 0, packets_accepted: 0,
        packets_dropped: 0, ...counters}
      const body = JSON.stringify({time: payload.time, banned: payload.banned, packets_dropped: payload.packets_dropped,
        bytes_dropped: payload.bytes_dropped, packets_accepted: payload.packets_accepted, bytes_accepted: payload.bytes_accepted})
      if (!transport.publishStats(body)) log('info', 'statistics not sent: NATS is not connected')
    } catch (error) {
      log('warning', `statistics: ${(error as Error).message}`)
    }
    arm()
  }
  const arm = (): void => {
    timer = setTimeout(() => void tick(), nextStatsDelayMs(Date.now()))
    timer.unref()
  }
  arm()
  return () => clearTimeout(timer)
}
