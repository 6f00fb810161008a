/**
 * Sharing what a list command changed on this host with the other hosts of the account: the applied
 * entries are published on the account's subjects (`diswall.{blacklist,whitelist}.C.{add,del}.H`) when
 * the host is not local-only. When the NATS server cannot be reached within `[nats] connect_timeout`
 * the local change stays, and the report says so (the command then exits with
 * {@link ExitCode.NOT_SHARED}).
 */
import type {Config} from '../config/index.js'
import {natsHostname} from '../config/index.js'
import {asDiswallError, ExitCode} from '../errors.js'
import type {NatsTransport, WireEntry, WireList} from '../transport/index.js'

/** What became of the sharing. */
export interface ShareReport {
  /** True when every entry reached the NATS server. */
  published: boolean
  /** Entries published. */
  count: number
  /** Why nothing was published: the host is local-only, or the server could not be reached. */
  reason?: 'local-only' | 'unreachable'
  /** The NATS server. */
  server?: string
  /** The error code and message when it could not be reached. */
  code?: string
  error?: string
}

/** Options of {@link publishEntries}. */
export interface PublishOptions {
  /** Makes the transport (tests); a one-shot NatsTransport by default. */
  makeTransport?: (config: Config) => Pick<NatsTransport, 'close' | 'connectOnce' | 'flush' | 'publishAdd' | 'publishDel'>
}

/**
 * Publishes entries this host applied: adds or deletes of one list. Local-only hosts publish nothing.
 * Never throws for NATS trouble: the report says what happened.
 */
export async function publishEntries(config: Config, list: WireList, op: 'add' | 'del', entries: readonly WireEntry[],
  options: PublishOptions = {}): Promise<ShareReport> {
  if (config.local_only || config.nats.server === '') return {count: 0, published: false, reason: 'local-only'}
  // Loaded only to publish: a local-only `block add` does not pay for the transport's modules at start-up.
  const {NatsTransport, natsServerUrl} = await import('../transport/index.js')
  const server = natsServerUrl(config.nats.server, config.nats.port)
  if (entries.length === 0) return {count: 0, published: true, server}
  const transport = options.makeTransport?.(config) ?? new NatsTransport({host: natsHostname(config), nats: config.nats, role: 'publisher'})
  try {
    await transport.connectOnce()
    for (const entry of entries) {
      if (op === 'add') transport.publishAdd(list, entry)
      else transport.publishDel(list, entry)
    }
    await transport.flush()
    return {count: entries.length, published: true, server}
  } catch (error) {
    const e = asDiswallError(error)
    return {code: e.code, count: 0, error: e.message, published: false, reason: 'unreachable', server}
  } finally {
    await transport.close().catch(() => {})
  }
}

/** How a command reports the sharing: a line for people, or a warning and the exit code when it failed. */
export function describeShare(report: ShareReport): {message?: string; warning?: string; exitCode?: number; code?: string} {
  if (report.reason === 'local-only') return {}
  if (report.published) return {message: `shared with the fleet via ${report.server} (${report.count} entries)`}
  return {
    code: 'E_NOT_SHARED',
    exitCode: ExitCode.NOT_SHARED,
    warning: `changed on this host only, not shared with the fleet: ${report.error ?? 'NATS cannot be reached'}. ` +
      'Run the same command again once NATS is reachable (it is idempotent); daemons also re-sync from the server at their next connect.',
  }
}
