/**
 * The daemon's command-line overrides of the config (including the original DisWall flags that
 * bin/run.js translates: -a, -b, -l, -s, -P, -n, -p), checked like the config file's values.
 */
import type {Config} from '../config/index.js'
import {checkHost, checkSetName, checkSubjectToken} from '../config/index.js'
import {InvalidValueError} from '../errors.js'

/** The flags of `diswall daemon` that change the config. */
export interface DaemonFlags {
  'allow-set'?: string
  'block-set'?: string
  'local-only'?: boolean
  'nats-name'?: string
  'nats-pass'?: string
  'nats-port'?: number
  'nats-server'?: string
}

/**
 * The config with the flags applied. Throws InvalidValueError (exit 2) for a bad value.
 */
export function applyDaemonFlags(config: Config, flags: DaemonFlags): Config {
  const check = (flag: string, value: string, problem: {message: string; hint?: string} | undefined): string => {
    if (problem) throw new InvalidValueError(`--${flag}: ${problem.message}`, problem.hint)
    return value
  }
  const port = flags['nats-port']
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    throw new InvalidValueError(`--nats-port: expected a port from 1 to 65535, got ${port}`, 'Give the port of the NATS server, e.g. 4222.')
  }
  const out: Config = {
    ...config,
    ipset_black_list: flags['block-set'] === undefined ? config.ipset_black_list : check('block-set', flags['block-set'], checkSetName(flags['block-set'])),
    ipset_white_list: flags['allow-set'] === undefined ? config.ipset_white_list : check('allow-set', flags['allow-set'], checkSetName(flags['allow-set'])),
    local_only: config.local_only || flags['local-only'] === true,
    nats: {
      ...config.nats,
      ...(flags['nats-server'] === undefined ? {} : {server: check('nats-server', flags['nats-server'], checkHost(flags['nats-server']))}),
      ...(port === undefined ? {} : {port}),
      ...(flags['nats-name'] === undefined ? {} : {client_name: check('nats-name', flags['nats-name'], checkSubjectToken(flags['nats-name']))}),
      ...(flags['nats-pass'] === undefined ? {} : {client_pass: flags['nats-pass']}),
    },
  }
  return out
}
