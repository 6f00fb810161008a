/**
 * `diswall firewall apply` never hangs and never leaves a half-applied ruleset, whatever its local.d
 * scripts do: the built CLI runs inside a network namespace (both backends) with a firewall directory
 * whose local.d scripts keep pipes open or outlive the timeout, and is stopped by SIGTERM or SIGINT
 * while a script runs. Every firewall program
 * runs inside that namespace only; every process the scripts start lives in it and goes with it.
 */
import assert from 'node:assert/strict'
import {existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {after, before, beforeEach, describe, it} from 'node:test'

import {cleanupAll, createNetns, listNetns, type Netns, type SpawnedProcess, uniqueLogPrefix, waitFor, makeTempDir} from '../../src/lib/lab/index.js'
import {processGroupMembers} from '../../src/lib/system/index.js'
import {CLI} from '../helpers/cli.js'
import {normaliseSave, put} from '../helpers/files.js'
import {integrationSkip} from '../helpers/root.js'

const skip = integrationSkip({programs: ['ip', 'ipset', 'iptables', 'ip6tables', 'iptables-save', 'ip6tables-save', 'iptables-restore', 'nft', 'sh', 'sleep']})

/** How long the CLI may take before the test calls it hung: far above the 2 s script timeout it is given. */
const CLI_DEADLINE_MS = 40_000

after(async () => {
  // Safety net only: every describe removes its own namespace, processes and files.
  await cleanupAll()
})

/** A PID a script wrote to `path`, once it is there. */
async function pidIn(path: string): Promise<number> {
  return waitFor(() => {
    const pid = Number.parseInt(readFileSync(path, 'utf8'), 10)
    return Number.isInteger(pid) ? pid : undefined
  }, {timeoutMs: CLI_DEADLINE_MS, what: `a PID in ${path}`})
}

/** Whether `pid` is a live process (not gone, not a zombie). */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!)
  } catch {
    return false
  }
}

for (const backend of ['ipset', 'nftables'] as const) {
  describe(`firewall apply never hangs (${backend})`, {skip}, () => {
    let server: Netns
    let base: string
    let dir: string
    let stateDir: string
    let configFile: string
    let removeBase: () => void = () => {}

    /** Starts `diswall ARGS… -c CONFIG --json` inside the namespace, without waiting for it. */
    const start = (args: readonly string[]): SpawnedProcess =>
      server.spawn(process.execPath, [CLI, ...args, '-c', configFile, '--json'], {env: {NO_COLOR: '1'}})
    /** Waits until the CLI has exited (failing the test if it hangs) and returns its exit code and JSON. */
    const finish = async (cli: SpawnedProcess, what: string): Promise<{code: number | null; signal: string | null; json: any; text: string}> => {
      await waitFor(() => cli.exitStatus, {intervalMs: 50, timeoutMs: CLI_DEADLINE_MS, what: `${what} to exit (it hangs)`})
      const exit = await cli.exited
      const {stderr, stdout} = cli.output()
      let json: unknown
      try {
        json = JSON.parse(stdout)
      } catch {
        json = undefined
      }
      return {code: exit.code, json, signal: exit.signal, text: stdout + stderr}
    }
    const applyOk = async (...args: string[]): Promise<any> => {
      const result = await finish(start(['firewall', 'apply', ...args]), 'firewall apply')
      assert.equal(result.code, 0, result.text)
      assert.equal(result.json?.ok, true, result.text)
      return result.json
    }
    /** What a rollback must reproduce: both iptables dumps, and with nftables diswall's table without set elements. */
    const snapshot = async (): Promise<Record<string, string>> => ({
      ip6tables: normaliseSave(await server.run('ip6tables-save')),
      iptables: normaliseSave(await server.run('iptables-save')),
      ...(backend === 'nftables' ? {nft: await server.run('nft', ['-t', 'list', 'table', 'inet', 'diswall'])} : {}),
    })
    /** The program that lists diswall-in as the kernel has it, for a script to run while the new ruleset is loaded. */
    const listInput = backend === 'ipset' ? 'iptables -S diswall-in' : 'nft list chain inet diswall diswall-in'

    before(async () => {
      assert.ok(existsSync(CLI), `the CLI is not built (${CLI}): run npm run build first`)
      const temp = makeTempDir('dw-hang-')
      base = temp.path
      removeBase = () => temp.remove()
      dir = join(base, 'firewall')
      stateDir = join(base, 'state')
      configFile = join(base, 'diswall.conf')
      writeFileSync(configFile, [
        '[firewall]', `backend = "${backend}"`, `dir = ${JSON.stringify(dir)}`,
        '[daemon]', `state_dir = ${JSON.stringify(stateDir)}`,
        '[detect]', `log_prefix = ${JSON.stringify(uniqueLogPrefix('hang'))}`, '',
      ].join('\n'))
      server = await createNetns()
    })

    beforeEach(async () => {
      rmSync(dir, {force: true, recursive: true})
      for (const sub of ['incoming.d', 'outgoing.d', 'local.d']) mkdirSync(join(dir, sub), {recursive: true})
      for (const name of ['00-established', '05-essential-icmpv6', '10-ssh', '99-reject']) put(join(dir, 'incoming.d', name))
      await applyOk()
    })

    after(async () => {
      await server?.remove() // stops whatever a script left behind, too
      removeBase()
    })

    it(`firewall apply (${backend}) - a local.d script past --local-timeout whose child keeps stdout open is killed with its group, and the previous firewall comes back`, {timeout: 120_000}, async () => {
      const before = await snapshot()
      assert.doesNotMatch(before.iptables + (before.nft ?? ''), /9000/)
      put(join(dir, 'incoming.d', '30-9000'))
      put(join(dir, 'local.d', '50-slow'), [
        '#!/bin/sh',
        `echo $$ > ${base}/script.pid`,
        `${listInput} > ${base}/during`,
        `sleep 1000 & echo $! > ${base}/child.pid`, // keeps the script's stdout open
        'echo started',
        'sleep 1000', // past the timeout, in the foreground
        '',
      ].join('\n'), 0o755)

      const result = await finish(start(['firewall', 'apply', '--local-timeout', '2']), 'firewall apply with a hanging local.d script')
      assert.equal(result.code, 5, result.text)
      assert.equal(result.json?.ok, false, result.text)
      assert.equal(result.json.error.code, 'E_APPLY_FAILED')
      assert.match(result.json.error.message, /local\.d\/50-slow: .*50-slow timed out after 2 s; the previous firewall was restored$/)
      assert.match(result.json.error.hint, /--local-timeout/)

      assert.match(readFileSync(join(base, 'during'), 'utf8'), /9000/, 'the script ran with the new ruleset loaded')
      assert.deepEqual(await snapshot(), before, 'the previous firewall is back')
      const script = await pidIn(join(base, 'script.pid'))
      const child = await pidIn(join(base, 'child.pid'))
      assert.deepEqual(processGroupMembers(script), [], 'no process of the script\'s group is left')
      assert.equal(isAlive(child), false)
      assert.equal(existsSync(join(stateDir, 'firewall.lock')), false, 'the apply lock is free')

      rmSync(join(dir, 'local.d', '50-slow'))
      const again = await applyOk()
      assert.equal(again.result.applied, true)
      const [program, ...args] = listInput.split(' ')
      assert.match(await server.run(program!, args), /9000/)
    })

    it(`firewall apply (${backend}) - a successful local.d script that leaves a child holding its stdout does not hold the apply; the child keeps running and is reported`, {timeout: 120_000}, async () => {
      put(join(dir, 'local.d', '50-background'), [
        '#!/bin/sh',
        `sleep 1000 & echo $! > ${base}/bg.pid`,
        'echo started',
        '',
      ].join('\n'), 0o755)
      const result = await finish(start(['firewall', 'apply']), 'firewall apply with a background child')
      const child = await pidIn(join(base, 'bg.pid'))
      try {
        assert.equal(result.code, 0, result.text)
        assert.equal(result.json?.ok, true, result.text)
        assert.deepEqual(result.json.result.local, [{name: '50-background'}])
        assert.ok(isAlive(child), 'the background child is left running, as a shell leaves `cmd &`')
        assert.ok(result.json.warnings.some((w: string) => w.includes('local.d/50-background') && w.includes(`PID ${child}`)),
          JSON.stringify(result.json.warnings))
        assert.equal(existsSync(join(stateDir, 'firewall.lock')), false, 'the apply lock is free')
      } finally {
        try {
          process.kill(child, 'SIGKILL')
        } catch {
          // Already gone.
        }
      }
    })

    for (const [signal, exitCode] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
      it(`firewall apply (${backend}) - ${signal} while a local.d script runs kills the script's group, restores the previous firewall and exits ${exitCode}`, {timeout: 120_000}, async () => {
        const before = await snapshot()
        put(join(dir, 'incoming.d', '30-9000'))
        for (const name of ['script.pid', 'child.pid', 'during']) rmSync(join(base, name), {force: true})
        put(join(dir, 'local.d', '50-slow'), [
          '#!/bin/sh',
          `echo $$ > ${base}/script.pid`,
          `${listInput} > ${base}/during`,
          `sleep 1000 & echo $! > ${base}/child.pid`,
          'sleep 1000',
          '',
        ].join('\n'), 0o755)

        const cli = start(['firewall', 'apply'])
        const script = await pidIn(join(base, 'script.pid'))
        const child = await pidIn(join(base, 'child.pid')) // written after the new ruleset was listed
        assert.match(readFileSync(join(base, 'during'), 'utf8'), /9000/, 'the new ruleset is loaded while the script runs')
        process.kill(cli.pid, signal) // the CLI only, as systemd's KillMode=mixed or kill(1) would

        const result = await finish(cli, `firewall apply after ${signal}`)
        assert.equal(result.code, exitCode, result.text)
        assert.equal(result.json?.ok, false, result.text)
        assert.equal(result.json.error.code, 'E_INTERRUPTED')
        assert.equal(result.json.error.message, `firewall apply was interrupted by ${signal} at local.d/50-slow; the previous firewall was restored`)
        assert.deepEqual(await snapshot(), before, 'the previous firewall is back')
        assert.deepEqual(processGroupMembers(script), [], 'no process of the script\'s group is left')
        assert.equal(isAlive(child), false)
        assert.equal(existsSync(join(stateDir, 'firewall.lock')), false, 'the apply lock is free')
      })
    }
  })
}

describe('firewall apply never hangs - cleanup', {skip}, () => {
  it('firewall apply never hangs - leaves no namespace of this file behind', async () => {
    const ours = (await listNetns()).filter((name) => name.startsWith(`dw-${process.pid.toString(36)}-`))
    assert.deepEqual(ours, [])
  })
})
