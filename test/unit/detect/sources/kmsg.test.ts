import assert from 'node:assert/strict'
import {execFileSync} from 'node:child_process'
import {mkdtemp, open, rm} from 'node:fs/promises'
import type {FileHandle} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {escapeKmsgText, KmsgSource, LogSourceError, parseKmsgRecord, unescapeKmsgText} from '../../../../src/lib/detect/sources/index.js'

test('kmsg parser - reads priority, sequence, timestamp, flags and message', () => {
  const record = parseKmsgRecord('4,1234,5295769058,-;diswall-log: IN=eth0 OUT= SRC=203.0.113.7 DST=198.51.100.1 PROTO=TCP SPT=40000 DPT=22 \n')
  assert.deepEqual(record, {
    facility: 0,
    flags: '-',
    level: 4,
    message: 'diswall-log: IN=eth0 OUT= SRC=203.0.113.7 DST=198.51.100.1 PROTO=TCP SPT=40000 DPT=22 ',
    priority: 4,
    properties: {},
    seq: 1234,
    timestampUsec: 5_295_769_058,
  })
})

test('kmsg parser - user-space records carry their facility', () => {
  const record = parseKmsgRecord('14,7,100,-;hello\n')
  assert.equal(record?.facility, 1)
  assert.equal(record?.level, 6)
})

test('kmsg parser - continuation lines become properties, not message text', () => {
  const raw = '6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n DEVICE=+net:eth\\x5c0\n'
  const record = parseKmsgRecord(raw)
  assert.equal(record?.message, 'NET: Registered protocol family 10')
  assert.deepEqual(record?.properties, {DEVICE: '+net:eth\\0', SUBSYSTEM: 'net'})
})

test('kmsg parser - extra header fields (caller=) after the flags are accepted', () => {
  const record = parseKmsgRecord('4,99,12,-,caller=T123;text\n')
  assert.equal(record?.seq, 99)
  assert.equal(record?.flags, '-')
  assert.equal(record?.message, 'text')
})

test('kmsg parser - escaped bytes \\xNN are decoded as UTF-8', () => {
  // The kernel escapes control characters, the backslash and every byte from 0x7f up.
  const record = parseKmsgRecord('4,1,1,-;caf\\xc3\\xa9 tab\\x09here back\\x5cslash nl\\x0aend\n')
  assert.equal(record?.message, 'café tab\there back\\slash nl\nend')
})

test('kmsg parser - text that is not a record gives undefined', () => {
  for (const raw of ['', 'no semicolon here', 'a,b,c,d;msg', '4,1;too few fields', '4,x,1,-;bad seq']) {
    assert.equal(parseKmsgRecord(raw), undefined, raw)
  }
})

test('kmsg escaping - escape and unescape are inverse and match the kernel', () => {
  assert.equal(escapeKmsgText('dw: café\t\\'), 'dw: caf\\xc3\\xa9\\x09\\x5c')
  for (const text of ['plain', 'diswall-log: ', 'ümlaut \\ and \u0001', '\\x41 literal']) {
    assert.equal(unescapeKmsgText(escapeKmsgText(text)), text)
  }
  // A backslash not followed by two hex digits stays (the kernel never writes one).
  assert.equal(unescapeKmsgText('a\\xZZ \\x4'), 'a\\xZZ \\x4')
})

test('kmsg source - a missing device fails with a hint to use another source', async () => {
  const source = new KmsgSource({device: '/nonexistent/dw-kmsg'})
  await assert.rejects(
    (async () => {
      for await (const _ of source.start()) assert.fail('no line expected')
    })(),
    (error: unknown) => {
      assert.ok(error instanceof LogSourceError, String(error))
      assert.match(error.message, /\/nonexistent\/dw-kmsg does not exist/)
      assert.match(error.hint ?? '', /journal/)
      return true
    },
  )
  assert.equal(source.health().state, 'failed')
})

test('kmsg source - the reader thread delivers matching records from the device, unescaped, and counts gaps as lost', {timeout: 20_000}, async () => {
  // A FIFO stands in for /dev/kmsg: each write read on its own is one record. Polling reads, so that the
  // thread starts at the end without waiting for a writer.
  const dir = await mkdtemp(join(tmpdir(), 'dw-kmsg-fifo-'))
  const device = join(dir, 'kmsg')
  execFileSync('mkfifo', [device])
  const source = new KmsgSource({device, match: ['dw-unit: '], pollIntervalMs: 1})
  const lines = source.start()
  const first = lines.next()
  let writer: FileHandle | undefined
  try {
    await until(() => source.health().state === 'running')
    writer = await open(device, 'w')
    // Not matched, so never delivered; only the gap before it shows that the thread read it.
    await writer.write('4,3,2000000,-;other text\n')
    await until(() => source.health().lost === 3)
    await writer.write('4,4,3000000,-;dw-unit: caf\\xc3\\xa9 SRC=203.0.113.7\n')
    const line = await first
    assert.equal(line.done, false)
    assert.equal(line.value?.text, 'dw-unit: café SRC=203.0.113.7')
    assert.equal(line.value?.source, 'kmsg')
    await writer.write('4,7,4000000,-;dw-unit: second\n')
    assert.equal((await lines.next()).value?.text, 'dw-unit: second')
    assert.equal(source.health().lost, 5) // 0, 1, 2, then 5 and 6 never came
  } finally {
    await source.close()
    await writer?.close()
    await rm(dir, {force: true, recursive: true})
  }
  assert.equal(source.health().state, 'stopped')
})

/** Resolves once `check()` holds; polls every 5 ms. */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5))
}
