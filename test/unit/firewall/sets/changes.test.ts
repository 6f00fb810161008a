import assert from 'node:assert/strict'
import {mkdtemp, readFile, rm, stat, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {after, before, test} from 'node:test'

import {ChangeMarkingBackend, MemoryBackend, readSetsChanged} from '../../../../src/lib/firewall/sets/index.js'
import {parseAddress} from '../../../../src/lib/net/index.js'

let dir: string
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'diswall-changes-'))
})
after(async () => {
  await rm(dir, {force: true, recursive: true})
})

test('ChangeMarkingBackend - a commit with changes writes sets.changed (0600, directory 0700); reads and empty commits do not', async () => {
  const stateDir = join(dir, 'new', 'state')
  const fw = new ChangeMarkingBackend(new MemoryBackend(), stateDir, {what: 'block add'})
  assert.deepEqual(await fw.commit(), {added: 0, removed: 0})
  assert.equal(await fw.count('block'), 0)
  assert.deepEqual(await fw.list('block'), [])
  assert.equal(await readSetsChanged(stateDir), undefined)

  const before = Date.now()
  fw.add('block', {target: parseAddress('203.0.113.7'), ttlSec: 600})
  assert.equal(fw.pending, 1)
  assert.deepEqual(await fw.commit(), {added: 1, removed: 0})
  const changed = await readSetsChanged(stateDir)
  assert.ok(changed !== undefined && changed >= before - 1000 && changed <= Date.now() + 1000, String(changed))
  assert.equal((await stat(join(stateDir, 'sets.changed'))).mode & 0o777, 0o600)
  assert.equal((await stat(stateDir)).mode & 0o777, 0o700)
  assert.match(await readFile(join(stateDir, 'sets.changed'), 'utf8'), /^changed \S+Z by block add \(pid \d+\)\n$/)
})

test('ChangeMarkingBackend - a failed commit and a replace mark too; a marker that cannot be written is a warning, the write stands', async () => {
  const stateDir = join(dir, 'failing', 'state')
  const inner = new MemoryBackend()
  inner.commit = async () => {
    throw new Error('ipset v7.17: Error in line 2: Kernel error received: set is full')
  }
  const fw = new ChangeMarkingBackend(inner, stateDir)
  fw.del('block', parseAddress('203.0.113.8'))
  await assert.rejects(fw.commit(), /set is full/)
  assert.notEqual(await readSetsChanged(stateDir), undefined)

  const file = join(dir, 'a-file')
  await writeFile(file, '')
  const warnings: string[] = []
  const blocked = new ChangeMarkingBackend(new MemoryBackend(), join(file, 'state'), {onError: (m) => warnings.push(m)})
  await blocked.replace('block', [{target: parseAddress('203.0.113.9')}])
  assert.deepEqual((await blocked.list('block')).map((e) => e.target.text), ['203.0.113.9'])
  assert.equal(warnings.length, 1)
  assert.match(warnings[0]!, /^cannot record the change of the kernel sets in .*sets\.changed .*: .*(?:ENOTDIR|EEXIST)/)
})

test('ChangeMarkingBackend - a single add or delete of a backend that has them marks only when it changed something', async () => {
  const stateDir = join(dir, 'single', 'state')
  const answers: Array<boolean | undefined> = [false, undefined, true]
  const inner = Object.assign(new MemoryBackend(), {
    addIfAbsent: async () => answers.shift(),
    delIfPresent: async () => false,
  })
  const fw = new ChangeMarkingBackend(inner, stateDir)
  const target = parseAddress('203.0.113.10')
  assert.equal(await fw.addIfAbsent({target, ttlSec: 60}), false)
  assert.equal(await fw.addIfAbsent({target, ttlSec: 60}), undefined)
  assert.equal(await fw.delIfPresent(target), false)
  assert.equal(await readSetsChanged(stateDir), undefined, 'nothing changed yet')
  assert.equal(await fw.addIfAbsent({target, ttlSec: 60}), true)
  assert.notEqual(await readSetsChanged(stateDir), undefined)

  // A backend without them: the wrapper says it cannot tell, so the caller takes test and commit.
  const plain = new ChangeMarkingBackend(new MemoryBackend(), stateDir)
  assert.equal(await plain.addIfAbsent({target, ttlSec: 60}), undefined)
  assert.equal(await plain.delIfPresent(target), undefined)
})
