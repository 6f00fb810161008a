/**
 * The TOML config file: one schema (CONFIG_SCHEMA) with every key's type, default and doc; parsing
 * and validation with `file:line` errors; loading from disk; and the generated, commented default file.
 */

// system/paths.js, not system/index.js: the index loads execa, ~0.15 s of start-up on 2 vCPU, which
// loading a config (generate-config, every command) does not need.
import {DEFAULT_PATHS} from '../system/paths.js'

/** Default location of the config file (`-c/--config FILE` overrides it). */
export const DEFAULT_CONFIG_PATH = DEFAULT_PATHS.configFile

export {loadConfig, MAX_CONFIG_BYTES, natsHostname} from './load.js'
export {locateKeys} from './locate.js'
export type {KeyLocator} from './locate.js'
export {defaultConfig, formatTomlValue, InvalidConfigError, parseConfig} from './parse.js'
export type {ConfigProblem, ParsedConfig} from './parse.js'
export {HIDDEN_SECRET, renderConfig, renderConfigReference, toFileValues} from './render.js'
export type {ConfigFileValues} from './render.js'
export {CONFIG_SCHEMA, keyName, schemaRows} from './schema.js'
export type {
  Config,
  DaemonConfig,
  DetectConfig,
  FirewallConfig,
  NatsConfig,
  SectionName,
  SectionSpec,
  ServerConfig,
} from './schema.js'
export {checkHost, checkLogPrefix, checkSetName, checkSubjectToken, closest, LOG_PREFIX_MAX} from './values.js'
export type {FileValue, KeySpec, LogPrefixProgram, TargetEntry} from './values.js'
