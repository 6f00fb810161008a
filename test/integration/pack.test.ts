/**
 * The package as users get it: `npm pack`, then `npm install -g --prefix TMP` of the tarball, then the
 * installed `diswall` runs (`--version`, `--help`, a command from the manifest). Needs the npm cache or
 * the registry for the dependencies.
 */
import assert from 'node:assert/strict'
import {spawnSync} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'
import {fileURLToPath} from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const NPM = spawnSync('npm', ['--version']).status === 0

test('pack - the tarball installs globally and its diswall runs', {skip: NPM ? false : 'npm is not installed', timeout: 600_000}, () => {
  assert.ok(existsSync(join(ROOT, 'oclif.manifest.json')), 'oclif.manifest.json is missing: npm run build writes it')
  const dir = mkdtempSync(join(tmpdir(), 'dw-pack-'))
  try {
    const pack = spawnSync('npm', ['pack', '--pack-destination', dir, '--ignore-scripts'], {cwd: ROOT, encoding: 'utf8'})
    assert.equal(pack.status, 0, pack.stderr)
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))
    assert.ok(tarball, 'npm pack wrote no tarball')
    const prefix = join(dir, 'prefix')
    const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts',
      join(dir, tarball)], {encoding: 'utf8', timeout: 540_000})
    assert.equal(install.status, 0, install.stderr)
    const bin = join(prefix, 'bin', 'diswall')
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {version: string}

    const version = spawnSync(bin, ['--version'], {encoding: 'utf8'})
    assert.equal(version.status, 0, version.stderr)
    assert.match(version.stdout, new RegExp(`^diswall/${pkg.version.replaceAll('.', String.raw`\.`)} `))
    const help = spawnSync(bin, ['--help'], {encoding: 'utf8'})
    assert.equal(help.status, 0, help.stderr)
    for (const command of ['install', 'uninstall', 'why', 'block', 'autocomplete']) assert.match(help.stdout, new RegExp(`^  ${command} `, 'm'), command)
    const short = spawnSync(bin, ['-v'], {encoding: 'utf8'})
    assert.equal(short.stdout, version.stdout, 'the original -v prints the version')
    const legacy = spawnSync(bin, ['-g'], {encoding: 'utf8'})
    assert.equal(legacy.status, 0, legacy.stderr)
    assert.match(legacy.stdout, /^\[firewall\]$/m)
    // The installed package carries the manifest: oclif need not load every command to list them.
    assert.ok(existsSync(join(prefix, 'lib', 'node_modules', 'diswall', 'oclif.manifest.json')))
  } finally {
    rmSync(dir, {force: true, recursive: true})
  }
})
