import {Flags} from '@oclif/core'

import {DiswallCommand} from '../../base-command.js'
import {UsageError} from '../../lib/errors.js'
import {buildNatsConfig, parsePasswordLines} from '../../lib/server/index.js'

interface NatsConfigResult {
  config: string
  users: Array<{user: string; generated: boolean; password: string}>
}

export default class ServerNatsConfig extends DiswallCommand<NatsConfigResult> {
  static override description = [
    'Prints an `authorization` block for nats-server 2.9 or later. The server user may read diswall.> and answer requests;',
    'each account (the NATS user a host logs in with: [nats] client_name) may publish only under',
    'diswall.{blacklist,whitelist,stats}.NAME.>, and read only its own add/del subjects, diswall.blacklist.new and',
    'its own inbox _INBOX.NAME.>. Passwords come from --passwords-stdin ("NAME PASSWORD" lines; the server user too)',
    'or are generated; generated ones are listed on stderr once (in --json in the result), never logged.',
  ].join(' ')
  static override examples = [
    '<%= config.bin %> <%= command.id %> --account acme --account globex > /etc/nats/diswall-auth.conf',
    'printf "diswall-server s3cret\\nacme pw1\\n" | <%= config.bin %> <%= command.id %> --account acme --passwords-stdin',
  ]
  static override flags = {
    account: Flags.string({description: 'An account (repeat for several).', helpValue: 'NAME', multiple: true, required: true}),
    'legacy-inbox': Flags.boolean({description: 'Also let accounts read _INBOX.> (hosts running the original DisWall client need it; '
      + 'such hosts can then read other accounts\' init replies).'}),
    'passwords-stdin': Flags.boolean({description: 'Read "NAME PASSWORD" lines from stdin instead of generating passwords.'}),
    'server-user': Flags.string({default: 'diswall-server', description: 'NATS user of the diswall server ([nats] client_name of its config).',
      helpValue: 'NAME'}),
  }
  static override summary = 'Print the nats-server users and permissions for the server and its accounts.'

  async run(): Promise<NatsConfigResult> {
    const {flags} = await this.parse(ServerNatsConfig)
    let passwords = new Map<string, string>()
    if (flags['passwords-stdin']) {
      if (process.stdin.isTTY) throw new UsageError('--passwords-stdin reads from stdin, which is a terminal', 'Pipe "NAME PASSWORD" lines in.')
      const chunks: Buffer[] = []
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer)
      passwords = parsePasswordLines(Buffer.concat(chunks).toString('utf8'))
      const known = new Set([flags['server-user'], ...flags.account])
      for (const name of passwords.keys()) {
        if (!known.has(name)) throw new UsageError(`stdin names ${JSON.stringify(name)}, which is neither an --account nor the --server-user`)
      }
    }
    const {text, users} = buildNatsConfig({
      accounts: flags.account.map((name) => ({name, password: passwords.get(name)})),
      legacyInbox: flags['legacy-inbox'],
      server: {password: passwords.get(flags['server-user']), user: flags['server-user']},
    })
    if (!this.jsonEnabled()) {
      process.stdout.write(text)
      const generated = users.filter((u) => u.generated)
      if (generated.length > 0) {
        this.logToStderr('generated passwords (set each as [nats] client_pass of its hosts; shown once):')
        for (const u of generated) this.logToStderr(`  ${u.user} ${u.password}`)
      }
    }
    return {config: text, users}
  }
}
