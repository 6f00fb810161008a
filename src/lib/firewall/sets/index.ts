export {ChangeMarkingBackend, markSetsChanged, readSetsChanged, SETS_CHANGED_FILE, SETS_COPIED_FILE, setsChangedPath} from './changes.js'
export type {ChangeMarkingOptions} from './changes.js'
export {isValidComment, MAX_COMMENT_BYTES} from './comment.js'
export {parseIptablesCounters, parseNftCounters, readSetCounters, ZERO_COUNTERS} from './counters.js'
export type {SetCounters} from './counters.js'
export {KILL_BATCH_MAX, killConnections, killConnectionsBatch, parseDeleted} from './connections.js'
export type {ConnectedAddresses, KillReport} from './connections.js'
export {
  DEFAULT_LIMITS,
  IpsetBackend,
  parseIpsetHeader,
  parseIpsetSave,
  SESSION_MAX_LINES,
  SetTypeMismatchError,
} from './ipset.js'
export type {IpsetBackendOptions, IpsetHeader, SetLimits} from './ipset.js'
export {IPSET_SESSION_TIMEOUT_MS, IpsetSession, SessionClosedError} from './ipset-session.js'
export type {IpsetBatchRunner, IpsetSessionFactory, IpsetSessionOptions} from './ipset-session.js'
export {MemoryBackend} from './memory.js'
export {DEFAULT_NAMES, IPSET_MAX_NAME, ipv6Mask, kernelNames, nftBlock6Rules, nftBlock6Sets, RULESET_CHAINS, STAGING_SUFFIX} from './names.js'
export type {KernelNames, NftBlock6Sets} from './names.js'
export {
  isNftSessionStatement,
  NFT_SESSION_MAX_BATCHES,
  NFT_SESSION_TIMEOUT_MS,
  NftSession,
  NftSessionClosedError,
} from './nft-session.js'
export type {NftBatchRunner, NftSessionFactory, NftSessionOptions} from './nft-session.js'
export {forEachNftElement, NFT_GUARD_CHAIN_SPEC, NFT_SESSION_MAX_OPS, NftBackend, parseNftElements, parseNftSets} from './nftables.js'
export type {NftBackendOptions} from './nftables.js'
export {chooseBackend, createBackend, resolveBackend, tablesOfChains} from './select.js'
export type {BackendChoice, BackendOptions, BackendSetting, SessionFactories} from './select.js'
export {forEachOf, setFor} from './types.js'
export type {CommitReport, FamilyNames, FirewallBackend, InitReport, ListedEntry, ListKind, ListOptions, SetEntry, SetEntrySource} from './types.js'
export {CoalescingWriter} from './writer.js'
export type {SetOp, WriteJournal, WriterOptions} from './writer.js'
export {listOwnAddresses, parseIpAddrJson} from './host.js'
export {openFirewall} from './open.js'
export type {Firewall, OpenFirewallOptions} from './open.js'
