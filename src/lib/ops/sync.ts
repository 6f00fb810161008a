/**
 * `diswall sync init`: the init a daemon runs after every connect, as a one-shot command. Both lists
 * are requested from the server and each answer replaces its kernel set in one swap, through the
 * enforcer (the never-ban check: own addresses, the NATS server, SSH peers, the allow list, ignore_ips).
 * A server that does not answer leaves the sets as they are, and the command fails (exit 6).
 */
import type {Config} from '../config/index.js'
import {natsHostname} from '../config/index.js'
import {Enforcer, HostFacts} from '../enforce/index.js'
import {TransportError, UsageError} from '../errors.js'
import {openFirewall} from '../firewall/sets/index.js'
import type {Firewall, SetEntry} from '../firewall/sets/index.js'
import {NetworkList} from '../net/index.js'
import {exec as defaultExec} from '../system/index.js'
import type {Exec} from '../system/index.js'
import {NatsTransport, natsServerUrl, refreshServerAddresses} from '../transport/index.js'
import type {TransportSink, WireEntry, WireList} from '../transport/index.js'

/** What `sync init` did for one list. */
export interface SyncListResult {
  /** Valid entries in the server's answer. */
  received: number
  /** Lines of the answer refused as malformed. */
  malformed: number
  /** Entries left out by the never-ban check. */
  protected: number
  /** Entries now in the set. */
  loaded: number
  ms: number
}

export interface SyncInitResult {
  server: string
  backend: string
  lists: Record<WireList, SyncListResult>
}

export interface SyncInitOptions {
  exec?: Exec
  firewall?: Firewall
  /** Told how many entries of a list have arrived so far (after each message once 10,000 more came, and at the end). */
  onProgress?: (list: WireList, received: number) => void
}

/**
 * Requests both lists and loads them. Throws UsageError for a local-only host, TransportError when
 * the server cannot be reached or does not answer (the sets are then unchanged).
 */
export async function syncInit(config: Config, options: SyncInitOptions = {}): Promise<SyncInitResult> {
  if (config.local_only || config.nats.server === '') {
    throw new UsageError('this host is local-only: there is no server to sync with',
      'Set [nats] server (and local_only = false) in the config, or pass -s/--nats-server.')
  }
  const exec = options.exec ?? defaultExec
  const server = natsServerUrl(config.nats.server, config.nats.port)
  const servers = new NetworkList()
  await refreshServerAddresses(config.nats.server, servers)
  const facts = new HostFacts({exec})
  await facts.refreshAddresses()
  await facts.refreshSshPeers()
  const fw = options.firewall ?? await openFirewall(config, exec)
  await fw.backend.init()
  const enforcer = new Enforcer({backend: fw.backend, config, exec, facts, protect: [{label: 'the NATS server', list: servers}]})
  await enforcer.refreshAllowList()
  const transport = new NatsTransport({host: natsHostname(config), nats: config.nats, role: 'publisher'})
  const lists: Partial<Record<WireList, SyncListResult>> = {}
  try {
    await transport.connectOnce()
    const sink: TransportSink = {
      add: async () => false,
      del: async () => false,
      replace: async (list, entries) => {
        const started = Date.now()
        let received = 0
        async function* counted(): AsyncGenerator<SetEntry[]> {
          let told = 0
          for await (const batch of entries) {
            received += batch.length
            if (received - told >= 10_000) {
              told = received
              options.onProgress?.(list, received)
            }
            yield batch.map(toSetEntry)
          }
          options.onProgress?.(list, received)
        }
        const {loaded, refused} = await enforcer.replace(list, counted())
        lists[list] = {loaded, malformed: 0, ms: Date.now() - started, protected: refused, received}
      },
    }
    const init = await transport.initOnce(sink)
    for (const list of ['block', 'allow'] as const) {
      const status = init[list]
      if (status.lastError !== undefined || lists[list] === undefined) {
        throw new TransportError(`init of the ${list} list from ${server}: ${status.lastError ?? 'no answer'}; the kernel sets were left as they were` +
          `${lists.block && list === 'allow' ? ' (the block list was loaded)' : ''}`,
        /no responders/.test(status.lastError ?? '') ? 'E_NATS_NO_RESPONDERS' : 'E_NATS_INIT',
          'Check that a diswall server is connected to this NATS server (diswall server), then run sync init again.')
      }
      lists[list].malformed = status.refused ?? 0
    }
  } finally {
    await transport.close()
    await fw.backend.close()
  }
  return {backend: fw.backend.name, lists: lists as Record<WireList, SyncListResult>, server}
}

function toSetEntry(entry: WireEntry): SetEntry {
  return {target: entry.target, ...(entry.comment === undefined ? {} : {comment: entry.comment}),
    ...(entry.ttlSec === undefined ? {} : {ttlSec: entry.ttlSec})}
}
