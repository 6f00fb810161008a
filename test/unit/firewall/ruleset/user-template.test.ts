import assert from 'node:assert/strict'
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {RulesetError} from '../../../../src/lib/firewall/ruleset/read.js'
import type {Direction} from '../../../../src/lib/firewall/ruleset/templates.js'
import {
  expandUserTemplate,
  findUserTemplate,
  parseUserTemplate,
  readUserTemplates,
  scanUserTemplates,
  USER_TEMPLATE_TOKENS_HINT,
} from '../../../../src/lib/firewall/ruleset/user-template.js'
import {parseNetwork} from '../../../../src/lib/net/index.js'

const file = '/fw/rule.d/app.incoming'
const parse = (text: string, direction: Direction = 'incoming'): ReturnType<typeof parseUserTemplate> =>
  parseUserTemplate(text, {direction, file: direction === 'incoming' ? file : '/fw/rule.d/app.outgoing', name: 'app'})

function assertProblems(fn: () => unknown, lines: string[], hint = USER_TEMPLATE_TOKENS_HINT): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof RulesetError, String(error))
    assert.equal(error.message, lines.join('\n'))
    assert.equal(error.hint, hint)
    assert.equal(error.problems.length, lines.length)
    assert.equal(error.code, 'E_RULESET')
    assert.equal(error.exitCode, 3)
    return true
  })
}

test('user template - parses rules with every word, skipping comments and blank lines', () => {
  const template = parse([
    '# a comment',
    '',
    'proto=tcp dport=$PORT state=new accept   # new connections',
    'proto=udp sport=53 dport=1024:65535,$PORT state=established,related drop',
    'proto=icmp icmp-type=echo-request limit=5/second accept',
    'proto=icmpv6 icmp-type=packet-too-big accept',
    'family=6 proto=tcp dport=80 reject',
    'limit=10/minute log',
    'proto=udp dport=5000 reject',
  ].join('\n'))
  assert.deepEqual(template, {
    direction: 'incoming',
    file,
    lines: [
      {line: 3, rule: {dport: '$PORT', proto: 'tcp', state: ['new'], verdict: 'accept'}},
      {line: 4, rule: {dport: '1024:65535,$PORT', proto: 'udp', sport: '53', state: ['established', 'related'], verdict: 'drop'}},
      {line: 5, rule: {family: 4, icmpType: 'echo-request', limit: '5/second', proto: 'icmp', verdict: 'accept'}},
      {line: 6, rule: {family: 6, icmpType: 'packet-too-big', proto: 'icmpv6', verdict: 'accept'}},
      {line: 7, rule: {dport: '80', family: 6, proto: 'tcp', tcpReset: true, verdict: 'reject'}},
      {line: 8, rule: {limit: '10/minute', verdict: 'log'}},
      {line: 9, rule: {dport: '5000', proto: 'udp', verdict: 'reject'}},
    ],
    name: 'app',
    portLine: 3,
  })
})

test('user template - owner= works in outgoing templates', () => {
  const template = parse('owner=www-data proto=tcp dport=443 accept\nowner=33 reject\n', 'outgoing')
  assert.deepEqual(template.lines.map((l) => l.rule), [
    {dport: '443', proto: 'tcp', uidOwner: 'www-data', verdict: 'accept'},
    {uidOwner: '33', verdict: 'reject'},
  ])
  assert.equal(template.portLine, undefined)
})

test('user template - every bad word is reported with file:line and the valid words', () => {
  assertProblems(() => parse([
    'proto=tcp dport=22 accept',
    'proto=tcp dport=22 alow',
    'proto=sctp accept',
    'colour=red accept',
    'proto=tcp dport=0 accept',
    'proto=tcp dport=22',
    'accept drop',
    'dport=22 accept',
    'proto=tcp icmp-type=echo-request accept',
    'proto=icmp icmp-type=ping accept',
    'proto=icmp family=6 accept',
    'state=new,closed accept',
    'limit=10/day log',
    'family=5 accept',
    'proto=tcp proto=udp accept',
    'proto=tcp dport=$PORTS accept',
    'proto=tcp dport=20:10 accept',
    'owner=www-data accept',
    'proto=tcp dport=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:16 accept',
  ].join('\n')), [
    `${file}:2: unknown word "alow"`,
    `${file}:3: bad value "sctp" for proto=: expected tcp, udp, icmp or icmpv6`,
    `${file}:4: unknown key "colour" in "colour=red"`,
    `${file}:5: bad value "0" for dport=: "0" is not a valid port: it is out of range (1–65535)`,
    `${file}:6: the rule has no verdict`,
    `${file}:7: the rule has 2 verdicts (accept, drop); give exactly one`,
    `${file}:8: dport= and sport= need proto=tcp or proto=udp`,
    `${file}:9: icmp-type= needs proto=icmp or proto=icmpv6`,
    `${file}:10: unknown icmp type "ping" (known: echo-reply, destination-unreachable, source-quench, redirect, echo-request, router-advertisement, router-solicitation, time-exceeded, parameter-problem, timestamp-request, timestamp-reply, address-mask-request, address-mask-reply, or a number 0-255)`,
    `${file}:11: family=6 contradicts proto=icmp (IPv4 only)`,
    `${file}:12: bad value "new,closed" for state=: expected a comma list of new, established, related, invalid`,
    `${file}:13: bad value "10/day" for limit=: expected N/second, N/minute or N/hour with N from 1, e.g. 10/second`,
    `${file}:14: bad value "5" for family=: expected 4 or 6`,
    `${file}:15: proto= is given twice`,
    `${file}:16: bad value "$PORTS" for dport=: unknown variable "$PORTS" (only $PORT exists)`,
    `${file}:17: bad value "20:10" for dport=: "20:10" is not a valid port range: 20 is above 10`,
    `${file}:18: owner= works in .outgoing templates only (the kernel knows the owner of outgoing packets only)`,
    `${file}:19: bad value "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15:16" for dport=: more than 15 ports in one list (a range counts 2); split the rule`,
  ])
})

test('user template - a port list may hold 15 ports, a range counting 2', () => {
  assert.equal(parse('proto=tcp dport=1,2,3,4,5,6,7,8,9,10,11,12,13,14:15 accept').lines[0].rule.dport,
    '1,2,3,4,5,6,7,8,9,10,11,12,13,14:15')
})

test('user template - icmp types may be numbers', () => {
  assert.deepEqual(parse('proto=icmp icmp-type=8 accept').lines[0].rule, {family: 4, icmpType: '8', proto: 'icmp', verdict: 'accept'})
  assertProblems(() => parse('proto=icmp icmp-type=256 accept'),
    [`${file}:1: bad value "256" for icmp-type=: expected an ICMP type name such as echo-request, or a number 0-255`])
})

test('user template - a template without rules is an error', () => {
  assert.throws(() => parse('# nothing\n\n'), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.equal(error.message, `${file}: the template has no rules`)
    assert.ok(error.hint?.startsWith('Add one rule per line'))
    return true
  })
})

test('user template - Symbiosis templates are refused with the new format in the hint', () => {
  const cases: Array<[string, number]> = [
    ['# legacy\n/sbin/iptables -A INPUT -p tcp --dport 5000 $SRC -j ACCEPT\n', 2],
    ['iptables -A OUTPUT $DEST -j ACCEPT', 1],
    ['% iptables_cmds.each do |cmd|\n<%= cmd %> -A <%= chain %> -j ACCEPT\n% end\n', 1],
    ['proto=tcp accept\nip6tables -A INPUT -j DROP\n', 2],
    ['proto=tcp $SRC accept', 1],
  ]
  for (const [text, line] of cases) {
    assert.throws(() => parse(text), (error: unknown) => {
      assert.ok(error instanceof RulesetError)
      assert.equal(error.message,
        `${file}:${line}: this is a Symbiosis template (iptables commands, $SRC/$DEST or ERB), which diswall does not run`)
      assert.ok(error.hint?.includes('"proto=tcp dport=$PORT accept"'))
      return true
    })
  }
})

test('user template - expanding substitutes $PORT and adds the peers per family', () => {
  const template = parse('proto=tcp dport=$PORT,8443 accept\nproto=icmp accept\n')
  const v4 = parseNetwork('192.0.2.0/24')
  const v6 = parseNetwork('2001:db8::1')
  const origin = {file: '/fw/incoming.d/10-app'}
  assert.deepEqual(expandUserTemplate(template, {origin, peers: [v4, v6], port: 3306}), [
    {dport: '3306,8443', family: 4, origin: {file, line: 1}, peers: [v4], proto: 'tcp', verdict: 'accept'},
    {dport: '3306,8443', family: 6, origin: {file, line: 1}, peers: [v6], proto: 'tcp', verdict: 'accept'},
    {family: 4, origin: {file, line: 2}, peers: [v4], proto: 'icmp', verdict: 'accept'},
  ])
  assert.deepEqual(expandUserTemplate(template, {origin, port: 3306}), [
    {dport: '3306,8443', origin: {file, line: 1}, proto: 'tcp', verdict: 'accept'},
    {family: 4, origin: {file, line: 2}, proto: 'icmp', verdict: 'accept'},
  ])
})

test('user template - $PORT from a file that gives no port is an error at that file', () => {
  const template = parse('# app\nproto=tcp dport=$PORT accept\n')
  assert.throws(() => expandUserTemplate(template, {origin: {file: '/fw/incoming.d/10-app'}}), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.equal(error.message, `/fw/incoming.d/10-app: template ${file} uses $PORT (line 2), but "app" gives no port`)
    assert.ok(error.hint?.startsWith('$PORT is the port of NAME in /etc/services'))
    return true
  })
})

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-rule.d-'))
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

test('user template - readUserTemplates reads NAME.incoming and NAME.outgoing, ignoring other files', async () => {
  const ruleDir = join(dir, 'good')
  await mkdir(ruleDir)
  await writeFile(join(ruleDir, 'app.incoming'), 'proto=tcp dport=$PORT accept\n')
  await writeFile(join(ruleDir, 'app.outgoing'), 'proto=tcp dport=$PORT accept\n')
  await writeFile(join(ruleDir, 'README'), 'not a template\n')
  await writeFile(join(ruleDir, '.old.incoming'), 'garbage\n')
  await writeFile(join(ruleDir, 'app.incoming~'), 'garbage\n')
  const templates = await readUserTemplates(ruleDir)
  assert.deepEqual([...templates.keys()], ['app.incoming', 'app.outgoing'])
  assert.equal(findUserTemplate(templates, 'app', 'outgoing')?.file, join(ruleDir, 'app.outgoing'))
  assert.equal(findUserTemplate(templates, 'other', 'incoming'), undefined)
})

test('user template - a missing template directory has no templates', async () => {
  assert.equal((await readUserTemplates(join(dir, 'missing'))).size, 0)
})

test('user template - built-in names, bad names and bad lines are all reported', async () => {
  const ruleDir = join(dir, 'bad')
  await mkdir(ruleDir)
  await writeFile(join(ruleDir, 'accept.incoming'), 'proto=tcp accept\n')
  await writeFile(join(ruleDir, 'my.app.incoming'), 'proto=tcp accept\n')
  await writeFile(join(ruleDir, 'typo.outgoing'), 'proto=tcp acept\n')
  await writeFile(join(ruleDir, 'ok.incoming'), 'accept\n')
  await mkdir(join(ruleDir, 'sub.incoming'))
  const scan = await scanUserTemplates(ruleDir)
  assert.deepEqual([...scan.templates.keys()], ['ok.incoming'])
  assert.deepEqual([...scan.broken].sort(), ['accept.incoming', 'my.app.incoming', 'sub.incoming', 'typo.outgoing'])
  await assert.rejects(readUserTemplates(ruleDir), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.equal(error.message, [
      `${join(ruleDir, 'accept.incoming')}: user template "accept" has the name of a built-in template`,
      `${join(ruleDir, 'my.app.incoming')}: "my.app" is not a valid template name`,
      `${join(ruleDir, 'sub.incoming')}: is a directory, not a file`,
      `${join(ruleDir, 'typo.outgoing')}:1: unknown word "acept"`,
    ].join('\n'))
    assert.equal(error.hint, 'Rename it (e.g. my-accept.incoming) and the incoming.d files that use it; built-in templates cannot be replaced, so NN-accept always means the same thing.')
    assert.equal(error.problems[3].hint, USER_TEMPLATE_TOKENS_HINT)
    return true
  })
})
