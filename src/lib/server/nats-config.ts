/**
 * `diswall server nats-config`: the `authorization` block of a nats-server config (2.9 and later)
 * for the diswall server and its accounts. Each account (NATS user = `[nats] client_name`) may
 * publish only under its own tokens and read only its own subjects, the broadcast and its own inbox
 * prefix; the server user reads `diswall.>` and answers requests.
 *
 * NATS `*` matches exactly one token: the original DisWall's example permission
 * `diswall.blacklist.client1.*` covers `diswall.blacklist.client1.add` (which nobody uses) and not
 * `diswall.blacklist.client1.add.host1`, so every host of that example was refused. Here accounts get
 * `diswall.blacklist.C.>` (any depth below their own token).
 */
import {randomBytes} from 'node:crypto'

import {InvalidValueError} from '../errors.js'
import {checkToken, globalSubject, inboxPrefix, LIST_TOKEN, listWildcard, SUBJECT_ROOT} from '../transport/index.js'

/** One NATS user of the generated block. */
export interface NatsConfigUser {
  user: string
  password: string
  /** True when the password was generated here (the operator must copy it into the host's config). */
  generated: boolean
}

/** Input of {@link buildNatsConfig}. */
export interface NatsConfigOptions {
  /** The server's user (`[nats] client_name` of the server's config). */
  server: {user: string; password?: string}
  /** The accounts, with their passwords when known. */
  accounts: ReadonlyArray<{name: string; password?: string}>
  /**
   * Also let accounts read `_INBOX.>`: needed by hosts running the original DisWall client, whose
   * replies arrive under `_INBOX.<random>`; it lets such a host read other accounts' init replies.
   */
  legacyInbox?: boolean
}

/** What {@link buildNatsConfig} returns. */
export interface NatsConfig {
  /** The config text to include in the nats-server config. */
  text: string
  /** The users it names, with their passwords (the command shows generated ones once, never logs them). */
  users: NatsConfigUser[]
}

/** Subject permissions of one account: publish only below its own tokens, subscribe to its own subjects. */
export function accountPermissions(account: string, legacyInbox = false): {publish: string[]; subscribe: string[]} {
  checkToken(account, 'account')
  const publish = [LIST_TOKEN.block, LIST_TOKEN.allow, 'stats'].map((list) => `${SUBJECT_ROOT}.${list}.${account}.>`)
  const subscribe = [
    listWildcard('block', 'add', account, '*'),
    listWildcard('block', 'del', account, '*'),
    listWildcard('allow', 'add', account, '*'),
    listWildcard('allow', 'del', account, '*'),
    globalSubject(account),
    `${inboxPrefix(account)}.>`,
  ]
  if (legacyInbox) subscribe.push('_INBOX.>')
  return {publish, subscribe}
}

/** A random password: 24 characters of base64url (144 bits). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url')
}

/**
 * Builds the `authorization` block. Passwords that are not given are generated. Throws
 * InvalidValueError for an account name that is not one subject token, a duplicate name, or an
 * account named like the server user.
 */
export function buildNatsConfig({accounts, legacyInbox = false, server}: NatsConfigOptions): NatsConfig {
  checkToken(server.user, 'account')
  const seen = new Set<string>([server.user])
  for (const {name} of accounts) {
    checkToken(name, 'account')
    if (seen.has(name)) {
      throw new InvalidValueError(`account ${JSON.stringify(name)} is named twice (or is the server user)`,
        'Give each account once, and a server user (--server-user) that is no account.')
    }
    seen.add(name)
  }
  const users: NatsConfigUser[] = []
  const entry = (user: string, password: string | undefined): NatsConfigUser => {
    const u = {generated: password === undefined, password: password ?? generatePassword(), user}
    users.push(u)
    return u
  }
  const lines = [
    `# diswall: users of the diswall server and ${accounts.length} account${accounts.length === 1 ? '' : 's'} (nats-server 2.9 or later).`,
    '# Every account may publish only below its own name and read only its own subjects,',
    '# the broadcast and its own inbox (_INBOX.NAME, which diswall hosts use for replies).',
    'authorization {',
    '  users: [',
  ]
  const s = entry(server.user, server.password)
  lines.push(
    `    {user: ${quote(s.user)}, password: ${quote(s.password)}, permissions: {`,
    `      publish: {allow: [${quote(`${SUBJECT_ROOT}.>`)}, ${quote('_INBOX.>')}]}`,
    `      subscribe: {allow: [${quote(`${SUBJECT_ROOT}.>`)}]}`,
    '      allow_responses: true',
    '    }}',
  )
  for (const {name, password} of accounts) {
    const u = entry(name, password)
    const {publish, subscribe} = accountPermissions(name, legacyInbox)
    lines.push(
      `    {user: ${quote(u.user)}, password: ${quote(u.password)}, permissions: {`,
      `      publish: {allow: [${publish.map(quote).join(', ')}]}`,
      `      subscribe: {allow: [${subscribe.map(quote).join(', ')}]}`,
      '    }}',
    )
  }
  lines.push('  ]', '}')
  return {text: lines.join('\n') + '\n', users}
}

/**
 * Parses `NAME PASSWORD` or `NAME=PASSWORD` lines (stdin of `nats-config --passwords-stdin`); blank
 * lines and `#` comments are skipped. Throws InvalidValueError naming the line.
 */
export function parsePasswordLines(text: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#')) continue
    const match = /^([^\s=]+)(?:\s+|=)(\S.*)$/.exec(line)
    if (!match) {
      throw new InvalidValueError(`stdin:${i + 1}: expected "NAME PASSWORD" or "NAME=PASSWORD"`, 'One account per line.')
    }
    const password = match[2]!.trim()
    if (/[\p{Cc}]/u.test(password)) throw new InvalidValueError(`stdin:${i + 1}: the password holds control characters`)
    out.set(match[1]!, password)
  }
  return out
}

/** A nats-server config string: double quotes with the escapes its lexer knows. */
function quote(value: string): string {
  let out = '"'
  for (const char of value) {
    const code = char.codePointAt(0)!
    if (char === '\\') out += '\\\\'
    else if (char === '"') out += '\\"'
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`
    else out += char
  }
  return out + '"'
}
