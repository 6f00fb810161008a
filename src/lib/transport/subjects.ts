/**
 * NATS subjects of diswall, compatible with the original DisWall:
 *
 * - `diswall.{blacklist,whitelist}.C.{add,del,init}.H`: the lists of account C, as changed or
 *   requested by host H;
 * - `diswall.blacklist.new`: the server's broadcast of trusted bans to every host
 *   (`diswall.blacklist.default` for the account `default`);
 * - `diswall.stats.C.add.H`: hourly statistics of host H.
 *
 * Subjects are built and parsed only here. Account and host tokens are validated: one NATS token
 * (no ".", white space, "*" or ">"), at most {@link MAX_TOKEN_LENGTH} characters; a system host name
 * has its dots replaced by "_" ({@link hostToken}). Subscriptions use {@link ANY} in place of a token.
 */
import {InvalidValueError} from '../errors.js'
import type {WireList} from './port.js'

/** The first token of every diswall subject. */
export const SUBJECT_ROOT = 'diswall'

/** The server's broadcast of trusted bans, payload `IP|SECS`. */
export const GLOBAL_BLOCK_SUBJECT = 'diswall.blacklist.new'

/** The broadcast the original server sent to hosts of the account `default` (long bans only). */
export const DEFAULT_ACCOUNT_GLOBAL_SUBJECT = 'diswall.blacklist.default'

/** The account name that marks an unregistered host (restricted: no statistics, its own broadcast). */
export const DEFAULT_ACCOUNT = 'default'

/** The wildcard of one token, for subscriptions. */
export const ANY = '*'

/** Longest account or host token accepted (the original stored 16 and 32 characters; we allow more). */
export const MAX_TOKEN_LENGTH = 64

/** Longest subject we parse; anything longer is refused before it is split. */
export const MAX_SUBJECT_LENGTH = 256

/** What a list subject does: an entry added, an entry deleted, a request for the whole list. */
export type SubjectOp = 'add' | 'del' | 'init'

/** The list token of each list as it appears in subjects. */
export const LIST_TOKEN = {allow: 'whitelist', block: 'blacklist'} as const satisfies Record<WireList, string>

const TOKEN = /^[^\s.*>]+$/u

/** True when `value` is one valid account or host token (not a wildcard). */
export function isToken(value: string): boolean {

  return typeof value === 'string' && value.length <= MAX_TOKEN_LENGTH && TOKEN.test(value) && !/[\u0000-\u001f\u007f]/u.test(value)
}

/**
 * Checks one account or host token and returns it.
 * @throws InvalidValueError naming the value and what is wrong, with a hint.
 */
export function checkToken(value: string, what: 'account' | 'host'): string {
  if (isToken(value)) return value
  if (typeof value !== 'string' || value === '') {
    throw new InvalidValueError(`the NATS ${what} name is empty`, `Set [nats] ${what === 'account' ? 'client_name' : 'hostname'}.`)
  }
  const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value)
  if (value.length > MAX_TOKEN_LENGTH) {
    throw new InvalidValueError(`the NATS ${what} name ${shown} is longer than ${MAX_TOKEN_LENGTH} characters`,
      'Use a shorter name.')
  }
  throw new InvalidValueError(`the NATS ${what} name ${shown} is not one subject token (no ".", spaces, "*", ">" or control characters)`,
    value.includes('.') ? `Replace the dots, e.g. "${value.replaceAll('.', '_')}".` : 'Use letters, digits, "-" and "_".')
}

/**
 * The token of a host name: dots become "_" (as the original does with the system host name).
 * @throws InvalidValueError when the result is still not a token (spaces, "*", ">", too long, empty).
 */
export function hostToken(name: string): string {
  return checkToken(name.replaceAll('.', '_'), 'host')
}

function tokenOrAny(value: string, what: 'account' | 'host'): string {
  return value === ANY ? ANY : checkToken(value, what)
}

/**
 * A list subject `diswall.{blacklist,whitelist}.C.OP.H` to publish or request on.
 * @throws InvalidValueError when the account or host is not a valid token (wildcards included).
 */
export function listSubject(list: WireList, op: SubjectOp, account: string, host: string): string {
  return `${SUBJECT_ROOT}.${LIST_TOKEN[list]}.${checkToken(account, 'account')}.${op}.${checkToken(host, 'host')}`
}

/**
 * A list subject to subscribe to: the account, the host (and the list) may be {@link ANY}, e.g.
 * `listWildcard('block', 'add', 'acme', ANY)` = `diswall.blacklist.acme.add.*`.
 */
export function listWildcard(list: WireList | typeof ANY, op: SubjectOp | typeof ANY, account: string, host: string): string {
  const listToken = list === ANY ? ANY : LIST_TOKEN[list]
  return `${SUBJECT_ROOT}.${listToken}.${tokenOrAny(account, 'account')}.${op}.${tokenOrAny(host, 'host')}`
}

/** The statistics subject `diswall.stats.C.add.H`; account and host may be {@link ANY} for a subscription. */
export function statsSubject(account: string, host: string): string {
  return `${SUBJECT_ROOT}.stats.${tokenOrAny(account, 'account')}.add.${tokenOrAny(host, 'host')}`
}

/** The broadcast subject hosts of `account` listen to: `diswall.blacklist.new`, or `.default` for `default`. */
export function globalSubject(account: string): string {
  return account === DEFAULT_ACCOUNT ? DEFAULT_ACCOUNT_GLOBAL_SUBJECT : GLOBAL_BLOCK_SUBJECT
}

/**
 * The inbox prefix of an account: replies to its requests arrive under `_INBOX.C.…`, so that a
 * nats-server permission `_INBOX.C.>` keeps other accounts from reading them.
 */
export function inboxPrefix(account: string): string {
  return `_INBOX.${checkToken(account, 'account')}`
}

/** A parsed subject. */
export type ParsedSubject =
  | {kind: 'list'; list: WireList; op: SubjectOp; account: string; host: string}
  | {kind: 'global'; subject: string}
  | {kind: 'stats'; account: string; host: string}

/** Why a subject was refused. */
export interface SubjectRefusal {
  kind: 'subject'
  reason: string
}

/** True when parseSubject() refused the subject. */
export function isSubjectRefusal(value: ParsedSubject | SubjectRefusal): value is SubjectRefusal {
  return value.kind === 'subject'
}

const LIST_OF_TOKEN: Readonly<Record<string, WireList>> = {blacklist: 'block', whitelist: 'allow'}
const OPS: ReadonlySet<string> = new Set(['add', 'del', 'init'])

/**
 * Parses a subject a message arrived on. Never throws: a subject that is not a diswall subject, or
 * whose account or host token is invalid, yields a refusal with the reason.
 */
export function parseSubject(subject: string): ParsedSubject | SubjectRefusal {
  if (typeof subject !== 'string' || subject.length > MAX_SUBJECT_LENGTH) {
    return {kind: 'subject', reason: 'subject missing or longer than 256 characters'}
  }
  if (subject === GLOBAL_BLOCK_SUBJECT || subject === DEFAULT_ACCOUNT_GLOBAL_SUBJECT) return {kind: 'global', subject}
  const tokens = subject.split('.')
  if (tokens.length !== 5 || tokens[0] !== SUBJECT_ROOT) return {kind: 'subject', reason: `not a diswall subject: ${show(subject)}`}
  const [, listToken, account, op, host] = tokens
  if (!isToken(account)) return {kind: 'subject', reason: `invalid account token in ${show(subject)}`}
  if (!isToken(host)) return {kind: 'subject', reason: `invalid host token in ${show(subject)}`}
  if (listToken === 'stats') {
    if (op !== 'add') return {kind: 'subject', reason: `unknown stats operation in ${show(subject)}`}
    return {account, host, kind: 'stats'}
  }
  const list = LIST_OF_TOKEN[listToken]
  if (list === undefined) return {kind: 'subject', reason: `unknown list in ${show(subject)}`}
  if (!OPS.has(op)) return {kind: 'subject', reason: `unknown operation in ${show(subject)}`}
  return {account, host, kind: 'list', list, op: op as SubjectOp}
}

function show(subject: string): string {
  return JSON.stringify(subject.length > 100 ? `${subject.slice(0, 100)}…` : subject)
}

/** The subjects one host uses, built once from its account and host token. */
export interface HostSubjects {
  readonly account: string
  readonly host: string
  /** Publishes this host's adds, deletes and init requests. */
  own(list: WireList, op: SubjectOp): string
  /** Adds (or deletes) of every host of the account: `diswall.L.C.OP.*`. */
  fleet(list: WireList, op: 'add' | 'del'): string
  /** The server's broadcast this host listens to. */
  readonly global: string
  /** This host's statistics. */
  readonly stats: string
  /** The private inbox prefix of the account. */
  readonly inbox: string
}

/**
 * The subjects of one host.
 * @throws InvalidValueError when the account or host is not a valid token.
 */
export function hostSubjects(account: string, host: string): HostSubjects {
  checkToken(account, 'account')
  checkToken(host, 'host')
  return {
    account,
    fleet: (list, op) => listWildcard(list, op, account, ANY),
    global: globalSubject(account),
    host,
    inbox: inboxPrefix(account),
    own: (list, op) => listSubject(list, op, account, host),
    stats: statsSubject(account, host),
  }
}
