import {connect, ErrorCode, Events, type NatsConnection, NatsError, type Status} from 'nats'
import assert from 'node:assert/strict'
import {randomBytes} from 'node:crypto'
import {existsSync} from 'node:fs'
import {readFile, writeFile} from 'node:fs/promises'
import {createRequire} from 'node:module'
import {after, before, describe, it} from 'node:test'


import {cleanupAll, connectNetns, createNetns, enableNetnsLogging, listNetns, type NatsServer, type Netns, quoteNatsString, registeredCleanupCount, renderNatsServerConfig, spawnIn, startNatsServer, uniqueLogPrefix, type VethPair, waitFor, WaitTimeoutError} from '../../src/lib/lab/index.js'
import {REQUIRE_INTEGRATION_ENV,integrationSkip, IntegrationUnavailableError, requireRoot} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ping', 'nats-server']})

// What this file created, for the final check that all of it is gone.
const createdNetns: string[] = []
const natsPids: number[] = []
const natsDirs: string[] = []

async function newNetns(): Promise<Netns> {
  const ns = await createNetns()
  createdNetns.push(ns.name)
  return ns
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false
    throw error
  }
}

after(async () => {
  // Safety net only: every describe removes its own resources.
  await cleanupAll()
})

describe('wait and skip helpers', () => {
  it('waitFor - resolves with the first truthy value of the predicate', async () => {
    let calls = 0
    const value = await waitFor(() => (++calls >= 3 ? {calls} : undefined), {intervalMs: 1, what: 'three calls'})
    assert.deepEqual(value, {calls: 3})
  })

  it('waitFor - names what it waited for and keeps the last error on timeout', async () => {
    await assert.rejects(
      waitFor(
        () => {
          throw new Error('not there yet')
        },
        {intervalMs: 5, timeoutMs: 30, what: 'the unicorn'},
      ),
      (error: unknown) => {
        assert.ok(error instanceof WaitTimeoutError)
        assert.match(error.message, /timed out after 30 ms waiting for the unicorn; last error: not there yet/)
        return true
      },
    )
  })

  it('waitFor - stops at once when its signal aborts', async () => {
    const ac = new AbortController()
    setTimeout(() => ac.abort(new Error('process died')), 10)
    const started = Date.now()
    await assert.rejects(waitFor(() => false, {signal: ac.signal, timeoutMs: 5000, what: 'never'}), /process died/)
    assert.ok(Date.now() - started < 2000)
  })

  it('requireRoot - skips with the reason, or fails when integration is required', () => {
    const saved = process.env[REQUIRE_INTEGRATION_ENV]
    try {
      const reasons: Array<string | undefined> = []
      const t = {skip: (reason?: string) => void reasons.push(reason)}
      delete process.env[REQUIRE_INTEGRATION_ENV]
      assert.equal(requireRoot(t, {programs: ['dw-no-such-program'], root: false}), false)
      assert.deepEqual(reasons, ['missing programs: dw-no-such-program (not in PATH)'])
      assert.equal(requireRoot(t, {programs: ['node'], root: false}), true)

      process.env[REQUIRE_INTEGRATION_ENV] = '1'
      assert.throws(() => requireRoot(t, {programs: ['dw-no-such-program'], root: false}), IntegrationUnavailableError)
      assert.throws(() => integrationSkip({programs: ['dw-no-such-program'], root: false}), /DISWALL_REQUIRE_INTEGRATION=1/)
      assert.equal(reasons.length, 1)
    } finally {
      if (saved === undefined) delete process.env[REQUIRE_INTEGRATION_ENV]
      else process.env[REQUIRE_INTEGRATION_ENV] = saved
    }
  })

  it('uniqueLogPrefix - differs per call, ends in ": " and fits an iptables LOG prefix', () => {
    const prefixes = Array.from({length: 50}, () => uniqueLogPrefix('harness'))
    assert.equal(new Set(prefixes).size, prefixes.length)
    for (const prefix of prefixes) {
      assert.match(prefix, /^dw-harness-[0-9a-z]+-[0-9a-z]+: $/)
      assert.ok(prefix.length <= 29, prefix)
    }
  })
})

describe('nats config', () => {
  it('nats config - quotes strings with the escapes nats-server knows', () => {
    assert.equal(quoteNatsString('plain'), '"plain"')
    assert.equal(quoteNatsString('a"b\\c$d\ne\tf\u0001'), '"a\\"b\\\\c$d\\ne\\tf\\x01"')
  })

  it('nats config - renders users with passwords, permissions and allow_responses', () => {
    const text = renderNatsServerConfig({
      listen: '127.0.0.1:-1',
      portsFileDir: '/tmp/x',
      users: [
        {password: 's3cret', user: 'admin'},
        {
          password: 'p"w',
          permissions: {
            allowResponses: {expiresMs: 1500, maxMsgs: 1},
            publish: {allow: ['diswall.blacklist.acct1.>'], deny: []},
            subscribe: {deny: ['diswall.>']},
          },
          user: 'acct1',
        },
      ],
    })
    assert.equal(
      text,
      [
        'listen: "127.0.0.1:-1"',
        'ports_file_dir: "/tmp/x"',
        'authorization: {',
        '  users: [',
        '    {',
        '      user: "admin"',
        '      password: "s3cret"',
        '    },',
        '    {',
        '      user: "acct1"',
        '      password: "p\\"w"',
        '      permissions: {',
        '        publish: {',
        '          allow: [',
        '            "diswall.blacklist.acct1.>"',
        '          ]',
        '        }',
        '        subscribe: {',
        '          deny: [',
        '            "diswall.>"',
        '          ]',
        '        }',
        '        allow_responses: {',
        '          expires: "1500ms"',
        '          max: 1',
        '        }',
        '      }',
        '    }',
        '  ]',
        '}',
        '',
      ].join('\n'),
    )
  })
})

describe('netns', {skip, timeout: 60_000}, () => {
  let a: Netns
  let b: Netns
  let pair: VethPair

  before(async () => {
    a = await newNetns()
    b = await newNetns()
    pair = await connectNetns(a, b)
  })

  after(async () => {
    await a?.remove()
    await b?.remove()
  })

  it('netns - gets a unique dw- name short enough for interface names, with lo up', async () => {
    assert.notEqual(a.name, b.name)
    for (const ns of [a, b]) {
      assert.match(ns.name, /^dw-[0-9a-z-]+$/)
      assert.ok(ns.name.length <= 15, ns.name)
    }
    assert.ok((await listNetns()).includes(a.name))
    await a.run('ping', ['-c1', '-W2', '127.0.0.1'])
  })

  it('netns - a veth pair carries IPv4 both ways', async () => {
    await a.run('ping', ['-c1', '-W2', pair.b.ipv4])
    await b.run('ping', ['-c1', '-W2', pair.a.ipv4])
  })

  it('netns - a veth pair carries IPv6 both ways', async () => {
    await a.run('ping', ['-6', '-c1', '-W2', pair.b.ipv6])
    await b.run('ping', ['-6', '-c1', '-W2', pair.a.ipv6])
  })

  it('netns - each pair gets its own addresses', async () => {
    const c = await newNetns()
    try {
      const second = await connectNetns(a, c)
      assert.notEqual(second.a.ipv4, pair.a.ipv4)
      assert.notEqual(second.a.ipv6, pair.a.ipv6)
      assert.notEqual(second.a.ifname, pair.a.ifname)
      await c.run('ping', ['-c1', '-W2', second.a.ipv4])
    } finally {
      await c.remove()
    }
  })

  it('netns - remove stops the processes inside and deletes the namespace', async () => {
    const c = await newNetns()
    const tracked = spawnIn(c, 'sleep', ['300'])
    const untracked = spawnIn(c.name, 'sleep', ['300']) // started by name: found through `ip netns pids`
    await waitFor(async () => (await c.pids()).length === 2, {what: `two sleeps in ${c.name}`})

    await c.remove()
    assert.equal(isAlive(tracked.pid), false)
    await untracked.exited
    assert.equal(isAlive(untracked.pid), false)
    assert.equal((await listNetns()).includes(c.name), false)
    await c.remove() // a second call is harmless
  })
})

// On its own: cleanupAll() removes every lab resource of the process, so nothing else may be alive.
describe('netns logging', {skip}, () => {
  it('netns - enableNetnsLogging turns on nf_log_all_netns, and the cleanup puts the previous value back', async () => {
    const sysctl = '/proc/sys/net/netfilter/nf_log_all_netns'
    const original = (await readFile(sysctl, 'utf8')).trim()
    try {
      await writeFile(sysctl, '0\n')
      await enableNetnsLogging()
      assert.equal((await readFile(sysctl, 'utf8')).trim(), '1')
      await cleanupAll()
      assert.equal((await readFile(sysctl, 'utf8')).trim(), '0')
      // Already on: nothing to put back later.
      await writeFile(sysctl, '1\n')
      const before = registeredCleanupCount()
      await enableNetnsLogging()
      assert.equal(registeredCleanupCount(), before)
    } finally {
      await writeFile(sysctl, `${original}\n`)
    }
  })
})

describe('nats-server', {skip, timeout: 60_000}, () => {
  const passwords = {acct1: randomBytes(12).toString('hex'), admin: randomBytes(12).toString('hex')}
  // Every character the config renderer must escape, and `$` (a variable outside quotes).
  const oddPassword = `p"a\\ss$word\t${randomBytes(4).toString('hex')}`
  let server: NatsServer
  const connections: NatsConnection[] = []

  async function connectAs(user: string, pass: string): Promise<NatsConnection> {
    const nc = await connect({maxReconnectAttempts: 0, pass, reconnect: false, servers: server.url, timeout: 5000, user})
    connections.push(nc)
    return nc
  }

  before(async () => {
    server = await startNatsServer({
      users: [
        {password: passwords.admin, user: 'admin'},
        {
          password: passwords.acct1,
          permissions: {
            allowResponses: true,
            publish: {allow: ['diswall.blacklist.acct1.>']},
            subscribe: {allow: ['_INBOX.>']},
          },
          user: 'acct1',
        },
        {password: oddPassword, user: 'odd'},
      ],
    })
    natsPids.push(server.pid)
    natsDirs.push(server.dir)
  })

  after(async () => {
    await Promise.allSettled(connections.map((nc) => nc.close()))
    await server?.stop()
  })

  it('nats-server - listens on a free loopback port read from its ports file', () => {
    assert.match(server.url, /^nats:\/\/127\.0\.0\.1:\d+$/)
    assert.ok(server.port > 0)
    assert.ok(isAlive(server.pid))
  })

  it('nats-server - accepts the right user and password', async () => {
    const nc = await connectAs('acct1', passwords.acct1)
    await nc.flush()
    assert.equal(nc.isClosed(), false)
    await connectAs('odd', oddPassword)
  })

  it('nats-server - refuses a wrong password with an authorization violation', async () => {
    await assert.rejects(connectAs('acct1', passwords.acct1 + 'x'), (error: unknown) => {
      assert.ok(error instanceof NatsError, String(error))
      assert.equal(error.code, ErrorCode.AuthorizationViolation)
      assert.match(error.message, /authorization violation/i)
      return true
    })
  })

  it('nats-server - reports a publish outside the allowed subjects as a permissions violation', async () => {
    const admin = await connectAs('admin', passwords.admin)
    const received: string[] = []
    const sub = admin.subscribe('diswall.blacklist.>', {callback: (_err, msg) => received.push(msg.subject)})
    await admin.flush()

    const acct1 = await connectAs('acct1', passwords.acct1)
    const statuses: Status[] = []
    void (async () => {
      for await (const status of acct1.status()) statuses.push(status)
    })()

    acct1.publish('diswall.blacklist.acct2.add.h', '203.0.113.7|probe')
    acct1.publish('diswall.blacklist.acct1.add.h', '203.0.113.8|probe')
    await acct1.flush()

    const violation = await waitFor(
      () => statuses.find((s) => s.type === Events.Error && s.data === ErrorCode.PermissionsViolation),
      {what: 'a permissions violation status on the acct1 connection'},
    )
    assert.deepEqual(
      {operation: violation.permissionContext?.operation, subject: violation.permissionContext?.subject},
      {operation: 'publish', subject: 'diswall.blacklist.acct2.add.h'},
    )
    // The server processes one connection's messages in order: once the allowed one arrived, the
    // denied one would have arrived before it.
    await waitFor(() => received.includes('diswall.blacklist.acct1.add.h'), {what: 'the allowed message at admin'})
    assert.deepEqual(received, ['diswall.blacklist.acct1.add.h'])
    assert.equal(acct1.isClosed(), false) // a violation does not end the connection
    sub.unsubscribe()
  })

  it('nats-server - a config error fails the start with the server stderr', async () => {
    await assert.rejects(startNatsServer({settings: {no_such_option: 1}}), /exited during startup.*unknown field "no_such_option"/s)
  })
})

describe('nats-server in a namespace', {skip, timeout: 60_000}, () => {
  let hub: Netns
  let host: Netns
  let pair: VethPair
  let server: NatsServer

  before(async () => {
    hub = await newNetns()
    host = await newNetns()
    pair = await connectNetns(hub, host)
    server = await startNatsServer({
      listen: `${pair.a.ipv4}:-1`,
      netns: hub,
      users: [{password: 'pw-host', user: 'host'}],
    })
    natsPids.push(server.pid)
    natsDirs.push(server.dir)
  })

  after(async () => {
    await server?.stop()
    await hub?.remove()
    await host?.remove()
  })

  it('nats-server - listens on a namespace address and serves clients across the veth pair', async () => {
    assert.equal(server.url, `nats://${pair.a.ipv4}:${server.port}`)
    assert.ok((await hub.pids()).includes(server.pid))
    // A client process inside the other namespace: the test process itself cannot reach it.
    const script = `
      const {connect} = require(process.env.NATS_MODULE)
      ;(async () => {
        const nc = await connect({servers: process.env.NATS_URL, user: 'host', pass: 'pw-host', timeout: 5000})
        const sub = nc.subscribe('harness.echo', {max: 1})
        nc.publish('harness.echo', 'across')
        for await (const m of sub) process.stdout.write(new TextDecoder().decode(m.data))
        await nc.close()
      })().catch((e) => { console.error(e); process.exit(1) })`
    const stdout = await host.run(process.execPath, ['-e', script], {
      env: {NATS_MODULE: createRequire(import.meta.url).resolve('nats'), NATS_URL: server.url},
      timeoutMs: 15_000,
    })
    assert.equal(stdout, 'across')
  })
})

it('harness - leaves no namespace, nats-server or temporary directory behind', {skip}, async () => {
  assert.ok(createdNetns.length >= 6, 'the namespace tests ran')
  assert.equal(natsPids.length, 2, 'both nats-servers started')
  const remaining = await listNetns()
  assert.deepEqual(createdNetns.filter((name) => remaining.includes(name)), [])
  for (const pid of natsPids) {
    assert.throws(() => process.kill(pid, 0), {code: 'ESRCH'})
  }
  assert.equal(registeredCleanupCount(), 0)
  assert.deepEqual(natsDirs.filter((dir) => existsSync(dir)), [])
})
