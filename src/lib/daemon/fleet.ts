/**
 * The daemon in distributed mode: the NATS transport made from `[nats]`, the NATS server's addresses
 * added to the never-ban lists (a ban of the server would cut the host off the fleet), the offline
 * queue in the state dir, and the hourly statistics on the original stats subject.
 */
import {join} from 'node:path'

import type {Config} from '../config/index.js'
import {natsHostname} from '../config/index.js'
import {ZERO_COUNTERS} from '../firewall/sets/index.js'
import type {SetCounters} from '../firewall/sets/index.js'
import {NetworkList} from '../net/index.js'
import type {Logger} from '../service/index.js'
import {DEFAULT_ACCOUNT, NatsTransport, QUEUE_FILE, refreshServerAddresses} from '../transport/index.js'
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

/** Cumulative counts since the daemon started, as {@link Daemon.statistics} reads them. */
export interface StatsReading {
  /** Bans this host decided itself (detection, its own orders); remote bans are not counted. */
  bans: number
  /** Counters of the set rules, as the kernel keeps them; undefined when they cannot be read (no kernel sets). */
  counters?: SetCounters
}

/**
 * The payload of one hour (pure): `banned` = own bans since the previous reading; packets and bytes
 * dropped by the block sets and accepted by the allow sets since then. The kernel's counters restart
 * when the rules are made again (`firewall apply`): a counter below its previous value counts from 0.
 * Without a previous reading (the first hour) everything since the start counts.
 */
export function statsPayload(timeSec: number, current: StatsReading, previous: StatsReading | undefined): StatsPayload {
  const delta = (now: number, before: number | undefined): number => (before === undefined || now < before ? now : now - before)
  const c = current.counters ?? ZERO_COUNTERS
  const p = previous?.counters
  return {
    time: timeSec,
    banned: delta(current.bans, previous?.bans),
    packets_dropped: delta(c.packetsDropped, p?.packetsDropped),
    bytes_dropped: delta(c.bytesDropped, p?.bytesDropped),
    packets_accepted: delta(c.packetsAccepted, p?.packetsAccepted),
    bytes_accepted: delta(c.bytesAccepted, p?.bytesAccepted),
  }
}

/** Sends the statistics every hour (see statsPayload); `read` gives the cumulative counts. */
export function scheduleStatistics(transport: Pick<NatsTransport, 'publishStats'>, read: () => Promise<StatsReading>,
  log: Logger['log'], delayMs: (now: number) => number = nextStatsDelayMs): () => void {
  let previous: StatsReading | undefined
  let timer: NodeJS.Timeout | undefined
  const tick = async (): Promise<void> => {
    try {
      let current = await read()
      // Counters that could not be read this hour count nothing now, and are counted with the next reading.
      if (current.counters === undefined && previous?.counters !== undefined) current = {...current, counters: previous.counters}
      const payload = statsPayload(Math.floor(Date.now() / 1000), current, previous)
      previous = current
      // Field order as the original sends it.
      const body = JSON.stringify({time: payload.time, banned: payload.banned, packets_dropped: payload.packets_dropped,
        bytes_dropped: payload.bytes_dropped, packets_accepted: payload.packets_accepted, bytes_accepted: payload.bytes_accepted})
      if (!transport.publishStats(body)) log('info', 'statistics not sent: NATS is not connected')
    } catch (error) {
      log('warning', `statistics: ${(error as Error).message}`)
    }
    arm()
  }
  const arm = (): void => {
    timer = setTimeout(() => void tick(), delayMs(Date.now()))
    timer.unref()
  }
  arm()
  return () => clearTimeout(timer)
}
