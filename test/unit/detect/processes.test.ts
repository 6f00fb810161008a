import assert from 'node:assert/strict'
import {test} from 'node:test'

import {PROCESS_TTL_MS, ProcessTable, syslogHeader, syslogPid} from '../../../src/lib/detect/index.js'

test('processes - the PID comes from the syslog header only (traditional, RFC 3339, RFC 5424)', () => {
  const cases: Array<[string, number | undefined]> = [
    ['May  1 09:14:04 web1 sshd[31337]: Failed password for root from 203.0.113.7 port 1 ssh2', 31_337],
    ['2024-05-01T09:30:05.123+00:00 web1 postfix/smtpd[4101]: warning: x', 4101],
    ['<38>1 2024-05-01T09:14:04Z web1 sshd 31338 - - Invalid user a from 203.0.113.7 port 5', 31_338],
    ['<38>1 2024-05-01T09:14:04Z web1 sshd - - - x', undefined],
    ['May  1 09:14:04 web1 sudo: alice : x [12]: y', undefined], // a "[N]: " in the message is not the header's
    ['May  1 09:14:04 web1 sshd[3a]: x', undefined],
    ['May  1 09:14:04 web1 sshd[99999999999]: x', undefined],
    ['x y z[1]: a', undefined],
    ['', undefined],
  ]
  for (const [line, pid] of cases) assert.equal(syslogPid(line), pid, line)
  assert.deepEqual(syslogHeader('May  1 09:14:04 web1 sudo: x'), {program: 'sudo'})
})

test('processes - state is per source and PID, expires, and stays bounded under a flood of PIDs', () => {
  const table = new ProcessTable(1000)
  const a = table.get('unit:ssh.service', 7, 0)
  a.counted = true
  assert.equal(table.get('unit:ssh.service', 7, 1000), a)
  assert.notEqual(table.get('/var/log/auth.log', 7, 1000), a) // another source, another process
  // A PID seen again after the lifetime is a new process (PIDs are reused).
  const reused = table.get('unit:ssh.service', 7, 1000 + PROCESS_TTL_MS + 1)
  assert.notEqual(reused, a)
  assert.equal(reused.counted, false)
  assert.equal(table.peek('unit:ssh.service', 8, 0), undefined)
  for (let pid = 100; pid < 100_100; pid++) table.get('unit:ssh.service', pid, 5000)
  assert.ok(table.size <= 1000, String(table.size))
  // The newest stay, the oldest went first.
  assert.notEqual(table.peek('unit:ssh.service', 100_099, 5000), undefined)
  assert.equal(table.peek('unit:ssh.service', 100, 5000), undefined)
})
