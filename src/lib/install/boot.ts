/**
 * What diswall-firewall.service runs at boot, before any network interface is up: the kernel sets with
 * the bans and allow entries of the last run (snapshot, then journal), then the ruleset of the firewall
 * directory. So a booting host is protected from its first packet, before the daemon starts.
 */
import type {Config} from '../config/index.js'
import {replayJournal, restoreSnapshotFile, snapshotPath} from '../daemon/index.js'
import {openFirewall} from '../firewall/sets/index.js'
import {applyFromDir} from '../ops/index.js'
import {exec as defaultExec} from '../system/index.js'
import type {Exec} from '../system/index.js'

/** What {@link firewallBoot} restored and applied. */
export interface BootReport {
  backend: string
  /** Entries restored from the snapshot and the journal. */
  restored: number
  /** Bad lines and refused entries, as `path:LINE: reason` (the rest was restored). */
  problems: string[]
  applied: boolean
  disabled: boolean
}

/**
 * Creates the kernel sets, restores the snapshot and replays the journal of `[daemon] state_dir` into
 * them (a missing snapshot is an empty one), then applies the firewall directory. The sets come first,
 * so the ruleset never runs without its bans.
 * @throws what openFirewall() and applyFromDir() throw (the ruleset then stays as it was).
 */
export async function firewallBoot(config: Config, {exec = defaultExec, onWarning}: {exec?: Exec; onWarning?: (w: string) => void} = {}): Promise<BootReport> {
  // Not marked as a command's change (changes.ts): it puts back what the snapshot and journal hold,
  // which the daemon restores too; a mark would make every stop after a reboot read the sets back.
  const fw = await openFirewall(config, exec, {markChanges: false})
  let restored = 0
  const problems: string[] = []
  try {
    await fw.backend.init()
    const snapshot = await restoreSnapshotFile(fw.backend, snapshotPath(config.daemon.state_dir))
    const journal = await replayJournal(fw.backend, config.daemon.state_dir)
    restored = snapshot.added + journal.added
    problems.push(...snapshot.problems, ...journal.problems)
  } finally {
    await fw.backend.close()
  }
  const report = await applyFromDir({config, dir: config.firewall.dir, exec, onWarning})
  return {applied: report.applied, backend: report.backend, disabled: report.disabled, problems, restored}
}
