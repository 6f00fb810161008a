import assert from 'node:assert/strict'
import {cp, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, describe, it} from 'node:test'

import {defaultConfig} from '../../../src/lib/config/index.js'
import type {Config} from '../../../src/lib/config/index.js'
import {Daemon, LatencyTrace, queryDaemon, saveSnapshot, snapshotPath, unitsSourceId} from '../../../src/lib/daemon/index.js'
import type {DaemonStatus, PlannedSources, SourcePlan, TraceDump} from '../../../src/lib/daemon/index.js'
import type {LogLine, LogSource, RunHooks, SourceHealth, WtmpLogin} from '../../../src/lib/detect/index.js'
import {HostFacts} from '../../../src/lib/enforce/index.js'
import {ChangeMarkingBackend, forEachOf, MemoryBackend} from '../../../src/lib/firewall/sets/index.js'
import type {ListedEntry, ListKind, ListOptions, SetEntry} from '../../../src/lib/firewall/sets/index.js'
import {waitFor} from '../../../src/lib/lab/index.js'
import {parseAddress, parseTarget} from '../../../src/lib/net/index.js'
import {memoryLogger} from '../../../src/lib/service/index.js'
import type {Exec} from '../../../src/lib/system/index.js'
import {FakeTransport} from '../../../src/lib/transport/index.js'
import type {WireEntry} from '../../../src/lib/transport/index.js'
import {procNetEndpoint, procNetTable, TCP_STATE} from '../../helpers/proc-net.js'
import {line, recordingExec} from '../firewall/sets/fake-exec.js'

/** A source whose lines the test pushes; `fail()` ends the current run with an error. */
class PushSource<T = LogLine> implements LogSource<T> {
  private queue: T[] = []
  private wake: (() => void) | undefined
  private closed = false
  private failure: Error | undefined
  runs = 0
  private lines = 0

  /** The runs read once this settles ('never': they never do). */
  constructor(readonly name: string, private readonly readingGate?: Promise<void> | 'never') {}

  push(item: T): void {
    this.queue.push(item)
    this.wake?.()
  }

  fail(message: string): void {
    this.failure = new Error(message)
    this.wake?.()
  }

  async *start(hooks: RunHooks = {}): AsyncGenerator<T> {
    this.runs++
    if (this.readingGate === undefined) hooks.reading?.()
    else if (this.readingGate !== 'never') void this.readingGate.then(() => hooks.reading?.())
    while (!this.closed) {
      if (this.failure) {
        const error = this.failure
        this.failure = undefined
        throw error
      }
      const item = this.queue.shift()
      if (item !== undefined) {
        this.lines++
        yield item
        continue
      }
      await new Promise<void>((resolve) => (this.wake = resolve))
      this.wake = undefined
    }
  }

  async close(): Promise<void> {
    this.closed = true
    this.wake?.()
  }

  health(): SourceHealth {
    return {lines: this.lines, name: this.name, restarts: 0, state: this.closed ? 'stopped' : 'running'}
  }
}

/**
 * A MemoryBackend that records which lists were read whole (list(); it has no forEachEntry) and, with
 * `hang`, makes a listing of the block sets wait until its signal aborts (nft listing 1M elements).
 */
class ListingBackend extends MemoryBackend {
  listed: ListKind[] = []
  hang = false
  hanging = 0
  aborted = 0

  override async list(list: ListKind, options: ListOptions = {}): Promise<ListedEntry[]> {
    this.listed.push(list)
    if (!this.hang || list !== 'block') return super.list(list)
    this.hanging++
    return new Promise<never>((_resolve, reject) => {
      options.signal?.addEventListener('abort', () => {
        this.aborted++
        reject(options.signal?.reason)
      }, {once: true})
    })
  }
}

const PREFIX = 'diswall-log: '
const packet = (src: string, dpt: number, proto = 'TCP'): LogLine => ({
  source: 'kmsg',
  text: `${PREFIX}IN=eth0 OUT= MAC=00 SRC=${src} DST=192.0.2.1 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=1 DF PROTO=${proto} SPT=40000 DPT=${dpt} WINDOW=64240 RES=0x00 SYN URGP=0`,
})

const SSH_PATTERNS = `file = /var/log/test-auth.log
ports = 22
tag = ssh
threshold = 3
window = 10m
^Failed password for \\S+ from __IP__ port \\d+ ssh2$
`
const ACCEPTED_PATTERNS = `file = /var/log/test-auth.log
ports = 22
tag = ssh
action = allow
^Accepted publickey for (?<user>\\S+) from __IP__ port \\d+ ssh2$
`

/** `ip` as a host with address 192.0.2.1. */
const hostExec: Exec = async (program) => {
  if (program === 'ip') {
    return {stderr: '', stdout: JSON.stringify([{addr_info: [{family: 'inet', local: '192.0.2.1', prefixlen: 24}], ifname: 'eth0'}])}
  }
  return {stderr: '', stdout: ''}
}

/** /proc/net of a host with tcp/8080 open and an SSH session from 203.0.113.22. */
const hostSockets = async (path: string): Promise<string> => (path !== '/proc/net/tcp' ? '' : procNetTable([
  [procNetEndpoint('0.0.0.0', 8080), procNetEndpoint('0.0.0.0', 0), TCP_STATE.LISTEN],
  [procNetEndpoint('192.0.2.1', 22), procNetEndpoint('203.0.113.22', 50_000), TCP_STATE.ESTABLISHED],
]))

interface Harness {
  daemon: Daemon
  backend: MemoryBackend
  packets: PushSource
  files: Map<string, PushSource>
  logins: PushSource<WtmpLogin>
  log: ReturnType<typeof memoryLogger>
  plans: SourcePlan[]
}

describe('Daemon (MemoryBackend, injected sources)', () => {
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'diswall-daemon-'))
  })
  after(async () => {
    await rm(dir, {force: true, recursive: true})
  })

  async function start(name: string, {backend = new MemoryBackend(), configure, copySnapshotDelayMs, exec, journald = false, latencyTrace, readingGate,
    shippedPatterns = false, sourcesTimeoutMs, transport}:
    {backend?: MemoryBackend; configure?: (c: Config) => void; copySnapshotDelayMs?: number; exec?: Exec; journald?: boolean; latencyTrace?: LatencyTrace
      readingGate?: Promise<void> | 'never'; shippedPatterns?: boolean; sourcesTimeoutMs?: number; transport?: FakeTransport} = {}): Promise<Harness> {
    const base = join(dir, name)
    const patternsDir = join(base, 'patterns.d')
    if (shippedPatterns) await mkdir(base, {recursive: true})
    else {
      await mkdir(patternsDir, {recursive: true})
      await writeFile(join(patternsDir, 'ssh.patterns'), SSH_PATTERNS)
      await writeFile(join(patternsDir, 'ssh-accepted.patterns'), ACCEPTED_PATTERNS)
    }
    const config = defaultConfig()
    config.daemon.state_dir = join(base, 'state')
    config.daemon.socket = join(base, 'run', 'diswall.sock')
    config.firewall.kill_connections = false
    configure?.(config)
    const configPath = join(base, 'diswall.conf')
    const packets = new PushSource('kmsg', readingGate)
    const files = new Map<string, PushSource>()
    const logins = new PushSource<WtmpLogin>('wtmp')
    const plans: SourcePlan[] = []
    const log = memoryLogger()
    const makeSources = (plan: SourcePlan): PlannedSources => {
      plans.push(plan)
      const lines = new Map<string, LogSource>([['packet', packets]])
      for (const file of plan.files) {
        const source = files.get(file) ?? new PushSource(file)
        files.set(file, source)
        lines.set(`file:${file}`, source)
      }
      if (plan.units.length > 0) {
        const id = unitsSourceId(plan.units)
        const source = files.get(id) ?? new PushSource(id)
        files.set(id, source)
        lines.set(id, source)
      }
      return {lines, ...(plan.wtmp ? {logins} : {})}
    }
    const daemon = new Daemon({
      config,
      configPath,
      ...(copySnapshotDelayMs === undefined ? {} : {copySnapshotDelayMs}),
      ...(exec === undefined ? {} : {exec}),
      ...(transport === undefined ? {} : {transport}),
      // Every banned address has a connection to cut: the kill path runs as on a host with live sessions.
      findConnected: async (addrs) => ({flows: undefined, sockets: new Set(addrs.map((addr) => addr.text))}),
      firewall: {backend, choice: {backend: 'ipset', reason: 'test'}},
      hasJournald: () => journald,
      hostFacts: new HostFacts({exec: hostExec, readText: hostSockets}),
      ...(latencyTrace === undefined ? {} : {latencyTrace}),
      loadConfig: async () => ({config, warnings: []}),
      logger: log,
      makeSources,
      patternsDir,
      ...(sourcesTimeoutMs === undefined ? {} : {sourcesTimeoutMs}),
      version: '0.0.0-test',
    })
    await daemon.start()
    return {backend, daemon, files, log, logins, packets, plans}
  }

  const blocked = async (h: Harness) => (await h.backend.list('block')).map((e) => e.target.text).sort()

  it('Daemon - a probe of a closed port bans the prober; one log line per ban with the reason', async () => {
    const h = await start('probe')
    try {
      h.packets.push(packet('203.0.113.7', 23))
      h.packets.push(packet('203.0.113.7', 23)) // a repeat costs no second write
      await waitFor(async () => (await blocked(h)).length === 1, {what: 'the ban'})
      assert.deepEqual(await blocked(h), ['203.0.113.7'])
      const entry = (await h.backend.list('block'))[0]!
      assert.ok(entry.ttlSec! > 86_000 && entry.ttlSec! <= 86_400, `ttl ${entry.ttlSec}`)
      const bans = h.log.lines.filter((l) => l.message.startsWith('ban '))
      assert.deepEqual(bans.map((l) => l.message), ['ban 203.0.113.7: port-scan 23/tcp (kmsg), 1d'])
      const status = await h.daemon.status()
      assert.equal(status.bans.total, 1)
      assert.deepEqual(status.bans.byReason, {'port-scan': 1})
      assert.equal(status.lastBans[0]!.target, '203.0.113.7')
      assert.equal(status.detect.duplicates, 1)
      assert.equal(status.mode, 'local-only')
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - with a latency trace, each detected ban is written at stop with its stages in order', async () => {
    const file = join(dir, 'trace.json')
    const h = await start('trace', {latencyTrace: new LatencyTrace(file)})
    try {
      h.packets.push(packet('203.0.113.8', 23))
      h.packets.push(packet('203.0.113.9', 25))
      await waitFor(async () => (await blocked(h)).length === 2, {what: 'the bans'})
    } finally {
      await h.daemon.stop()
    }
    const dump = JSON.parse(await readFile(file, 'utf8')) as TraceDump
    assert.deepEqual(dump.bans.map((b) => b.target).sort(), ['203.0.113.8', '203.0.113.9'])
    for (const ban of dump.bans) assert.ok(ban.received <= ban.decided && ban.decided <= ban.committed, JSON.stringify(ban))
    assert.ok(h.log.lines.some((l) => l.message === `latency trace written to ${file}`))
  })

  it('Daemon - open ports, own addresses and allow-listed addresses are never banned', async () => {
    const backend = new MemoryBackend()
    backend.add('allow', {target: parseTarget('198.51.100.0/24')})
    await backend.commit()
    const h = await start('never', {backend})
    try {
      h.packets.push(packet('203.0.113.8', 8080)) // open (listening) port
      h.packets.push(packet('198.51.100.9', 23)) // in the allow list
      h.packets.push(packet('192.0.2.1', 23)) // the host itself
      h.packets.push(packet('203.0.113.9', 25)) // a real probe, to know the others were handled
      await waitFor(async () => (await blocked(h)).length > 0, {what: 'the ban of the real probe'})
      assert.deepEqual(await blocked(h), ['203.0.113.9'])
      const status = await h.daemon.status()
      assert.equal(status.detect.openPorts, 1)
      assert.equal(status.detect.protected, 2)
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - IPv6 offenders are banned by their /64', async () => {
    const h = await start('v6')
    try {
      h.packets.push(packet('2001:db8:1:2::99', 23))
      await waitFor(async () => (await blocked(h)).length === 1, {what: 'the ban'})
      assert.deepEqual(await blocked(h), ['2001:db8:1:2::/64'])
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - by default an "Accepted" log line allows nobody (a local user can forge it); the address is still banned for probes', async () => {
    const h = await start('forged')
    try {
      h.files.get('/var/log/test-auth.log')?.push({source: 'file:/var/log/test-auth.log', text: 'Accepted password for root from 203.0.113.33 port 6000 ssh2'})
      h.packets.push(packet('203.0.113.33', 23))
      await waitFor(async () => (await blocked(h)).includes('203.0.113.33'), {what: 'the ban of the forged login\'s address'})
      assert.deepEqual(await h.backend.list('allow'), [])
      assert.equal((await h.daemon.status()).allows.total, 0)
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - pattern lines ban at the threshold, not before; a login is allowed with an expiry and a comment', async () => {
    const h = await start('patterns', {configure: (c) => void (c.detect.auto_allow_from_logs = true)})
    try {
      const auth = h.files.get('/var/log/test-auth.log')
      assert.ok(auth, `sources: ${JSON.stringify(h.plans[0])}`)
      for (let i = 0; i < 2; i++) auth.push({source: 'file:/var/log/test-auth.log', text: `Failed password for root from 203.0.113.20 port ${5000 + i} ssh2`})
      await waitFor(() => h.daemon.status().then((s) => s.detect.pending === 2), {what: 'two pending matches'})
      assert.deepEqual(await blocked(h), [])
      auth.push({source: 'file:/var/log/test-auth.log', text: 'Failed password for root from 203.0.113.20 port 5003 ssh2'})
      await waitFor(async () => (await blocked(h)).length === 1, {what: 'the ban at the threshold'})
      assert.deepEqual(await blocked(h), ['203.0.113.20'])

      auth.push({source: 'file:/var/log/test-auth.log', text: 'Accepted publickey for alice from 203.0.113.30 port 6000 ssh2'})
      await waitFor(async () => (await h.backend.list('allow')).length === 1, {what: 'the allow entry'})
      const [allowed] = await h.backend.list('allow')
      assert.equal(allowed!.target.text, '203.0.113.30')
      assert.equal(allowed!.comment, 'ssh login alice')
      assert.ok(allowed!.ttlSec! > 8 * 86_400 - 60, `ttl ${allowed!.ttlSec}`)
      // Now allowed: its probes do not ban.
      h.packets.push(packet('203.0.113.30', 23))
      h.packets.push(packet('203.0.113.31', 23))
      await waitFor(async () => (await blocked(h)).includes('203.0.113.31'), {what: 'the second probe\'s ban'})
      assert.ok(!(await blocked(h)).includes('203.0.113.30'))
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - a wtmp login is allowed unless already covered; a permanent entry keeps no expiry', async () => {
    const backend = new MemoryBackend()
    backend.add('allow', {comment: 'office', target: parseTarget('198.51.100.7')})
    await backend.commit()
    const h = await start('wtmp', {backend})
    try {
      const login = (address: string): WtmpLogin => ({address: parseAddress(address), host: address, line: 'pts/0', pid: 1, source: 'wtmp', time: Date.now(), user: 'bob'})
      h.logins.push(login('198.51.100.7'))
      h.logins.push(login('203.0.113.40'))
      await waitFor(async () => (await h.backend.list('allow')).length === 2, {what: 'the wtmp allow entry'})
      const byTarget = new Map((await h.backend.list('allow')).map((e) => [e.target.text, e]))
      assert.equal(byTarget.get('198.51.100.7')!.ttlSec, undefined, 'the permanent entry got an expiry')
      assert.equal(byTarget.get('198.51.100.7')!.comment, 'office')
      assert.equal(byTarget.get('203.0.113.40')!.comment, 'login bob')
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - stop keeps a healthy journal; a new daemon on empty sets restores it before it is ready', async () => {
    const first = await start('restart')
    first.packets.push(packet('203.0.113.50', 23))
    await waitFor(async () => (await blocked(first)).length === 1, {what: 'the ban'})
    await first.daemon.stop()
    assert.ok(first.log.lines.some((l) => /^journal closed: 1 changes since no snapshot \(yet\) kept for the next start$/.test(l.message)),
      JSON.stringify(first.log.lines))

    const emptied = new MemoryBackend() // a reboot: the kernel sets are gone
    const second = await start('restart', {backend: emptied})
    try {
      // start() has resolved (= ready): the ban must be there already.
      assert.deepEqual(await blocked(second), ['203.0.113.50'])
      const messages = second.log.lines.map((l) => l.message)
      assert.ok(!messages.some((m) => m.startsWith('restored')), JSON.stringify(messages))
      const replayed = messages.findIndex((m) => m.startsWith('replayed the journal (segments 0): 1 entries added'))
      const ready = messages.findIndex((m) => m.startsWith('ready:'))
      assert.ok(replayed >= 0 && replayed < ready, JSON.stringify(messages))
      const {snapshot} = await second.daemon.status()
      assert.deepEqual({journalChanges: snapshot.journalChanges, loaded: snapshot.loaded, replayed: snapshot.replayed},
        {journalChanges: 1, loaded: 0, replayed: 1})
    } finally {
      await second.daemon.stop()
    }
  })

  it('Daemon - a crash (no stop, no snapshot): the bans are back from the journal before it is ready', async () => {
    const first = await start('crash')
    const offenders = ['203.0.113.61', '203.0.113.62', '203.0.113.63']
    let crashed: string
    try {
      for (const address of offenders) first.packets.push(packet(address, 23))
      await waitFor(async () => (await blocked(first)).length === 3, {what: 'the bans'})
      const state = join(dir, 'crash', 'state')
      // What a kill -9 leaves on disk: the state directory as it is, without the snapshot of a stop.
      await waitFor(async () => {
        const names = await readdir(state)
        const text = (await Promise.all(names.map((n) => readFile(join(state, n), 'utf8')))).join('')
        return offenders.every((a) => text.includes(a))
      }, {what: 'the bans in the journal'})
      crashed = join(dir, 'crashed')
      await cp(state, join(crashed, 'state'), {recursive: true})
    } finally {
      await first.daemon.stop()
    }
    assert.ok(!(await readdir(join(crashed, 'state'))).includes('sets.snapshot'))

    const second = await start('crashed', {backend: new MemoryBackend()}) // a reboot: the kernel sets are gone
    try {
      assert.deepEqual(await blocked(second), offenders)
      const messages = second.log.lines.map((l) => l.message)
      const replayed = messages.findIndex((m) => m.startsWith('replayed the journal'))
      const ready = messages.findIndex((m) => m.startsWith('ready:'))
      assert.ok(replayed >= 0 && replayed < ready, JSON.stringify(messages))
    } finally {
      await second.daemon.stop()
    }
    // The stop kept the journal for the next start (no snapshot read from the sets): the crashed run's segment and this run's.
    const names = (await readdir(join(crashed, 'state'))).filter((n) => n.startsWith('sets.')).sort()
    assert.deepEqual(names, ['sets.journal.0', 'sets.journal.1'])
  })

  it('Daemon - stop with a healthy journal reads no set; the restart has the snapshot and the journal, deletions included', async () => {
    const transport = new FakeTransport()
    const saved = new MemoryBackend()
    for (const t of ['203.0.113.71', '203.0.113.72', '203.0.113.73']) saved.add('block', {target: parseAddress(t), ttlSec: 86_400})
    await saved.commit()
    await saveSnapshot(snapshotPath(join(dir, 'keep', 'state')), saved) // what the last periodic save wrote
    const backend = new ListingBackend()
    const first = await start('keep', {backend, transport})
    try {
      assert.deepEqual(await blocked(first), ['203.0.113.71', '203.0.113.72', '203.0.113.73'])
      await transport.deliverDel('block', remote('203.0.113.71')) // in the snapshot, deleted after it
      await transport.deliverAdd('block', remote('203.0.113.74', {ttlSec: 3600}))
      await transport.deliverAdd('allow', remote('198.51.100.0/24', {comment: 'office'}))
    } finally {
      backend.listed = []
      await first.daemon.stop()
    }
    assert.deepEqual(backend.listed, [], 'stop read the sets')
    const closed = first.log.lines.find((l) => l.message.startsWith('journal closed:'))
    assert.match(closed?.message ?? JSON.stringify(first.log.lines), /^journal closed: 3 changes since the snapshot of \S+Z kept for the next start$/)
    assert.equal((await first.daemon.status()).snapshot.stoppedWith, 'journal')

    const second = await start('keep', {backend: new MemoryBackend()}) // a reboot: the kernel sets are gone
    try {
      assert.deepEqual(await blocked(second), ['203.0.113.72', '203.0.113.73', '203.0.113.74'])
      assert.deepEqual((await second.backend.list('allow')).map((e) => [e.target.text, e.comment]), [['198.51.100.0/24', 'office']])
      const remaining = (await second.backend.list('block')).find((e) => e.target.text === '203.0.113.74')?.ttlSec ?? 0
      assert.ok(remaining > 3500 && remaining <= 3600, `TTL ${remaining}`)
      const {snapshot} = await second.daemon.status()
      assert.equal(snapshot.loaded, 3)
      assert.equal(snapshot.replayed, 3)
      assert.match(snapshot.loadedSavedAt ?? '', /Z$/)
    } finally {
      await second.daemon.stop()
    }
  })

  it('Daemon - a change a command made (the sets.changed marker) makes stop save the snapshot; the deleted ban stays deleted', async () => {
    const backend = new ListingBackend()
    const first = await start('marked', {backend})
    const stateDir = join(dir, 'marked', 'state')
    try {
      first.packets.push(packet('203.0.113.81', 23))
      first.packets.push(packet('203.0.113.82', 23))
      await waitFor(async () => (await blocked(first)).length === 2, {what: 'the bans'})
      // What `block del 203.0.113.81` does while the daemon runs: a direct commit, then the marker.
      const cli = new ChangeMarkingBackend(backend, stateDir)
      cli.del('block', parseAddress('203.0.113.81'))
      await cli.commit()
      assert.equal((await stat(join(stateDir, 'sets.changed'))).mode & 0o777, 0o600)
      // Past the margin for coarse file times, so that the snapshot stop saves counts as newer than the mark.
      await new Promise((resolve) => setTimeout(resolve, 1100))
    } finally {
      await first.daemon.stop()
    }
    assert.ok(first.log.lines.some((l) => /^saving the snapshot at stop: a command changed the sets at \S+ \(sets\.changed\)$/.test(l.message)),
      JSON.stringify(first.log.lines))
    assert.ok(backend.listed.includes('block'))
    assert.equal((await first.daemon.status()).snapshot.stoppedWith, 'snapshot')

    const second = await start('marked', {backend: new MemoryBackend()})
    try {
      assert.deepEqual(await blocked(second), ['203.0.113.82'])
    } finally {
      await second.daemon.stop()
    }
    // The marker is older than the snapshot that stop saved: the next stop keeps the journal.
    assert.ok(second.log.lines.some((l) => l.message.startsWith('journal closed: 0 changes since the snapshot of')), JSON.stringify(second.log.lines))
  })

  const saves = (h: Harness): string[] => h.log.lines.filter((l) => /^saved \d+ entries to /.test(l.message)).map((l) => l.message)
  const copyFiles = async (stateDir: string): Promise<string[]> => (await readdir(stateDir)).filter((n) => n.startsWith('sets.copy.'))

  it('Daemon - a list copy goes to a file; stop folds it into the snapshot without reading the sets; the restart has it', async () => {
    const transport = new FakeTransport()
    const backend = new ListingBackend()
    const first = await start('copied', {backend, transport})
    const stateDir = join(dir, 'copied', 'state')
    try {
      // A first start in a fleet saves one at once, from the (small) sets.
      await waitFor(() => saves(first).length === 1, {what: 'the first snapshot'})
      assert.match(saves(first)[0]!, /^saved 0 entries to .*, read from the kernel sets$/)
      backend.listed = []
      await transport.deliverAdd('block', remote('203.0.113.91'))
      await transport.deliverCopy('block', [remote('203.0.113.92', {ttlSec: 3600}), remote('203.0.113.90')], 1) // .91 is gone
      await transport.deliverAdd('block', remote('203.0.113.93'))
      await transport.deliverDel('block', remote('203.0.113.90'))
      assert.deepEqual(await blocked(first), ['203.0.113.92', '203.0.113.93'])
      assert.equal((await copyFiles(stateDir)).filter((n) => /^sets\.copy\.block\.\d+$/.test(n)).length, 1)
      backend.listed = [] // blocked() read them
    } finally {
      await first.daemon.stop()
    }
    const messages = first.log.lines.map((l) => l.message)
    assert.ok(messages.includes('saving the snapshot at stop: the copy of the block list is in no snapshot yet'), JSON.stringify(messages))
    assert.match(saves(first).at(-1)!, /^saved 2 entries to .*, folded from the last snapshot, the copy of the block list and the journal since \(segments \d+ to \d+\)$/)
    assert.deepEqual(backend.listed, [], 'the stop read the sets')
    assert.deepEqual(await copyFiles(stateDir), [], 'the copy file outlived the snapshot that holds it')
    const text = await readFile(join(stateDir, 'sets.snapshot'), 'utf8')
    assert.match(text, /^block 203\.0\.113\.92 expires \d+$/m)
    await assert.rejects(stat(join(stateDir, 'sets.copied')), {code: 'ENOENT'}, 'the copy marker outlived the snapshot that holds the copy')
    const second = await start('copied', {backend: new MemoryBackend()}) // a reboot: the kernel sets are gone
    try {
      assert.deepEqual(await blocked(second), ['203.0.113.92', '203.0.113.93'])
    } finally {
      await second.daemon.stop()
    }
    // Nothing of the copy is left in doubt: the stop keeps the journal.
    assert.ok(second.log.lines.some((l) => l.message.startsWith('journal closed: 0 changes since the snapshot of')), JSON.stringify(second.log.lines))
  })

  it('Daemon - a folded snapshot follows list copies, one for copies close together; the stop after it keeps the journal', async () => {
    const transport = new FakeTransport()
    const backend = new ListingBackend()
    const first = await start('copied-saved', {backend, copySnapshotDelayMs: 100, transport})
    const folded = (): string[] => saves(first).filter((m) => m.includes('folded'))
    try {
      await waitFor(() => saves(first).length === 1, {what: 'the first snapshot'})
      await transport.deliverCopy('block', [remote('203.0.113.94', {ttlSec: 3600})])
      await transport.deliverCopy('allow', [remote('198.51.100.0/24', {comment: 'office'})])
      backend.listed = [] // the allow list is read back after its copy, for the never-ban check
      await waitFor(() => folded().length === 1, {timeoutMs: 10_000, what: 'the snapshot after the copies'})
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.equal(saves(first).length, 2, 'both copies share one save')
      assert.match(folded()[0]!, /^saved 2 entries to .*, folded from the last snapshot, the copies of both lists and the journal since/)
      await transport.deliverAdd('block', remote('203.0.113.95'))
    } finally {
      await first.daemon.stop()
    }
    assert.ok(first.log.lines.some((l) => l.message.startsWith('journal closed: 1 changes since the snapshot of')), JSON.stringify(first.log.lines))
    assert.deepEqual(backend.listed, [])
    const second = await start('copied-saved', {backend: new MemoryBackend()})
    try {
      assert.deepEqual(await blocked(second), ['203.0.113.94', '203.0.113.95'])
      assert.deepEqual((await second.backend.list('allow')).map((e) => [e.target.text, e.comment]), [['198.51.100.0/24', 'office']])
    } finally {
      await second.daemon.stop()
    }
  })

  it('Daemon - a list copy that breaks off before the swap changes nothing: no file is left, the stop keeps the journal', async () => {
    const transport = new FakeTransport()
    const first = await start('copy-broken', {transport})
    const stateDir = join(dir, 'copy-broken', 'state')
    try {
      await waitFor(() => saves(first).length === 1, {what: 'the first snapshot'})
      await transport.deliverAdd('block', remote('203.0.113.96'))
      function* broken(): Generator<WireEntry> {
        yield remote('203.0.113.97')
        throw new Error('the server went away')
      }
      await assert.rejects(transport.deliverCopy('block', broken(), 1), /the server went away/)
      assert.deepEqual(await blocked(first), ['203.0.113.96'])
      assert.deepEqual(await copyFiles(stateDir), [])
    } finally {
      await first.daemon.stop()
    }
    assert.ok(first.log.lines.some((l) => l.message.startsWith('journal closed: 1 changes since the snapshot of')), JSON.stringify(first.log.lines))
  })

  it('Daemon - after a run that ended without a snapshot of its list copy (a crash), the next stop reads the sets', async () => {
    const transport = new FakeTransport()
    const first = await start('copy-crash', {transport})
    const crashed = join(dir, 'copy-crashed')
    try {
      await waitFor(() => saves(first).length === 1, {what: 'the first snapshot'})
      await transport.deliverCopy('block', [remote('203.0.113.98')])
      // What a kill -9 leaves: the state directory with the copy, its file and the marker, no snapshot of it.
      await cp(join(dir, 'copy-crash', 'state'), join(crashed, 'state'), {recursive: true})
    } finally {
      await first.daemon.stop()
    }
    const backend = new ListingBackend()
    await backend.replace('block', [{target: parseTarget('203.0.113.98')}]) // the kernel sets outlived the daemon
    const second = await start('copy-crashed', {backend})
    try {
      assert.deepEqual(await copyFiles(join(crashed, 'state')), [], 'the last run\'s copy files are removed at start')
    } finally {
      await second.daemon.stop()
    }
    assert.ok(second.log.lines.some((l) => /^saving the snapshot at stop: the last run loaded a list copy at \S+ that no snapshot holds$/.test(l.message)),
      JSON.stringify(second.log.lines))
    assert.ok(backend.listed.includes('block'))
    assert.match(await readFile(join(crashed, 'state', 'sets.snapshot'), 'utf8'), /^block 203\.0\.113\.98 /m)
  })

  it('Daemon - a periodic snapshot after the first folds the journal into the last one and reads no set', async () => {
    const transport = new FakeTransport()
    const backend = new ListingBackend()
    const first = await start('fold', {backend, configure: (c) => void (c.daemon.snapshot_interval = 1), transport})
    const stateDir = join(dir, 'fold', 'state')
    const saved = (): string[] => first.log.lines.filter((l) => /^saved \d+ entries to /.test(l.message)).map((l) => l.message)
    try {
      for (const t of ['203.0.113.121', '203.0.113.122']) await transport.deliverAdd('block', remote(t))
      // The first one has no snapshot to start from: it reads the sets.
      await waitFor(() => saved().length > 0, {what: 'the first periodic snapshot'})
      assert.match(saved()[0]!, /, read from the kernel sets$/)
      assert.ok(backend.listed.includes('block'))
      backend.listed = []
      await transport.deliverDel('block', remote('203.0.113.121'))
      await transport.deliverAdd('block', remote('203.0.113.123', {ttlSec: 3600}))
      await waitFor(() => saved().some((m) => /^saved 2 entries to .*, folded from the last snapshot and the journal since \(segments \d+ to \d+\)$/.test(m)),
        {timeoutMs: 10_000, what: 'a folded snapshot'})
      assert.deepEqual(backend.listed, [], 'the folded snapshot read the sets')
    } finally {
      await first.daemon.stop()
    }
    const text = await readFile(join(stateDir, 'sets.snapshot'), 'utf8')
    assert.match(text, /^block 203\.0\.113\.123 expires \d+$/m)
    assert.doesNotMatch(text, /203\.0\.113\.121/)
    const second = await start('fold', {backend: new MemoryBackend()}) // a reboot: the kernel sets are gone
    try {
      assert.deepEqual(await blocked(second), ['203.0.113.122', '203.0.113.123'])
    } finally {
      await second.daemon.stop()
    }
  })

  it('Daemon - stop aborts a periodic snapshot that is still listing the sets; the restart still has every ban', async () => {
    const transport = new FakeTransport()
    const backend = new ListingBackend()
    // No snapshot yet to fold the journal into: the first periodic one reads the sets, and never ends unless aborted.
    backend.hang = true
    const first = await start('abort', {backend, configure: (c) => void (c.daemon.snapshot_interval = 1), transport})
    const stateDir = join(dir, 'abort', 'state')
    let stopMs: number
    try {
      for (const t of ['203.0.113.101', '203.0.113.102']) await transport.deliverAdd('block', remote(t))
      await transport.deliverDel('block', remote('203.0.113.101'))
      await transport.deliverAdd('block', remote('203.0.113.103'))
      await waitFor(() => backend.hanging > 0, {what: 'a periodic snapshot listing the sets'})
    } finally {
      const started = Date.now()
      await first.daemon.stop()
      stopMs = Date.now() - started
    }
    assert.equal(backend.aborted, 1)
    assert.ok(stopMs < 2000, `stop took ${stopMs} ms`)
    const messages = first.log.lines.map((l) => l.message)
    assert.ok(messages.includes('the snapshot being saved was abandoned for the stop; the journal holds its changes'), JSON.stringify(messages))
    assert.ok(messages.includes('journal closed: 4 changes since no snapshot (yet) kept for the next start'), JSON.stringify(messages))
    // The aborted save wrote no snapshot and removed no segment: the first one and the one it opened are there.
    const names = await readdir(stateDir)
    assert.ok(!names.includes('sets.snapshot'), names.join(' '))
    assert.deepEqual(names.filter((n) => n.startsWith('sets.journal.')).sort(), ['sets.journal.0', 'sets.journal.1'])

    const second = await start('abort', {backend: new MemoryBackend()})
    try {
      assert.deepEqual(await blocked(second), ['203.0.113.102', '203.0.113.103'])
    } finally {
      await second.daemon.stop()
    }
  })

  it('Daemon - a journal that failed to write makes stop save the snapshot', async () => {
    const transport = new FakeTransport()
    const first = await start('failed', {configure: (c) => void (c.daemon.snapshot_interval = 1), transport})
    const stateDir = join(dir, 'failed', 'state')
    try {
      await waitFor(() => saves(first).length > 0, {what: 'the first snapshot'})
      await transport.deliverAdd('block', remote('203.0.113.111'))
      // The state directory vanishes: the next rotation cannot open its segment, so later bans reach no journal.
      await rm(stateDir, {force: true, recursive: true})
      await waitFor(() => first.log.lines.some((l) => /opening the journal failed/.test(l.message)), {what: 'the journal to fail'})
      await transport.deliverAdd('block', remote('203.0.113.112'))
      await mkdir(stateDir, {recursive: true})
    } finally {
      await first.daemon.stop()
    }
    assert.ok(first.log.lines.some((l) => l.message === 'saving the snapshot at stop: the journal failed'), JSON.stringify(first.log.lines))
    const second = await start('failed', {backend: new MemoryBackend()})
    try {
      assert.deepEqual(await blocked(second), ['203.0.113.111', '203.0.113.112'])
    } finally {
      await second.daemon.stop()
    }
  })

  it('Daemon - start() resolves (ready) only once every source reads', async () => {
    let read = (): void => {}
    const gate = new Promise<void>((resolve) => (read = resolve))
    let ready = false
    const started = start('reading', {readingGate: gate}).then((h) => {
      ready = true
      return h
    })
    await new Promise((resolve) => setTimeout(resolve, 300))
    assert.equal(ready, false, 'ready before the packet source reads')
    read()
    const h = await started
    try {
      assert.ok(!h.log.lines.some((l) => l.message.includes('is not reading')))
      assert.ok(h.log.lines.some((l) => l.message === 'source kmsg reads'))
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - a source that never reads is named after the bound, and the daemon is ready without it', async () => {
    const h = await start('never-reads', {readingGate: 'never', sourcesTimeoutMs: 200})
    try {
      const late = h.log.lines.filter((l) => l.message.includes('is not reading'))
      assert.deepEqual(late.map((l) => [l.level, l.message.replace(/ \(.*/, '')]), [['error', 'source kmsg is not reading after 0.2 s']])
      assert.ok(h.log.lines.findIndex((l) => l.message.startsWith('ready: ')) > h.log.lines.indexOf(late[0]!))
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - a source that fails is restarted and reported in the status', async () => {
    const h = await start('restart-source')
    try {
      h.packets.fail('device went away')
      await waitFor(() => h.packets.runs >= 2, {timeoutMs: 5000, what: 'the restart'})
      const status: DaemonStatus = await h.daemon.status()
      const kmsg = status.sources.find((s) => s.name === 'kmsg')!
      assert.equal(kmsg.restarts, 1)
      assert.equal(kmsg.lastError, 'device went away')
      assert.ok(h.log.lines.some((l) => l.level === 'warning' && l.message.includes('source kmsg stopped: device went away')))
      h.packets.push(packet('203.0.113.60', 23))
      await waitFor(async () => (await blocked(h)).length === 1, {what: 'a ban after the restart'})
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - a second daemon on the same control socket refuses to start before it touches the sets', async () => {
    const first = await start('twice')
    try {
      const untouched = new MemoryBackend()
      await assert.rejects(start('twice', {backend: untouched}), {code: 'E_DAEMON_RUNNING'})
      assert.deepEqual(untouched.commits, [])
      assert.equal((await queryDaemon<DaemonStatus>((first.daemon as unknown as {config: Config}).config.daemon.socket, 'status')).pid, process.pid)
    } finally {
      await first.daemon.stop()
    }
  })

  it('Daemon - the control socket answers status; reload keeps running sources and picks up changed patterns', async () => {
    const h = await start('control')
    try {
      const config = (h.daemon as unknown as {config: Config}).config
      const status = await queryDaemon<DaemonStatus>(config.daemon.socket, 'status')
      assert.equal(status.version, '0.0.0-test')
      assert.equal(status.backend.name, 'memory')
      const patternsDir = join(dir, 'control', 'patterns.d')
      assert.deepEqual(status.patterns, [join(patternsDir, 'ssh-accepted.patterns'), join(patternsDir, 'ssh.patterns')])
      assert.deepEqual(status.patternFiles.map((f) => [f.name, f.path, f.builtIn, f.action]), [
        ['ssh-accepted.patterns', join(patternsDir, 'ssh-accepted.patterns'), false, 'allow'],
        ['ssh.patterns', join(patternsDir, 'ssh.patterns'), false, 'ban'],
      ])

      await writeFile(join(dir, 'control', 'patterns.d', 'ssh.patterns'), SSH_PATTERNS.replace('threshold = 3', 'threshold = 1'))
      assert.deepEqual(await queryDaemon(config.daemon.socket, 'reload'), {ok: true})
      assert.equal(h.packets.runs, 1, 'the packet source was restarted by a reload that did not change it')
      h.files.get('/var/log/test-auth.log')!.push({source: 'file:/var/log/test-auth.log', text: 'Failed password for root from 203.0.113.70 port 1 ssh2'})
      await waitFor(async () => (await blocked(h)).length === 1, {what: 'a ban at the new threshold'})

      await writeFile(join(dir, 'control', 'patterns.d', 'broken.patterns'), 'file = /x\nno ip placeholder here\n')
      const failed = await h.daemon.reload()
      assert.equal(failed.ok, false)
      assert.match(failed.error!, /broken\.patterns:2/)
      assert.match((await h.daemon.status()).config.lastReloadError!, /broken\.patterns:2/)
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - without patterns.d the shipped pattern files are used, and the status marks them built-in', async () => {
    const h = await start('shipped', {shippedPatterns: true})
    try {
      const status = await h.daemon.status()
      assert.ok(status.patternFiles.length > 0)
      for (const f of status.patternFiles) {
        assert.equal(f.builtIn, true, f.name)
        assert.equal(f.path, null, f.name)
      }
      assert.deepEqual(status.patterns, status.patternFiles.map((f) => `built-in:${f.name}`))
      assert.ok(h.log.lines.some((l) => /patterns\.d does not exist: using the shipped pattern files/.test(l.message)))
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - with journald, pattern files naming units read them from journald instead of their log files', async () => {
    const h = await start('journald', {journald: true, shippedPatterns: true})
    try {
      const units = ['dovecot.service', 'postfix.service', 'postfix@.service', 'ssh.service', 'ssh@.service', 'sshd.service', 'sshd@.service']
      // exim4 and nginx name no unit: their files are still followed; the allow file is off by default, and so is
      // postfix-abuse.patterns (level aggressive only), which names the same units as postfix.patterns anyway.
      assert.deepEqual(h.plans.map((p) => [p.files, p.units]),
        [[['/var/log/exim4/mainlog', '/var/log/nginx/access.log', '/var/log/nginx/error.log'], units]])
      const journal = h.files.get(unitsSourceId(units))
      assert.ok(journal, `sources: ${[...h.files.keys()].join(', ')}`)
      const failed = (port: number): LogLine => ({source: 'unit:ssh.service', text: `Failed password for root from 203.0.113.40 port ${port} ssh2`})
      for (let i = 0; i < 5; i++) journal.push(failed(6000 + i))
      const status = await h.daemon.status()
      assert.deepEqual(status.patternFiles.filter((f) => f.journalUnits).map((f) => [f.name, f.journalUnits]), [
        ['dovecot.patterns', ['dovecot.service']], ['openssh-accepted.patterns', ['ssh.service', 'ssh@.service', 'sshd.service', 'sshd@.service']],
        ['openssh.patterns', ['ssh.service', 'ssh@.service', 'sshd.service', 'sshd@.service']],
        ['postfix-abuse.patterns', ['postfix@.service', 'postfix.service']], ['postfix.patterns', ['postfix@.service', 'postfix.service']]])
      await waitFor(async () => (await blocked(h)).length === 1, {what: 'the ban from journald lines'})
      assert.deepEqual(await blocked(h), ['203.0.113.40'])
      // A line in a log file the daemon follows for another pattern file is not read by a file naming units.
      const exim = h.files.get('/var/log/exim4/mainlog')!
      for (let i = 0; i < 5; i++) exim.push({source: 'file:/var/log/auth.log', text: `Failed password for root from 203.0.113.41 port ${7000 + i} ssh2`})
      await waitFor(async () => exim.health().lines === 5, {what: 'the file lines'})
      await waitFor(async () => (await h.daemon.status()).detect.lines >= 10, {what: 'the file lines handled'})
      const {detect} = await h.daemon.status()
      assert.deepEqual([detect.matches, detect.bans], [5, 1])
      assert.deepEqual(await blocked(h), ['203.0.113.40'])
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - without journald, or with service_logs = "files", every pattern file reads its log file', async () => {
    const all = ['/var/log/auth.log', '/var/log/exim4/mainlog', '/var/log/mail.log', '/var/log/nginx/access.log', '/var/log/nginx/error.log']
    for (const [name, journald, serviceLogs] of [['nojournald', false, 'auto'], ['files', true, 'files']] as const) {
      const h = await start(name, {configure: (c) => void (c.detect.service_logs = serviceLogs), journald, shippedPatterns: true})
      try {
        assert.deepEqual(h.plans.map((p) => [p.files, p.units]), [[all, []]], name)
        assert.ok((await h.daemon.status()).patternFiles.every((f) => f.journalUnits === undefined), name)
      } finally {
        await h.daemon.stop()
      }
    }
    const forced = await start('journal', {configure: (c) => void (c.detect.service_logs = 'journal'), shippedPatterns: true})
    try {
      assert.deepEqual(forced.plans[0]!.units, ['dovecot.service', 'postfix.service', 'postfix@.service', 'ssh.service', 'ssh@.service', 'sshd.service', 'sshd@.service'])
    } finally {
      await forced.daemon.stop()
    }
  })

  /** Protected on this host: loopback, own, allow-listed, ignore_ips, SSH peer, private (skip_private). */
  const PROTECTED = ['127.0.0.1', '192.0.2.1', '203.0.113.200', '198.51.100.9', '203.0.113.22', '10.1.2.3']
  const withIgnore = (c: Config): void => {
    c.ignore_ips = [{target: parseTarget('198.51.100.0/24'), text: '198.51.100.0/24'}]
  }
  const allowListed = async (): Promise<MemoryBackend> => {
    const backend = new MemoryBackend()
    backend.add('allow', {comment: 'partner', target: parseTarget('203.0.113.200')})
    await backend.commit()
    return backend
  }
  const remote = (target: string, extra: Partial<WireEntry> = {}): WireEntry => ({origin: 'host-b', tag: 'ssh', target: parseTarget(target), ...extra})

  it('Daemon - a protected address is refused on every path: local detection, remote add, list copy', async () => {
    const transport = new FakeTransport()
    const h = await start('protected', {backend: await allowListed(), configure: withIgnore, transport})
    try {
      assert.equal((await h.daemon.status()).mode, 'nats')
      for (const text of PROTECTED) h.packets.push(packet(text, 23))
      h.packets.push(packet('203.0.113.9', 23))
      await waitFor(async () => (await blocked(h)).length > 0, {what: 'the ban of the real probe'})
      assert.deepEqual(await blocked(h), ['203.0.113.9'])
      assert.equal((await h.daemon.status()).detect.protected, PROTECTED.length)

      for (const text of PROTECTED) await transport.deliverAdd('block', remote(text))
      await transport.deliverAdd('block', remote('203.0.113.10'))
      assert.deepEqual(await blocked(h), ['203.0.113.10', '203.0.113.9'])
      assert.equal((await h.daemon.status()).bans.refused, PROTECTED.length)
      for (const text of PROTECTED) {
        assert.ok(h.log.lines.some((l) => l.message.startsWith(`refused to ban ${text} (ssh, remote host-b): `)), text)
      }

      await transport.deliverCopy('block', [...PROTECTED, '203.0.113.11', '203.0.113.12'].map((t) => remote(t, {ttlSec: 3600})))
      assert.deepEqual(await blocked(h), ['203.0.113.11', '203.0.113.12'])
      assert.equal((await h.daemon.status()).bans.refused, 2 * PROTECTED.length)

      // Only this host's own detection is published, in wire terms; remote reports are not echoed.
      assert.deepEqual(transport.published, [{entry: {tag: 'port-scan 23/tcp', target: parseAddress('203.0.113.9'), ttlSec: 86_400}, list: 'block', op: 'add'}])
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - a remote ban is counted, listed in the last bans, and its connections are cut', async () => {
    const transport = new FakeTransport()
    const kills = recordingExec((call) => (call.program === 'ss' ? {stdout: 'ESTAB 0 0 192.0.2.1:443 203.0.113.40:5000\n'} : undefined))
    const h = await start('remote-ban', {configure: (c) => (c.firewall.kill_connections = true), exec: kills.exec, transport})
    try {
      await transport.deliverAdd('block', remote('203.0.113.40', {ttlSec: 600}))
      const [entry] = await h.backend.list('block')
      assert.equal(entry!.target.text, '203.0.113.40')
      assert.ok(entry!.ttlSec! <= 600 && entry!.ttlSec! > 590, `ttl ${entry!.ttlSec}`)
      await waitFor(() => kills.calls.some((c) => line(c) === 'ss --no-header --numeric --tcp --kill dst 203.0.113.40'), {what: 'the kill'})
      await waitFor(() => h.daemon.status().then((s) => s.killed.sockets === 1), {what: 'the kill count'})
      const status = await h.daemon.status()
      assert.equal(status.bans.total, 1)
      assert.deepEqual(status.bans.byReason, {ssh: 1})
      assert.deepEqual(status.lastBans.map((b) => [b.target, b.reason, b.source, b.ttlSec]), [['203.0.113.40', 'ssh', 'remote host-b', 600]])
      // Not this host's own ban: the hourly statistics do not count it.
      assert.equal(status.bans.own, 0)
      assert.deepEqual(await h.daemon.statistics(), {bans: 0})
      assert.ok(h.log.lines.some((l) => l.message === 'ban 203.0.113.40: ssh (remote host-b), 10m'), JSON.stringify(h.log.lines))
      assert.deepEqual(transport.published, [])
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - remote deletes remove entries; a remote allow protects; a list copy loads N entries in one replace()', async () => {
    const transport = new FakeTransport()
    const backend = new MemoryBackend()
    const replaced: Array<{list: string; n: number}> = []
    const replace = backend.replace.bind(backend)
    backend.replace = async (list, entries) => {
      const all: SetEntry[] = []
      for await (const item of entries) forEachOf(item, (entry) => all.push(entry))
      replaced.push({list, n: all.length})
      return replace(list, all)
    }
    const h = await start('remote-del', {backend, transport})
    try {
      await transport.deliverAdd('block', remote('203.0.113.41'))
      assert.deepEqual(await blocked(h), ['203.0.113.41'])
      await transport.deliverDel('block', remote('203.0.113.41'))
      assert.deepEqual(await blocked(h), [])

      await transport.deliverAdd('allow', remote('198.18.0.0/15', {comment: 'lab'}))
      assert.deepEqual((await h.backend.list('allow')).map((e) => [e.target.text, e.comment]), [['198.18.0.0/15', 'lab']])
      h.packets.push(packet('198.18.0.5', 23))
      h.packets.push(packet('203.0.113.42', 23))
      await waitFor(async () => (await blocked(h)).length > 0, {what: 'the ban of the real probe'})
      assert.deepEqual(await blocked(h), ['203.0.113.42'])
      await transport.deliverDel('allow', remote('198.18.0.0/15'))
      assert.deepEqual(await h.backend.list('allow'), [])

      await transport.deliverCopy('block', Array.from({length: 1000}, (_, i) => remote(`45.${i >> 8}.${i & 255}.1`, {ttlSec: 3600})))
      assert.deepEqual(replaced, [{list: 'block', n: 1000}])
      assert.equal(await h.backend.count('block'), 1000)
      assert.equal((await h.daemon.status()).bans.total, 2, 'a list copy is no stream of single bans (2: .41 remote, .42 local)')

      // A copy the kernel did not take: the transport hears of it (its init status says so), the set stays.
      backend.replace = async () => {
        throw new Error('ipset v7.17: Error in line 3: Kernel error received: set is full')
      }
      await assert.rejects(transport.deliverCopy('block', [remote('45.9.9.9')]), /set is full/)
      assert.equal(await h.backend.count('block'), 1000)
      assert.ok(h.log.lines.some((l) => l.level === 'error' && /loading the copy of the block list failed, keeping the current one/.test(l.message)))
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - transport events are logged; a transport that gives up leaves the daemon running', async () => {
    const transport = new FakeTransport()
    const h = await start('transport-events', {transport})
    try {
      transport.emit({type: 'disconnected', server: 'nats://127.0.0.1:4222'})
      transport.emit({type: 'reconnecting'})
      await waitFor(() => h.log.lines.some((l) => l.message === 'transport reconnecting'), {what: 'the events'})
      assert.ok(h.log.lines.some((l) => l.level === 'warning' && l.message === 'transport disconnected (nats://127.0.0.1:4222)'))
      transport.fail(new Error('no servers left'))
      await waitFor(() => h.log.lines.some((l) => l.level === 'error' && l.message.startsWith('transport closed: no servers left')), {what: 'the close'})
      h.packets.push(packet('203.0.113.43', 23))
      await waitFor(async () => (await blocked(h)).length === 1, {what: 'a ban after the transport closed'})
    } finally {
      await h.daemon.stop()
    }
  })

  it('Daemon - the snapshot restore leaves protected bans out with one warning; the rest and the allow entries come back', async () => {
    const saved = new MemoryBackend()
    for (const text of ['127.0.0.1', '10.1.2.3', '224.0.0.5', '192.0.2.1', '203.0.113.60', '2001:db8:9::/64']) {
      saved.add('block', {target: parseTarget(text), ttlSec: 3600})
    }
    saved.add('allow', {comment: 'office', target: parseTarget('198.51.100.0/24')})
    await saved.commit()
    await saveSnapshot(snapshotPath(join(dir, 'snapshot-screen', 'state')), saved)

    const h = await start('snapshot-screen')
    try {
      assert.deepEqual(await blocked(h), ['2001:db8:9::/64', '203.0.113.60'])
      assert.deepEqual((await h.backend.list('allow')).map((e) => e.target.text), ['198.51.100.0/24'])
      const warnings = h.log.lines.filter((l) => l.message.startsWith('left '))
      assert.equal(warnings.length, 1, JSON.stringify(h.log.lines))
      assert.match(warnings[0]!.message, /^left 4 protected entries out of .*snapshot.*: 127\.0\.0\.1 \(loopback address/)
      const status = await h.daemon.status()
      assert.equal(status.snapshot.loaded, 3)
      assert.equal(status.bans.refused, 4)
      // The restored allow entry protects at once.
      h.packets.push(packet('198.51.100.9', 23))
      h.packets.push(packet('203.0.113.61', 23))
      await waitFor(async () => (await blocked(h)).includes('203.0.113.61'), {what: 'the ban of the real probe'})
      assert.ok(!(await blocked(h)).includes('198.51.100.9'))
    } finally {
      await h.daemon.stop()
    }
  })
})
