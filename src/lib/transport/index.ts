/**
 * The transport side: the port a transport offers (wire terms), NATS subjects and payload codec, and an
 * in-memory transport for tests.
 */
export {connectBus} from './bus.js'
export type {Bus, BusMessage, BusOptions, BusSubscription} from './bus.js'
export {EventQueue} from './event-queue.js'
export {FakeTransport} from './fake.js'
export type {Published} from './fake.js'
export type {Transport, TransportEvent, TransportSink, WireEntry, WireList} from './port.js'
export {
  ANY,
  checkToken,
  DEFAULT_ACCOUNT,
  DEFAULT_ACCOUNT_GLOBAL_SUBJECT,
  GLOBAL_BLOCK_SUBJECT,
  globalSubject,
  hostSubjects,
  hostToken,
  inboxPrefix,
  isSubjectRefusal,
  isToken,
  LIST_TOKEN,
  listSubject,
  listWildcard,
  MAX_SUBJECT_LENGTH,
  MAX_TOKEN_LENGTH,
  parseSubject,
  statsSubject,
  SUBJECT_ROOT,
} from './subjects.js'
export type {HostSubjects, ParsedSubject, SubjectOp, SubjectRefusal} from './subjects.js'
export {
  decodeAdd,
  decodeDel,
  decodeGlobal,
  decodeInitChunk,
  decodeInitLine,
  encodeAdd,
  encodeDel,
  encodeGlobal,
  encodeInitLine,
  endOfStreamHeaders,
  streamChunkHeaders,
  entryHeaders,
  errorHeaders,
  HEADER,
  initReplyChunks,
  initRequestHeaders,
  isValidComment,
  isValidTag,
  MAX_COMMENT_BYTES,
  MAX_HEADER_BYTES,
  MAX_INIT_LINE_BYTES,
  MAX_LIVE_PAYLOAD_BYTES,
  MAX_TAG_LENGTH,
  PAYLOAD_TAG_MAX,
  payloadTag,
  streamCount,
  wantsStream,
} from './codec.js'
export type {Decoded, DecodeResult, HeaderReader, Refusal, RefusalKind, WireMeta} from './codec.js'
export {NatsTransport, natsConnectionOptions, natsServerUrl, transportError} from './client.js'
export type {FeedKind, InitStatus, NatsTransportOptions, TransportLogLevel, TransportStats} from './client.js'
export {DEFAULT_QUEUE_MAX, QUEUE_FILE, QUEUE_WRITE_DELAY_MS, ReportQueue} from './queue.js'
export type {QueuedReport, ReportQueueOptions} from './queue.js'
export {refreshServerAddresses, resolveServerAddresses} from './server-addresses.js'
