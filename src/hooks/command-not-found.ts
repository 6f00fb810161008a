import type {Hook, Interfaces} from '@oclif/core'

import {jsonRequested, reportError} from '../base-command.js'
import {closest} from '../lib/config/index.js'
import {NotAvailableError, UnknownCommandError, UsageError} from '../lib/errors.js'
import type {DiswallError} from '../lib/errors.js'
import {LEGACY_COMMANDS, translateLegacyArgv} from '../lib/legacy-argv.js'

/**
 * What oclif calls when the words typed name no command. With topics separated by spaces, oclif
 * takes every word up to the first flag as the command, so this sees:
 * - an argument too many for a command that takes none (`block list 1.2.3.4` → `block:list:1.2.3.4`):
 *   the command itself runs and refuses it (E_USAGE), with --json too;
 * - a command of the original DisWall that this version lacks (`server`): E_NOT_AVAILABLE;
 * - anything else (`blok add`, `frobnicate`): E_UNKNOWN_COMMAND with the closest command as hint.
 * Each ends as a command's error would: the envelope on stdout with --json or DISWALL_CONTENT_TYPE=json,
 * the text on stderr otherwise, exit 2. An unknown command typed at a terminal first goes to
 * @oclif/plugin-not-found, which offers the closest command and runs it when accepted. That plugin is
 * called from here rather than registered in package.json: oclif runs the hooks of all plugins at once,
 * and two answers to one typo (one waiting for a key) would mix.
 */
const hook: Hook.CommandNotFound = async function (opts) {
  const {argv, words} = typed(opts.id, opts.argv ?? [])
  for (let n = words.length - 1; n > 0; n--) {
    const id = words.slice(0, n).join(':')
    if (opts.config.findCommand(id)) return opts.config.runCommand(id, [...words.slice(n), ...argv])
  }
  const error = notFound(opts.config, words)
  const json = jsonRequested([...words, ...argv])
  // At a terminal, @oclif/plugin-not-found asks "Did you mean …?" and runs the answer; scripts (stdin not
  // a terminal, or --json) get the error at once, exit 2, and nothing waits for an answer.
  if (error instanceof UnknownCommandError && !json && process.stdin.isTTY && process.stdout.isTTY && !words[0]?.startsWith('-')) {
    const guess = closestCommand(opts.config, words)
    const typedWords = guess ? guess.typed.split(' ') : words.slice(0, 1)
    try {
      // Loaded only here: it brings @inquirer/prompts, which a script's error does not need.
      const {default: suggestAtTerminal} = await import('@oclif/plugin-not-found')
      return await suggestAtTerminal.call(this, {...opts, argv: [...words.slice(typedWords.length), ...argv], id: typedWords.join(':')})
    } catch {
      // Declined or nothing close: the same error as for a script.
    }
  }
  this.exit(reportError(error, json))
}

export default hook

/**
 * The words oclif took as the command id, and the arguments after them, as typed. oclif joins the words
 * with ":", which an argument such as `2001:db8::7` contains too (and then cuts the wrong number of
 * arguments off), so both come from the command line when it matches the id, else from what oclif gave.
 */
function typed(id: string, argv: readonly string[]): {argv: string[]; words: string[]} {
  const args = translateLegacyArgv(process.argv.slice(2)).args
  for (let n = 1; n <= args.length; n++) {
    if (args.slice(0, n).join(':') === id) return {argv: args.slice(n), words: args.slice(0, n)}
  }
  return {argv: [...argv], words: id.split(':')}
}

/** The error for words that name no command, nor a command with arguments too many. */
function notFound(config: Interfaces.Config, words: readonly string[]): DiswallError {
  const bin = config.bin
  if (words[0]?.startsWith('-')) {
    return new UsageError(`unknown flag ${words[0]} before the command`,
      `Put the command first, then its flags: ${bin} COMMAND [FLAGS]; see "${bin} --help".`)
  }
  for (const n of [2, 1]) {
    const legacy = words.slice(0, n).join(' ')
    if (words.length >= n && LEGACY_COMMANDS.includes(legacy)) {
      return new NotAvailableError(`"${bin} ${legacy}"`, `Run "${bin} --help" to see the commands this version has.`)
    }
  }
  const guess = closestCommand(config, words)
  if (guess) return new UnknownCommandError(`${bin} ${guess.typed}`, `Did you mean "${bin} ${guess.command}"?`)
  const topic = config.findTopic(words[0] ?? '')
  const shown = words.slice(0, topic && words.length > 1 ? 2 : 1).join(' ')
  return new UnknownCommandError(`${bin} ${shown}`, topic
    ? `Run "${bin} ${topic.name.replaceAll(':', ' ')} --help" to see its commands.`
    : `Run "${bin} --help" to see the commands.`)
}

/**
 * The command or topic that the first words typed are a likely typo of, word by word (`blok add 1.2.3.4`
 * → `block add`; `block frob` → none, rather than a far-fetched `block rm`). Commands come before their
 * aliases, so a tie goes to the name the help shows.
 */
function closestCommand(config: Interfaces.Config, words: readonly string[]): undefined | {command: string; typed: string} {
  const commands = config.commands.filter((c) => !c.hidden)
  const names = [...new Set([
    ...commands.map((c) => c.id),
    ...commands.flatMap((c) => c.aliases),
    ...config.topics.filter((t) => !t.hidden).map((t) => t.name),
  ])].map((id) => id.split(':'))
  for (let n = words.length; n > 0; n--) {
    const typed = words.slice(0, n)
    const match = names.find((name) => name.length === n && name.some((w, i) => w !== typed[i])
      && name.every((w, i) => w === typed[i] || closest(typed[i], [w]) === w))
    if (match) return {command: match.join(' '), typed: typed.join(' ')}
  }
  return undefined
}
