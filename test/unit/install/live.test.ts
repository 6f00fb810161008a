import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CommandFailedError, MissingDependencyError} from '../../../src/lib/errors.js'
import {disableUnits, enableUnits} from '../../../src/lib/install/index.js'
import type {Exec} from '../../../src/lib/system/index.js'

function recorder(fail: (args: readonly string[]) => Error | undefined = () => undefined): {calls: string[]; exec: Exec} {
  const calls: string[] = []
  const exec: Exec = async (program, args) => {
    calls.push([program, ...args].join(' '))
    const error = fail(args)
    if (error) throw error
    return {stderr: '', stdout: ''}
  }
  return {calls, exec}
}

test('units - enable: reload, enable the boot unit before the daemon (and the server), start the services only', async () => {
  const {calls, exec} = recorder()
  await enableUnits(true, exec)
  assert.deepEqual(calls, [
    'systemctl daemon-reload',
    'systemctl enable diswall-firewall.service diswall.service diswall-server.service',
    'systemctl restart diswall.service diswall-server.service',
  ])
})

test('units - disable: server, daemon, then the boot unit; a unit that is not installed is skipped', async () => {
  const {calls, exec} = recorder((args) => args.includes('diswall-server.service')
    ? new CommandFailedError('systemctl', args, 1, 'Failed to disable unit: Unit file diswall-server.service does not exist.')
    : undefined)
  assert.deepEqual(await disableUnits(exec), ['diswall.service', 'diswall-firewall.service'])
  assert.deepEqual(calls, [
    'systemctl disable --now diswall-server.service',
    'systemctl disable --now diswall.service',
    'systemctl disable --now diswall-firewall.service',
    'systemctl daemon-reload',
  ])
})

test('units - disable without systemd stops nothing and does not throw: the kernel teardown still runs', async () => {
  const {exec} = recorder(() => new MissingDependencyError('systemctl'))
  assert.deepEqual(await disableUnits(exec), [])
})
