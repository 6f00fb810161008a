import assert from 'node:assert/strict'
import {test} from 'node:test'

import {parseAddress, parseNetwork} from '../../../src/lib/net/index.js'
import {
  decodeAdd,
  decodeDel,
  decodeGlobal,
  decodeInitChunk,
  decodeInitLine,
  encodeAdd,
  encodeDel,
  encodeGlobal,
  encodeInitLine,
  endOfStreamHeaders,
  streamChunkHeaders,
  entryHeaders,
  HEADER,
  initReplyChunks,
  initRequestHeaders,
  streamCount,
  wantsStream,
} from '../../../src/lib/transport/index.js'
import type {DecodeResult, Decoded, WireEntry} from '../../../src/lib/transport/index.js'

/** Headers as a peer sends them (names in any case), read like nats.js MsgHdrs. */
function headers() {
  const map = new Map<string, string>()
  return {
    get: (name: string) => map.get(name.toLowerCase()) ?? '',
    set: (name: string, value: string) => void map.set(name.toLowerCase(), value),
  }
}

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text)

function ok(result: DecodeResult | undefined): Decoded {
  assert.ok(result?.ok, `expected an entry, got ${JSON.stringify(result)}`)
  return result
}

function refused(result: DecodeResult | undefined, kind: string): void {
  assert.ok(result !== undefined && !result.ok, `expected a refusal, got ${JSON.stringify(result)}`)
  assert.equal(result.kind, kind, result.reason)
}

test('codec - block adds: IP and IP|TAG, canonical addresses, headers', () => {
  assert.deepEqual(ok(decodeAdd('block', bytes('203.0.113.7'))).entry, {target: parseAddress('203.0.113.7')})
  assert.deepEqual(ok(decodeAdd('block', '2001:DB8::0:1|ssh')).entry, {tag: 'ssh', target: parseAddress('2001:db8::1')})
  assert.equal(ok(decodeAdd('block', '::ffff:198.51.100.2')).entry.target.text, '198.51.100.2')
  assert.equal(ok(decodeAdd('block', '2001:db8:1:2::/64|port-scan')).entry.target.text, '2001:db8:1:2::/64')
  const h = headers()
  h.set(HEADER.timeout, '900')
  h.set(HEADER.reason, 'port-scan 23/tcp from a long story')
  h.set(HEADER.port, '23')
  h.set(HEADER.protocol, 'tcp')
  h.set(HEADER.origin, 'web2')
  h.set(HEADER.seq, '42')
  const d = ok(decodeAdd('block', bytes('203.0.113.7|port-scan'), h))
  assert.deepEqual(d.entry, {origin: 'web2', tag: 'port-scan 23/tcp from a long story', target: parseAddress('203.0.113.7'), ttlSec: 900})
  assert.deepEqual(d.meta, {port: 23, protocol: 'tcp', seq: 42})
})

test('codec - allow adds carry a comment', () => {
  const d = ok(decodeAdd('allow', '198.51.100.0/24|office VPN | 2nd floor'))
  assert.deepEqual(d.entry, {comment: 'office VPN | 2nd floor', target: parseNetwork('198.51.100.0/24')})
  refused(decodeAdd('allow', `198.51.100.1|${'é'.repeat(200)}`), 'comment')
  refused(decodeAdd('allow', '198.51.100.1|say "hi"'), 'comment')
})

test('codec - hostile and malformed payloads are refused with a kind', () => {
  refused(decodeAdd('block', ''), 'empty')
  refused(decodeAdd('block', '   '), 'empty')
  refused(decodeAdd('block', bytes(`203.0.113.7|${'x'.repeat(600)}`)), 'oversized')
  refused(decodeAdd('block', new Uint8Array([0x31, 0xff, 0xfe])), 'encoding')
  refused(decodeAdd('block', '203.0.113.7\nflush ruleset'), 'encoding')
  refused(decodeAdd('block', '203.0.113.7; flush ruleset'), 'address')
  refused(decodeAdd('block', '1.2.3.4.5'), 'address')
  refused(decodeAdd('block', '01.2.3.4'), 'address')
  refused(decodeAdd('block', 'fe80::1%eth0'), 'address')
  refused(decodeAdd('block', 'example.com'), 'address')
  refused(decodeAdd('block', `203.0.113.7|${'t'.repeat(65)}`), 'tag')
  refused(decodeAdd('block', '203.0.113.7|ssh|x'), 'tag')
  refused(decodeAdd('block', '203.0.113.7| ssh'), 'tag')
  const bad = (name: string, value: string) => {
    const h = headers()
    h.set(name, value)
    return decodeAdd('block', '203.0.113.7', h)
  }
  refused(bad(HEADER.timeout, '0'), 'header')
  refused(bad(HEADER.timeout, '-5'), 'header')
  refused(bad(HEADER.timeout, '1e9'), 'header')
  refused(bad(HEADER.port, '70000'), 'header')
  refused(bad(HEADER.protocol, 'TCP; drop'), 'header')
  refused(bad(HEADER.origin, 'a.b'), 'header')
  refused(bad(HEADER.seq, 'x'), 'header')
  refused(bad(HEADER.reason, 'r'.repeat(300)), 'header')
  // A huge timeout is capped to the ipset maximum rather than refused.
  assert.equal(ok(bad(HEADER.timeout, '99999999999')).entry.ttlSec, 2_147_483)
})

test('codec - deletes and the server broadcast', () => {
  assert.deepEqual(ok(decodeDel('203.0.113.7')).entry, {target: parseAddress('203.0.113.7')})
  assert.deepEqual(ok(decodeDel('203.0.113.7|ssh')).entry, {target: parseAddress('203.0.113.7')})
  refused(decodeDel('nope'), 'address')
  assert.deepEqual(ok(decodeGlobal('203.0.113.9|3600')).entry, {target: parseAddress('203.0.113.9'), ttlSec: 3600})
  assert.deepEqual(ok(decodeGlobal('203.0.113.9')).entry, {target: parseAddress('203.0.113.9')})
  refused(decodeGlobal('203.0.113.9|ssh'), 'timeout')
  refused(decodeGlobal('203.0.113.9|0'), 'timeout')
})

test('codec - encoding keeps the original text forms and round-trips', () => {
  const ban: WireEntry = {tag: 'port-scan 4444/tcp, third attempt in an hour', target: parseAddress('203.0.113.7'), ttlSec: 900}
  assert.equal(encodeAdd('block', ban), '203.0.113.7|port-scan 4444/tcp, third')
  assert.equal(encodeAdd('block', {tag: 'a|b', target: parseAddress('203.0.113.7')}), '203.0.113.7|a b')
  assert.equal(encodeAdd('block', {target: parseAddress('203.0.113.7')}), '203.0.113.7')
  assert.equal(encodeAdd('allow', {comment: 'office "A"', target: parseNetwork('198.51.100.0/24')}), "198.51.100.0/24|office 'A'")
  assert.equal(encodeDel(ban), '203.0.113.7')
  assert.equal(encodeGlobal(ban), '203.0.113.7|900')
  const h = entryHeaders({...ban, origin: 'web1'}, {port: 4444, protocol: 'tcp'})
  assert.ok(h)
  const back = ok(decodeAdd('block', encodeAdd('block', ban), h))
  assert.deepEqual(back.entry, {...ban, origin: 'web1'})
  assert.deepEqual(back.meta, {port: 4444, protocol: 'tcp'})
  assert.equal(entryHeaders({target: parseAddress('203.0.113.7')}), undefined)
})

test('codec - init lines in both lists', () => {
  assert.deepEqual(ok(decodeInitLine('block', '203.0.113.7 timeout 900')).entry, {target: parseAddress('203.0.113.7'), ttlSec: 900})
  assert.deepEqual(ok(decodeInitLine('block', '203.0.113.7')).entry, {target: parseAddress('203.0.113.7')})
  assert.equal(decodeInitLine('block', ''), undefined)
  assert.equal(decodeInitLine('block', '  \r'), undefined)
  assert.deepEqual(ok(decodeInitLine('allow', '198.51.100.0/24 comment "office VPN"')).entry,
    {comment: 'office VPN', target: parseNetwork('198.51.100.0/24')})
  assert.deepEqual(ok(decodeInitLine('allow', '198.51.100.7 timeout 900')).entry, {target: parseAddress('198.51.100.7'), ttlSec: 900})
  refused(decodeInitLine('block', '203.0.113.7 timeout'), 'syntax')
  refused(decodeInitLine('block', '203.0.113.7 timeout 9x'), 'timeout')
  refused(decodeInitLine('block', '203.0.113.7 timeout 9 timeout 9'), 'syntax')
  refused(decodeInitLine('block', '203.0.113.7 comment "x"'), 'syntax')
  refused(decodeInitLine('block', '203.0.113.7 }; flush ruleset; {'), 'syntax')
  refused(decodeInitLine('allow', '198.51.100.7 comment "open'), 'syntax')
  refused(decodeInitLine('block', `203.0.113.7 ${'x'.repeat(600)}`), 'oversized')
  for (const entry of [{target: parseAddress('2001:db8::7'), ttlSec: 60}, {comment: 'lab', target: parseNetwork('10.0.0.0/8')}]) {
    const list = entry.ttlSec === undefined ? 'allow' : 'block'
    assert.deepEqual(ok(decodeInitLine(list, encodeInitLine(list, entry))).entry, entry)
  }
})

test('codec - a reply chunk is decoded line by line, blank lines skipped, bad lines refused', () => {
  const results = [...decodeInitChunk('block', bytes('\n203.0.113.1 timeout 60\n\nbogus\n203.0.113.2 timeout 61\n'))]
  assert.equal(results.length, 3)
  assert.equal(ok(results[0]).entry.target.text, '203.0.113.1')
  refused(results[1], 'address')
  assert.equal(ok(results[2]).entry.ttlSec, 61)
  refused([...decodeInitChunk('block', new Uint8Array([0xc3, 0x28]))][0], 'encoding')
  refused([...decodeInitChunk('block', `${'1'.repeat(1000)}\n203.0.113.1`)][0], 'oversized')
})

test('codec - a control character in one line of a chunk refuses that line only; CRLF line ends pass', () => {
  const results = [...decodeInitChunk('block', '203.0.113.1 timeout 60\n203.0.113.2\u0007 timeout 60\n203.0.113.3 timeout\t60\n203.0.113.4 timeout 62\n')]
  assert.equal(results.length, 4)
  assert.equal(ok(results[0]).entry.target.text, '203.0.113.1')
  refused(results[1], 'encoding')
  refused(results[2], 'encoding')
  assert.equal(ok(results[3]).entry.ttlSec, 62)
  const crlf = [...decodeInitChunk('block', '203.0.113.5 timeout 60\r\n203.0.113.6 timeout 61\r\n')]
  assert.deepEqual(crlf.map((r) => ok(r).entry.target.text), ['203.0.113.5', '203.0.113.6'])
  refused([...decodeInitChunk('block', '203.0.113.7\r timeout 60\n')][0], 'encoding')
})

test('codec - initReplyChunks packs any number of lines under the payload limit', async () => {
  function* entries(): Generator<WireEntry> {
    for (let i = 0; i < 5000; i++) yield {target: parseAddress(`10.0.${i >> 8}.${i & 255}`), ttlSec: 900 + i}
  }
  const chunks: Uint8Array[] = []
  for await (const chunk of initReplyChunks('block', entries(), 4096)) chunks.push(chunk)
  assert.ok(chunks.length > 10)
  for (const c of chunks) assert.ok(c.byteLength <= 4096)
  const decoded = chunks.flatMap((c) => [...decodeInitChunk('block', c)]).map((r) => ok(r).entry)
  assert.equal(decoded.length, 5000)
  assert.deepEqual(decoded[4999], {target: parseAddress('10.0.19.135'), ttlSec: 5899})
})

test('codec - stream request and end headers', () => {
  assert.equal(wantsStream(initRequestHeaders()), true)
  assert.equal(wantsStream(initRequestHeaders(false)), false)
  assert.equal(wantsStream(undefined), false)
  assert.equal(streamCount(endOfStreamHeaders(12)), 12)
  assert.equal(streamCount(headers()), undefined)
  // Every message of a streamed reply but the last says so: a host reads on after it.
  assert.equal(streamChunkHeaders().get(HEADER.stream), '1')
})
