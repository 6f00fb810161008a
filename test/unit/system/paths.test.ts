import assert from 'node:assert/strict'
import {test} from 'node:test'

import {CONFIG_SCHEMA, DEFAULT_CONFIG_PATH} from '../../../src/lib/config/index.js'
import {DEFAULT_PATTERNS_DIR} from '../../../src/lib/detect/index.js'
import {DEFAULT_PIPE_PATH} from '../../../src/lib/detect/sources/index.js'
import {InvalidValueError} from '../../../src/lib/errors.js'
import {DEFAULT_PATHS, defaultPaths, type DiswallPaths, UNIT_NAMES} from '../../../src/lib/system/index.js'

/** Every path of a DiswallPaths except the root, by name (`units.daemon` for the unit files). */
function pathEntries(paths: DiswallPaths): Array<[string, string]> {
  const {root: _root, units, ...rest} = paths
  return [...Object.entries(rest), ...Object.entries(units).map(([k, v]): [string, string] => [`units.${k}`, v])]
}

test('defaultPaths - the host layout under /', () => {
  assert.deepEqual(defaultPaths(), {
    configFile: '/etc/diswall/diswall.conf',
    controlSocket: '/run/diswall/diswall.sock',
    firewallDir: '/etc/diswall/firewall',
    patternsDir: '/etc/diswall/firewall/patterns.d',
    pipe: '/var/log/diswall/diswall.pipe',
    root: '/',
    serverDb: '/var/lib/diswall/diswall.db',
    serverSocket: '/run/diswall/server.sock',
    stateDir: '/var/lib/diswall',
    unitDir: '/etc/systemd/system',
    units: {
      daemon: '/etc/systemd/system/diswall.service',
      firewall: '/etc/systemd/system/diswall-firewall.service',
      server: '/etc/systemd/system/diswall-server.service',
    },
  })
  assert.deepEqual(DEFAULT_PATHS, defaultPaths('/'))
  assert.deepEqual(UNIT_NAMES, {daemon: 'diswall.service', firewall: 'diswall-firewall.service', server: 'diswall-server.service'})
})

test('defaultPaths - puts every path under the root prefix', () => {
  const host = new Map(pathEntries(defaultPaths()))
  const staged = pathEntries(defaultPaths('/srv/stage'))
  assert.equal(staged.length, host.size)
  assert.ok(staged.length >= 11, 'config, firewall, patterns, state, db, socket, pipe, unit dir and three units')
  for (const [name, path] of staged) assert.equal(path, `/srv/stage${host.get(name)}`, name)
  assert.equal(defaultPaths('/srv/stage').root, '/srv/stage')
})

test('defaultPaths - normalises the root: no double or trailing slashes', () => {
  for (const root of ['/srv/stage/', '/srv//stage', '//srv/stage//', '/srv/./stage']) {
    const paths = defaultPaths(root)
    assert.equal(paths.root, '/srv/stage', root)
    for (const [name, path] of pathEntries(paths)) {
      assert.doesNotMatch(path, /\/\/|\/$/, `${root}: ${name} = ${path}`)
      assert.ok(path.startsWith('/srv/stage/'), `${root}: ${name} = ${path}`)
    }
  }
  assert.equal(defaultPaths('//').root, '/')
  assert.equal(defaultPaths('//').configFile, '/etc/diswall/diswall.conf')
})

test('defaultPaths - refuses a relative root with a typed error', () => {
  for (const root of ['stage', './stage', '', 'srv/stage']) {
    assert.throws(() => defaultPaths(root), (error: unknown) => {
      assert.ok(error instanceof InvalidValueError, String(error))
      assert.equal(error.code, 'E_INVALID_VALUE')
      assert.match(error.message, /absolute/)
      assert.ok(error.hint)
      return true
    }, JSON.stringify(root))
  }
})

test('defaultPaths - the config defaults and the source constants use it', () => {
  assert.equal(DEFAULT_CONFIG_PATH, DEFAULT_PATHS.configFile)
  assert.equal(DEFAULT_PIPE_PATH, DEFAULT_PATHS.pipe)
  assert.equal(DEFAULT_PATTERNS_DIR, DEFAULT_PATHS.patternsDir)
  assert.equal(CONFIG_SCHEMA.firewall.keys.dir.default, DEFAULT_PATHS.firewallDir)
  assert.equal(CONFIG_SCHEMA.detect.keys.pipe_path.default, DEFAULT_PATHS.pipe)
  assert.equal(CONFIG_SCHEMA.daemon.keys.state_dir.default, DEFAULT_PATHS.stateDir)
  assert.equal(CONFIG_SCHEMA.daemon.keys.socket.default, DEFAULT_PATHS.controlSocket)
  assert.equal(CONFIG_SCHEMA.server.keys.db.default, DEFAULT_PATHS.serverDb)
})
