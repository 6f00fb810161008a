/**
 * The firewall directory as a ruleset: the model, its rendering (iptables-restore scripts, one nft file),
 * the atomic apply with rollback, the diff against the kernel, the flush, and `apply --confirm`.
 */
export type {
  ConnState,
  ListFile,
  LocalScript,
  Origin,
  Protocol,
  Rule,
  RuleFile,
  RulesetModel,
  Verdict,
} from './model.js'
export {
  hashlimitName,
  IPTABLES_LIMIT_MAX_PER_SEC,
  quoteIptables,
  renderIptables,
  renderIptablesChains,
  renderIptablesRuleset,
} from './render-iptables.js'
export {
  assertLogPrefix,
  checkNflogGroup,
  commentLine,
  DEFAULT_LIMIT_BURST,
  formatPortRange,
  LIMIT_BURST_MAX,
  listFileRules,
  MULTIPORT_MAX,
  NFLOG_GROUP_MAX,
  normaliseRule,
  parseIcmpType,
  parseLimit,
  parsePorts,
  PEER_SET_PREFIX,
  PEER_SET_THRESHOLD,
  peerSet,
  ruleFamily,
  ruleForFamily,
  RULESET_CHAIN_NAMES,
  RULESET_CHAINS,
  SOURCE_LIMIT_TABLE,
  walkRuleset,
} from './normalise.js'
export type {
  IcmpMatch,
  NormalRule,
  PeerSet,
  PortRanges,
  RateLimit,
  RenderedChain,
  RenderOptions,
  RuleDirection,
  RulesetVisitor,
} from './normalise.js'
export {
  declareNftChain,
  declareNftPeerSet,
  NFT_BASE_CHAIN_SPECS,
  NFT_METER_PREFIX,
  nftTable,
  renderNft,
  renderNftChains,
  renderNftRuleset,
} from './render-nft.js'
export {createIpsetPeerSets, listPeerSets, nftSetNames, peerSetsInState, planIpsetPeerSets, removePeerSets} from './peer-sets.js'
export {
  captureState,
  incompatibleTable,
  isJumpTo,
  listNftChain,
  parseIptablesSave,
  parseNftChainListing,
  planIptablesRestore,
  renderNftRestore,
  restoreState,
  StateCaptureError,
} from './state.js'
export type {
  IptablesTable,
  RulesetBackend,
  SavedIptablesState,
  SavedNftChain,
  SavedNftState,
  SavedState,
} from './state.js'
export {
  ApplyFailedError,
  applyRuleset,
  diffLines,
  diffRuleset,
  diffState,
  flushRuleset,
  jumpLine,
  LOCAL_SCRIPT_TIMEOUT_MS,
  planIptablesFlush,
  planJumps,
  renderRuleset,
} from './apply.js'
export type {
  ApplyOptions,
  ApplyReport,
  ChainDiff,
  FlushReport,
  JumpFix,
  LocalScriptRun,
  RenderedRuleset,
  RulesetDiff,
  RulesetTarget,
  RulesetTransaction,
} from './apply.js'
export {
  confirmPending,
  listPendingRollbacks,
  newRollbackToken,
  rollbackFile,
  rollbackIfPending,
  writePendingRollback,
} from './confirm.js'
export type {PendingRollback} from './confirm.js'
// The directory reader (another owner's files).
export {
  DISABLED_FLAG,
  isFirewallDisabled,
  parseListFileName,
  parseListPorts,
  readRuleset,
  resolveRuleName,
  RulesetError,
  RUN_PARTS_NAME,
} from './read.js'
export type {ReadRulesetOptions, ResolveHost, RuleNameResolution, RulesetProblem} from './read.js'
export {
  BUILTIN_TEMPLATE_NAMES,
  builtinTemplateDirections,
  builtinTemplateTakesPort,
  DEFAULT_TEMPLATE,
  describeBuiltinTemplate,
  ESSENTIAL_ICMPV6_TYPES,
  expandBuiltinTemplate,
  FTP_PASSIVE_PORTS,
  ICMP_TYPES,
  ICMPV6_TYPES,
  isBuiltinTemplate,
  LOG_HOST_BURST,
  LOG_HOST_LIMIT,
  LOG_SOURCE_BURST,
  LOG_SOURCE_LIMIT,
  PING_TYPES,
  withPeers,
  WWW_DATA_USER,
} from './templates.js'
export type {Direction, PortSpec, TemplateInput, TemplateRule} from './templates.js'
export {DEFAULT_SERVICES_PATH, loadServices, parseServices, serviceProtos} from './services.js'
export type {Service, ServiceMap} from './services.js'
export {
  expandUserTemplate,
  findUserTemplate,
  parseUserTemplate,
  PORT_VARIABLE,
  readUserTemplates,
  scanUserTemplates,
  USER_TEMPLATE_NAME,
  USER_TEMPLATE_TOKENS_HINT,
} from './user-template.js'
export type {UserTemplate, UserTemplateLine, UserTemplateScan, UserTemplateSet} from './user-template.js'
export {DEFAULT_FIREWALL_DIRS, DEFAULT_FIREWALL_FILES, writeDefaultFirewallDir} from './defaults.js'
export {neighbourDiscoveryWarning} from './checks.js'
export {watchDirectory} from './watch.js'
export type {DirectoryWatch, WatchOptions} from './watch.js'
