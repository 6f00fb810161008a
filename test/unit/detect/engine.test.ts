import assert from 'node:assert/strict'
import {test} from 'node:test'

import type {Config} from '../../../src/lib/config/index.js'
import {DetectEngine, parsePatternFile, shippedPatternFiles} from '../../../src/lib/detect/index.js'
import type {DetectEngineOptions, DetectEvent, LogLine} from '../../../src/lib/detect/index.js'
import {NetworkList, parseAddress, parseNetwork, parseTarget} from '../../../src/lib/net/index.js'
import {configWith, fixtureLines} from './helpers.js'

const a = parseAddress
const n = parseNetwork
const T0 = 1_714_550_400_000 // 2024-05-01T08:00:00Z

/** An engine on a fake clock; `clock.t` moves time. */
function setup(options: Partial<DetectEngineOptions> = {}, detect: Partial<Config['detect']> = {}, config?: Config) {
  const clock = {t: T0}
  const engine = new DetectEngine({config: config ?? configWith(detect), now: () => clock.t, ...options})
  const feed = (lines: LogLine[]): DetectEvent[] => lines.flatMap((l) => engine.handleLine(l) ?? [])
  return {clock, engine, feed}
}

/** A /dev/kmsg record of a logged packet. */
function kmsg(src: string, dpt?: number, proto = 'TCP'): LogLine {
  const ports = dpt === undefined ? 'TYPE=8 CODE=0 ID=1 SEQ=1' : `SPT=40000 DPT=${dpt} WINDOW=1024 RES=0x00 SYN URGP=0`
  return {source: 'kmsg', text: `6,100,200,-;diswall-log: IN=eth0 OUT= SRC=${src} DST=198.51.100.1 LEN=60 TTL=50 ID=1 PROTO=${proto} ${ports}`}
}

const sshd = (text: string, source = 'journal:sshd'): LogLine => ({source, text})
const failed = (ip: string, source?: string): LogLine => sshd(`Failed password for root from ${ip} port 40000 ssh2`, source)
const ban = (target: string, address: string, reason: string, source: string, extra: object = {}) => ({
  address: a(address), kind: 'ban', reason, source, target: target.includes('/') ? n(target) : a(target), ttlSec: 86_400, ...extra,
})

test('engine - a probe of a closed port below ephemeral_port_min bans on the first packet', () => {
  const {engine, feed} = setup()
  assert.deepEqual(feed([kmsg('203.0.113.7', 23)]), [ban('203.0.113.7', '203.0.113.7', 'port-scan 23/tcp', 'kmsg', {port: 23, proto: 'tcp'})])
  assert.deepEqual(feed([kmsg('203.0.113.8', 5060, 'UDP'), kmsg('203.0.113.9', 49_151)]), [
    ban('203.0.113.8', '203.0.113.8', 'port-scan 5060/udp', 'kmsg', {port: 5060, proto: 'udp'}),
    ban('203.0.113.9', '203.0.113.9', 'port-scan 49151/tcp', 'kmsg', {port: 49_151, proto: 'tcp'}),
  ])
  assert.deepEqual({...engine.stats}, {allows: 0, badAddresses: 0, bans: 3, duplicates: 0, lines: 3, longLines: 0, matches: 0,
    openPorts: 0, packets: 3, pending: 0, portless: 0, protected: 0, slowLines: 0, echoes: 0, refusedAllows: 0, unattributed: 0})
})

test('engine - ephemeral ports need ephemeral_hits packets within ephemeral_window', () => {
  const {clock, feed, engine} = setup({}, {ephemeral_hits: 3, ephemeral_window: 3600})
  assert.deepEqual(feed([kmsg('198.51.100.81', 51_502), kmsg('198.51.100.81', 51_503)]), [])
  clock.t += 3_600_000 // the first two hits leave the window
  assert.deepEqual(feed([kmsg('198.51.100.81', 51_504), kmsg('198.51.100.81', 60_000)]), [])
  clock.t += 1000
  assert.deepEqual(feed([kmsg('198.51.100.81', 65_535)]),
    [ban('198.51.100.81', '198.51.100.81', 'port-scan 65535/tcp', 'kmsg', {port: 65_535, proto: 'tcp'})])
  assert.equal(engine.stats.pending, 4)
  // a lower ephemeral_port_min makes more ports count instead of ban; well-known ports still ban at once
  const low = setup({}, {ephemeral_port_min: 32_768})
  assert.deepEqual(low.feed([kmsg('203.0.113.1', 40_000)]), [])
  assert.deepEqual(low.feed([kmsg('203.0.113.2', 9200)]).map((e) => e.kind), ['ban'])
})

test('engine - open ports and packets without a port never ban', () => {
  const open = new Set(['tcp/443', 'udp/51820'])
  const {feed, engine} = setup({isOpenPort: (proto, port) => open.has(`${proto}/${port}`)})
  assert.deepEqual(feed([kmsg('203.0.113.91', 443), kmsg('203.0.113.91', 51_820, 'UDP'), kmsg('203.0.113.91'),
    kmsg('203.0.113.91', undefined, 'ICMPv6'), kmsg('203.0.113.91', undefined, '47')]), [])
  assert.equal(engine.stats.openPorts, 2)
  assert.equal(engine.stats.portless, 3)
  assert.deepEqual(feed([kmsg('203.0.113.91', 443, 'UDP')]).length, 1) // 443/udp is closed
})

test('engine - protected addresses never produce a request, on every path', () => {
  const allow = new NetworkList([parseTarget('198.51.100.200/29')])
  const options: Partial<DetectEngineOptions> = {
    neverBan: {
      ignore: new NetworkList([parseTarget('203.0.113.250')]),
      lists: [{label: 'in the allow list', list: allow}, {label: 'the NATS server', list: new NetworkList([a('198.51.100.9')])}],
      own: new NetworkList([a('198.51.100.1'), a('2001:db8::1')]),
    },
    patterns: shippedPatternFiles(['openssh.patterns']).map((f) => ({...f, threshold: 1})),
  }
  const config = configWith({}, {}, [{target: parseTarget('192.0.2.0/24'), text: '192.0.2.0/24'}])
  const {feed, engine} = setup(options, {}, config)
  const protectedOnes = ['127.0.0.1', '::1', '169.254.1.1', 'fe80::1', '0.0.0.0', '224.0.0.1', '10.1.2.3', '192.168.1.20', '100.64.0.1',
    'fd00::1', '192.0.2.55', '203.0.113.250', '198.51.100.1', '2001:db8::1', '198.51.100.201', '198.51.100.9']
  const lines = protectedOnes.flatMap((ip) => [kmsg(ip, 23), failed(ip), {source: 'pipe', text: `${ip}|waf`}, {source: 'pipe', text: `${ip} TCP 22`}])
  assert.deepEqual(feed(lines), [])
  assert.equal(engine.stats.protected, protectedOnes.length * 4)
  // the lists are read on every decision: the daemon may change them in place
  allow.delete(parseTarget('198.51.100.200/29'))
  assert.equal(feed([kmsg('198.51.100.201', 23)]).length, 1)
  options.neverBan!.ignore!.add(a('203.0.113.251'))
  assert.equal(feed([kmsg('203.0.113.251', 23)]).length, 0)
  // skip_private = false: private ranges are fair game, loopback never
  const priv = setup({}, {skip_private: false})
  assert.deepEqual(priv.feed([kmsg('192.168.1.20', 25), kmsg('127.0.0.1', 25)]).map((e) => e.kind === 'ban' && e.target.text), ['192.168.1.20'])
})

test('engine - IPv6 offenders are counted and banned by their /64', () => {
  const {feed, engine} = setup({}, {ephemeral_hits: 2})
  assert.deepEqual(feed([kmsg('2001:db8:bad::7', 50_000), kmsg('2001:db8:bad::8', 50_001)]),
    [ban('2001:db8:bad::/64', '2001:db8:bad::8', 'port-scan 50001/tcp', 'kmsg', {port: 50_001, proto: 'tcp'})])
  // the group is banned: other members are duplicates
  assert.deepEqual(feed([kmsg('2001:db8:bad::9', 22), kmsg('2001:0db8:0bad:0000:ffff:0000:0000:0001', 22)]), [])
  assert.equal(engine.stats.duplicates, 2)
  // other prefixes, and none
  const g48 = setup({}, {ipv6_group_prefix: 48})
  assert.deepEqual(g48.feed([kmsg('2001:db8:bad:1::7', 22)]).map((e) => e.kind === 'ban' && e.target.text), ['2001:db8:bad::/48'])
  const single = setup({}, {ipv6_group_prefix: 128})
  assert.deepEqual(single.feed([kmsg('2001:db8:bad::7', 22), kmsg('2001:db8:bad::8', 22)]).map((e) => e.kind === 'ban' && e.target.text),
    ['2001:db8:bad::7', '2001:db8:bad::8'])
})

test('engine - a group holding a protected address bans the offender alone; NAT64 addresses are not grouped', () => {
  const {feed} = setup({neverBan: {own: new NetworkList([a('2001:db8:1::1')]),
    lists: [{label: 'in the allow list', list: new NetworkList([parseTarget('2001:db8:2:0:8000::/65')])}]}})
  assert.deepEqual(feed([kmsg('2001:db8:1::66', 22), kmsg('2001:db8:2::66', 22), kmsg('2001:db8:3::66', 22), kmsg('64:ff9b::203.0.113.7', 22)])
    .map((e) => e.kind === 'ban' && e.target.text), ['2001:db8:1::66', '2001:db8:2::66', '2001:db8:3::/64', '64:ff9b::cb00:7107'])
})

test('engine - a flood of lines about one address yields one ban per dedup_ttl', () => {
  const {clock, feed, engine} = setup({}, {dedup_ttl: 60})
  const flood = Array.from({length: 10_000}, (_, i) => kmsg('203.0.113.7', 1 + (i % 1000)))
  assert.equal(feed(flood).length, 1)
  assert.equal(engine.stats.duplicates, 9999)
  clock.t += 59_999
  assert.equal(feed([kmsg('203.0.113.7', 23)]).length, 0)
  clock.t += 1
  assert.equal(feed([kmsg('203.0.113.7', 23)]).length, 1) // a lost ban is requested again after the TTL
  assert.equal(engine.tracked().dedupKeys, 1)
})

test('engine - pattern files ban after threshold matches within their window, with their tag and ban time', () => {
  const patterns = [parsePatternFile('file = /var/log/auth.log\nident = sshd\nthreshold = 3\nwindow = 1m\nban = 2h\ntag = ssh-brute\n' +
    'Failed password for .* from __IP__ port \\d+ ssh2$\nFailed .* from __IP__ port \\d+ ssh2$', '/p/ssh.patterns')]
  const {clock, feed, engine} = setup({patterns})
  assert.deepEqual(feed([failed('203.0.113.7'), failed('203.0.113.7')]), []) // one line matching two regexes counts once
  clock.t += 60_000
  assert.deepEqual(feed([failed('203.0.113.7'), failed('203.0.113.7')]), [])
  clock.t += 1
  assert.deepEqual(feed([failed('203.0.113.7', '/var/log/auth.log')]),
    [{...ban('203.0.113.7', '203.0.113.7', 'ssh-brute', '/var/log/auth.log'), ttlSec: 7200}])
  assert.deepEqual([engine.stats.matches, engine.stats.pending, engine.stats.bans], [5, 4, 1])
  // other sources: an ident that is not listed, another file, the kernel log
  assert.deepEqual(feed([failed('203.0.113.8', 'journal:cron'), failed('203.0.113.8', '/var/log/syslog'), failed('203.0.113.8', 'kmsg')]), [])
  assert.equal(engine.stats.matches, 5)
})

test('engine - unit:NAME lines of journald services are read by the pattern files naming the unit', () => {
  const {feed, engine} = setup({patterns: shippedPatternFiles()})
  const five = (ip: string, source: string): LogLine[] => Array.from({length: 5}, () => failed(ip, source))
  assert.deepEqual(feed(five('203.0.113.7', 'unit:ssh.service')).map((e) => [e.kind, e.kind === 'ban' && e.reason, e.source]),
    [['ban', 'ssh', 'unit:ssh.service']])
  // the same text from a unit no shipped file names, or from postfix's unit, is matched by nothing
  assert.deepEqual(feed([...five('203.0.113.8', 'unit:cron.service'), ...five('203.0.113.8', 'unit:postfix@-.service')]), [])
  assert.equal(engine.stats.matches, 5)
  const sasl = 'warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6'
  assert.deepEqual(feed(Array.from({length: 5}, () => ({source: 'unit:postfix@-.service', text: sasl}))).map((e) => e.kind === 'ban' && e.reason),
    ['smtp'])
})

test('engine - with journalUnits, files naming units read only unit:NAME lines, not their log file or journal:IDENT', () => {
  const {feed, engine} = setup({journalUnits: true, patterns: shippedPatternFiles(['openssh.patterns', 'nginx.patterns'])})
  const five = (ip: string, source: string): LogLine[] => Array.from({length: 5}, () => failed(ip, source))
  assert.deepEqual(feed([...five('203.0.113.7', 'file:/var/log/auth.log'), ...five('203.0.113.7', '/var/log/auth.log'),
    ...five('203.0.113.7', 'journal:sshd'), ...five('203.0.113.7', 'journal')]), [])
  assert.equal(engine.stats.matches, 0)
  assert.deepEqual(feed(five('203.0.113.8', 'unit:sshd.service')).map((e) => e.source), ['unit:sshd.service'])
  // a file without units still reads its log file
  const probe = {source: 'file:/var/log/nginx/access.log', text: '203.0.113.9 - - [01/May/2024:12:00:00 +0000] "GET /.env HTTP/1.1" 404 153 "-" "x"'}
  assert.deepEqual(feed(Array.from({length: 5}, () => probe)).map((e) => e.kind === 'ban' && e.reason), ['http'])
})

test('engine - the first pattern file that fires on a line wins; files count separately', () => {
  const file = (name: string, threshold: number) => parsePatternFile(`file = /l\nthreshold = ${threshold}\ntag = ${name}\n^hit __IP__$`, `/p/${name}.patterns`)
  const {feed} = setup({patterns: [file('a', 2), file('b', 1)]})
  const line = {source: '/l', text: 'hit 203.0.113.7'}
  assert.deepEqual(feed([line]).map((e) => e.kind === 'ban' && e.reason), ['b'])
  const other = setup({patterns: [file('a', 1), file('b', 1)]})
  assert.deepEqual(other.feed([line, line]).map((e) => e.kind === 'ban' && e.reason), ['a'])
})

test('engine - successful logins yield allow requests and clear the evidence against the address', () => {
  const patterns = shippedPatternFiles(['openssh.patterns', 'openssh-accepted.patterns'])
  const {feed, engine} = setup({patterns}, {auto_allow_from_logs: true, auto_allow_ttl: 691_200})
  const accepted = sshd('Accepted publickey for root from 203.0.113.7 port 52000 ssh2: ED25519 SHA256:3q2Lr1x9Y0cQm4c8sQ7rV3l0Yb1ZkFf2mN6pQ8tW4uI')
  assert.deepEqual(feed([failed('203.0.113.7'), failed('203.0.113.7'), failed('203.0.113.7'), failed('203.0.113.7'), accepted]),
    [{address: a('203.0.113.7'), comment: 'ssh login root', kind: 'allow', source: 'journal:sshd', ttlSec: 691_200}])
  assert.deepEqual(feed([accepted]), []) // de-duplicated
  assert.deepEqual(feed([failed('203.0.113.7')]), []) // counting starts over: 1 of 5
  assert.deepEqual(feed([sshd('Accepted password for d|r`o$p.x from 2001:db8:cafe::10 port 1 ssh2')]),
    [{address: a('2001:db8:cafe::10'), comment: 'ssh login d_r_o_p.x', kind: 'allow', source: 'journal:sshd', ttlSec: 691_200}])
  assert.deepEqual(feed([sshd('Accepted password for root from 127.0.0.1 port 1 ssh2')]), [])
  assert.deepEqual([engine.stats.allows, engine.stats.duplicates, engine.stats.protected], [2, 1, 1])
  const off = setup({patterns}, {auto_allow: false, auto_allow_from_logs: true})
  assert.deepEqual(off.feed([accepted]), [])
  // By default a log line never allows: any local user can write one (`logger -t sshd …`); wtmp is the source.
  const byDefault = setup({patterns})
  assert.deepEqual(byDefault.feed([accepted]), [])
  assert.equal(byDefault.engine.stats.allows, 0)
  // "Accepted" lines of unknown origin (a local user's logger) do not allow anybody
  assert.deepEqual(setup({patterns}).feed([{source: 'journal', text: accepted.text}, {source: 'journal:alice', text: accepted.text}]), [])
})

test('engine - kernel packet lines are believed only from kernel sources', () => {
  const {feed, engine} = setup({patterns: shippedPatternFiles()})
  const line = kmsg('203.0.113.7', 22).text.slice('6,100,200,-;'.length)
  assert.deepEqual(feed([{source: 'journal:sshd', text: line}, {source: 'journal:alice', text: line}, {source: '/var/log/auth.log', text: line},
    {source: 'journal:kernel', text: `x ${line}`}]), [])
  assert.equal(engine.stats.packets, 0)
  assert.deepEqual(feed([{source: 'journal', text: line}]).map((e) => e.source), ['journal'])
  assert.deepEqual(feed([{source: 'journal:kernel', text: line.replace('203.0.113.7', '203.0.113.8')}]).map((e) => e.source), ['journal:kernel'])
  const custom = setup({kernelSources: ['/var/log/kern.log']})
  assert.deepEqual(custom.feed([{source: '/var/log/kern.log', text: `May  1 12:00:00 web1 kernel: ${line}`}, kmsg('203.0.113.9', 22)]).length, 1)
})

test('engine - pipe lines: "IP PROTO PORT" follows the port policy, "IP|TAG" bans at once', () => {
  const {feed} = setup()
  assert.deepEqual(feed([
    {source: 'pipe', text: '203.0.113.7 TCP 23'},
    {source: 'pipe', text: '203.0.113.8 TCP 50000'},
    {source: 'pipe', text: '203.0.113.9 ICMP'},
    {source: 'pipe', text: '203.0.113.10|http'},
    {source: 'pipe', text: '203.0.113.11'},
    {source: 'pipe', text: 'garbage'},
    {source: 'pipe', text: '203.0.113.12|a|b'},
  ]), [
    ban('203.0.113.7', '203.0.113.7', 'port-scan 23/tcp', 'pipe', {port: 23, proto: 'tcp'}),
    ban('203.0.113.10', '203.0.113.10', 'http', 'pipe'),
    ban('203.0.113.11', '203.0.113.11', 'pipe', 'pipe'),
  ])
})

test('engine - the kmsg fixture end to end', () => {
  const {feed, engine} = setup({isOpenPort: (proto, port) => proto === 'tcp' && port === 443})
  const events = feed(fixtureLines('kmsg.log').map((text) => ({source: 'kmsg', text})))
  assert.deepEqual(events, [
    ban('203.0.113.7', '203.0.113.7', 'port-scan 23/tcp', 'kmsg', {port: 23, proto: 'tcp'}),
    ban('198.51.100.81', '198.51.100.81', 'port-scan 51504/tcp', 'kmsg', {port: 51_504, proto: 'tcp'}),
    ban('2001:db8:bad::/64', '2001:db8:bad::7', 'port-scan 22/tcp', 'kmsg', {port: 22, proto: 'tcp'}),
    ban('203.0.113.90', '203.0.113.90', 'port-scan 161/udp', 'kmsg', {port: 161, proto: 'udp'}),
  ])
  assert.deepEqual({...engine.stats}, {allows: 0, badAddresses: 0, bans: 4, duplicates: 2, lines: 14, longLines: 0, matches: 0,
    openPorts: 1, packets: 12, pending: 2, portless: 2, protected: 1, slowLines: 0, echoes: 0, refusedAllows: 0, unattributed: 0})
})

test('engine - the auth.log fixture end to end with the shipped sshd files', () => {
  const {feed, engine} = setup({patterns: shippedPatternFiles(['openssh.patterns', 'openssh-accepted.patterns'])}, {auto_allow_from_logs: true})
  const events = feed(fixtureLines('auth.log').map((text) => ({source: '/var/log/auth.log', text})))
  const allow = (ip: string, user: string) => ({address: a(ip), comment: `ssh login ${user}`, kind: 'allow', source: '/var/log/auth.log', ttlSec: 691_200})
  // 203.0.113.7 makes one attempt (lines 3-7: "Invalid user", the PAM line and "Failed password" count once) and
  // closes a connection before authenticating (line 17: level aggressive): far from the threshold of 5.
  assert.deepEqual(events, [allow('198.51.100.50', 'deploy'), allow('198.51.100.61', 'alice')])
  assert.deepEqual([engine.stats.matches, engine.stats.pending, engine.stats.echoes, engine.stats.bans, engine.stats.allows], [17, 9, 6, 0, 2])
  const aggressive = setup({patterns: shippedPatternFiles(['openssh.patterns'])}, {level: 'aggressive'})
  aggressive.feed(fixtureLines('auth.log').map((text) => ({source: '/var/log/auth.log', text})))
  assert.deepEqual([aggressive.engine.stats.matches, aggressive.engine.stats.pending, aggressive.engine.stats.bans], [21, 15, 0])
})

test('engine - matches that are not addresses and over-long lines are counted and dropped', () => {
  const {feed, engine} = setup({maxLineLength: 200, patterns: shippedPatternFiles(['openssh.patterns']).map((f) => ({...f, threshold: 1}))})
  assert.deepEqual(feed([
    sshd('pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=cafe.de  user=root'),
    sshd(`Invalid user ${'x'.repeat(200)} from 203.0.113.7 port 1`),
    {source: 'journal:sshd', text: undefined as unknown as string},
    {source: undefined as unknown as string, text: 'x'},
  ]), [])
  assert.deepEqual([engine.stats.badAddresses, engine.stats.longLines, engine.stats.lines], [1, 1, 4])
})

test('engine - memory stays bounded by maxTracked and dedup_max', () => {
  const {feed, engine} = setup({maxTracked: 1000}, {dedup_max: 100})
  const probes: LogLine[] = []
  for (let i = 0; i < 20_000; i++) probes.push(kmsg(`203.0.${(i >> 8) & 255}.${i & 255}`, 50_000))
  assert.deepEqual(feed(probes), [])
  for (let i = 0; i < 1000; i++) feed([kmsg(`198.51.${(i >> 8) & 255}.${i & 255}`, 22)])
  assert.deepEqual(engine.tracked(), {counterKeys: 1000, dedupKeys: 100, evicted: 19_000 + 900})
})

test('engine - reload keeps de-duplication, stats and unchanged counters', () => {
  const sshFile = (threshold: number) => parsePatternFile(`file = /var/log/auth.log\nthreshold = ${threshold}\ntag = ssh\nFailed .* from __IP__ port \\d+ ssh2$`, '/p/ssh.patterns')
  const {feed, engine} = setup({patterns: [sshFile(3)]})
  assert.equal(feed([kmsg('203.0.113.7', 23)]).length, 1)
  assert.deepEqual(feed([failed('203.0.113.8'), failed('203.0.113.8')]), [])
  const options = (threshold: number): DetectEngineOptions => ({config: configWith(), now: () => T0, patterns: [sshFile(threshold)]})
  engine.reload(options(3))
  assert.equal(feed([kmsg('203.0.113.7', 23)]).length, 0) // still de-duplicated
  assert.equal(feed([failed('203.0.113.8')]).length, 1) // the count went on: 3rd hit
  assert.deepEqual(feed([failed('203.0.113.9'), failed('203.0.113.9')]), [])
  engine.reload(options(4))
  assert.deepEqual(feed([failed('203.0.113.9'), failed('203.0.113.9'), failed('203.0.113.9')]), []) // new threshold, new count
  assert.equal(feed([failed('203.0.113.9')]).length, 1)
  assert.equal(engine.stats.lines, 11)
  engine.reload({...options(4), config: configWith({log_prefix: 'fw: '})})
  assert.deepEqual(feed([kmsg('203.0.113.10', 23)]), [])
  assert.equal(feed([{source: 'kmsg', text: '6,1,2,-;fw: SRC=203.0.113.10 PROTO=TCP DPT=23'}]).length, 1)
})

test('engine - detect() turns a stream of lines into a stream of requests', async () => {
  const {engine} = setup({patterns: shippedPatternFiles(['openssh-accepted.patterns'])}, {auto_allow_from_logs: true})
  async function* lines(): AsyncGenerator<LogLine> {
    yield kmsg('203.0.113.7', 23)
    yield {source: 'kmsg', text: 'noise'}
    yield sshd('Accepted password for alice from 198.51.100.61 port 61000 ssh2')
    yield kmsg('203.0.113.7', 24)
  }
  const out: DetectEvent[] = []
  for await (const event of engine.detect(lines())) out.push(event)
  assert.deepEqual(out.map((e) => `${e.kind} ${e.address.text}`), ['ban 203.0.113.7', 'allow 198.51.100.61'])
})
