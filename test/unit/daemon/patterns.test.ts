import assert from 'node:assert/strict'
import {test} from 'node:test'

import {planServiceLogs} from '../../../src/lib/daemon/index.js'
import {shippedPatternFiles} from '../../../src/lib/detect/index.js'

const detect = {auto_allow: true, auto_allow_from_logs: false, service_logs: 'files'} as const

test('service log plan - a file with no regex at [detect] level is not read', () => {
  const files = shippedPatternFiles(['postfix-abuse.patterns', 'nginx.patterns'])
  assert.deepEqual(planServiceLogs(files, {...detect, level: 'normal'}, false), {files: ['/var/log/nginx/access.log'], units: []})
  assert.deepEqual(planServiceLogs(files, {...detect, level: 'aggressive'}, false),
    {files: ['/var/log/mail.log', '/var/log/nginx/access.log'], units: []})
  assert.deepEqual(planServiceLogs(files, {...detect, level: 'aggressive', service_logs: 'auto'}, true),
    {files: ['/var/log/nginx/access.log'], units: ['postfix.service', 'postfix@.service']})
})
