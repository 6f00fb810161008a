import assert from 'node:assert/strict'
import {chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join, relative} from 'node:path'
import {test} from 'node:test'

import {InvalidConfigError} from '../../../src/lib/config/index.js'
import {installFiles, uninstallFiles} from '../../../src/lib/install/index.js'

const COMMAND = ['/usr/bin/node', '/usr/lib/node_modules/diswall/bin/run.js']

/** Every path under `dir` with its type, mode and content: a tree that differs in anything differs here. */
function tree(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name)
      const st = lstatSync(path)
      const mode = (st.mode & 0o7777).toString(8)
      if (st.isDirectory()) {
        out.push(`${relative(dir, path)}/ ${mode}`)
        walk(path)
      } else out.push(`${relative(dir, path)} ${mode} ${JSON.stringify(readFileSync(path, 'utf8'))}`)
    }
  }
  walk(dir)
  return out
}

function withRoot(fn: (root: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const root = mkdtempSync(join(tmpdir(), 'dw-install-'))
    try {
      await fn(root)
    } finally {
      rmSync(root, {force: true, recursive: true})
    }
  }
}

test('install - into an empty root, then uninstall --purge: the root is as it was, with an operator file beside', withRoot(async (root) => {
  mkdirSync(join(root, 'etc'))
  writeFileSync(join(root, 'etc', 'hostname'), 'web1\n')
  const before = tree(root)
  const report = await installFiles({command: COMMAND, root})
  assert.equal(report.changed, true)
  assert.ok(report.items.every((i) => i.action === 'created'), JSON.stringify(report.items.filter((i) => i.action !== 'created')))
  for (const rel of ['etc/diswall/diswall.conf', 'etc/diswall/firewall/incoming.d/99-drop', 'etc/diswall/firewall/patterns.d/openssh.patterns',
    'etc/systemd/system/diswall.service', 'etc/systemd/system/diswall-firewall.service']) assert.ok(statSync(join(root, rel)).isFile(), rel)
  assert.equal(statSync(join(root, 'etc/diswall/diswall.conf')).mode & 0o777, 0o600, 'the config holds the NATS password')
  assert.equal(statSync(join(root, 'var/lib/diswall')).mode & 0o777, 0o700)

  const removed = await uninstallFiles({purge: true, root})
  assert.equal(removed.changed, true)
  assert.deepEqual(tree(root), before)
  // Twice: nothing left to do.
  assert.equal((await uninstallFiles({purge: true, root})).changed, false)
}))

test('install - a second install changes nothing and reports every path unchanged', withRoot(async (root) => {
  await installFiles({command: COMMAND, root, server: true})
  const first = tree(root)
  const again = await installFiles({command: COMMAND, root, server: true})
  assert.equal(again.changed, false)
  assert.deepEqual(again.items.filter((i) => i.action !== 'unchanged'), [])
  assert.deepEqual(again.unitsChanged, [])
  assert.deepEqual(tree(root), first)
}))

test('install - an edited config, a removed rule file, whitelist.d entries and disabled flags survive; a changed unit is rewritten', withRoot(async (root) => {
  await installFiles({command: COMMAND, root})
  const conf = join(root, 'etc/diswall/diswall.conf')
  writeFileSync(conf, '# mine\n[firewall]\nbackend = "ipset"\n')
  rmSync(join(root, 'etc/diswall/firewall/incoming.d/10-http'))
  writeFileSync(join(root, 'etc/diswall/firewall/whitelist.d/192.0.2.7'), '22\n')
  writeFileSync(join(root, 'etc/diswall/firewall/blacklist.d/disabled'), '')
  writeFileSync(join(root, 'etc/diswall/firewall/disabled'), '')
  writeFileSync(join(root, 'etc/diswall/firewall/patterns.d/openssh.patterns'), '# tuned\n')
  const unit = join(root, 'etc/systemd/system/diswall.service')
  writeFileSync(unit, '[Service]\nExecStart=/bin/false\n')

  const report = await installFiles({backend: 'nftables', command: COMMAND, root})
  assert.equal(readFileSync(conf, 'utf8'), '# mine\n[firewall]\nbackend = "ipset"\n')
  assert.match(report.items.find((i) => i.path === conf)!.note!, /backend stays "ipset"/)
  assert.equal(report.config.firewall.backend, 'ipset')
  assert.throws(() => statSync(join(root, 'etc/diswall/firewall/incoming.d/10-http')), /ENOENT/)
  assert.equal(readFileSync(join(root, 'etc/diswall/firewall/whitelist.d/192.0.2.7'), 'utf8'), '22\n')
  assert.ok(statSync(join(root, 'etc/diswall/firewall/blacklist.d/disabled')).isFile())
  assert.ok(statSync(join(root, 'etc/diswall/firewall/disabled')).isFile())
  assert.equal(readFileSync(join(root, 'etc/diswall/firewall/patterns.d/openssh.patterns'), 'utf8'), '# tuned\n')
  assert.deepEqual(report.unitsChanged, ['diswall.service'])
  assert.equal(report.items.find((i) => i.path === unit)!.action, 'changed')
  assert.match(readFileSync(unit, 'utf8'), /^Restart=always$/m)

  // Without --purge the config, the firewall directory and the state stay.
  await uninstallFiles({root})
  assert.equal(readFileSync(conf, 'utf8'), '# mine\n[firewall]\nbackend = "ipset"\n')
  assert.throws(() => statSync(unit), /ENOENT/)
}))

test('install - a new config takes --backend; the units use the live paths, never the staging root', withRoot(async (root) => {
  await installFiles({backend: 'nftables', command: COMMAND, root})
  assert.match(readFileSync(join(root, 'etc/diswall/diswall.conf'), 'utf8'), /^backend = "nftables"$/m)
  const unit = readFileSync(join(root, 'etc/systemd/system/diswall.service'), 'utf8')
  assert.match(unit, /^ExecStart=\/usr\/bin\/node \/usr\/lib\/node_modules\/diswall\/bin\/run\.js daemon --config \/etc\/diswall\/diswall\.conf$/m)
  assert.equal(unit.includes(root), false)
}))

test('install - a config that does not parse stops the install before anything is written', withRoot(async (root) => {
  mkdirSync(join(root, 'etc/diswall'), {recursive: true})
  writeFileSync(join(root, 'etc/diswall/diswall.conf'), '[firewall]\nbackend = "pf"\n')
  const before = tree(root)
  await assert.rejects(installFiles({command: COMMAND, root}), (e: Error) => e instanceof InvalidConfigError && /diswall\.conf:2/.test(e.message))
  assert.deepEqual(tree(root), before)
}))

test('install - a file where a directory belongs, or a read-only root, is a clear E_INSTALL error', withRoot(async (root) => {
  writeFileSync(join(root, 'etc'), 'not a directory')
  await assert.rejects(installFiles({command: COMMAND, root}), {code: 'E_INSTALL', message: /a file is in the way/})
  rmSync(join(root, 'etc'))
  if (process.getuid?.() === 0) return // root writes anywhere: the permission case needs another user
  chmodSync(root, 0o500)
  try {
    await assert.rejects(installFiles({command: COMMAND, root}), {code: 'E_INSTALL', message: /permission denied/})
  } finally {
    chmodSync(root, 0o700)
  }
}))

test('uninstall --purge - a config naming a top-level directory as its state or firewall directory does not remove it', withRoot(async (root) => {
  await installFiles({command: COMMAND, root})
  mkdirSync(join(root, 'var/keep'), {recursive: true})
  writeFileSync(join(root, 'var/keep/data'), 'x')
  writeFileSync(join(root, 'etc/diswall/diswall.conf'), '[daemon]\nstate_dir = "/var"\n[firewall]\ndir = "/etc"\n')
  const report = await uninstallFiles({purge: true, root})
  assert.equal(readFileSync(join(root, 'var/keep/data'), 'utf8'), 'x')
  assert.ok(statSync(join(root, 'etc')).isDirectory())
  assert.deepEqual(report.items.filter((i) => i.note?.startsWith('not removed')).map((i) => relative(root, i.path)).sort(), ['etc', 'var'])
}))
