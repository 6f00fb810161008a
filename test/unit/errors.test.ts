import assert from 'node:assert/strict'
import {test} from 'node:test'

import {asDiswallError, CommandFailedError, ConfigError, ExitCode, MissingDependencyError} from '../../src/lib/errors.js'

test('errors - CommandFailedError names the command line, its exit and the first stderr lines', () => {
  const e = new CommandFailedError('ipset', ['-exist', 'restore'], 1, 'ipset v7.17: Error in line 3: Hash is full\n\n')
  assert.equal(e.message, 'ipset -exist restore exited with code 1: ipset v7.17: Error in line 3: Hash is full')
  assert.equal(e.code, 'E_COMMAND_FAILED')
  assert.equal(e.exitCode, ExitCode.COMMAND_FAILED)
  const noArgs = new CommandFailedError('/etc/diswall/firewall/local.d/50-vpn', [], 3, '')
  assert.equal(noArgs.message, '/etc/diswall/firewall/local.d/50-vpn exited with code 3')
  const many = new CommandFailedError('nft', ['-f', '-'], 1, 'a\nb\nc\nd\ne\nf\n', {timedOut: true})
  assert.equal(many.message, 'nft -f - timed out: a; b; c; d; e; …')
})

test('errors - ConfigError starts with file:line, MissingDependencyError names the Debian package', () => {
  assert.equal(new ConfigError({file: '/etc/diswall/diswall.conf', line: 12}, '[nats] port: bad').message,
    '/etc/diswall/diswall.conf:12: [nats] port: bad')
  assert.equal(new ConfigError({file: 'x.conf'}, 'not found').message, 'x.conf: not found')
  const missing = new MissingDependencyError('nft')
  assert.equal(missing.hint, 'Install it: apt-get install nftables')
  assert.equal(missing.exitCode, ExitCode.ENVIRONMENT)
})

test('errors - anything else becomes E_INTERNAL with exit 1', () => {
  const e = asDiswallError(new TypeError('boom'))
  assert.equal(e.code, 'E_INTERNAL')
  assert.equal(e.exitCode, 1)
  assert.equal(e.message, 'boom')
  assert.equal(asDiswallError('text').message, 'text')
})
