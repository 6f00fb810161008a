import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {chmod, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Readable} from 'node:stream'
import {after, before, test} from 'node:test'

import {defaultConfig, InvalidConfigError, loadConfig, MAX_CONFIG_BYTES, natsHostname} from '../../../src/lib/config/index.js'
import {ConfigError} from '../../../src/lib/errors.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-config-'))
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

test('config load - reads and parses a file', async () => {
  const file = join(dir, 'ok.conf')
  await writeFile(file, '[nats]\nserver = "nats.example.com"\n')
  const {config, warnings} = await loadConfig(file)
  assert.equal(config.nats.server, 'nats.example.com')
  assert.equal(config.nats.port, 4222)
  assert.deepEqual(warnings, [])
})

test('config load - a missing file is a ConfigError with a hint to generate one', async () => {
  const file = join(dir, 'missing.conf')
  await assert.rejects(loadConfig(file), (error: unknown) => {
    assert.ok(error instanceof ConfigError)
    assert.equal(error.message, `${file}: config file not found`)
    assert.equal(error.hint, `Create one with: diswall generate-config > ${file}`)
    assert.equal(error.code, 'E_CONFIG')
    assert.equal(error.exitCode, 3)
    return true
  })
})

test('config load - a directory is a ConfigError', async () => {
  await assert.rejects(loadConfig(dir), (error: unknown) =>
    error instanceof ConfigError && error.message === `${dir}: is a directory, not a config file`)
})

test('config load - a path through a regular file is a ConfigError', async () => {
  const file = join(dir, 'plain')
  await writeFile(file, '')
  await assert.rejects(loadConfig(join(file, 'diswall.conf')), (error: unknown) =>
    error instanceof ConfigError && error.message.endsWith('config file not found (a parent of the path is not a directory)'))
})

test('config load - an unreadable file is a ConfigError', {skip: process.getuid?.() === 0 ? 'root reads every file' : false},
  async () => {
    const file = join(dir, 'secret.conf')
    await writeFile(file, '')
    await chmod(file, 0o000)
    await assert.rejects(loadConfig(file), (error: unknown) =>
      error instanceof ConfigError && error.message === `${file}: cannot read the config file: permission denied`)
  })

test('config load - an invalid file is an error, never a fall-back to defaults', async () => {
  const file = join(dir, 'typo.conf')
  await writeFile(file, 'local_only = false\n[nats]\nserver = diswall.stream\n')
  await assert.rejects(loadConfig(file), (error: unknown) =>
    error instanceof ConfigError && error.message.startsWith(`${file}:3: invalid TOML:`))
  await writeFile(file, '[nats]\nport = "x"\n')
  await assert.rejects(loadConfig(file), (error: unknown) => error instanceof InvalidConfigError)
})

test('config natsHostname - the set hostname, else the system name with dots replaced', () => {
  const config = defaultConfig()
  assert.equal(natsHostname(config, 'web1.example.com'), 'web1_example_com')
  assert.equal(natsHostname(config, ''), 'unknown')
  assert.equal(natsHostname({nats: {...config.nats, hostname: 'edge-7'}}, 'web1.example.com'), 'edge-7')
})

test('config load - "-" and /dev/stdin read standard input', async () => {
  for (const path of ['-', '/dev/stdin']) {
    const {config} = await loadConfig(path, {stdin: Readable.from(['[nats]\nport = 4333\n'])})
    assert.equal(config.nats.port, 4333)
  }
  await assert.rejects(loadConfig('-', {stdin: Readable.from(['[nats]\nport = 0\n'])}),
    (error: unknown) => error instanceof ConfigError && error.message.startsWith('-:2: [nats] port:'))
})

test('config load - a FIFO, a device or a file over 1 MiB is refused before it is read', async () => {
  const refused = async (path: string, message: string, options?: {stdin?: NodeJS.ReadableStream}): Promise<void> => {
    await assert.rejects(loadConfig(path, options), (error: unknown) => {
      assert.ok(error instanceof ConfigError, String(error))
      assert.equal(error.message, `${path}: ${message}`)
      assert.equal(error.exitCode, 3)
      assert.ok(error.hint)
      return true
    })
  }
  // A FIFO without a writer: reading it would block forever.
  const fifo = join(dir, 'fifo.conf')
  execFileSync('mkfifo', [fifo])
  await refused(fifo, 'is a FIFO (named pipe), not a regular file')
  await refused('/dev/zero', 'is a character device, not a regular file')

  const big = join(dir, 'big.conf')
  await writeFile(big, `# ${'x'.repeat(MAX_CONFIG_BYTES)}\n`)
  await refused(big, 'is larger than 1 MiB: not a diswall config')
  await refused('-', 'is larger than 1 MiB: not a diswall config', {stdin: Readable.from([Buffer.alloc(MAX_CONFIG_BYTES + 1, 0x23)])})

  const justFits = join(dir, 'fits.conf')
  await writeFile(justFits, `${'#'.repeat(MAX_CONFIG_BYTES - 1)}\n`)
  assert.equal((await loadConfig(justFits)).config.nats.port, 4222)
})
