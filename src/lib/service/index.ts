export * from './control.js'
export * from './log.js'
export * from './metrics.js'
