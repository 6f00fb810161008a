/**
 * The server as a service: started, reloaded on SIGHUP and stopped on SIGTERM by runService. Shared by
 * `diswall server` and by `diswall daemon` when the config says `server_mode = true` (the original's way).
 */
import {readFile} from 'node:fs/promises'

import {locateKeys} from '../config/index.js'
import type {Config} from '../config/index.js'
import {ConfigError} from '../errors.js'
import {runService} from '../service/index.js'
import {DiswallServer} from './server.js'
import type {ServerOptions} from './server.js'

/** Runs the server until SIGTERM or SIGINT; resolves once it has stopped (every pending write committed). */
export async function runServerService(options: ServerOptions): Promise<void> {
  const {logger} = options
  const server = new DiswallServer(options)
  await runService({
    onSignal(signal, action) {
      if (action === 'stop') logger.log('notice', `${signal}: stopping`)
    },
    reload: () => server.reload(),
    async start() {
      try {
        await server.start()
      } catch (error) {
        await server.stop().catch(() => {})
        throw error
      }
    },
    async stop() {
      await server.stop()
      logger.log('notice', 'stopped: every pending write committed')
    },
  })
}

/**
 * `server_mode = true` for `diswall daemon`: where the key is (`file:line`), or a ConfigError when the
 * config also asks for a local-only host, which the server cannot be (it lives on NATS).
 */
export async function serverModeLocation(config: Pick<Config, 'local_only' | 'server_mode'>, configPath: string,
  localOnlyFlag: boolean): Promise<string> {
  const text = await readFile(configPath, 'utf8').catch(() => '')
  const line = locateKeys(text).lineOf(['server_mode'])
  if (config.local_only) {
    throw new ConfigError({file: configPath, line}, `server_mode = true, but ${localOnlyFlag ? '--local-only' : 'local_only = true'} too: `
      + 'the central server works only with NATS', 'Remove one of them: the server runs with `diswall server` (or server_mode = true), '
      + 'a host protecting only itself with local_only = true.')
  }
  return line === undefined ? configPath : `${configPath}:${line}`
}
