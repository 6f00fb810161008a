/**
 * The lab: throwaway network namespaces joined by veth pairs, a real nats-server, long-running
 * processes, probes and kernel-set readers, with one cleanup registry that removes everything at exit.
 * Used by `diswall demo`, the integration tests and the benchmarks; firewall programs run only inside
 * the namespaces it creates.
 */
export {distinctIpv4, nthIpv4} from './addresses.js'
export {cleanupAll, cleanupAllSync, registerCleanup, registeredCleanupCount} from './cleanup.js'
export type {CleanupEntry} from './cleanup.js'
export {makeTempDir} from './temp-dir.js'
export type {TempDir} from './temp-dir.js'
export {LabError, WaitTimeoutError} from './errors.js'
export {
  countKernelSet,
  DEFAULT_NFT_TABLE,
  parseIpsetSaveLines,
  parseNftSetJson,
  readKernelSet,
  waitForKernelSetCount,
} from './kernel-sets.js'
export type {KernelSetEntry, SetBackendKind} from './kernel-sets.js'
export {buildNatsServerConfig, quoteNatsString, renderNatsConf, renderNatsServerConfig, startNatsServer} from './nats.js'
export type {
  NatsConfMap,
  NatsConfValue,
  NatsServer,
  NatsServerConfigOptions,
  NatsSubjectPermission,
  NatsUser,
  NatsUserPermissions,
  StartNatsServerOptions,
} from './nats.js'
export {
  connectNetns,
  createNetns,
  enableNetnsLogging,
  listNetns,
  MAX_IFNAME_LENGTH,
  NETNS_PREFIX,
  spawnIn,
  uniqueLogPrefix,
} from './netns.js'
export type {ConnectNetnsOptions, CreateNetnsOptions, Netns, VethEnd, VethPair} from './netns.js'
export {probeMany, startUdpEchoServer} from './probes.js'
export {addScanSources, MAX_SCAN_SOURCES, SCAN_SOURCES_NETWORK, scanLabDaemon, scanSource, synScan} from './scan.js'
export type {DaemonScanOptions, DaemonScanResult, ScanReport} from './scan.js'
export {parseMonitorLine, preciseNow, watchSetAdditions} from './ban-watch.js'
export type {BanWatch, SetAddition} from './ban-watch.js'
export {applyLabFirewall, renderLabConfig, spawnLabDaemon, startLabDaemon, waitForReady, writeLabHost} from './daemon.js'
export type {LabCli, LabConfig, LabConfigValue, LabDaemonOptions, LabHost, LabHostOptions} from './daemon.js'
export {runDemo} from './demo.js'
export type {DemoArrival, DemoEvent, DemoOptions, DemoOutcome} from './demo.js'
export {openStarNetwork} from './star.js'
export type {StarMember, StarNetwork, StarOptions} from './star.js'
export type {Probe, ProbeOutcome, UdpEchoServer} from './probes.js'
export {spawnProcess} from './process.js'
export type {ProcessExit, SpawnedProcess, SpawnProcessOptions} from './process.js'
export {findProgram, labRequirementsProblem} from './requirements.js'
export type {LabRequirements} from './requirements.js'
export {establishedPeers, openTcpConnection, probeTcp, startEchoServer, waitForTcp} from './tcp.js'
export type {EchoServer, ProbeResult, TcpConnection, TcpPeer} from './tcp.js'
export {waitFor} from './wait.js'
export type {NotYet, WaitOptions} from './wait.js'
