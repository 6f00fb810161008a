import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, test} from 'node:test'

import {KmsgPositionWriter, loadKmsgPosition} from '../../../../src/lib/detect/sources/index.js'

const dirs: string[] = []
after(async () => {
  for (const dir of dirs) await rm(dir, {force: true, recursive: true})
})

const tempDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'dw-kmsg-pos-'))
  dirs.push(dir)
  return dir
}

const BOOT = '26b95521-8181-491c-8714-8a36c3c3c825'
const OTHER_BOOT = '0d0c3f36-7a43-4a3e-9b3c-3c3c3c3c3c3c'

test('kmsg position - a position of this boot is read back; one of another boot, a damaged or missing file are not', async () => {
  const dir = await tempDir()
  const path = join(dir, 'kmsg.position')
  assert.equal(await loadKmsgPosition(path, BOOT), undefined)
  await writeFile(path, `diswall kmsg position v1 ${BOOT} 12345\n`)
  assert.equal(await loadKmsgPosition(path, BOOT), 12345)
  assert.equal(await loadKmsgPosition(path, OTHER_BOOT), undefined, 'sequence numbers start again with each boot')
  for (const text of [`diswall kmsg position v1 ${BOOT.slice(0, 20)}`, `diswall kmsg position v2 ${BOOT} 1\n`, `diswall kmsg position v1 ${BOOT} -1\n`, '']) {
    await writeFile(path, text)
    assert.equal(await loadKmsgPosition(path, BOOT), undefined, JSON.stringify(text))
  }
})

test('kmsg position - the writer keeps the latest sequence number of this boot, in a directory it creates', async () => {
  const dir = await tempDir()
  const path = join(dir, 'state', 'kmsg.position')
  const writer = new KmsgPositionWriter(path)
  writer.note(7)
  writer.note(9)
  await writer.flush()
  const boot = (await readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim()
  assert.equal(await readFile(path, 'utf8'), `diswall kmsg position v1 ${boot} 9\n`)
  assert.equal(await loadKmsgPosition(path), 9)
  // Without flush(): written within a second of the record.
  writer.note(11)
  const deadline = Date.now() + 5000
  while ((await loadKmsgPosition(path)) !== 11) {
    assert.ok(Date.now() < deadline, 'the position was not written within 5 s')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
})
