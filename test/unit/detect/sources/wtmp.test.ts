import assert from 'node:assert/strict'
import {appendFileSync, renameSync, writeFileSync} from 'node:fs'
import {mkdtemp, rm} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, test} from 'node:test'

import {parseWtmp, UTMP_RECORD_SIZE, UtmpType, WtmpSource, wtmpAddress} from '../../../../src/lib/detect/sources/index.js'
import {parseAddress} from '../../../../src/lib/net/index.js'
import {Puller, until} from './collect.js'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, {force: true, recursive: true})
})

interface RecordFields {
  type?: number
  pid?: number
  line?: string
  id?: string
  user?: string
  host?: string
  tvSec?: number
  tvUsec?: number
  /** The 16 bytes of ut_addr_v6, or an address text to encode as glibc does. */
  addr?: number[] | string
}

/** One glibc x86-64 utmp record (384 bytes), laid out by hand. */
function record({addr, host = '', id = 'ts/0', line = 'pts/0', pid = 1234, tvSec = 1_700_000_000, tvUsec = 250_000, type = UtmpType.USER_PROCESS, user = 'alice'}: RecordFields = {}): Buffer {
  const b = Buffer.alloc(UTMP_RECORD_SIZE)
  b.writeInt16LE(type, 0)
  b.writeInt32LE(pid, 4)
  b.write(line, 8, 32, 'utf8')
  b.write(id, 40, 4, 'utf8')
  b.write(user, 44, 32, 'utf8')
  b.write(host, 76, 256, 'utf8')
  b.writeInt32LE(tvSec, 340)
  b.writeInt32LE(tvUsec, 344)
  const bytes = typeof addr === 'string' ? addrBytes(addr) : addr
  if (bytes) Buffer.from(bytes).copy(b, 348)
  return b
}

/** ut_addr_v6 as sshd/login fill it: IPv4 in the first word, IPv6 in all four (network order). */
function addrBytes(text: string): number[] {
  const a = parseAddress(text)
  const out = new Array<number>(16).fill(0)
  if (a.family === 4) a.text.split('.').forEach((o, i) => (out[i] = Number(o)))
  else {
    const full = expandIPv6(a.text)
    full.forEach((g, i) => {
      out[i * 2] = g >> 8
      out[i * 2 + 1] = g & 255
    })
  }
  return out
}

function expandIPv6(text: string): number[] {
  const [head, tail = ''] = text.split('::') as [string, string?]
  const h = head === '' ? [] : head.split(':').map((g) => parseInt(g, 16))
  const t = tail === '' ? [] : tail.split(':').map((g) => parseInt(g, 16))
  return text.includes('::') ? [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t] : h
}

test('wtmp parser - decodes every field of a record', () => {
  const [r] = parseWtmp(record({addr: '203.0.113.7', host: '203.0.113.7', id: 'ts/3', line: 'pts/3', pid: 4321, user: 'root'}))
  assert.deepEqual(r, {
    address: {family: 4, kind: 'address', text: '203.0.113.7'},
    host: '203.0.113.7',
    id: 'ts/3',
    line: 'pts/3',
    pid: 4321,
    timeSec: 1_700_000_000,
    timeUsec: 250_000,
    type: 7,
    user: 'root',
  })
})

test('wtmp parser - fields that fill their whole array (no NUL) are read to its end', () => {
  const [r] = parseWtmp(record({host: 'h'.repeat(256), id: 'abcd', line: 'l'.repeat(32), user: 'u'.repeat(32)}))
  assert.equal(r?.user, 'u'.repeat(32))
  assert.equal(r?.line, 'l'.repeat(32))
  assert.equal(r?.id, 'abcd')
  assert.equal(r?.host, 'h'.repeat(256))
})

test('wtmp parser - several records, and a partial record at the end is left out', () => {
  const bytes = Buffer.concat([record({type: UtmpType.BOOT_TIME, user: 'reboot'}), record({user: 'bob'}), record().subarray(0, 100)])
  assert.deepEqual(parseWtmp(bytes).map((r) => [r.type, r.user]), [[2, 'reboot'], [7, 'bob']])
  assert.deepEqual(parseWtmp(new Uint8Array(0)), [])
})

test('wtmp address - IPv4 only when words 1-3 are zero; fe80::1 stays IPv6 (not 254.128.0.0)', () => {
  const cases: Array<[string | number[], string | undefined, string?]> = [
    ['198.51.100.20', '198.51.100.20'],
    ['fe80::1', 'fe80::1'],
    ['2001:db8::7', '2001:db8::7'],
    ['2001:db8:0:1::', '2001:db8:0:1::'],
    ['::1', '::1'],
    [new Array<number>(16).fill(0), undefined],
    // IPv4-mapped IPv6 is the IPv4 address.
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 9], '203.0.113.9'],
    // Only word 0 set: IPv4, unless the host names that IPv6 address.
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], '32.1.13.184'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], '2001:db8::', '2001:db8::'],
  ]
  for (const [addr, expected, host] of cases) {
    const bytes = typeof addr === 'string' ? addrBytes(addr) : addr
    assert.equal(wtmpAddress(Uint8Array.from(bytes), host)?.text, expected, `${String(addr)} with host ${host ?? '""'}`)
  }
  assert.equal(wtmpAddress(Uint8Array.from(addrBytes('fe80::1')))?.family, 6)
})

test('wtmp parser - record timestamps past 2038 stay positive', () => {
  const b = record()
  b.writeUInt32LE(2_200_000_000, 340)
  assert.equal(parseWtmp(b)[0]?.timeSec, 2_200_000_000)
})

test('wtmp source - yields new remote logins only, following appends, partial records and rotation', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-wtmp-'))
  dirs.push(dir)
  const path = join(dir, 'wtmp')
  const beingWritten = record({addr: '192.0.2.10', host: 'admin.example', user: 'alice'})
  writeFileSync(path, Buffer.concat([record({addr: '203.0.113.1', user: 'before-start'}), beingWritten.subarray(0, 50)]))
  const source = new WtmpSource({path, pollIntervalMs: 50})
  const puller = new Puller(source.start())
  try {
    await until(() => source.health().state === 'running', 'the wtmp source to run')
    // The record being written at the start is read once complete; a logout and a console login are
    // not remote logins.
    appendFileSync(path, Buffer.concat([
      beingWritten.subarray(50),
      record({type: UtmpType.DEAD_PROCESS, user: ''}),
      record({line: 'tty1', user: 'console'}),
    ]))
    const [first] = await puller.take(1)
    assert.deepEqual(first, {
      address: {family: 4, kind: 'address', text: '192.0.2.10'},
      host: 'admin.example',
      line: 'pts/0',
      pid: 1234,
      source: 'wtmp',
      time: 1_700_000_000_250,
      user: 'alice',
    })

    // A record written in two parts is read once, when complete.
    const login = record({addr: '2001:db8::42', host: '2001:db8::42', user: 'carol'})
    appendFileSync(path, login.subarray(0, 200))
    assert.equal(await puller.nothingWithin(150), 'nothing')
    appendFileSync(path, login.subarray(200))
    const [second] = await puller.take(1)
    assert.equal(second?.user, 'carol')
    assert.equal(second?.address.text, '2001:db8::42')

    // logrotate: the old file is renamed and a new one created; the new one is read from its start.
    renameSync(path, `${path}.1`)
    writeFileSync(path, record({addr: '198.51.100.77', user: 'dave'}))
    const [next] = await puller.take(1)
    assert.equal(next?.user, 'dave')
    assert.equal(next?.address.text, '198.51.100.77')
    assert.equal(source.health().lines, 3)
  } finally {
    await source.close()
  }
})
