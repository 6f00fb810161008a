/**
 * `diswall server` against a real nats-server that runs the permissions of `diswall server nats-config`:
 * accounts are fenced off from each other, init replies carry the account's list plus the global one
 * (streamed below the max payload, or in one message for original clients), honeypot bans reach every
 * account, ordinary bans only after global_min_accounts accounts, a flooding account is rate-limited
 * without slowing the others, escalated timeouts come back in the Diswall-Timeout header and in init
 * replies, SIGTERM commits and exits 0, and kill -9 loses at most the batch window.
 * The hosts here are NATS clients of the test (no kernel sets are involved: nothing touches a firewall).
 */
import assert from 'node:assert/strict'
import {writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'
import {setTimeout as sleep} from 'node:timers/promises'

import {defaultConfig} from '../../src/lib/config/index.js'
import {cleanupAll, makeTempDir, type NatsServer, spawnProcess, type SpawnedProcess, startNatsServer, waitFor} from '../../src/lib/lab/index.js'
import {buildNatsConfig, queryServer, type ServerStatus} from '../../src/lib/server/index.js'
import {
  type Bus,
  connectBus,
  decodeInitChunk,
  HEADER,
  initRequestHeaders,
  listSubject,
  NatsTransport,
  streamCount,
  type TransportSink,
  type WireList,
} from '../../src/lib/transport/index.js'
import {CLI} from '../helpers/cli.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['nats-server']})
const ACCOUNTS = ['acme', 'globex', 'initech', 'trap', 'flood', 'crash'] as const
type Account = (typeof ACCOUNTS)[number]
/** Small, so that an init reply of a few thousand entries needs several messages. */
const MAX_PAYLOAD = 8192
const RATE_LIMIT = 2000

after(async () => {
  await cleanupAll()
})

describe('diswall server with nats-server permissions', {skip}, () => {
  let natsServer: NatsServer
  let dir: string
  let configFile: string
  let socket: string
  let server: SpawnedProcess | undefined
  let removeDir = (): void => {}
  const passwords = new Map<string, string>()
  const clients = new Map<string, Bus>()
  const statusEvents = new Map<string, string[]>()

  const client = async (account: Account): Promise<Bus> => {
    const existing = clients.get(account)
    if (existing) return existing
    const bus = await connectBus({inboxPrefix: `_INBOX.${account}`, pass: passwords.get(account), reconnect: false, servers: natsServer.url, user: account})
    const events: string[] = []
    statusEvents.set(account, events)
    bus.onStatus((e) => events.push(e))
    clients.set(account, bus)
    return bus
  }

  const startServer = async (): Promise<SpawnedProcess> => {
    const proc = spawnProcess(process.execPath, [CLI, 'server', '-c', configFile], {env: {NO_COLOR: '1'}})
    await waitFor(() => {
      if (proc.exitStatus) throw new Error(`the server exited ${JSON.stringify(proc.exitStatus)}: ${proc.output().stdout}${proc.output().stderr}`)
      return / ready: /.test(proc.output().stdout)
    }, {intervalMs: 10, timeoutMs: 30_000, what: 'the server to be ready'})
    return proc
  }

  const status = (): Promise<ServerStatus> => queryServer<ServerStatus>(socket, 'status')

  /** The init reply of `account`, streamed (diswall hosts) or in one message (original clients). */
  const init = async (account: Account, list: 'allow' | 'block', stream = true): Promise<Map<string, number | undefined>> => {
    const bus = await client(account)
    const subject = listSubject(list, 'init', account, 'h1')
    const entries = new Map<string, number | undefined>()
    const add = (data: Uint8Array) => {
      for (const line of decodeInitChunk(list, data)) {
        assert.ok(line.ok, `init line refused: ${JSON.stringify(line)}`)
        entries.set(line.entry.target.text, line.entry.ttlSec)
      }
    }
    if (!stream) {
      add((await bus.request(subject, '', {timeoutMs: 5000})).data)
      return entries
    }
    let messages = 0
    let count: number | undefined
    for await (const msg of bus.requestMany(subject, '', {headers: initRequestHeaders(true), isLast: (m) => m.data.byteLength === 0, timeoutMs: 5000})) {
      assert.ok(msg.data.byteLength <= MAX_PAYLOAD, `a reply message of ${msg.data.byteLength} bytes`)
      messages++
      if (msg.data.byteLength === 0) count = streamCount(msg.headers)
      else add(msg.data)
    }
    assert.equal(count, entries.size, `the end of the stream counts ${count} entries, ${entries.size} arrived in ${messages} messages`)
    return entries
  }

  /** Publishes adds and waits until the server has them (a request/reply after them on the same connection). */
  const report = async (account: Account, addresses: readonly string[], list: 'allow' | 'block' = 'block'): Promise<void> => {
    const bus = await client(account)
    for (const a of addresses) bus.publish(listSubject(list, 'add', account, 'h1'), a)
    await bus.flush()
    // Messages of one connection arrive in order: once this one is answered, the server has seen the others.
    await bus.request(listSubject('block', 'del', account, 'h1'), '192.0.2.254', {timeoutMs: 5000})
  }

  before(async () => {
    const temp = makeTempDir('diswall-server-it-')
    dir = temp.path
    removeDir = () => temp.remove()
    const {text, users} = buildNatsConfig({accounts: ACCOUNTS.map((name) => ({name})), server: {user: 'diswall-server'}})
    for (const u of users) passwords.set(u.user, u.password)
    natsServer = await startNatsServer({extraConfig: text, settings: {max_payload: MAX_PAYLOAD}})
    socket = join(dir, 'server.sock')
    configFile = join(dir, 'diswall.conf')
    writeFileSync(configFile, [
      '[nats]', 'server = "127.0.0.1"', `port = ${natsServer.port}`, 'client_name = "diswall-server"',
      `client_pass = "${passwords.get('diswall-server')}"`, 'honeypots = ["trap"]',
      '[server]', `db = "${join(dir, 'server.db')}"`, `socket = "${socket}"`, 'escalation = ["3s", "6s", "1h"]',
      'global_min_accounts = 2', `account_rate_limit = ${RATE_LIMIT}`, '',
    ].join('\n'), {mode: 0o600})
    server = await startServer()
  })

  after(async () => {
    for (const bus of clients.values()) await bus.close().catch(() => {})
    await server?.stop()
    await natsServer?.stop()
    removeDir()
  })

  it('an account cannot publish under another account\'s tokens, nor read its subjects or init replies', async () => {
    const acme = await client('acme')
    const globex = await client('globex')
    const seenByGlobex: string[] = []
    globex.subscribe('diswall.blacklist.globex.add.*', (m) => seenByGlobex.push(new TextDecoder().decode(m.data)))
    const stolen: string[] = []
    acme.subscribe('diswall.blacklist.globex.add.*', (m) => stolen.push(m.subject))
    acme.subscribe('_INBOX.globex.>', (m) => stolen.push(m.subject))
    acme.subscribe('_INBOX.>', (m) => stolen.push(m.subject))
    await acme.flush()
    await globex.flush()

    acme.publish('diswall.blacklist.globex.add.h1', '203.0.113.66')
    acme.publish('diswall.whitelist.globex.add.h1', '203.0.113.67')
    await acme.flush()
    await report('globex', ['203.0.113.65'])
    const globexInit = await init('globex', 'block')
    await init('globex', 'allow')
    await sleep(200)

    assert.deepEqual(seenByGlobex, ['203.0.113.65'], 'only globex\'s own publication reached globex')
    assert.deepEqual(stolen, [], 'acme read nothing of globex')
    assert.ok(globexInit.has('203.0.113.65'))
    assert.ok(!globexInit.has('203.0.113.66'), 'the forged report was never stored')
    // nats-server refused each of the two publications and three subscriptions (nats.js reports the code only)
    const violations = statusEvents.get('acme')!.filter((e) => e.includes('PERMISSIONS_VIOLATION'))
    assert.equal(violations.length, 5, statusEvents.get('acme')!.join('; '))
  })

  it('init: the account\'s own list plus the global one, streamed in several messages or in one for original clients', async () => {
    const own = Array.from({length: 1500}, (_, i) => `198.18.${Math.floor(i / 250)}.${(i % 250) + 1}`)
    await report('acme', own)
    await report('trap', ['203.0.113.200'])
    await report('initech', ['203.0.113.201'])
    await report('acme', ['10.0.0.0/8'], 'allow')
    await report('acme', ['198.51.100.0/24|office VPN'], 'allow')

    const block = await init('acme', 'block')
    for (const a of own) assert.ok(block.has(a), `${a} in acme's init`)
    assert.ok(block.has('203.0.113.200'), 'the honeypot\'s global ban is in every account\'s init')
    assert.ok(!block.has('203.0.113.201'), 'another account\'s own ban is not')
    for (const ttl of block.values()) assert.ok(ttl !== undefined && ttl > 0 && ttl <= 3)

    const allow = await init('acme', 'allow')
    assert.deepEqual([...allow.keys()].sort(), ['10.0.0.0/8', '198.51.100.0/24'])
    assert.equal(allow.get('10.0.0.0/8'), undefined, 'allow entries never expire unless asked')

    // an original client asks without the stream header: one message, cut at the max payload
    const single = await init('acme', 'block', false)
    assert.ok(single.size > 100 && single.size < block.size, `one message held ${single.size} entries`)
    assert.ok((await status()).init.truncated >= 1)
  })

  it('a honeypot\'s ban reaches other accounts; an ordinary one only when global_min_accounts accounts report it', async () => {
    const globex = await client('globex')
    const broadcasts: string[] = []
    globex.subscribe('diswall.blacklist.new', (m) => broadcasts.push(new TextDecoder().decode(m.data)))
    await globex.flush()

    await report('trap', ['203.0.113.210'])
    await waitFor(() => broadcasts.some((b) => b.startsWith('203.0.113.210|')), {timeoutMs: 3000, what: 'the honeypot broadcast'})

    await report('acme', ['203.0.113.211'])
    await sleep(300)
    assert.ok(!broadcasts.some((b) => b.startsWith('203.0.113.211')), 'one ordinary account is not enough')
    await report('initech', ['203.0.113.211'])
    await waitFor(() => broadcasts.some((b) => b.startsWith('203.0.113.211|')), {timeoutMs: 3000, what: 'the broadcast after two accounts'})
    assert.match(broadcasts.find((b) => b.startsWith('203.0.113.211|'))!, /^203\.0\.113\.211\|[1-3]$/)
    // a never-ban address is refused whoever reports it
    await report('trap', ['127.0.0.1', '192.168.1.1'])
    await sleep(200)
    assert.ok(!broadcasts.some((b) => b.startsWith('127.') || b.startsWith('192.168.')))
    assert.ok((await status()).reports.refused.neverBan >= 2)
  })

  it('a diswall host (the daemon\'s NATS transport) loads its account\'s lists plus the global one at start, and gets broadcasts', async () => {
    await report('initech', ['203.0.113.220', '203.0.113.221'])
    await report('initech', ['198.51.100.0/24|ops'], 'allow')
    const copies: Array<{list: WireList; targets: string[]}> = []
    const adds: string[] = []
    const sink: TransportSink = {
      add: async (_list, entry) => {
        adds.push(`${entry.target.text}|${entry.ttlSec}`)
        return true
      },
      del: async () => {},
      replace: async (list, entries) => {
        const targets: string[] = []
        for await (const batch of entries) for (const entry of batch) targets.push(entry.target.text)
        copies.push({list, targets})
      },
    }
    const nats = {...defaultConfig().nats, client_name: 'initech', client_pass: passwords.get('initech')!, connect_timeout: 5,
      port: natsServer.port, request_timeout: 5, server: '127.0.0.1'}
    const host = new NatsTransport({host: 'web1', nats, reconnectJitterMs: 50, reconnectWaitMs: 100})
    try {
      await host.start(sink)
      await waitFor(() => copies.length >= 2, {timeoutMs: 10_000, what: 'both init copies'})
      const block = copies.find((c) => c.list === 'block')!.targets
      assert.ok(block.includes('203.0.113.220') && block.includes('203.0.113.221'), 'its own bans')
      assert.ok(block.includes('203.0.113.200'), 'the global list (the honeypot\'s ban)')
      assert.ok(!block.some((t) => t.startsWith('198.18.')), 'nothing of another account')
      assert.deepEqual(copies.find((c) => c.list === 'allow')!.targets, ['198.51.100.0/24'])
      await report('trap', ['203.0.113.230'])
      await waitFor(() => adds.some((a) => a.startsWith('203.0.113.230|')), {timeoutMs: 5000, what: 'the broadcast at the host'})
    } finally {
      await host.close()
    }
  })

  it('a flood from one account beyond its rate limit is dropped, and the other accounts are still served', async () => {
    const flood = await client('flood')
    const before = (await status()).reports.rateLimited
    const subject = listSubject('block', 'add', 'flood', 'h1')
    let i = 0
    const floodStarted = Date.now()
    const flooding = (async () => {
      for (let round = 0; round < 20; round++) {
        for (let k = 0; k < 1000; k++, i++) flood.publish(subject, `198.18.${i >> 8}.${i & 255}`)
        await flood.flush()
      }
    })()
    // while the flood runs, another account's reports are all stored
    const quiet = Array.from({length: 50}, (_, k) => `203.0.114.${k + 1}`)
    const globex = await client('globex')
    for (const a of quiet) {
      const reply = await globex.request(listSubject('block', 'add', 'globex', 'h2'), a, {timeoutMs: 5000})
      assert.equal(reply.headers?.get(HEADER.error) ?? '', '', `globex's report of ${a} refused`)
    }
    await flooding
    await report('flood', []) // the server has handled the whole flood once this is answered
    const floodSec = (Date.now() - floodStarted) / 1000
    const s = await status()
    // the bucket holds one second's worth, then refills at the rate: at most RATE × (1 + seconds) pass
    const allowed = Math.ceil(RATE_LIMIT * (1 + floodSec)) + 1
    const floodEntries = s.entries.find((e) => e.account === 'flood' && e.list === 'block')?.entries ?? 0
    assert.ok(floodEntries >= RATE_LIMIT && floodEntries <= allowed, `flood stored ${floodEntries} in ${floodSec} s (at most ${allowed})`)
    assert.ok(s.reports.rateLimited - before >= 20_000 - allowed, `only ${s.reports.rateLimited - before} of 20000 dropped`)
    const globexInit = await init('globex', 'block')
    for (const a of quiet) assert.ok(globexInit.has(a))
  })

  it('escalation: reported again after its ban ended, an address gets the next timeout, in the header and in init', async () => {
    const acme = await client('acme')
    const told: Array<{payload: string; timeout: string; origin: string}> = []
    acme.subscribe('diswall.blacklist.acme.add.*', (m) => {
      if (m.subject.endsWith('.diswall-server')) {
        told.push({origin: m.headers?.get(HEADER.origin) ?? '', payload: new TextDecoder().decode(m.data), timeout: m.headers?.get(HEADER.timeout) ?? ''})
      }
    })
    await acme.flush()
    const subject = listSubject('block', 'add', 'acme', 'h1')
    const first = await acme.request(subject, '203.0.113.77|ssh', {timeoutMs: 5000})
    assert.equal(first.headers?.get(HEADER.timeout), '3')
    const during = await acme.request(subject, '203.0.113.77|ssh', {timeoutMs: 5000})
    assert.ok(Number(during.headers?.get(HEADER.timeout)) <= 3, 'a report during the ban keeps it')
    await sleep(3300)
    const second = await acme.request(subject, '203.0.113.77|ssh', {timeoutMs: 5000})
    assert.equal(second.headers?.get(HEADER.timeout), '6')
    await waitFor(() => told.length > 0, {timeoutMs: 3000, what: 'the server to tell the account about the escalated ban'})
    assert.deepEqual(told[0], {origin: 'diswall-server', payload: '203.0.113.77|ssh', timeout: '6'})
    const ttl = (await init('acme', 'block')).get('203.0.113.77')
    assert.ok(ttl !== undefined && ttl > 3 && ttl <= 6, `init says ${ttl}`)
  })

  it('host statistics are stored per account, host and hour and shown in the status; bad ones are counted', async () => {
    const acme = await client('acme')
    const invalidBefore = (await status()).reports.invalid
    acme.publish('diswall.stats.acme.add.web7', JSON.stringify({banned: 12, bytes_dropped: 3400, packets_dropped: 56, time: 1}))
    acme.publish('diswall.stats.acme.add.web7', '{"banned": -1}')
    acme.publish('diswall.stats.acme.add.web7', 'not json')
    await report('acme', [])
    const s = await status()
    const web7 = s.hostStats.find((h) => h.account === 'acme' && h.host === 'web7')
    assert.deepEqual(web7 && {banned: web7.banned, bytesDropped: web7.bytesDropped, packetsDropped: web7.packetsDropped},
      {banned: 12, bytesDropped: 3400, packetsDropped: 56})
    assert.equal(web7!.hour % 3600, 0)
    assert.equal(s.reports.invalid - invalidBefore, 2)
  })

  // Allow entries here: they never expire, while the bans of this file last seconds (short escalation steps).
  it('SIGTERM commits pending writes and exits 0', async () => {
    await report('crash', ['203.0.113.150', '203.0.113.151'], 'allow')
    const exit = await server!.stop()
    assert.deepEqual(exit, {code: 0, signal: null})
    server = await startServer()
    const entries = await init('crash', 'allow')
    assert.ok(entries.has('203.0.113.150') && entries.has('203.0.113.151'))
  })

  it('kill -9 during ingestion: every report committed before is still there after a restart', async () => {
    const crash = await client('crash')
    const subject = listSubject('allow', 'add', 'crash', 'h1')
    const acked: Array<{address: string; atMs: number}> = []
    let killedAt = 0
    const sending = (async () => {
      for (let i = 0; killedAt === 0 && i < 20_000; i++) {
        const address = `198.19.${i >> 8}.${i & 255}`
        try {
          const reply = await crash.request(subject, address, {timeoutMs: 1000})
          const refused = reply.headers?.get(HEADER.error) ?? ''
          if (refused !== '') throw new Error(`report of ${address} refused: ${refused}`)
          acked.push({address, atMs: Date.now()})
        } catch (error) {
          if (killedAt === 0) throw error
          return
        }
      }
    })()
    await waitFor(() => acked.length >= 1500, {intervalMs: 1, timeoutMs: 30_000, what: '1500 acknowledged reports'})
    server!.signal('SIGKILL')
    killedAt = Date.now()
    await server!.exited
    await sending
    server = await startServer()
    const entries = await init('crash', 'allow')
    // the server answers before its batch is committed: what was answered more than the batch window
    // (50 ms, plus scheduling slack on a busy machine) before the kill must have survived it
    const mustHave = acked.filter((a) => a.atMs < killedAt - 500)
    const missing = mustHave.filter((a) => !entries.has(a.address))
    assert.deepEqual(missing, [], `${missing.length} of ${mustHave.length} committed reports lost`)
    assert.ok(mustHave.length >= 300, `only ${mustHave.length} reports acknowledged 0.5 s before the kill`)
  })
})
