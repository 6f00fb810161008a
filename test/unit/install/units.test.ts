import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {checkUnit, parseUnitFile, quoteExecWord, renderUnits} from '../../../src/lib/install/index.js'

const PARAMS = {command: [process.execPath, '/usr/lib/node_modules/diswall/bin/run.js'], configFile: '/etc/diswall/diswall.conf',
  server: true, stateDir: '/var/lib/diswall'}
const ROLES = {'diswall-firewall.service': 'firewall', 'diswall-server.service': 'server', 'diswall.service': 'daemon'} as const

/** systemd-analyze, when this machine has it (Debian CI images may not). */
const ANALYZE = spawnSync('systemd-analyze', ['--version']).status === 0

test('units - the three units render, and our own parser finds every key each role depends on', () => {
  const units = renderUnits(PARAMS)
  assert.deepEqual(Object.keys(units).sort(), Object.keys(ROLES).sort())
  for (const [name, text] of Object.entries(units)) assert.deepEqual(checkUnit(ROLES[name as keyof typeof ROLES], text), [], name)
  assert.equal(Object.keys(renderUnits({...PARAMS, server: false})).includes('diswall-server.service'), false)
})

test('units - the daemon unit keeps the capabilities the daemon uses and restarts always; the boot unit runs before the network', () => {
  const {unit: daemon} = parseUnitFile(renderUnits(PARAMS)['diswall.service']!)
  const caps = daemon.get('Service')!.get('CapabilityBoundingSet')![0]!.split(' ')
  for (const cap of ['CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_SYSLOG', 'CAP_DAC_READ_SEARCH']) assert.ok(caps.includes(cap), cap)
  assert.ok(Number(daemon.get('Service')!.get('TimeoutStopSec')![0]) >= 60)
  assert.match(daemon.get('Service')!.get('ExecStart')![0]!, /run\.js daemon --config \/etc\/diswall\/diswall\.conf$/)
  const {unit: boot} = parseUnitFile(renderUnits(PARAMS)['diswall-firewall.service']!)
  assert.deepEqual(boot.get('Unit')!.get('Before')![0]!.split(' ').includes('network-pre.target'), true)
  assert.match(boot.get('Service')!.get('ExecStart')![0]!, / firewall boot --config /)
})

test('units - a state directory elsewhere becomes writable for the daemon and the server', () => {
  const units = renderUnits({...PARAMS, stateDir: '/srv/diswall state'})
  // Quoted: ReadWritePaths= is split on spaces.
  assert.match(units['diswall.service']!, /^ReadWritePaths=\/run "\/srv\/diswall state"$/m)
  assert.match(units['diswall-server.service']!, /^ReadWritePaths="\/srv\/diswall state"$/m)
  assert.match(renderUnits({...PARAMS, stateDir: '/srv/dw'})['diswall.service']!, /^ReadWritePaths=\/run \/srv\/dw$/m)
})

test('units - checkUnit catches a missing key, a wrong value, a relative program and a line that is no assignment', () => {
  const good = renderUnits(PARAMS)['diswall.service']!
  assert.deepEqual(checkUnit('daemon', good.replace('Restart=always', 'Restart=on-failure')),
    ['[Service] Restart=on-failure is not what the daemon unit needs'])
  assert.deepEqual(checkUnit('daemon', good.replace(/^TimeoutStopSec=.*\n/m, '')), ['[Service] TimeoutStopSec= is missing'])
  assert.deepEqual(checkUnit('daemon', good.replace(/^ExecStart=\//m, 'ExecStart=')), ['[Service] ExecStart= must start with an absolute path'])
  assert.deepEqual(parseUnitFile('[Unit]\nnonsense\n').problems, ['line 2: not a Key=Value assignment: nonsense'])
  assert.deepEqual(parseUnitFile('Key=1\n').problems, ['line 1: assignment before the first [Section]'])
})

test('units - ExecStart words are quoted as systemd splits them', () => {
  assert.equal(quoteExecWord('/usr/bin/node'), '/usr/bin/node')
  assert.equal(quoteExecWord('/opt/my apps/run.js'), '"/opt/my apps/run.js"')
  assert.equal(quoteExecWord('50%'), '50%%') // a specifier otherwise
  assert.equal(quoteExecWord('a"b\\c'), String.raw`"a\"b\\c"`)
  assert.equal(quoteExecWord('$HOME'), '"$$HOME"')
  assert.equal(quoteExecWord(''), '""')
})

test('units - systemd-analyze verify accepts every unit without a warning', {skip: ANALYZE ? false : 'systemd-analyze is not installed; the parser test above checks the keys'}, () => {
  const dir = mkdtempSync(join(tmpdir(), 'dw-units-'))
  try {
    // Programs must exist for verify: node is this one; the script is any readable file.
    const script = join(dir, 'run.js')
    writeFileSync(script, '')
    const units = {...renderUnits({...PARAMS, command: [process.execPath, script]}),
      'diswall-elsewhere.service': renderUnits({...PARAMS, command: [process.execPath, script], stateDir: join(dir, 'state 2')})['diswall.service']!}
    for (const [name, text] of Object.entries(units)) {
      const file = join(dir, name)
      writeFileSync(file, text)
      const result = spawnSync('systemd-analyze', ['verify', file], {encoding: 'utf8'})
      const ours = result.stderr.split('\n').filter((l) => l.includes(name))
      assert.equal(result.status, 0, result.stderr)
      assert.deepEqual(ours, [], `${name}: ${result.stderr}`)
    }
  } finally {
    rmSync(dir, {force: true, recursive: true})
  }
})
