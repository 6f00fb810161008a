export {
  ControlProtocolError,
  CONTROL_IDLE_TIMEOUT_MS,
  ControlSocketError,
  MAX_CONTROL_CONNECTIONS,
  MAX_CONTROL_LINE_BYTES,
  openControlServer,
  queryControl,
  ServiceNotRunningError,
  ServiceRunningError,
  ServiceTimeoutError,
} from './control.js'
export type {
  ControlHandler,
  ControlHandlers,
  ControlRequest,
  ControlResponse,
  ControlServer,
  ControlServerOptions,
  QueryControlOptions,
} from './control.js'
export type {ServiceIdentity} from './identity.js'
export {abortOnStopSignals, runService} from './lifecycle.js'
export type {ServiceLifecycle, SignalAction, SignalSource} from './lifecycle.js'
export {createLogger, LOG_LEVELS, memoryLogger} from './log.js'
export type {Logger, LoggerOptions, LogLevel} from './log.js'
export {escapeLabelValue, METRICS_CONTENT_TYPE, openMetricsServer, parseListen, renderMetricFamilies} from './metrics.js'
export type {MetricFamily, MetricLabels, MetricSample, MetricsCollector, MetricsServer} from './metrics.js'
