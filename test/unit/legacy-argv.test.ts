import assert from 'node:assert/strict'
import {test} from 'node:test'

import {isLegacyArgv, LEGACY_COMMANDS, translateLegacyArgv} from '../../src/lib/legacy-argv.js'

const cases: Array<[string, string[], string[], string | undefined]> = [
  ['new-style argv is unchanged', ['block', 'add', '1.2.3.4', '-c', 'x'], ['block', 'add', '1.2.3.4', '-c', 'x'], undefined],
  ['empty argv is unchanged', [], [], undefined],
  ['--help passes through', ['--help'], ['--help'], undefined],
  ['-g prints a config', ['-g'], ['generate-config'], 'generate-config'],
  ['-v prints the version', ['-v'], ['--version'], undefined],
  ['allow add with comment', ['--wl-add-ip', '203.0.113.7', '--wl-add-comm', 'office VPN'],
    ['allow', 'add', '203.0.113.7', '--comment', 'office VPN'], 'allow add'],
  ['comment before the address', ['--wl-add-comm', 'x', '--wl-add-ip', '203.0.113.7'],
    ['allow', 'add', '203.0.113.7', '--comment', 'x'], 'allow add'],
  ['comment alone leaves the address missing', ['--wl-add-comm', 'x'], ['allow', 'add', '--comment', 'x'], 'allow add'],
  ['allow del', ['--wl-del-ip', '203.0.113.7'], ['allow', 'del', '203.0.113.7'], 'allow del'],
  ['block add with config', ['-c', '/tmp/d.conf', '--bl-add-ip', '198.51.100.9'],
    ['block', 'add', '198.51.100.9', '--config', '/tmp/d.conf'], 'block add'],
  ['block add with -k kills', ['--bl-add-ip', '198.51.100.9', '-k'], ['block', 'add', '198.51.100.9', '--kill'], 'block add'],
  ['-k with an address blocks and kills', ['-k', '198.51.100.9'], ['block', 'add', '198.51.100.9', '--kill'], 'block add'],
  ['block del (deletes, unlike the original)', ['--bl-del-ip', '198.51.100.9'], ['block', 'del', '198.51.100.9'], 'block del'],
  ['--long=value form', ['--bl-add-ip=198.51.100.9', '--config=/x'], ['block', 'add', '198.51.100.9', '--config', '/x'], 'block add'],
  ['daemon flags start the daemon', ['-c', '/etc/diswall/diswall.conf', '-s', 'nats.example', '-P', '4333', '-n', 'acct', '-p', 'pw', '-l', '-d'],
    ['daemon', '--config', '/etc/diswall/diswall.conf', '--nats-server', 'nats.example', '--nats-port', '4333',
      '--nats-name', 'acct', '--nats-pass', 'pw', '--local-only', '--debug'], 'daemon'],
  ['pipe file and log file', ['-f', '/var/log/diswall/diswall.pipe', '--log', '/var/log/dw.log'],
    ['daemon', '--pipe-file', '/var/log/diswall/diswall.pipe', '--log-file', '/var/log/dw.log'], 'daemon'],
  ['--server runs the server', ['--server', '-c', '/etc/diswall/server.conf'], ['server', '--config', '/etc/diswall/server.conf'], 'server'],
  ['--install', ['--install'], ['install'], 'install'],
  ['--uninstall', ['--uninstall'], ['uninstall'], 'uninstall'],
  ['-i shows the status', ['-i'], ['status'], 'status'],
  ['set names', ['-a', 'wl', '-b', 'bl', '--bl-add-ip', '1.2.3.4'], ['block', 'add', '1.2.3.4', '--allow-set', 'wl', '--block-set', 'bl'], 'block add'],
  ['unknown flags are left for oclif to refuse', ['-l', '--bogus'], ['daemon', '--local-only', '--bogus'], 'daemon'],
]

for (const [name, argv, args, commandId] of cases) {
  test(`legacy-argv - ${name}`, () => {
    const t = translateLegacyArgv(argv)
    assert.deepEqual(t.args, args)
    assert.equal(t.commandId, commandId)
    assert.deepEqual(t.unavailable, [])
  })
}

test('legacy-argv - --update and --edit are reported as unavailable', () => {
  assert.deepEqual(translateLegacyArgv(['--update']).unavailable, ['--update'])
  assert.deepEqual(translateLegacyArgv(['-e']).unavailable, ['--edit'])
})

test('legacy-argv - only a leading legacy flag selects the legacy form', () => {
  assert.equal(isLegacyArgv(['--bl-add-ip', '1.2.3.4']), true)
  assert.equal(isLegacyArgv(['block', '--bl-add-ip', '1.2.3.4']), false)
  assert.equal(isLegacyArgv(['--json']), false)
  assert.equal(isLegacyArgv(['--version']), false)
})

test('legacy-argv - LEGACY_COMMANDS names every command a legacy argv translates to', () => {
  const argvs = [['-g'], ['--wl-add-ip', '192.0.2.1'], ['--wl-del-ip', '192.0.2.1'], ['--bl-add-ip', '192.0.2.1'],
    ['--bl-del-ip', '192.0.2.1'], ['-k', '192.0.2.1'], ['--install'], ['--uninstall'], ['-i'], ['--server'], ['-l']]
  const ids = argvs.map((argv) => translateLegacyArgv(argv).commandId)
  assert.deepEqual([...new Set(ids)].sort(), [...LEGACY_COMMANDS].sort())
})
