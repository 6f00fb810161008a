/** The integration test harness: namespaces, processes, nats-server, skips and polling. */
export * from './cleanup.js'
export * from './nats.js'
export * from './netns.js'
export * from './process.js'
export * from './root.js'
export * from './wait.js'
