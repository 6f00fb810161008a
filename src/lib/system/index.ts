export * from './exec.js'
export * from './privileges.js'
export * from './lock.js'
