import assert from 'node:assert/strict'
import {mkdtemp, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {RulesetError} from '../../../../src/lib/firewall/ruleset/read.js'
import {loadServices, parseServices, serviceProtos} from '../../../../src/lib/firewall/ruleset/services.js'

const SAMPLE = `# Network services, Internet style
tcpmux		1/tcp				# TCP port service multiplexer
ssh		22/tcp				# SSH Remote Login Protocol
smtp		25/tcp		mail
domain		53/tcp				# Domain Name Server
domain		53/udp
http		80/tcp		www		# WorldWideWeb HTTP
ntp		123/udp				# Network Time Protocol
imap2		143/tcp		imap		# Interim Mail Access P 2 and 4
https		443/tcp				# http protocol over TLS/SSL
https		443/udp				# HTTP/3
submissions	465/tcp		ssmtp smtps urd # Submission over TLS [RFC8314]
sctp-only	9/sctp
Weird		700/TCP
ssh		2222/udp			# a later, conflicting definition: ignored
mail		9999/tcp			# "mail" is already the alias of smtp
bad		70000/tcp
short
`

test('services - parses names, ports and protocols', () => {
  const services = parseServices(SAMPLE)
  assert.deepEqual(services.get('ssh'), {port: 22, protos: new Set(['tcp'])})
  assert.deepEqual(services.get('ntp'), {port: 123, protos: new Set(['udp'])})
  assert.deepEqual(services.get('domain'), {port: 53, protos: new Set(['tcp', 'udp'])})
  assert.deepEqual(services.get('https'), {port: 443, protos: new Set(['tcp', 'udp'])})
})

test('services - aliases resolve to the port of their line', () => {
  const services = parseServices(SAMPLE)
  assert.deepEqual(services.get('www'), {port: 80, protos: new Set(['tcp'])})
  assert.deepEqual(services.get('imap'), {port: 143, protos: new Set(['tcp'])})
  assert.deepEqual(services.get('smtps'), {port: 465, protos: new Set(['tcp'])})
  assert.deepEqual(services.get('urd'), {port: 465, protos: new Set(['tcp'])})
})

test('services - the first definition wins, for names and aliases', () => {
  const services = parseServices(SAMPLE)
  assert.deepEqual(services.get('ssh'), {port: 22, protos: new Set(['tcp'])})
  assert.deepEqual(services.get('mail'), {port: 25, protos: new Set(['tcp'])})
})

test('services - names are lower-cased, other protocols and bad lines are skipped', () => {
  const services = parseServices(SAMPLE)
  assert.deepEqual(services.get('weird'), {port: 700, protos: new Set(['tcp'])})
  assert.equal(services.get('Weird'), undefined)
  assert.equal(services.get('sctp-only'), undefined)
  assert.equal(services.get('bad'), undefined)
  assert.equal(services.get('short'), undefined)
  assert.equal(services.get('#'), undefined)
})

test('services - a later line adds a protocol only to the same port', () => {
  const services = parseServices('a 100/tcp b\nb 100/udp\na 200/udp\n')
  assert.deepEqual(services.get('a'), {port: 100, protos: new Set(['tcp'])})
  assert.deepEqual(services.get('b'), {port: 100, protos: new Set(['tcp', 'udp'])})
})

test('services - serviceProtos lists tcp before udp', () => {
  assert.deepEqual(serviceProtos({port: 53, protos: new Set(['udp', 'tcp'])}), ['tcp', 'udp'])
  assert.deepEqual(serviceProtos({port: 123, protos: new Set(['udp'])}), ['udp'])
})

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-services-'))
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

test('services - loadServices reads a file', async () => {
  const file = join(dir, 'services')
  await writeFile(file, 'ssh 22/tcp\n')
  assert.deepEqual(await loadServices(file), new Map([['ssh', {port: 22, protos: new Set(['tcp'])}]]))
})

test('services - loadServices reads the system file by default', async () => {
  const services = await loadServices()
  assert.equal(services.get('ssh')?.port, 22)
})

test('services - a missing file is a RulesetError with a hint to install netbase', async () => {
  const file = join(dir, 'missing')
  await assert.rejects(loadServices(file), (error: unknown) => {
    assert.ok(error instanceof RulesetError)
    assert.equal(error.message, `${file}: the services file was not found`)
    assert.equal(error.hint, 'Install it (apt-get install netbase), or use port numbers instead of service names.')
    assert.equal(error.code, 'E_RULESET')
    assert.equal(error.exitCode, 3)
    return true
  })
})
