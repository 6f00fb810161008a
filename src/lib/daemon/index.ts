export * from './lists.js'
