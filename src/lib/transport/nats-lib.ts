/**
 * nats.js, loaded on first use: requiring it costs 0.2–0.4 s on a small VM, which every CLI command
 * would pay at start-up (P9) although only the daemon and the commands that publish talk to NATS.
 */
import type * as Nats from 'nats'
import {createRequire} from 'node:module'


type NatsModule = typeof Nats

let loaded: NatsModule | undefined

/** The nats module (CommonJS), required once, when first needed. */
export function natsLib(): NatsModule {
  loaded ??= createRequire(import.meta.url)('nats') as NatsModule
  return loaded
}
