export {
  allowAdd,
  blockAdd,
  checkComment,
  checkReason,
  checkTimeout,
  listDel,
  listEntries,
  parseTargets,
  ProtectedAddressError,
  shareListChange,
} from './lists.js'
export type {AllowAddOptions, BlockAddOptions, ListChange, ListChangeResult, ListItem, SharedListChangeResult} from './lists.js'
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
