import type {Config} from '../../config/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import {ChangeMarkingBackend} from './changes.js'
import {kernelNames} from './names.js'
import {createBackend, resolveBackend} from './select.js'
import type {BackendChoice} from './select.js'
import type {FirewallBackend} from './types.js'

/** The kernel side of a command or the daemon: the chosen backend and how it was chosen. */
export interface Firewall {
  backend: FirewallBackend
  choice: BackendChoice
}

/** Options of openFirewall(). */
export interface OpenFirewallOptions {
  /** Keep a long-running ipset process for small commits (the daemon; close() the backend to end it). */
  session?: boolean
  /**
   * Mark every write in `[daemon] state_dir`/sets.changed (changes.ts), so that a running daemon saves a
   * full snapshot at stop instead of trusting its journal; true by default. The daemon, whose writes
   * are journaled, passes false.
   */
  markChanges?: boolean
  /** Told when the change marker cannot be written (a warning; the write itself stands). */
  onMarkError?: (message: string) => void
}

/** Resolves `[firewall] backend` and creates the backend; nothing changes in the kernel yet. */
export async function openFirewall(config: Config, exec: Exec = defaultExec,
  {markChanges = true, onMarkError, session = false}: OpenFirewallOptions = {}): Promise<Firewall> {
  const choice = await resolveBackend(config.firewall.backend, config.firewall.nft_table, exec)
  const backend = createBackend(choice.backend, kernelNames(config), {
    allowMax: config.firewall.allow_max,
    blockMax: config.firewall.block_max,
    blockTimeoutSec: config.firewall.block_timeout,
  }, exec, {session})
  if (!markChanges) return {backend, choice}
  // Commands without a warning channel of their own: Node prints it on stderr, and the command goes on.
  const warn = onMarkError ?? ((message: string) => process.emitWarning(message))
  return {backend: new ChangeMarkingBackend(backend, config.daemon.state_dir, {onError: warn}), choice}
}
