export * from './exec.js'
export * from './privileges.js'
