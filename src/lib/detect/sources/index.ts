/**
 * Detection sources: the kernel log (/dev/kmsg, journald, the original rsyslog pipe), NFLOG (tcpdump), service log files
 * followed like `tail -F`, and logins from wtmp. Each is a {@link LogSource}; wrap it with
 * {@link superviseSource} so that it restarts after a failure and never stops silently.
 */
export type {LogLine, LogSource, RunHooks, SourceHealth, SourceState} from './types.js'
export {LogSourceError, SourceEndedError} from './types.js'
export {isFatalSourceError, SupervisedSource, superviseSource} from './supervisor.js'
export type {SuperviseOptions, SupervisorEvent} from './supervisor.js'
export {escapeKmsgText, KMSG_DEVICE, KmsgSource, parseKmsgRecord, unescapeKmsgText} from './kmsg.js'
export type {KmsgRecord, KmsgSourceOptions} from './kmsg.js'
export {KMSG_POSITION_FILE, KMSG_RESUME_MAX_AGE_SEC, KmsgPositionWriter, loadKmsgPosition} from './kmsg-position.js'
export {JournalSource, journalctlArgs, parseJournalEntry} from './journal.js'
export type {JournalEntry, JournalSourceOptions, SpawnLinesFn} from './journal.js'
export {
  DAEMON_EXE_DIRS, FIRST_USER_UID, hasJournald, isTemplateUnit, JOURNALD_SOCKET, matchUnit, ServiceJournalSource, serviceJournalctlArgs, unitSource,
  untrustedReason,
} from './service-journal.js'
export {JOURNAL_CURSOR_FILE, JOURNAL_RESUME_MAX_AGE_SEC, JournalCursorWriter, loadJournalCursor} from './journal-cursor.js'
export type {ServiceJournalSourceOptions} from './service-journal.js'
export {findNflogHolders, formatNflogLine, NFLOG_HELPER_USER, NFLOG_SNAPLEN, nflogHelperPrefix, NflogSource, parseTcpdumpLine, tcpdumpArgs} from './nflog.js'
export type {NflogPacket, NflogSourceOptions} from './nflog.js'
export {DEFAULT_PIPE_PATH, ensureFifo, PipeSource} from './pipe.js'
export type {PipeSourceOptions} from './pipe.js'
export {DEFAULT_MAX_LINE_BYTES, FileSource} from './file.js'
export type {FileSourceOptions} from './file.js'
export {followFile} from './follow.js'
export type {FollowEvent, FollowOptions} from './follow.js'
export {parseWtmp, parseWtmpRecord, UTMP_RECORD_SIZE, UtmpType, WTMP_PATH, WtmpSource, wtmpAddress} from './wtmp.js'
export type {WtmpLogin, WtmpRecord, WtmpSourceOptions} from './wtmp.js'
