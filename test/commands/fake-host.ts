import {spawnSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {mkdir, mkdtemp, readFile, rm, symlink, writeFile} from 'node:fs/promises'
import {tmpdir} from 'node:os'
import {delimiter, join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {findProgram} from '../../src/lib/lab/index.js'
import {runCli} from '../helpers/cli.js'
import type {CliResult} from '../helpers/cli.js'

/** test/fixtures/bin: fake ipset, iptables*, nft, ss, ip and conntrack (see lib/fake-tools.mjs there). */
export const FAKE_BIN = fileURLToPath(new URL('../fixtures/bin', import.meta.url))

/** One recorded call of a fake program. */
export interface FakeCall {
  program: string
  args: string[]
  stdin: string
}

/** A throwaway host for one test: config, firewall directory, state dir, and the fakes' log and state. */
export interface FakeHost {
  dir: string
  configPath: string
  firewallDir: string
  /** Runs `diswall ARGS…` with the fakes first on PATH; `env` adds variables (DISWALL_FAKE_FAIL). */
  run(args: readonly string[], env?: Record<string, string>, input?: string): Promise<CliResult>
  /** Every call recorded so far, oldest first. */
  calls(): Promise<FakeCall[]>
  /** Forgets the recorded calls (the state stays). */
  clearCalls(): Promise<void>
  /** The fakes' state: ipset sets and iptables dumps. */
  state(): Promise<{ipset: Record<string, {entries: Record<string, {comment?: string; timeout?: number}>}>; iptables: Record<'4' | '6', string>}>
  close(): Promise<void>
}

/**
 * How the CLI reaches uid 0 without privileges: `unshare --user --map-root-user --net` gives it root
 * inside a new user namespace, with a new, empty network namespace, so the commands' root check
 * passes for a contributor without root, and even a program that is not faked could not reach the
 * host's firewall. Undefined when unshare cannot do that here (user namespaces disabled).
 */
function probeSandbox(): string[] | undefined {
  const unshare = findProgram('unshare') ?? ['/usr/bin/unshare', '/bin/unshare'].find((p) => existsSync(p))
  if (unshare === undefined) return undefined
  const wrap = [unshare, '--user', '--map-root-user', '--net']
  const probe = spawnSync(wrap[0], [...wrap.slice(1), process.execPath, '-e', 'process.exit(process.getuid() === 0 ? 0 : 3)'], {stdio: 'ignore'})
  return probe.status === 0 ? wrap : undefined
}

const SANDBOX = probeSandbox()

/**
 * Why the command tests that need root cannot run here, or false. As root they run even without
 * unshare (the PATH holds only the fakes); as another user they need unshare and user namespaces.
 */
export function fakeRootSkip(): false | string {
  if (SANDBOX !== undefined || process.getuid?.() === 0) return false
  return 'not root, and `unshare --user --map-root-user --net` does not work here (user namespaces disabled?)'
}

/**
 * Creates a fake host: a config with backend "ipset" (the fakes speak ipset and iptables), local_only
 * (no NATS), and every path inside a temporary directory; `firewall` files go into the ruleset
 * directory (e.g. {'incoming.d/20-22': ''}).
 */
export async function openFakeHost({config = '', firewall = {}, iptablesV4}: {
  config?: string
  firewall?: Record<string, string>
  /** The `iptables-save` dump the host starts with (rules of other software). */
  iptablesV4?: string
} = {}): Promise<FakeHost> {
  const dir = await mkdtemp(join(tmpdir(), 'diswall-cmd-'))
  const firewallDir = join(dir, 'firewall')
  const configPath = join(dir, 'diswall.conf')
  const log = join(dir, 'fake-calls.jsonl')
  // PATH holds only the fakes and node (for their #! line): a program without a fake is missing
  // (E_MISSING_PROGRAM), never the real one.
  const nodeDir = join(dir, 'node-bin')
  await mkdir(nodeDir)
  await symlink(process.execPath, join(nodeDir, 'node'))
  for (const sub of ['incoming.d', 'outgoing.d', 'whitelist.d', 'blacklist.d', 'local.d']) await mkdir(join(firewallDir, sub), {recursive: true})
  for (const [name, text] of Object.entries(firewall)) await writeFile(join(firewallDir, name), text)
  await writeFile(configPath, [
    'local_only = true',
    '[firewall]',
    'backend = "ipset"',
    `dir = ${JSON.stringify(firewallDir)}`,
    '[daemon]',
    `state_dir = ${JSON.stringify(join(dir, 'state'))}`,
    `socket = ${JSON.stringify(join(dir, 'diswall.sock'))}`,
    config,
    '',
  ].join('\n'))

  if (iptablesV4 !== undefined) {
    const empty = '*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n'
    await writeFile(join(dir, 'fake-state.json'), JSON.stringify({ipset: {}, iptables: {4: iptablesV4, 6: empty}}))
  }

  const env = {
    DISWALL_CONFIG: configPath,
    DISWALL_FAKE_LOG: log,
    DISWALL_FAKE_STATE: join(dir, 'fake-state.json'),
    PATH: [FAKE_BIN, nodeDir].join(delimiter),
  }
  const readLog = async (): Promise<FakeCall[]> => {
    const text = await readFile(log, 'utf8').catch(() => '')
    return text.split('\n').filter(Boolean).map((line) => JSON.parse(line) as FakeCall)
  }

  return {
    calls: readLog,
    clearCalls: () => rm(log, {force: true}),
    close: () => rm(dir, {force: true, recursive: true}),
    configPath,
    dir,
    firewallDir,
    run: (args, extra = {}, input = undefined) => runCli(args, {env: {...env, ...extra}, input, wrap: SANDBOX ?? []}),
    state: async () => JSON.parse(await readFile(env.DISWALL_FAKE_STATE, 'utf8')),
  }
}

/** The calls that change kernel state: ipset restore/destroy/swap and the *tables-restore programs, nft -f. */
export function changingCalls(calls: readonly FakeCall[]): FakeCall[] {
  return calls.filter((c) => (c.program === 'ipset' && ['restore', 'destroy', 'add', 'del', 'swap', 'flush'].some((a) => c.args.includes(a))) ||
    c.program.endsWith('-restore') || (c.program === 'nft' && c.args.includes('-f')) || (c.program === 'ss' && c.args.includes('--kill')))
}

/** Calls of the programs that read or change netfilter state (ipset, iptables family, nft). */
export function firewallCalls(calls: readonly FakeCall[]): FakeCall[] {
  return calls.filter((c) => c.program === 'ipset' || c.program.includes('tables') || c.program === 'nft')
}

/** A test body with its own fake host, closed afterwards whatever happens. */
export function withFakeHost(body: (host: FakeHost) => Promise<void>, options?: Parameters<typeof openFakeHost>[0]): () => Promise<void> {
  return async () => {
    const host = await openFakeHost(options)
    try {
      await body(host)
    } finally {
      await host.close()
    }
  }
}
