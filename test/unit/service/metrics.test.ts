import assert from 'node:assert/strict'
import {request} from 'node:http'
import {test} from 'node:test'

import type {DiswallError} from '../../../src/lib/errors.js'
import {escapeLabelValue, openMetricsServer, parseListen, renderMetricFamilies} from '../../../src/lib/service/index.js'
import type {MetricFamily, ServiceIdentity} from '../../../src/lib/service/index.js'

const SERVICE: ServiceIdentity = {client: 'diswall server status', name: 'server', socketSetting: '[server] socket', unit: 'diswall-server'}

const FAMILIES: MetricFamily[] = [
  {help: 'Bans stored.', name: 'diswall_store_bans_total', samples: [[{}, 48]], type: 'counter'},
  {help: 'Hosts by state.', name: 'diswall_hosts', samples: [[{state: 'up'}, 3], [{state: 'down'}, 0.5]], type: 'gauge'},
]

test('metrics writer - HELP, TYPE, then the samples of each family, in order; the text ends in a line feed', () => {
  assert.equal(renderMetricFamilies(FAMILIES), [
    '# HELP diswall_store_bans_total Bans stored.',
    '# TYPE diswall_store_bans_total counter',
    'diswall_store_bans_total 48',
    '# HELP diswall_hosts Hosts by state.',
    '# TYPE diswall_hosts gauge',
    'diswall_hosts{state="up"} 3',
    'diswall_hosts{state="down"} 0.5',
    '',
  ].join('\n'))
  assert.equal(renderMetricFamilies([]), '')
})

test('metrics writer - label values and HELP texts are escaped as format 0.0.4 says', () => {
  assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd')
  const text = renderMetricFamilies([{
    help: 'A \\ and a\nline "quoted"',
    name: 'x_info',
    samples: [[{path: 'C:\\dir\n"x"', z: ''}, 1]],
    type: 'gauge',
  }])
  assert.equal(text, [
    '# HELP x_info A \\\\ and a\\nline "quoted"', // HELP escapes backslash and line feed, not quotes
    '# TYPE x_info gauge',
    'x_info{path="C:\\\\dir\\n\\"x\\"",z=""} 1',
    '',
  ].join('\n'))
})

test('metrics writer - NaN and infinities are written as Prometheus spells them; a non-number sample is left out', () => {
  const text = renderMetricFamilies([{
    help: 'h',
    name: 'x',
    samples: [[{k: 'nan'}, Number.NaN], [{k: 'up'}, Number.POSITIVE_INFINITY], [{k: 'down'}, Number.NEGATIVE_INFINITY],
      [{k: 'unset'}, undefined as unknown as number], [{k: 'neg'}, -2.5]],
    type: 'gauge',
  }])
  assert.deepEqual(text.split('\n').slice(2), ['x{k="nan"} NaN', 'x{k="up"} +Inf', 'x{k="down"} -Inf', 'x{k="neg"} -2.5', ''])
})

/** GET/POST against the server; resolves status, content type and body. */
function fetchText(port: number, path: string, method = 'GET'): Promise<{status: number; type?: string; body: string}> {
  return new Promise((resolve, reject) => {
    const req = request({host: '127.0.0.1', method, path, port}, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => (body += d))
      res.on('end', () => resolve({body, status: res.statusCode ?? 0, type: res.headers['content-type']}))
    })
    req.on('error', reject)
    req.end()
  })
}

test('metrics - the HTTP endpoint serves /metrics, 404 elsewhere, 405 for other methods', async () => {
  const server = await openMetricsServer('127.0.0.1:0', async () => FAMILIES, SERVICE)
  try {
    assert.equal(server.address, '127.0.0.1')
    assert.ok(server.port > 0)
    const ok = await fetchText(server.port, '/metrics')
    assert.equal(ok.status, 200)
    assert.match(ok.type ?? '', /^text\/plain; version=0\.0\.4/)
    assert.equal(ok.body, renderMetricFamilies(FAMILIES))
    assert.equal((await fetchText(server.port, '/metrics?x=1')).status, 200)
    assert.equal((await fetchText(server.port, '/')).status, 404)
    assert.equal((await fetchText(server.port, '/metricsx')).status, 404)
    assert.equal((await fetchText(server.port, '/metrics', 'POST')).status, 405)
  } finally {
    await server.close()
  }
})

test('metrics - a failing status answers 500 and the server keeps serving', async () => {
  let fail = true
  const server = await openMetricsServer('127.0.0.1:0', () => {
    if (fail) throw new Error('engine gone') // thrown, not rejected: the server must catch both
    return FAMILIES
  }, SERVICE)
  try {
    const failed = await fetchText(server.port, '/metrics')
    assert.equal(failed.status, 500)
    assert.equal(failed.body, 'The server could not read its status\n')
    fail = false
    assert.equal((await fetchText(server.port, '/metrics')).status, 200)
  } finally {
    await server.close()
  }
})

test('metrics - listen addresses: HOST:PORT and [IPv6]:PORT; bad ones and ports in use are errors', async () => {
  assert.deepEqual(parseListen('127.0.0.1:9100'), {host: '127.0.0.1', port: 9100})
  assert.deepEqual(parseListen('[::1]:9100'), {host: '::1', port: 9100})
  assert.deepEqual(parseListen('localhost:0'), {host: 'localhost', port: 0})
  for (const bad of ['', '9100', '::1:9100', '127.0.0.1:65536', '127.0.0.1:']) {
    assert.throws(() => parseListen(bad), (e: DiswallError) => e.code === 'E_INVALID_VALUE', bad)
  }
  const first = await openMetricsServer('127.0.0.1:0', async () => FAMILIES, SERVICE)
  try {
    await assert.rejects(openMetricsServer(`127.0.0.1:${first.port}`, async () => FAMILIES, SERVICE),
      (e: DiswallError) => e.code === 'E_METRICS_LISTEN' && e.exitCode === 4)
  } finally {
    await first.close()
  }
})
