import assert from 'node:assert/strict'
import {mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {test} from 'node:test'

import {parseAddress} from '../../../src/lib/net/index.js'
import {ReportQueue} from '../../../src/lib/transport/index.js'

test('ReportQueue - bounded: the oldest report goes and is counted', () => {
  const q = new ReportQueue({max: 3})
  for (let i = 1; i <= 5; i++) q.add('add', 'block', {target: parseAddress(`203.0.113.${i}`)})
  assert.equal(q.size, 3)
  assert.equal(q.dropped, 2)
  assert.deepEqual(q.takeAll().map((r) => r.entry.target.text), ['203.0.113.3', '203.0.113.4', '203.0.113.5'])
  assert.equal(q.size, 0)
})

test('ReportQueue - kept in one file across a restart; hostile lines skipped; the file goes once empty', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dw-queue-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  const path = join(dir, 'nats-queue.jsonl')
  const q = new ReportQueue({path})
  q.add('add', 'block', {tag: 'ssh', target: parseAddress('203.0.113.7'), ttlSec: 900})
  q.add('del', 'allow', {target: parseAddress('198.51.100.9')})
  await q.flush()
  const text = readFileSync(path, 'utf8')
  assert.equal(text.split('\n').filter(Boolean).length, 2)
  writeFileSync(path, `${text}{"op":"add","list":"block","target":"203.0.113.7; flush","at":1}\nnot json\n{"op":"rm","list":"block","target":"1.2.3.4","at":1}\n`)
  const again = new ReportQueue({path})
  assert.equal(await again.load(), 2)
  const reports = again.takeAll()
  assert.deepEqual(reports.map((r) => [r.op, r.list, r.entry.target.text, r.entry.tag, r.entry.ttlSec]),
    [['add', 'block', '203.0.113.7', 'ssh', 900], ['del', 'allow', '198.51.100.9', undefined, undefined]])
  await again.flush()
  assert.equal(existsSync(path), false)
})
