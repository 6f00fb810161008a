import assert from 'node:assert/strict'
import {chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {test} from 'node:test'

import {findProgram, labRequirementsProblem} from '../../../src/lib/lab/index.js'

test('findProgram - finds executable files in PATH, skipping others', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dw-path-'))
  t.after(() => rmSync(dir, {force: true, recursive: true}))
  const [first, second] = [join(dir, 'a'), join(dir, 'b')]
  mkdirSync(first)
  mkdirSync(second)
  writeFileSync(join(first, 'tool'), '#!/bin/sh\n', {mode: 0o644}) // not executable
  writeFileSync(join(second, 'tool'), '#!/bin/sh\n', {mode: 0o755})
  mkdirSync(join(first, 'adir')) // a directory is not a program
  chmodSync(join(first, 'adir'), 0o755)
  const path = ['', first, second].join(delimiter)

  assert.equal(findProgram('tool', path), join(second, 'tool'))
  assert.equal(findProgram('adir', path), undefined)
  assert.equal(findProgram('missing', path), undefined)
  assert.equal(findProgram(join(second, 'tool'), ''), join(second, 'tool'), 'a path with a slash is checked as it is')
  assert.equal(findProgram(join(first, 'tool'), path), undefined)
})

test('labRequirementsProblem - names the missing programs, or returns undefined', () => {
  assert.equal(labRequirementsProblem({programs: [process.execPath], root: false}), undefined)
  assert.equal(labRequirementsProblem({programs: ['dw-no-such-a', process.execPath, 'dw-no-such-b'], root: false}),
    'missing programs: dw-no-such-a, dw-no-such-b (not in PATH)')
})

test('labRequirementsProblem - needs root unless told otherwise', () => {
  const isRoot = process.getuid?.() === 0
  assert.equal(labRequirementsProblem(), isRoot ? undefined : 'not running as root')
  assert.equal(labRequirementsProblem({programs: ['dw-no-such-a']}),
    `${isRoot ? '' : 'not running as root; '}missing programs: dw-no-such-a (not in PATH)`)
})
