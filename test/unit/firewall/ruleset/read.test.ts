import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {after, before, test} from 'node:test'

import type {Rule, RulesetModel} from '../../../../src/lib/firewall/ruleset/model.js'
import {
  isFirewallDisabled,
  parseListFileName,
  parseListPorts,
  readRuleset,
  resolveRuleName,
  RulesetError,
} from '../../../../src/lib/firewall/ruleset/read.js'
import type {ReadRulesetOptions, RulesetProblem} from '../../../../src/lib/firewall/ruleset/read.js'
import {
  isHostname,
  isIgnoredName,
  parsePortOrRange,
  parseRuleFileName,
  readPeerLines,
  sortByteOrder,
} from '../../../../src/lib/firewall/ruleset/resolve.js'
import type {ResolveHost} from '../../../../src/lib/firewall/ruleset/resolve.js'
import {parseServices} from '../../../../src/lib/firewall/ruleset/services.js'
import {parseUserTemplate} from '../../../../src/lib/firewall/ruleset/user-template.js'
import {parseAddress, parseNetwork} from '../../../../src/lib/net/index.js'

const SERVICES = parseServices([
  'ssh 22/tcp', 'domain 53/tcp', 'domain 53/udp', 'ntp 123/udp', 'https 443/tcp', 'https 443/udp',
  'mysql 3306/tcp', 'ftp 21/tcp', 'imap2 143/tcp imap',
].join('\n'))

const HOSTS: Record<string, string[]> = {
  'both.example': ['192.0.2.10', '2001:db8::10'],
  'office.example': ['198.51.100.7'],
  'same.example': ['192.0.2.10'],
}

const resolveHost: ResolveHost = async (name) => {
  const found = HOSTS[name]
  if (found === undefined) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${name}`), {code: 'ENOTFOUND'})
  return found.map((a) => parseAddress(a))
}

let root: string
let count = 0
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'diswall-ruleset-'))
})
after(async () => {
  await rm(root, {force: true, recursive: true})
})

type Entry = string | {content?: string; mode?: number; dir?: true; link?: string}

/** Creates a fresh firewall directory (with an empty incoming.d/ unless told not to) with the given files. */
async function makeFirewallDir(files: Record<string, Entry>, {incoming = true} = {}): Promise<string> {
  const dir = join(root, `fw-${++count}`)
  await mkdir(dir)
  if (incoming) await mkdir(join(dir, 'incoming.d'))
  for (const [path, entry] of Object.entries(files)) {
    const full = join(dir, path)
    await mkdir(dirname(full), {recursive: true})
    if (typeof entry === 'string') await writeFile(full, entry)
    else if (entry.dir) await mkdir(full, {recursive: true})
    else if (entry.link !== undefined) await symlink(entry.link, full)
    else await writeFile(full, entry.content ?? '', {mode: entry.mode ?? 0o644})
  }
  return dir
}

function read(dir: string, options: ReadRulesetOptions = {}): Promise<RulesetModel> {
  return readRuleset(dir, {resolveHost, services: SERVICES, ...options})
}

/** Asserts a RulesetError with exactly these `file:line: reason` lines (paths relative to `dir`) and first hint. */
async function assertRejects(promise: Promise<unknown>, dir: string, lines: string[], hint?: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof RulesetError, String(error))
    assert.equal(error.message, lines.map((l) => (l.startsWith('/') ? l : join(dir, l))).join('\n'))
    assert.equal(error.problems.length, lines.length)
    assert.equal(error.code, 'E_RULESET')
    assert.equal(error.exitCode, 3)
    if (hint !== undefined) assert.ok(error.hint?.includes(hint), `hint ${String(error.hint)} lacks ${hint}`)
    return true
  })
}

const net = parseNetwork

// ---- file names ----

test('ruleset names - byte order puts 100-x before 20-x', () => {
  assert.deepEqual(sortByteOrder(['20-e', '9-f', '100-d', '05-a', '-http', '07-b', '10-c', 'B', 'a']),
    ['-http', '05-a', '07-b', '10-c', '100-d', '20-e', '9-f', 'B', 'a'])
})

test('ruleset names - dotfiles, backups and dpkg leftovers are ignored', () => {
  for (const name of ['.hidden', '.10-ssh.swp', '10-ssh~', '10-ssh.bak', '10-ssh.dpkg-old', '10-ssh.dpkg-dist', '10-ssh.dpkg-new']) {
    assert.equal(isIgnoredName(name), true, name)
  }
  for (const name of ['10-ssh', 'bak', '10-backup', '192.0.2.7.auto']) assert.equal(isIgnoredName(name), false, name)
})

test('ruleset names - NN-NAME with optional digits and protocol suffix', () => {
  assert.deepEqual(parseRuleFileName('00-syn-ack-flood-protection'), {base: 'syn-ack-flood-protection', name: 'syn-ack-flood-protection', order: '00'})
  assert.deepEqual(parseRuleFileName('-http'), {base: 'http', name: 'http', order: ''})
  assert.deepEqual(parseRuleFileName('10-ssh.tcp'), {base: 'ssh', name: 'ssh.tcp', order: '10', proto: 'tcp'})
  assert.deepEqual(parseRuleFileName('10-5000:5010.udp'), {base: '5000:5010', name: '5000:5010.udp', order: '10', proto: 'udp'})
  assert.equal(parseRuleFileName('ssh'), undefined)
  assert.equal(parseRuleFileName('10-'), undefined)
  assert.equal(parseRuleFileName('a1-ssh'), undefined)
})

test('ruleset names - ports and ranges', () => {
  assert.equal(parsePortOrRange('22'), '22')
  assert.equal(parsePortOrRange('5000:5010'), '5000:5010')
  assert.equal(parsePortOrRange('80:80'), '80')
  assert.throws(() => parsePortOrRange('5010:5000'), /"5010:5000" is not a valid port range: 5010 is above 5000/)
  assert.throws(() => parsePortOrRange('1:70000'), /"1:70000" is not a valid port range: "70000" is not a valid port/)
  assert.throws(() => parsePortOrRange('022'), /"022" is not a valid port: it has a leading zero/)
})

test('ruleset names - host names', () => {
  for (const name of ['localhost', 'mail.example.com', 'mail.example.com.', 'a-b.c1', 'cafe']) assert.equal(isHostname(name), true, name)
  for (const name of ['192.0.2.1', '1.2.3.256', '-bad.example', 'under_score.example', 'a..b', '2001:db8::1', 'x'.repeat(64)]) {
    assert.equal(isHostname(name), false, name)
  }
})

// ---- name resolution ----

test('ruleset resolve - built-in templates, services, ports and ranges', async () => {
  const services = SERVICES
  assert.deepEqual(await resolveRuleName('10-accept', 'incoming', {services}), {kind: 'builtin', template: 'accept'})
  assert.deepEqual(await resolveRuleName('20-ftp', 'incoming', {services}), {kind: 'builtin', template: 'ftp'})
  assert.deepEqual(await resolveRuleName('07-ssh', 'incoming', {services}),
    {kind: 'service', port: {port: '22', protos: ['tcp']}, service: 'ssh'})
  assert.deepEqual(await resolveRuleName('07-SSH', 'incoming', {services}),
    {kind: 'service', port: {port: '22', protos: ['tcp']}, service: 'ssh'})
  assert.deepEqual(await resolveRuleName('10-ntp', 'outgoing', {services}),
    {kind: 'service', port: {port: '123', protos: ['udp']}, service: 'ntp'})
  assert.deepEqual(await resolveRuleName('10-https', 'incoming', {services}),
    {kind: 'service', port: {port: '443', protos: ['tcp', 'udp']}, service: 'https'})
  assert.deepEqual(await resolveRuleName('30-imap', 'incoming', {services}),
    {kind: 'service', port: {port: '143', protos: ['tcp']}, service: 'imap'})
  assert.deepEqual(await resolveRuleName('20-5000', 'incoming', {services}), {kind: 'port', port: {port: '5000', protos: ['tcp', 'udp']}})
  assert.deepEqual(await resolveRuleName('20-5000:5010', 'incoming', {services}),
    {kind: 'port', port: {port: '5000:5010', protos: ['tcp', 'udp']}})
})

test('ruleset resolve - a .tcp or .udp suffix picks the protocol of a service or port', async () => {
  const services = SERVICES
  assert.deepEqual(await resolveRuleName('07-ssh.udp', 'incoming', {services}),
    {kind: 'service', port: {port: '22', protos: ['udp']}, service: 'ssh'})
  assert.deepEqual(await resolveRuleName('20-5000.udp', 'incoming', {services}), {kind: 'port', port: {port: '5000', protos: ['udp']}})
  assert.deepEqual(await resolveRuleName('20-6000:6010.tcp', 'incoming', {services}),
    {kind: 'port', port: {port: '6000:6010', protos: ['tcp']}})
  // ftp is a template and a service: with a suffix it is the service.
  assert.deepEqual(await resolveRuleName('20-ftp.tcp', 'incoming', {services}),
    {kind: 'service', port: {port: '21', protos: ['tcp']}, service: 'ftp'})
})

test('ruleset resolve - a user template comes first and gets the service port', async () => {
  const app = parseUserTemplate('proto=tcp dport=$PORT accept', {direction: 'incoming', file: '/t/mysql.incoming', name: 'mysql'})
  const num = parseUserTemplate('proto=tcp dport=$PORT accept', {direction: 'incoming', file: '/t/8080.incoming', name: '8080'})
  const out = parseUserTemplate('accept', {direction: 'outgoing', file: '/t/ssh.outgoing', name: 'ssh'})
  const userTemplates = new Map([['mysql.incoming', app], ['8080.incoming', num], ['ssh.outgoing', out]])
  assert.deepEqual(await resolveRuleName('50-mysql', 'incoming', {services: SERVICES, userTemplates}),
    {kind: 'user', port: 3306, template: app})
  assert.deepEqual(await resolveRuleName('50-8080', 'incoming', {services: SERVICES, userTemplates}),
    {kind: 'user', port: 8080, template: num})
  // A template for the other direction does not count.
  assert.deepEqual(await resolveRuleName('07-ssh', 'incoming', {services: SERVICES, userTemplates}),
    {kind: 'service', port: {port: '22', protos: ['tcp']}, service: 'ssh'})
  assert.deepEqual(await resolveRuleName('07-ssh', 'outgoing', {services: SERVICES, userTemplates}),
    {kind: 'user', port: undefined, template: out})
})

test('ruleset resolve - unknown names, bad ports and suffixed templates are errors', async () => {
  const origin = {file: '/fw/incoming.d/x'}
  const services = SERVICES
  const check = async (name: string, message: string, hint: string): Promise<void> => {
    await assert.rejects(resolveRuleName(name, 'incoming', {origin, services}), (error: unknown) => {
      assert.ok(error instanceof RulesetError)
      assert.equal(error.message, `/fw/incoming.d/x: ${message}`)
      assert.ok(error.hint?.includes(hint), String(error.hint))
      return true
    })
  }
  await check('10-foo', '"foo" is not a template, a service or a port',
    'Use a built-in template (accept, allow, blacklist, collector, dns, drop, essential-icmpv6, established, ftp, icmp, icmpv6, imager, invalid, log, new, ping, reject, reject-www-data, related, syn-ack-flood-protection, whitelist), a service name from /etc/services, a port (5000) or range (5000:5010) with an optional .tcp/.udp suffix, or write a user template rule.d/foo.incoming.')
  await check('10-Accept', '"Accept" is not a template, a service or a port', 'rule.d/Accept.incoming')
  await check('10-foo.sctp', '"foo.sctp" is not a template, a service or a port', 'Use a built-in template')
  await check('ssh', '"ssh" is not named NN-NAME', 'Name rule files NN-NAME, e.g. 10-ssh')
  await check('10-0', '"0" is not a valid port: it is out of range (1–65535)', 'Use a whole number')
  await check('10-5010:5000', '"5010:5000" is not a valid port range: 5010 is above 5000', 'Write the lower port first: 5000:5010.')
  await check('10-accept.tcp', '"accept" is a template; a .tcp suffix only works with a service name or a port',
    'Rename the file to NN-accept')
})

// ---- address lines ----

test('ruleset peers - addresses, networks (host bits masked), comments and blank lines', async () => {
  const text = [
    '# office and VPN',
    '',
    '192.0.2.7',
    '  198.51.100.77/24   # VPN, host bits masked',
    '2001:db8:0:7::5/64#no space before the comment',
    '::ffff:203.0.113.9',
    '192.0.2.7 # again: kept once',
    '\t',
  ].join('\n')
  assert.deepEqual(await readPeerLines(text, 'f', resolveHost), [
    net('192.0.2.7'), net('198.51.100.0/24'), net('2001:db8:0:7::/64'), net('203.0.113.9'),
  ])
})

test('ruleset peers - host names resolve to all their addresses', async () => {
  assert.deepEqual(await readPeerLines('both.example\noffice.example # office\nsame.example\n', 'f', resolveHost),
    [net('192.0.2.10'), net('2001:db8::10'), net('198.51.100.7')])
})

test('ruleset peers - comments and blank lines only mean everyone', async () => {
  assert.deepEqual(await readPeerLines('# nobody listed\n\n   # still nobody\n', 'f', resolveHost), [])
  assert.deepEqual(await readPeerLines('', 'f', resolveHost), [])
})

test('ruleset peers - every bad line is an error with file:line, never everyone', async () => {
  const text = [
    'no-such-host.invalid',
    '1.2.3.4 office',
    '192.0.2.0|24',
    '10.20.30.40/33',
    '1.2.3.256',
    'ok.example # fine? no: not in HOSTS',
    'under_score',
    '192.0.2.9',
  ].join('\n')
  await assert.rejects(readPeerLines(text, '/fw/incoming.d/07-ssh', resolveHost), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.equal(error.message, [
      '/fw/incoming.d/07-ssh:1: host name "no-such-host.invalid" does not resolve (ENOTFOUND)',
      '/fw/incoming.d/07-ssh:2: "1.2.3.4 office": expected one address, network or host name per line',
      '/fw/incoming.d/07-ssh:3: "192.0.2.0|24" is not a valid IP address: octet "0|24" is not a decimal number',
      '/fw/incoming.d/07-ssh:4: "10.20.30.40/33" is not a valid network: prefix length 33 is out of range for IPv4 (0–32)',
      '/fw/incoming.d/07-ssh:5: "1.2.3.256" is not a valid IP address: octet 256 is out of range (0–255)',
      '/fw/incoming.d/07-ssh:6: host name "ok.example" does not resolve (ENOTFOUND)',
      '/fw/incoming.d/07-ssh:7: "under_score" is not an address, a network or a host name',
    ].join('\n'))
    assert.ok(error.hint?.startsWith('Fix the name or write its address instead'))
    assert.ok(error.problems[2].hint?.startsWith('Write networks with "/" here'))
    assert.equal(error.problems[6].hint, 'Write one IPv4 or IPv6 address, CIDR network (203.0.113.0/24) or host name per line; "#" starts a comment.')
    return true
  })
})

test('ruleset peers - a resolver that returns no address is an error', async () => {
  await assert.rejects(readPeerLines('empty.example', 'f', async () => []), (error: unknown) =>
    error instanceof RulesetError && error.message === 'f:1: host name "empty.example" does not resolve (ENODATA)')
})

test('ruleset peers - the default resolver reads /etc/hosts', async () => {
  const {lookupHost} = await import('../../../../src/lib/firewall/ruleset/resolve.js')
  const addresses = await lookupHost('localhost')
  assert.ok(addresses.some((a) => a.text === '127.0.0.1' || a.text === '::1'), JSON.stringify(addresses))
})

// ---- whole directory: rule files ----

test('ruleset read - rule files in byte order, ignored names skipped', async () => {
  const dir = await makeFirewallDir({
    'incoming.d/.hidden': 'garbage',
    'incoming.d/-8000': '',
    'incoming.d/05-9000': '',
    'incoming.d/100-6000': '',
    'incoming.d/20-5000': '',
    'incoming.d/20-5000~': 'garbage',
    'incoming.d/20-5000.bak': 'garbage',
    'incoming.d/20-5000.dpkg-old': 'garbage',
    'incoming.d/9-7000': '',
  })
  const model = await read(dir)
  assert.deepEqual(model.incoming.map((f) => f.name), ['-8000', '05-9000', '100-6000', '20-5000', '9-7000'])
  assert.deepEqual(model.outgoing, [])
})

test('ruleset read - a service file opens its port for its protocols, restricted to the listed peers', async () => {
  const dir = await makeFirewallDir({
    'incoming.d/07-ssh': '192.0.2.7 # office\nboth.example\n',
    'outgoing.d/10-ntp': '',
  })
  const model = await read(dir)
  const origin = {file: join(dir, 'incoming.d/07-ssh')}
  assert.deepEqual(model.incoming, [{
    name: '07-ssh',
    origin,
    rules: [
      {dport: '22', family: 4, origin, peers: [net('192.0.2.7'), net('192.0.2.10')], proto: 'tcp', verdict: 'accept'},
      {dport: '22', family: 6, origin, peers: [net('2001:db8::10')], proto: 'tcp', verdict: 'accept'},
    ],
    templateName: 'ssh',
  }])
  const out = {file: join(dir, 'outgoing.d/10-ntp')}
  assert.deepEqual(model.outgoing, [{name: '10-ntp', origin: out, rules: [{dport: '123', origin: out, proto: 'udp', verdict: 'accept'}],
    templateName: 'ntp'}])
})

test('ruleset read - templates, ports, ranges and suffixes', async () => {
  const dir = await makeFirewallDir({
    'incoming.d/00-established': '',
    'incoming.d/20-5000:5010': '',
    'incoming.d/21-6000.udp': '',
    'incoming.d/99-drop': '# everyone\n',
    'outgoing.d/50-reject-www-data': '',
  })
  const model = await read(dir)
  const o = (name: string): {file: string} => ({file: join(dir, name)})
  assert.deepEqual(model.incoming.map((f) => [f.templateName, f.rules]), [
    ['established', [{origin: o('incoming.d/00-established'), state: ['established'], verdict: 'accept'}]],
    ['5000:5010', [
      {dport: '5000:5010', origin: o('incoming.d/20-5000:5010'), proto: 'tcp', verdict: 'accept'},
      {dport: '5000:5010', origin: o('incoming.d/20-5000:5010'), proto: 'udp', verdict: 'accept'},
    ]],
    ['6000.udp', [{dport: '6000', origin: o('incoming.d/21-6000.udp'), proto: 'udp', verdict: 'accept'}]],
    ['drop', [{origin: o('incoming.d/99-drop'), verdict: 'drop'}]],
  ])
  assert.equal(model.outgoing[0].rules.length, 4)
})

test('ruleset read - user templates from rule.d, with $PORT from the service', async () => {
  const dir = await makeFirewallDir({
    'incoming.d/50-mysql': '192.0.2.0/24\n',
    'rule.d/mysql.incoming': '# MySQL\nproto=tcp dport=$PORT state=new accept\n',
  })
  const model = await read(dir)
  const expected: Rule[] = [{dport: '3306', family: 4, origin: {file: join(dir, 'rule.d/mysql.incoming'), line: 2},
    peers: [net('192.0.2.0/24')], proto: 'tcp', state: ['new'], verdict: 'accept'}]
  assert.deepEqual(model.incoming[0].rules, expected)
})

test('ruleset read - lookupTemplateDir moves the user templates', async () => {
  const templates = await makeFirewallDir({'app.incoming': 'proto=udp dport=7000 accept\n'})
  const dir = await makeFirewallDir({'incoming.d/50-app': '', 'rule.d/other.incoming': 'garbage'})
  const model = await read(dir, {lookupTemplateDir: templates})
  assert.deepEqual(model.incoming[0].rules.map((r) => r.dport), ['7000'])
})

test('ruleset read - every problem of every file is reported, in a stable order', async () => {
  const dir = await makeFirewallDir({
    'incoming.d/07-ssh': '192.0.2.7\nno-such-host.invalid\n',
    'incoming.d/10-foo': '',
    'incoming.d/11-bar': 'also bad\n',
    'incoming.d/README': '',
    'incoming.d/30-sub': {dir: true},
    'incoming.d/40-dangling': {link: '/nonexistent/diswall-test'},
    'incoming.d/50-app': '',
    'outgoing.d/00-syn-ack-flood-protection': '',
    'rule.d/app.incoming': 'proto=tcp dport=$PORT accept\n',
    'whitelist.d/README': '',
  })
  await assertRejects(read(dir), dir, [
    'incoming.d/07-ssh:2: host name "no-such-host.invalid" does not resolve (ENOTFOUND)',
    'incoming.d/10-foo: "foo" is not a template, a service or a port',
    'incoming.d/11-bar: "bar" is not a template, a service or a port',
    'incoming.d/11-bar:1: "also bad": expected one address, network or host name per line',
    'incoming.d/30-sub: "sub" is not a template, a service or a port',
    'incoming.d/30-sub: is a directory, not a file',
    'incoming.d/40-dangling: "dangling" is not a template, a service or a port',
    'incoming.d/40-dangling: cannot read: not found (a dangling symbolic link?)',
    `incoming.d/50-app: template ${join(dir, 'rule.d/app.incoming')} uses $PORT (line 1), but "app" gives no port`,
    'incoming.d/README: "README" is not named NN-NAME',
    'outgoing.d/00-syn-ack-flood-protection: template "syn-ack-flood-protection" works in incoming.d only, not in outgoing.d',
    'whitelist.d/README: file name "README" is not an address or network (ADDR or ADDR|PREFIXLEN)',
  ], 'Fix the name or write its address instead')
})

test('ruleset read - a broken user template is reported once, not again for the files using it', async () => {
  const dir = await makeFirewallDir({
    'incoming.d/50-app': '',
    'incoming.d/51-accept': '',
    'rule.d/accept.incoming': 'accept\n',
    'rule.d/app.incoming': 'proto=tcp dport=22 acept\n',
  })
  await assertRejects(read(dir), dir, [
    'rule.d/accept.incoming: user template "accept" has the name of a built-in template',
    'rule.d/app.incoming:1: unknown word "acept"',
  ], 'Rename it (e.g. my-accept.incoming)')
})

test('ruleset read - a missing firewall directory points at diswall install', async () => {
  const dir = join(root, 'missing')
  await assertRejects(read(dir), dir, [`${dir}: firewall directory not found`],
    'Create it with the default rules: diswall install')
})

test('ruleset read - a file instead of the directory is an error', async () => {
  const dir = join(root, 'plain-file')
  await writeFile(dir, '')
  await assertRejects(read(dir), dir, [`${dir}: not a directory`], 'Point the config at the firewall directory')
})

test('ruleset read - a directory without incoming.d/ is refused: it is not a firewall directory', async () => {
  for (const files of [{}, {'outgoing.d/10-dns': '', 'whitelist.d/192.0.2.7': ''}, {'incoming.d': 'a file, not a directory'}] as Array<Record<string, Entry>>) {
    const dir = await makeFirewallDir(files, {incoming: false})
    await assert.rejects(read(dir), (error: unknown) => {
      assert.ok(error instanceof RulesetError)
      assert.equal(error.message, `${dir}: no incoming.d/ in this directory: it is not a firewall directory`)
      assert.match(error.hint ?? '', /holds incoming\.d\//)
      return true
    })
  }
})

test('ruleset read - an empty directory is an empty model', async () => {
  const dir = await makeFirewallDir({})
  assert.deepEqual(await read(dir), {
    blacklist: {disabled: false, entries: []},
    dir,
    disabled: false,
    incoming: [],
    local: [],
    outgoing: [],
    whitelist: {disabled: false, entries: []},
  })
})

// ---- whitelist.d and blacklist.d ----

test('ruleset lists - file names: ADDR, ADDR|LEN (masked), .auto, upper case', () => {
  assert.deepEqual(parseListFileName('192.0.2.7', 'f'), {auto: false, network: net('192.0.2.7')})
  assert.deepEqual(parseListFileName('192.0.2.77|24', 'f'), {auto: false, network: net('192.0.2.0/24')})
  assert.deepEqual(parseListFileName('2001:DB8:5:6::|64.auto', 'f'), {auto: true, network: net('2001:db8:5:6::/64')})
  assert.deepEqual(parseListFileName('2001:db8::7.auto', 'f'), {auto: true, network: net('2001:db8::7')})
})

test('ruleset lists - bad file names are errors, never host names', () => {
  const check = (name: string, reason: string, hint: string): void => {
    assert.throws(() => parseListFileName(name, `/fw/blacklist.d/${name}`), (error: unknown) => {
      assert.ok(error instanceof RulesetError)
      assert.equal(error.message, `/fw/blacklist.d/${name}: ${reason}`)
      assert.ok(error.hint?.includes(hint), String(error.hint))
      return true
    })
  }
  check('README', 'file name "README" is not an address or network (ADDR or ADDR|PREFIXLEN)', 'host names are not resolved here')
  check('mail.example.com', 'file name "mail.example.com" is not an address or network (ADDR or ADDR|PREFIXLEN)', 'Name the file after the address')
  check('192.0.2.0|33', 'file name "192.0.2.0|33" is not an address or network: "192.0.2.0/33" is not a valid network: prefix length 33 is out of range for IPv4 (0–32)', 'Name the file')
  check('1.2.3', 'file name "1.2.3" is not an address or network: "1.2.3" is not a valid IP address: expected 4 dot-separated octets, found 3', 'Name the file')
  check('0.0.0.0|0', 'file name "0.0.0.0|0" is 0.0.0.0/0, which covers every address', 'create a file named "disabled"')
  check('::|0.auto', 'file name "::|0.auto" is ::/0, which covers every address', 'create a file named "disabled"')
  check('disabled.whitelist', '"disabled.whitelist" is not a diswall flag', 'Rename it to "disabled"')
})

test('ruleset lists - ports: numbers, ranges, services with their protocols, comments; duplicates once', async () => {
  assert.deepEqual(await parseListPorts('22\n# mail\nntp # time\n\n5000:5010\nssh\nDOMAIN\n', 'f', SERVICES), [
    {port: '22', proto: 'tcp'}, {port: '22', proto: 'udp'},
    {port: '123', proto: 'udp'},
    {port: '5000:5010', proto: 'tcp'}, {port: '5000:5010', proto: 'udp'},
    {port: '53', proto: 'tcp'}, {port: '53', proto: 'udp'},
  ])
})

test('ruleset lists - empty, comments only or all mean all ports', async () => {
  assert.equal(await parseListPorts('', 'f', SERVICES), undefined)
  assert.equal(await parseListPorts('# nothing\n', 'f', SERVICES), undefined)
  assert.equal(await parseListPorts('22\nall\n', 'f', SERVICES), undefined)
  assert.equal(await parseListPorts('ALL', 'f', SERVICES), undefined)
})

test('ruleset lists - an unknown service or a bad port is an error, not all ports', async () => {
  await assert.rejects(parseListPorts('22\nsmtpx\n70000\n22 25\n', '/fw/blacklist.d/192.0.2.7', SERVICES), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.equal(error.message, [
      '/fw/blacklist.d/192.0.2.7:2: unknown service "smtpx"',
      '/fw/blacklist.d/192.0.2.7:3: "70000" is not a valid port: it is out of range (1–65535)',
      '/fw/blacklist.d/192.0.2.7:4: "22 25": expected one port per line',
    ].join('\n'))
    assert.ok(error.hint?.endsWith('An unknown name is an error, not "all ports".'))
    return true
  })
})

test('ruleset lists - read from the directory, sorted by file name', async () => {
  const dir = await makeFirewallDir({
    'blacklist.d/203.0.113.9.auto': '22\n25',
    'blacklist.d/2001:db8:5:6::|64.auto': 'all',
    'whitelist.d/198.51.100.0|24': '# office\n',
    'whitelist.d/192.0.2.7': 'ssh\n',
    'whitelist.d/.keep': '',
    'whitelist.d/192.0.2.8~': '',
  })
  const model = await read(dir)
  assert.deepEqual(model.whitelist, {disabled: false, entries: [
    {auto: false, name: '192.0.2.7', network: net('192.0.2.7'), origin: {file: join(dir, 'whitelist.d/192.0.2.7')},
      ports: [{port: '22', proto: 'tcp'}]},
    {auto: false, name: '198.51.100.0|24', network: net('198.51.100.0/24'), origin: {file: join(dir, 'whitelist.d/198.51.100.0|24')}},
  ]})
  assert.deepEqual(model.blacklist, {disabled: false, entries: [
    {auto: true, name: '2001:db8:5:6::|64.auto', network: net('2001:db8:5:6::/64'),
      origin: {file: join(dir, 'blacklist.d/2001:db8:5:6::|64.auto')}},
    {auto: true, name: '203.0.113.9.auto', network: net('203.0.113.9'), origin: {file: join(dir, 'blacklist.d/203.0.113.9.auto')},
      ports: [{port: '22', proto: 'tcp'}, {port: '22', proto: 'udp'}, {port: '25', proto: 'tcp'}, {port: '25', proto: 'udp'}]},
  ]})
})

test('ruleset lists - bad entries in the directory are errors with file:line', async () => {
  const dir = await makeFirewallDir({
    'blacklist.d/192.0.2.7': 'smtpx\n',
    'blacklist.d/sub': {dir: true},
    'whitelist.d/example.com': 'all',
  })
  await assertRejects(read(dir), dir, [
    'whitelist.d/example.com: file name "example.com" is not an address or network (ADDR or ADDR|PREFIXLEN)',
    'blacklist.d/192.0.2.7:1: unknown service "smtpx"',
    'blacklist.d/sub: file name "sub" is not an address or network (ADDR or ADDR|PREFIXLEN)',
  ])
})

// ---- disabled flags ----

test('ruleset disabled - the firewall flag', async () => {
  const dir = await makeFirewallDir({'disabled': '', 'incoming.d/07-ssh': ''})
  assert.equal(await isFirewallDisabled(dir), true)
  const model = await read(dir)
  assert.equal(model.disabled, true)
  assert.equal(model.incoming.length, 1)
  assert.equal(await isFirewallDisabled(await makeFirewallDir({})), false)
})

test('ruleset disabled - a disabled list is not read at all', async () => {
  const dir = await makeFirewallDir({
    'blacklist.d/192.0.2.7': '',
    'whitelist.d/disabled': '',
    'whitelist.d/not-an-address': 'garbage',
    'whitelist.d/192.0.2.8': '',
  })
  const model = await read(dir)
  assert.deepEqual(model.whitelist, {disabled: true, entries: []})
  assert.equal(model.blacklist.disabled, false)
  assert.equal(model.blacklist.entries.length, 1)
  const blocked = await read(await makeFirewallDir({'blacklist.d/disabled': ''}))
  assert.deepEqual(blocked.blacklist, {disabled: true, entries: []})
  assert.equal(blocked.disabled, false)
})

// ---- local.d ----

test('ruleset local - executables with run-parts names, sorted; the rest skipped with a warning', async () => {
  const dir = await makeFirewallDir({
    'local.d/20-docker': {content: '#!/bin/sh\n', mode: 0o755},
    'local.d/10_vpn': {content: '#!/bin/sh\n', mode: 0o700},
    'local.d/30-nat.sh': {content: '#!/bin/sh\n', mode: 0o755},
    'local.d/40-notes': {content: 'text\n', mode: 0o644},
    'local.d/50-dir': {dir: true},
    'local.d/.hidden': {content: '', mode: 0o755},
    'local.d/60-old~': {content: '', mode: 0o755},
  })
  const warnings: RulesetProblem[] = []
  const model = await read(dir, {onWarning: (w) => warnings.push(w)})
  assert.deepEqual(model.local, [
    {name: '10_vpn', path: join(dir, 'local.d/10_vpn')},
    {name: '20-docker', path: join(dir, 'local.d/20-docker')},
  ])
  assert.deepEqual(warnings.map((w) => `${w.location.file}: ${w.reason}`), [
    `${join(dir, 'local.d/30-nat.sh')}: skipped: not a run-parts name`,
    `${join(dir, 'local.d/40-notes')}: skipped: not executable`,
    `${join(dir, 'local.d/50-dir')}: skipped: not a file`,
  ])
})
