/**
 * The steps of install and uninstall that touch the running host: systemd and the kernel. Never used
 * with a staging root. The order keeps the host reachable: on install the SSH peers of the current
 * sessions are allowed before the default-drop ruleset goes in (and the apply can roll itself back);
 * on uninstall the rules that reference the sets go first, then the chains, then the sets.
 */
import type {Config} from '../config/index.js'
import {HostFacts} from '../enforce/index.js'
import {CommandFailedError, MissingDependencyError} from '../errors.js'
import {flushRuleset} from '../firewall/ruleset/index.js'
import type {FlushReport} from '../firewall/ruleset/index.js'
import {kernelNames, openFirewall} from '../firewall/sets/index.js'
import {allowAdd, applyFromDir} from '../ops/index.js'
import type {ApplyFromDirOptions} from '../ops/index.js'
import {exec as defaultExec, UNIT_NAMES} from '../system/index.js'
import type {Exec} from '../system/index.js'

/** The SSH ports whose established peers are allowed before the ruleset goes in. */
const SSH_PORTS = [22]

/** What {@link protectAndApply} did. */
export interface ProtectReport {
  backend: string
  /** SSH peers put into the allow set (already there: not listed). */
  allowedSshPeers: string[]
  applied: boolean
  changed: boolean
  disabled: boolean
  /** Set when the apply waits for `diswall firewall confirm`. */
  pending?: {deadlineMs: number; token: string}
}

/**
 * Creates the kernel sets, allows the peers of the established SSH sessions (so the operator who runs
 * the install keeps the connection), then applies the firewall directory with rollback (and a pending
 * confirm when `apply.confirmSec` is given).
 * @throws what openFirewall(), allowAdd() and applyFromDir() throw; the ruleset is then as it was.
 */
export async function protectAndApply(config: Config, apply: ApplyFromDirOptions & {onWarning?: (w: string) => void},
  exec: Exec = defaultExec): Promise<ProtectReport> {
  const fw = await openFirewall(config, exec)
  try {
    // The socket tables of /proc/net are those of the reading process's namespace: when the commands run
    // elsewhere (a namespace, in tests and the lab), read them through the same runner.
    const readText = exec === defaultExec ? undefined : async (path: string) => (await exec('cat', [path])).stdout
    const facts = new HostFacts({exec, sshPorts: SSH_PORTS, ...(readText === undefined ? {} : {readText})})
    await facts.refreshSshPeers()
    const peers = [...facts.sshPeers].map((n) => n.address.text)
    let allowedSshPeers: string[] = []
    await fw.backend.init()
    if (peers.length > 0) {
      const result = await allowAdd(fw, peers, {comment: 'SSH session at diswall install'})
      allowedSshPeers = result.entries.filter((e) => e.changed).map((e) => e.target)
    }
    const report = await applyFromDir({config, dir: config.firewall.dir, exec, onWarning: apply.onWarning}, apply)
    return {allowedSshPeers, applied: report.applied, backend: report.backend, changed: report.changed,
      disabled: report.disabled, ...(report.pending ? {pending: report.pending} : {})}
  } finally {
    await fw.backend.close()
  }
}

/** The units of an install, in the order systemd enables them. */
export function unitsOf(server: boolean): string[] {
  return [UNIT_NAMES.firewall, UNIT_NAMES.daemon, ...(server ? [UNIT_NAMES.server] : [])]
}

/**
 * `systemctl daemon-reload`, then enables the units and (re)starts the daemon and the server; the
 * firewall unit is only enabled: its work (sets and ruleset) was just done.
 * @throws MissingDependencyError without systemctl, CommandFailedError when a unit does not start.
 */
export async function enableUnits(server: boolean, exec: Exec = defaultExec): Promise<void> {
  await exec('systemctl', ['daemon-reload'])
  await exec('systemctl', ['enable', ...unitsOf(server)])
  await exec('systemctl', ['restart', UNIT_NAMES.daemon, ...(server ? [UNIT_NAMES.server] : [])], {timeoutMs: 180_000})
}

/**
 * Stops and disables the units (absent ones are skipped), in the reverse order of install; without
 * systemctl, none.
 */
export async function disableUnits(exec: Exec = defaultExec): Promise<string[]> {
  const stopped: string[] = []
  for (const unit of [UNIT_NAMES.server, UNIT_NAMES.daemon, UNIT_NAMES.firewall]) {
    try {
      await exec('systemctl', ['disable', '--now', unit], {timeoutMs: 180_000})
      stopped.push(unit)
    } catch (error) {
      // Without systemd there is no unit to stop; the kernel teardown still has to run.
      if (error instanceof MissingDependencyError) return stopped
      // "Unit file … does not exist": not installed, nothing to stop.
      if (!(error instanceof CommandFailedError)) throw error
    }
  }
  await exec('systemctl', ['daemon-reload'])
  return stopped
}

/** What {@link removeKernelState} removed. */
export interface TeardownReport {
  backend: string
  ruleset: FlushReport
  setsRemoved: boolean
}

/**
 * Removes diswall from the kernel in an order that never leaves the host unreachable: first every rule
 * that jumps to a ruleset chain (the ruleset chains keep accept policies, so nothing drops by default
 * once they are unhooked), then the chains, then the guard rules that reference the sets, then the sets
 * (or the whole `inet diswall` table with nftables). Idempotent.
 * @throws CommandFailedError from the tools.
 */
export async function removeKernelState(config: Config, exec: Exec = defaultExec): Promise<TeardownReport> {
  // Unmarked (changes.ts): the daemon is gone with the sets, and the state directory may be too.
  const fw = await openFirewall(config, exec, {markChanges: false})
  try {
    const ruleset = await flushRuleset({backend: fw.choice.backend, exec, names: kernelNames(config)})
    await fw.backend.destroy()
    return {backend: fw.choice.backend, ruleset, setsRemoved: true}
  } finally {
    await fw.backend.close()
  }
}
