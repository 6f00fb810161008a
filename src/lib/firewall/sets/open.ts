import type {Config} from '../../config/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'
import {kernelNames} from './names.js'
import {createBackend, resolveBackend} from './select.js'
import type {BackendChoice} from './select.js'
import type {FirewallBackend} from './types.js'

/** The kernel side of a command or the daemon: the chosen backend and how it was chosen. */
export interface Firewall {
  backend: FirewallBackend
  choice: BackendChoice
}

/**
 * Resolves `[firewall] backend` and creates the backend; nothing changes in the kernel yet. `session`:
 * keep a long-running ipset process for small commits (the daemon; close() the backend to end it).
 */
export async function openFirewall(config: Config, exec: Exec = defaultExec, {session = false}: {session?: boolean} = {}): Promise<Firewall> {
  const choice = await resolveBackend(config.firewall.backend, config.firewall.nft_table, exec)
  const backend = createBackend(choice.backend, kernelNames(config), {
    allowMax: config.firewall.allow_max,
    blockMax: config.firewall.block_max,
    blockTimeoutSec: config.firewall.block_timeout,
  }, exec, {session})
  return {backend, choice}
}
