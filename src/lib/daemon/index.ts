export type {DaemonStatus, PatternFileStatus, RecentBan, SnapshotStatus} from './status.js'
export {DAEMON_SERVICE, queryDaemon} from './status.js'
export {daemonMetricFamilies, renderDaemonMetrics} from './metrics.js'
export {allowToWire, banToWire, Daemon, makeSources, unitsSourceId} from './agent.js'
export type {DaemonOptions, PacketSourceKind, PlannedSources, SourcePlan} from './agent.js'
export {applyDaemonFlags} from './flags.js'
export {abstractHolderUid, DAEMON_LOCK_FILE, DaemonRunningError, instanceLockName, openInstanceLock} from './instance.js'
export type {InstanceLock, InstanceLockOptions} from './instance.js'
export type {DaemonFlags} from './flags.js'
export {loadPatternDir, planServiceLogs} from './patterns.js'
export type {LoadedPatterns, ServiceLogPlan} from './patterns.js'
export {compactSnapshot, COMPACT_MAX_CHANGES, JOURNAL_PREFIX, JOURNAL_SYNC_MS, journalPath, listJournalSegments, replayJournal, SetJournal} from './journal.js'
export type {CompactSnapshotOptions, FoldedCopy, JournalReplayReport, ReplayJournalOptions, SetJournalOptions} from './journal.js'
export {LIST_COPY_PREFIX, ListCopyFile, removeListCopies} from './list-copy.js'
export {
  formatEntryLine,
  JOURNAL_VERSION,
  loadSnapshot,
  MAX_SNAPSHOT_TTL_SEC,
  readJournalFile,
  restoreSnapshot,
  readSnapshotFile,
  restoreSnapshotFile,
  saveSnapshot,
  SnapshotBuilder,
  SNAPSHOT_FILE,
  SNAPSHOT_VERSION,
  snapshotPath,
} from './snapshot.js'
export type {
  JournalSink,
  LoadedSnapshot,
  RestoreSnapshotFileOptions,
  SaveSnapshotOptions,
  SavedSnapshot,
  SnapshotClock,
  SnapshotEntry,
  SnapshotReadReport,
  SnapshotRestoreReport,
} from './snapshot.js'
export {collectGarbage, holdYoungGeneration} from './heap.js'
export {isDistributed, nextStatsDelayMs, openFleet, scheduleStatistics, sendsStatistics, statsPayload} from './fleet.js'
export type {Fleet, StatsPayload, StatsReading} from './fleet.js'
export {LatencyTrace, latencyTraceFromEnv, Ring, traceStages, wallNow} from './trace.js'
export type {TraceDump, TracedBan, TracedGc} from './trace.js'
export {runsDaemon} from './start-flags.js'
