export {
  allowAdd,
  applyListBatch,
  blockAdd,
  checkComment,
  checkListGiven,
  checkReason,
  checkTimeout,
  listDel,
  listEntries,
  ListFileError,
  listInputs,
  parseInputs,
  parseListText,
  parseTargets,
  ProtectedAddressError,
  readListFile,
  shareListChange,
  SINGLE_CHECK_MAX,
} from './lists.js'
export type {
  AllowAddOptions,
  BlockAddOptions,
  ListBatch,
  ListChange,
  ListChangeOptions,
  ListChangeResult,
  ListInput,
  ListItem,
  ListStep,
  SharedListChangeResult,
} from './lists.js'
export {describeShare, publishEntries} from './publish.js'
export type {PublishOptions, ShareReport} from './publish.js'
export {
  applyFromDir,
  checkRuleset,
  confirmApply,
  diffFromDir,
  flushFromConfig,
  rollbackAfter,
  showRuleset,
  watchRuleset,
} from './ruleset.js'
export type {ApplyFromDirOptions, PendingConfirm, RulesetContext, RulesetSummary, WatchEvent} from './ruleset.js'
export {syncInit} from './sync.js'
export type {SyncInitOptions, SyncInitResult, SyncListResult} from './sync.js'
