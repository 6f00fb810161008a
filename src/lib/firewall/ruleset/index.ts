/**
 * The firewall directory as a ruleset: the model, its rendering (iptables-restore scripts, one nft file),
 * the atomic apply with rollback, the diff against the kernel, the flush, and `apply --confirm`.
 */
export * from './model.js'
export * from './render-iptables.js'
export * from './render-nft.js'
export * from './state.js'
export * from './apply.js'
export * from './confirm.js'
// The directory reader (another owner's files).
export * from './read.js'
export * from './templates.js'
export * from './services.js'
export * from './user-template.js'
export * from './defaults.js'
export * from './checks.js'
