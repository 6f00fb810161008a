import assert from 'node:assert/strict'
import {test} from 'node:test'

import {locateKeys} from '../../../src/lib/config/locate.js'

const TEXT = [
  '# comment with key = 1', //                1
  'local_only = false', //                    2
  'ignore_ips = [', //                        3
  '  "10.0.0.0/8", # [nats] not a header', // 4
  '', //                                      5
  '  "192.0.2.7",', //                        6
  ']', //                                     7
  'note = """', //                            8
  '[firewall]', //                            9
  'port = 1', //                              10
  '"""', //                                   11
  '[nats]  # the section', //                 12
  'server = "a=b"', //                        13
  '"quoted key" = 1', //                      14
  'tls.ca = "x"', //                          15
  '[ detect . sub ]', //                      16
  'x = { y = 1 }', //                         17
].join('\n')

test('config locate - finds top-level keys, section keys and headers', () => {
  const at = locateKeys(TEXT)
  assert.equal(at.lineOf(['local_only']), 2)
  assert.equal(at.lineOf(['ignore_ips']), 3)
  assert.equal(at.lineOf(['nats']), 12)
  assert.equal(at.lineOf(['nats', 'server']), 13)
  assert.equal(at.lineOf(['nats', 'quoted key']), 14)
  assert.equal(at.lineOf(['nats', 'tls', 'ca']), 15)
})

test('config locate - skips comments, multi-line strings and multi-line arrays', () => {
  const at = locateKeys(TEXT)
  assert.equal(at.lineOf(['note']), 8)
  assert.equal(at.lineOf(['firewall']), undefined) // inside the """ string
  assert.equal(at.lineOf(['firewall', 'port']), undefined)
  assert.equal(at.lineOf(['key']), undefined) // inside a comment
})

test('config locate - finds the line of each element of an array', () => {
  const at = locateKeys(TEXT)
  assert.equal(at.lineOf(['ignore_ips'], 0), 4)
  assert.equal(at.lineOf(['ignore_ips'], 1), 6)
  assert.equal(at.lineOf(['ignore_ips'], 2), 3) // no such element: the key's line
})

test('config locate - falls back to the first key under a path and to the enclosing key', () => {
  const at = locateKeys(TEXT)
  assert.equal(at.lineOf(['detect']), 16) // only [detect.sub] exists
  assert.equal(at.lineOf(['nats', 'tls']), 15) // only tls.ca exists
  assert.equal(at.lineOf(['detect', 'sub', 'x', 'y']), 17) // inside an inline table
})

test('config locate - handles CRLF line ends and a byte order mark', () => {
  const at = locateKeys('\uFEFFa = 1\r\n[nats]\r\nport = 2\r\n')
  assert.equal(at.lineOf(['a']), 1)
  assert.equal(at.lineOf(['nats', 'port']), 3)
})
