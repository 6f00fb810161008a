export * from './lists.js'
export * from './ruleset.js'
