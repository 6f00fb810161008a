import {Flags} from '@oclif/core'
import chalk from 'chalk'
import {fileURLToPath} from 'node:url'

import {DiswallCommand} from '../base-command.js'
import {type DemoEvent, type DemoOutcome, runDemo} from '../lib/lab/index.js'

/** bin/run.js of this installation: the daemons and the server of the demo run from it. */
const CLI = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export default class Demo extends DiswallCommand<DemoOutcome> {
  static override description = 'Builds a fleet in throwaway network namespaces: a nats-server and `diswall server` in a hub, '
    + 'hosts of one account and a honeypot host running the default ruleset and `diswall daemon`, and two attackers. '
    + 'The first attacker probes a closed port of one host; the demo shows the ban there, its arrival on every other host '
    + 'with the measured delay, and the attacker failing to reach the open port of every host. The second attacker probes '
    + 'the honeypot, whose account the server trusts: its ban reaches every host through the server\'s broadcast. '
    + 'Everything is removed at the end, on failure and on Ctrl-C; the machine\'s own firewall is never touched. '
    + 'Exits 0 when every check passed, 1 when one failed, 4 when the fleet cannot be built here.'
  static override examples = [
    '<%= config.bin %> <%= command.id %>',
    '<%= config.bin %> <%= command.id %> --json',
    '<%= config.bin %> <%= command.id %> --hosts 8 --keep',
  ]
  static override flags = {
    hosts: Flags.integer({default: 3, description: 'Hosts in the fleet\'s account.', max: 16, min: 2}),
    keep: Flags.boolean({description: 'Leave the fleet running and print how to look around; Ctrl-C removes it.'}),
  }
  static override requiresRoot = true
  static override summary = 'Watch one probe get blocked on every host of a fleet, in throwaway namespaces.'

  async run(): Promise<DemoOutcome> {
    const {flags} = await this.parse(Demo)
    const json = this.jsonEnabled()
    const outcome = await runDemo({cli: CLI, hosts: flags.hosts, keep: flags.keep, onEvent: json ? undefined : (e) => this.log(renderEvent(e))})
    if (!json) for (const line of renderOutcome(outcome)) this.log(line)
    if (!outcome.ok) process.exitCode = 1
    if (flags.keep) {
      if (json) this.logJson(this.toSuccessJson(outcome))
      await new Promise<never>(() => setInterval(() => {}, 1 << 30)) // until Ctrl-C: the lab's registry removes the fleet
    }

    return outcome
  }
}

function renderEvent(event: DemoEvent): string {
  switch (event.type) {
    case 'step': {
      return `${chalk.dim('·')} ${event.text}`
    }

    case 'probe': {
      return `${chalk.yellow('→')} ${event.from} (${event.address}) sends one SYN to ${event.host}:${event.port}, a closed port`
    }

    case 'banned': {
      return `  ${chalk.green('✔')} ${event.host.padEnd(9)} blocks ${event.address}  ${chalk.bold(`${event.ms.toFixed(2)} ms`)} after the ${event.after}`
    }

    case 'missed': {
      return `  ${chalk.red('✘')} ${event.host.padEnd(9)} did not block ${event.address} within ${event.timeoutMs} ms`
    }

    case 'connect': {
      return event.ok
        ? `  ${chalk.red('✘')} ${event.from} still connects to ${event.host}:${event.port}`
        : `  ${chalk.green('✔')} ${event.from} → ${event.host}:${event.port} (open port): ${event.code ?? 'failed'}`
    }
  }
}

function renderOutcome(outcome: DemoOutcome): string[] {
  const lines = ['']
  if (outcome.ok) lines.push(chalk.green(`Every check passed in ${(outcome.durationMs / 1000).toFixed(1)} s.`))
  else lines.push(chalk.red('Some checks failed:'), ...outcome.problems.map((p) => `  - ${p}`))
  if (outcome.keep) {
    lines.push('', 'The fleet keeps running; Ctrl-C removes it. Namespaces:')
    for (const [role, name] of Object.entries(outcome.keep.namespaces)) lines.push(`  ${role.padEnd(9)} ${name}`)
    lines.push('Look around:', ...outcome.keep.commands.map((c) => `  ${c}`))
  } else {
    lines.push(outcome.cleanedUp ? 'Every namespace and process of the demo is removed.' : chalk.red('Something of the demo is left behind.'))
  }

  return lines
}
