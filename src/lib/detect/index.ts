/**
 * Detection: the sources that read logs (./sources/), and a pure engine that turns log lines (kernel
 * packet log, service logs through pattern files) into ban and allow requests, with the port policy,
 * sliding windows, IPv6 grouping, the never-ban check and de-duplication.
 */
export type {AllowRequest, BanRequest, DetectEvent, LogLine} from './types.js'
export type {PacketLog, PipeReport} from './kernel-log.js'
export {isValidTag, MAX_TAG_LENGTH, parseKernelLog, parsePipeLine, parsePipeReport} from './kernel-log.js'
export type {CompiledPattern} from './pattern-regex.js'
export {
  BACKTRACKS_BEFORE_LINEAR,
  compilePattern,
  enableLinearRegexEngine,
  IP_GROUP,
  IP_PLACEHOLDER,
  MAX_REGEX_LENGTH,
} from './pattern-regex.js'
export type {PatternAction, PatternFile, PatternKind, PatternLevel, PatternParseOptions, PatternRule} from './pattern-file.js'
export {
  PATTERN_LEVELS,
  readsProgram,
  runsAtLevel,
  DEFAULT_THRESHOLD,
  DEFAULT_WINDOW_SEC,
  MAX_THRESHOLD,
  MAX_WINDOW_SEC,
  parsePatternFile,
  parsePatternFiles,
  PATTERN_FILE_SUFFIX,
  readsSource,
} from './pattern-file.js'
export type {PatternTestMatch, PatternTestOptions, PatternTestRegex, PatternTestResult, RunPatternTestOptions} from './pattern-test.js'
export {patternTestLine, runPatternTest, testPatterns, UNMATCHED_SAMPLES} from './pattern-test.js'
export type {ShippedPatternFile} from './shipped-patterns.js'
export {DEFAULT_PATTERNS_DIR, SHIPPED_PATTERNS, shippedPatternFiles} from './shipped-patterns.js'
export type {PortClass, SlidingWindowOptions} from './policy.js'
export {classifyPort, portScanReason, SlidingWindowCounter, WELL_KNOWN_PORTS} from './policy.js'
export type {DedupOptions} from './dedup.js'
export {DedupCache} from './dedup.js'
export type {DetectEngineConfig, DetectEngineOptions, DetectStats, DetectTracked, PatternMatchReport, SlowPatternReport} from './engine.js'
export type {ProcessState} from './processes.js'
export {DEFAULT_MAX_PROCESSES, PROCESS_TTL_MS, ProcessTable, syslogHeader, syslogPid} from './processes.js'
export {DetectEngine, SLOW_MATCH_MS} from './engine.js'
export {
  DEFAULT_MAX_LINE_BYTES,
  DEFAULT_PIPE_PATH,
  ensureFifo,
  escapeKmsgText,
  FileSource,
  followFile,
  formatNflogLine,
  isFatalSourceError,
  journalctlArgs,
  JournalSource,
  KMSG_DEVICE,
  KMSG_POSITION_FILE,
  KMSG_RESUME_MAX_AGE_SEC,
  KmsgPositionWriter,
  loadKmsgPosition,
  KmsgSource,
  LogSourceError,
  NFLOG_SNAPLEN,
  NflogSource,
  parseJournalEntry,
  parseKmsgRecord,
  parseTcpdumpLine,
  parseWtmp,
  parseWtmpRecord,
  hasJournald,
  JOURNALD_SOCKET,
  JOURNAL_CURSOR_FILE,
  JOURNAL_RESUME_MAX_AGE_SEC,
  JournalCursorWriter,
  loadJournalCursor,
  matchUnit,
  isTemplateUnit,
  PipeSource,
  ServiceJournalSource,
  serviceJournalctlArgs,
  SourceEndedError,
  SupervisedSource,
  superviseSource,
  tcpdumpArgs,
  unescapeKmsgText,
  unitSource,
  untrustedReason,
  UTMP_RECORD_SIZE,
  UtmpType,
  WTMP_PATH,
  wtmpAddress,
  WtmpSource,
} from './sources/index.js'
export type {
  FileSourceOptions,
  FollowEvent,
  FollowOptions,
  JournalEntry,
  JournalSourceOptions,
  KmsgRecord,
  KmsgSourceOptions,
  LogSource,
  NflogPacket,
  NflogSourceOptions,
  PipeSourceOptions,
  RunHooks,
  ServiceJournalSourceOptions,
  SourceHealth,
  SourceState,
  SpawnLinesFn,
  SuperviseOptions,
  SupervisorEvent,
  WtmpLogin,
  WtmpRecord,
  WtmpSourceOptions,
} from './sources/index.js'
