/**
 * `server_mode = true` (the original's key) makes `diswall daemon` run the central server, with a real
 * nats-server; one server runs per store: a second one on the same database file is refused with the
 * holder's PID, a lock left by kill -9 is taken over; server_mode with local_only is a config error
 * at the key's line. Nothing here touches a firewall.
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {cleanupAll, makeTempDir, type NatsServer, spawnProcess, type SpawnedProcess, startNatsServer, waitFor} from '../../src/lib/lab/index.js'
import {buildNatsConfig, queryServer, type ServerStatus} from '../../src/lib/server/index.js'
import {type Bus, connectBus, HEADER, listSubject} from '../../src/lib/transport/index.js'
import {CLI, runCli} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['nats-server']})

after(async () => {
  await cleanupAll()
})

describe('server_mode and one server per store', {skip}, () => {
  let nats: NatsServer
  let dir: string
  let configFile: string
  let socket: string
  let acme: Bus
  let remove = (): void => {}
  const running: SpawnedProcess[] = []

  before(async () => {
    const temp = makeTempDir('diswall-server-mode-')
    remove = () => temp.remove()
    dir = temp.path
    const {text, users} = buildNatsConfig({accounts: [{name: 'acme'}], server: {user: 'diswall-server'}})
    const passwords = new Map(users.map((u) => [u.user, u.password]))
    nats = await startNatsServer({extraConfig: text})
    socket = join(dir, 'server.sock')
    configFile = join(dir, 'diswall.conf')
    writeFileSync(configFile, [
      '# a config carried over from the original',
      'server_mode = true',
      '[nats]', 'server = "127.0.0.1"', `port = ${nats.port}`, 'client_name = "diswall-server"', `client_pass = "${passwords.get('diswall-server')}"`,
      '[server]', `db = "${join(dir, 'server.db')}"`, `socket = "${socket}"`, '',
    ].join('\n'), {mode: 0o600})
    acme = await connectBus({inboxPrefix: '_INBOX.acme', pass: passwords.get('acme'), reconnect: false, servers: nats.url, user: 'acme'})
  })

  after(async () => {
    for (const proc of running) await proc.stop()
    await acme?.close()
    await nats?.stop()
    remove()
  })

  const start = async (command: string): Promise<SpawnedProcess> => {
    const proc = spawnProcess(process.execPath, [CLI, command, '-c', configFile], {env: {NO_COLOR: '1'}})
    running.push(proc)
    await waitFor(() => {
      if (proc.exitStatus) throw new Error(`${command} exited ${JSON.stringify(proc.exitStatus)}: ${proc.output().stdout}${proc.output().stderr}`)
      return / ready: /.test(proc.output().stdout)
    }, {intervalMs: 10, timeoutMs: 30_000, what: `diswall ${command} to be ready`})
    return proc
  }

  const report = async (address: string): Promise<void> => {
    const reply = await acme.request(listSubject('block', 'add', 'acme', 'h1'), `${address}|ssh`, {timeoutMs: 10_000})
    assert.equal(reply.headers?.get(HEADER.error) ?? '', '', `the report of ${address} was refused`)
  }

  it('diswall daemon with server_mode = true runs the server, says so with file:line, and stops cleanly', async () => {
    const daemon = await start('daemon')
    assert.match(daemon.output().stdout, new RegExp(`server_mode = true \\(${configFile.replaceAll('.', '\\.')}:2\\): running the central server`))
    await report('203.0.113.10')
    const status = await queryServer<ServerStatus>(socket, 'status')
    assert.equal(status.pid, daemon.pid)
    assert.equal(status.entries.find((e) => e.account === 'acme')?.entries, 1)

    // a second server on the same store is refused, naming the one that holds it
    const second = await runCli(['server', '-c', configFile])
    assert.equal(second.code, 5, second.stderr)
    assert.match(second.stderr, new RegExp(`another diswall server \\(pid ${daemon.pid}\\) uses the database .*server\\.db`))
    assert.match(second.stderr, /One server runs per store/)
    // …and the running one was not disturbed
    await report('203.0.113.11')

    const exit = await daemon.stop(10_000)
    assert.equal(exit.code, 0, daemon.output().stdout + daemon.output().stderr)
    assert.match(daemon.output().stdout, /stopped: every pending write committed/)
  })

  it('a lock left by kill -9 is taken over; the reports before the kill are there', async () => {
    const first = await start('server')
    await report('203.0.113.12')
    await new Promise((resolve) => setTimeout(resolve, 300)) // past the commit window
    first.signal('SIGKILL')
    await first.exited
    const again = await start('server')
    const status = await queryServer<ServerStatus>(socket, 'status')
    assert.equal(status.pid, again.pid)
    assert.equal(status.entries.find((e) => e.account === 'acme')?.entries, 3)
    assert.equal((await again.stop(10_000)).code, 0)
  })

  it('server_mode with local_only is a config error at the key\'s line, and nothing starts', async () => {
    const bad = join(dir, 'local.conf')
    writeFileSync(bad, ['local_only = true', '', 'server_mode = true', ''].join('\n'), {mode: 0o600})
    const result = await runCli(['daemon', '-c', bad])
    assert.equal(result.code, 3, result.stderr)
    assert.match(result.stderr, new RegExp(`${bad.replaceAll('.', '\\.')}:3: server_mode = true, but local_only = true too`))
    const flag = await runCli(['daemon', '--local-only', '-c', configFile])
    assert.equal(flag.code, 3, flag.stderr)
    assert.match(flag.stderr, /:2: server_mode = true, but --local-only too/)
  })
})
