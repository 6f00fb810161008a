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
} from './lists.js'
export type {AllowAddOptions, BlockAddOptions, ListChange, ListChangeResult, ListItem} from './lists.js'
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
