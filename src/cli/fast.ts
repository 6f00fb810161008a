/**
 * The fast path of bin/run.js: runs the commands that scripts and Ansible call in loops (`block add|del|
 * list`, `allow add|del|list`, `status`, `why`) without loading @oclif/core, whose start-up costs more
 * CPU than the command itself. The same flag definitions (./spec.ts), command bodies (./run.ts), output,
 * `--json` envelope and exit codes as the oclif commands; whatever the parser does not take plainly
 * (`--help`, an unknown flag, a missing value, …) or a run without root goes to oclif, which reports it.
 */
import {format} from 'node:util'

import {isRoot} from '../lib/system/index.js'
import {errorEnvelope, fromOclif, jsonRequested} from './io.js'
import type {CommandIo} from './io.js'
import type {AllowAddFlags, BlockAddFlags, ListDelFlags} from './lists.js'
import type * as Lists from './lists.js'
import {parseFast} from './parse.js'
import type {FastParse} from './parse.js'
import {ALLOW_ADD, ALLOW_DEL, BLOCK_ADD, BLOCK_DEL, LIST, STATUS, WHY} from './spec.js'
import type {CommandSpec} from './spec.js'

/** Set to "0" to send every run to oclif (tests compare both paths). */
export const FAST_PATH_ENV = 'DISWALL_FAST_PATH'

interface FastCommand {
  run(io: CommandIo, parsed: FastParse): Promise<unknown>
  spec: CommandSpec
}

// Each command loads only its own body: `status` does not load the firewall, `block add` not the daemon.
const lists = (): Promise<typeof Lists> => import('./lists.js')
const blockDel: FastCommand = {run: async (io, p) => (await lists()).runListDel(io, 'block', p.argv, p.flags as unknown as ListDelFlags), spec: BLOCK_DEL}
const allowDel: FastCommand = {run: async (io, p) => (await lists()).runListDel(io, 'allow', p.argv, p.flags as unknown as ListDelFlags), spec: ALLOW_DEL}
const blockList: FastCommand = {run: async (io, p) => (await lists()).runList(io, 'block', p.flags as {config: string}), spec: LIST}
const allowList: FastCommand = {run: async (io, p) => (await lists()).runList(io, 'allow', p.flags as {config: string}), spec: LIST}

/** The commands of the fast path, by the words that name them (with the aliases oclif knows). */
const COMMANDS: ReadonlyMap<string, FastCommand> = new Map([
  ['allow add', {run: async (io, p) => (await lists()).runAllowAdd(io, p.argv, p.flags as unknown as AllowAddFlags), spec: ALLOW_ADD}],
  ['allow del', allowDel],
  ['allow list', allowList],
  ['allow ls', allowList],
  ['allow rm', allowDel],
  ['block add', {run: async (io, p) => (await lists()).runBlockAdd(io, p.argv, p.flags as unknown as BlockAddFlags), spec: BLOCK_ADD}],
  ['block del', blockDel],
  ['block list', blockList],
  ['block ls', blockList],
  ['block rm', blockDel],
  ['status', {run: async (io, p) => (await import('./status.js')).runStatus(io, p.flags as {config: string; timeout: number}), spec: STATUS}],
  ['why', {run: async (io, p) => (await import('./why.js')).runWhy(io, p.args.address!, p.flags as {config: string}), spec: WHY}],
] satisfies Array<[string, FastCommand]>)

/** The fast-path command `argv` names and the arguments that follow its name; undefined for any other. */
export function fastCommand(argv: readonly string[]): undefined | {command: FastCommand; rest: string[]} {
  const two = COMMANDS.get(`${argv[0]} ${argv[1]}`)
  if (two !== undefined) return {command: two, rest: argv.slice(2)}
  const one = argv[0] === undefined ? undefined : COMMANDS.get(argv[0])
  return one === undefined ? undefined : {command: one, rest: argv.slice(1)}
}

/**
 * Runs `argv` on the fast path if it can; returns false, having done nothing, when oclif must run it.
 * Sets process.exitCode as the oclif command would.
 */
export async function runFast(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env[FAST_PATH_ENV] === '0') return false
  const found = fastCommand(argv)
  if (found === undefined) return false
  const parsed = parseFast(found.command.spec, found.rest, env)
  // Without root, oclif runs the command: its root check reports usage and config errors first.
  if (parsed === undefined || (found.command.spec.requiresRoot && !isRoot())) return false

  const json = jsonRequested(argv, env)
  const warnings: string[] = []
  // As oclif's this.log() and DiswallCommand.warnUser() print.
  const io: CommandIo = {
    json,
    log(message) {
      if (!json) console.log(format(message))
    },
    warn(message) {
      warnings.push(message)
      if (!json) console.error(format(`warning: ${message}`))
    },
  }
  try {
    const result = await found.command.run(io, parsed)
    if (result && json) await printJson({ok: true, result, warnings})
  } catch (error) {
    const e = fromOclif(error)
    process.exitCode = e.exitCode
    if (json) {
      await printJson(errorEnvelope(e, warnings))
    } else {
      // The text of an error loads oclif: it is coloured as the commands colour it.
      const {renderErrorText} = await import('../base-command.js')
      process.stderr.write(renderErrorText(e))
    }
  }

  return true
}

/** The envelope on stdout as DiswallCommand.logJson() prints it: plain in a pipe, coloured by oclif on a terminal. */
async function printJson(json: unknown): Promise<void> {
  if (!process.stdout.isTTY) {
    process.stdout.write(JSON.stringify(json, null, 2) + '\n')
    return
  }
  const {ux} = await import('@oclif/core')
  ux.stdout(ux.colorizeJson(json, {pretty: true}))
}
