/**
 * Prometheus metrics of a long-running command (`[metrics] listen`): metric families written in the
 * text exposition format 0.0.4 and served over HTTP at /metrics. What the families are is the
 * command's business (the daemon's are in src/lib/daemon/metrics.ts).
 */
import {createServer} from 'node:http'
import type {IncomingMessage, ServerResponse} from 'node:http'
import type {AddressInfo} from 'node:net'

import {DiswallError, ExitCode, InvalidValueError} from '../errors.js'
import type {ServiceIdentity} from './identity.js'

/** The Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Label names and values of one sample. */
export type MetricLabels = Record<string, string>

/** One sample of a family: its labels (`{}` for none) and its value. */
export type MetricSample = readonly [labels: MetricLabels, value: number]

/** One metric family: written as `# HELP`, `# TYPE`, then its samples in order. */
export interface MetricFamily {
  name: string
  type: 'counter' | 'gauge'
  /** One line of text; backslashes and line feeds are escaped when written. */
  help: string
  samples: readonly MetricSample[]
}

/** What a metrics endpoint serves: the current families, read at every scrape. */
export type MetricsCollector = () => Promise<readonly MetricFamily[]> | readonly MetricFamily[]

/**
 * Writes the families in the Prometheus text exposition format 0.0.4: `# HELP` and `# TYPE` per family,
 * then one line per sample with its label values escaped; every line ends in a line feed. Pure.
 */
export function renderMetricFamilies(families: readonly MetricFamily[]): string {
  const out: string[] = []
  for (const {help, name, samples, type} of families) {
    out.push(`# HELP ${name} ${escapeHelp(help)}`, `# TYPE ${name} ${type}`)
    // A field its producer does not fill (yet) is left out rather than written as an invalid sample.
    for (const [labels, value] of samples) if (typeof value === 'number') out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`)
  }
  return out.length === 0 ? '' : out.join('\n') + '\n'
}

/** A listening metrics endpoint. */
export interface MetricsServer {
  /** The address it listens on (`127.0.0.1`, `::1`, …). */
  readonly address: string
  /** The port it listens on (the one chosen by the system when asked for port 0). */
  readonly port: number
  /** Stops listening and closes open connections. */
  close(): Promise<void>
}

/**
 * Serves renderMetricFamilies(await collect()) at `GET /metrics` on `listen` ("HOST:PORT", "[IPv6]:PORT";
 * port 0 picks a free port). Other paths answer 404, other methods 405, a failing collect 500 (naming
 * `service`); no request can stop the server. Throws InvalidValueError for a malformed `listen`, and a
 * DiswallError E_METRICS_LISTEN (exit 4) when the address cannot be bound.
 */
export async function openMetricsServer(listen: string, collect: MetricsCollector, service: ServiceIdentity): Promise<MetricsServer> {
  const {host, port} = parseListen(listen)
  const server = createServer((request, response) => {
    serveRequest(request, response, collect, service).catch(() => {
      if (!response.headersSent) response.writeHead(500)
      response.end()
    })
  })
  server.keepAliveTimeout = 5000
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({host, port}, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (error) {
    const {code, message} = error as NodeJS.ErrnoException
    throw new DiswallError(`cannot serve metrics on ${listen}: ${message}`, 'E_METRICS_LISTEN', ExitCode.ENVIRONMENT,
      code === 'EADDRINUSE'
        ? 'Another program uses this port; choose another [metrics] listen.'
        : 'Check [metrics] listen in the config: an address of this host and a free port.', {cause: error})
  }
  server.on('error', () => {}) // after listening, errors belong to single connections

  const bound = server.address() as AddressInfo
  let closing: Promise<void> | undefined
  return {
    address: bound.address,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
    port: bound.port,
  }
}

/** Splits `"HOST:PORT"` or `"[IPv6]:PORT"`; port 0 to 65535. Throws InvalidValueError. */
export function parseListen(listen: string): {host: string; port: number} {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen)
  const port = Number(match?.[3])
  if (!match || port > 65_535) {
    throw new InvalidValueError(`metrics address ${JSON.stringify(listen)} is not "HOST:PORT"`,
      'Write e.g. "127.0.0.1:9100", or "[::1]:9100" for IPv6.')
  }
  return {host: match[1] ?? match[2], port}
}

async function serveRequest(
  request: IncomingMessage,
  response: ServerResponse,
  collect: MetricsCollector,
  service: ServiceIdentity,
): Promise<void> {
  const path = (request.url ?? '/').split('?')[0]
  if (path !== '/metrics') {
    sendText(response, 404, 'Not found: metrics are at /metrics\n')
    return
  }
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('Allow', 'GET, HEAD')
    sendText(response, 405, 'Method not allowed\n')
    return
  }
  let body: string
  try {
    body = renderMetricFamilies(await collect())
  } catch {
    // Details stay in the service; a scraper only needs to know this scrape failed.
    sendText(response, 500, `The ${service.name} could not read its status\n`)
    return
  }
  response.writeHead(200, {'Content-Type': METRICS_CONTENT_TYPE})
  response.end(body)
}

function sendText(response: ServerResponse, statusCode: number, text: string): void {
  response.writeHead(statusCode, {'Content-Type': 'text/plain; charset=utf-8'})
  response.end(text)
}

function formatLabels(labels: MetricLabels): string {
  const entries = Object.entries(labels)
  if (entries.length === 0) return ''
  return `{${entries.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`
}

/** Label values escape backslash, double quote and line feed (format 0.0.4). */
export function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n')
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}
