/**
 * One daemon per set of kernel sets. A second `diswall daemon` must refuse to start before it touches
 * a set: its snapshot restore and its writes would run over the live sets of the first one.
 *
 * Why two locks, and why an abstract unix socket: the control socket was the only lock, and two
 * daemons need not share it (another `[daemon] socket`), nor the state dir (another `state_dir`, or
 * the directory removed while the first one runs). What two daemons that would fight always share
 * are the kernel sets, and those live in the network namespace. Abstract unix socket names
 * (Linux, `unix(7)`) live there too: binding `\0diswall-daemon …<set names>` succeeds for exactly one
 * process per network namespace and set names, needs no file (so removing a directory cannot lose
 * it), and the kernel frees it when the process dies, even by SIGKILL, so a crash leaves no stale lock.
 * Daemons in other network namespaces (other sets) do not collide. The holder answers a connection
 * with its PID and control socket, so the refusal can name them. The lock file `daemon.pid` in the
 * state dir is the second, classic lock: it also holds when the abstract name cannot be bound.
 * Abstract names carry no permissions: a local user could bind the name first. A holder that is not
 * root is therefore not believed: diswall logs it and goes on with the lock file alone, because a
 * user must never be able to keep the firewall daemon from starting.
 */
import {createHash} from 'node:crypto'
import {readdir, readFile, readlink, stat} from 'node:fs/promises'
import {createConnection, createServer} from 'node:net'
import type {Server} from 'node:net'
import {join} from 'node:path'

import {DiswallError, ExitCode} from '../errors.js'
import type {KernelNames} from '../firewall/sets/index.js'
import type {HeldLock} from '../system/index.js'
import {acquirePidLock} from '../system/index.js'

/** Name of the daemon's lock file in `[daemon] state_dir`. */
export const DAEMON_LOCK_FILE = 'daemon.pid'
/** How long a check waits for the holder of the abstract name to say who it is, ms. */
const HELLO_TIMEOUT_MS = 2000
/** Longest abstract name used as it is; the set names are ASCII, so characters are bytes. */
const MAX_NAME_CHARS = 100

/** Another daemon holds the kernel sets (or the state dir): E_DAEMON_RUNNING (exit 4). */
export class DaemonRunningError extends DiswallError {
  constructor(readonly holder: {pid?: number; socket?: string}, what: string) {
    const who = [holder.pid === undefined ? undefined : `pid ${holder.pid}`,
      holder.socket === undefined ? undefined : `control socket ${holder.socket}`].filter(Boolean).join(', ')
    super(`another diswall daemon${who ? ` (${who})` : ''} already runs: it holds ${what}; this one changes nothing and stops`,
      'E_DAEMON_RUNNING', ExitCode.ENVIRONMENT,
      `Stop it first (systemctl stop diswall${holder.pid === undefined ? '' : `, or kill ${holder.pid}`}); one daemon keeps the sets of a host.`)
  }
}

/** What openInstanceLock() holds. */
export interface InstanceLock {
  /** The abstract socket's name (without the leading NUL), or undefined when only the lock file is held. */
  readonly abstractName: string | undefined
  /** Releases both locks. Safe to call twice. */
  close(): Promise<void>
}

/** Options of openInstanceLock(). */
export interface InstanceLockOptions {
  names: KernelNames
  stateDir: string
  /** The control socket, told to a second daemon in its refusal. */
  controlSocket: string
  /** Receives what the caller should log (a name held by a user that is not root). */
  warn?: (message: string) => void
}

/** The abstract socket name for the kernel objects of `names`: the ipset sets and the nft table. */
export function instanceLockName(names: KernelNames): string {
  // Both backends' names: two daemons with the same ipset sets or the same nft table collide even when
  // "auto" picks another backend for each.
  const name = `diswall-daemon:ipset=${names.block.v4},${names.allow.v4}:nft=${names.table}`
  // sun_path holds 107 bytes after the leading NUL; long set names are hashed to stay inside it.
  return name.length <= MAX_NAME_CHARS ? name : `diswall-daemon:${createHash('sha256').update(name).digest('hex')}`
}

/**
 * Takes the single-instance locks: the abstract unix socket named after the kernel sets, then the lock
 * file in the state dir. Call it before the control socket and the sets are touched.
 * @throws DaemonRunningError when another live daemon holds either; the file system's error when the
 *   lock file cannot be written.
 */
export async function openInstanceLock({controlSocket, names, stateDir, warn = () => {}}: InstanceLockOptions): Promise<InstanceLock> {
  const name = instanceLockName(names)
  let server: Server | undefined = createServer((socket) => {
    socket.on('error', () => {})
    socket.end(JSON.stringify({pid: process.pid, socket: controlSocket}) + '\n')
  })
  try {
    await listenAbstract(server, name)
  } catch (error) {
    server = undefined
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error
    const holder = await askHolder(name)
    const uid = await abstractHolderUid(name)
    if (uid === 0 || uid === undefined && holder.pid !== undefined) throw new DaemonRunningError(holder, `the kernel sets ${describe(names)}`)
    warn(`the single-instance name "@${name}" is held by a process of uid ${uid ?? 'unknown'}, not by a diswall daemon; relying on the lock file`)
  }

  const lockPath = join(stateDir, DAEMON_LOCK_FILE)
  let lock: HeldLock
  try {
    const taken = await acquirePidLock(lockPath)
    if ('holder' in taken) throw new DaemonRunningError({pid: taken.holder}, `the lock file ${lockPath}`)
    lock = taken.held
  } catch (error) {
    await closeServer(server)
    throw error
  }

  let closing: Promise<void> | undefined
  return {
    abstractName: server === undefined ? undefined : name,
    close() {
      closing ??= (async () => {
        await lock.release()
        await closeServer(server)
      })()
      return closing
    },
  }
}

function describe(names: KernelNames): string {
  return `${names.block.v4}, ${names.allow.v4} (ipset) and table inet ${names.table} (nftables) of this network namespace`
}

function listenAbstract(server: Server, name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(`\0${name}`, () => {
      server.off('error', reject)
      server.unref() // the lock must not keep the process alive on its own
      resolve()
    })
  })
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
}

/** Reads the holder's `{"pid","socket"}` line; fields it did not say stay undefined. */
function askHolder(name: string): Promise<{pid?: number; socket?: string}> {
  return new Promise((resolve) => {
    const socket = createConnection({path: `\0${name}`})
    let text = ''
    const done = (): void => {
      clearTimeout(timer)
      socket.destroy()
      try {
        const said = JSON.parse(text.split('\n')[0]) as {pid?: unknown; socket?: unknown}
        resolve({
          ...(Number.isInteger(said.pid) ? {pid: said.pid as number} : {}),
          ...(typeof said.socket === 'string' ? {socket: said.socket.slice(0, 200)} : {}),
        })
      } catch {
        resolve({})
      }
    }
    const timer = setTimeout(done, HELLO_TIMEOUT_MS)
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => {
      text += d
      if (text.includes('\n') || text.length > 4096) done()
    })
    socket.on('end', done)
    socket.on('error', done)
  })
}

/**
 * The uid of the process that listens on the abstract socket `name`: its inode from /proc/net/unix,
 * then the process whose fd points at `socket:[INODE]`. Undefined when it cannot be told (no /proc,
 * the holder gone meanwhile, or not root: other users' fds cannot be read).
 */
export async function abstractHolderUid(name: string): Promise<number | undefined> {
  let table: string
  try {
    table = await readFile('/proc/net/unix', 'utf8')
  } catch {
    return undefined
  }
  // Num RefCount Protocol Flags Type St Inode Path; a listening socket has flags 00010000. Node 20 binds
  // abstract names padded with NULs to the whole sun_path, which the table shows as trailing "@".
  const inode = table.split('\n').map((line) => line.trim().split(/\s+/))
    .find((f) => f.length >= 8 && f[3] === '00010000' && f.slice(7).join(' ').replace(/@+$/, '') === `@${name}`)?.[6]
  if (inode === undefined) return undefined
  const target = `socket:[${inode}]`
  for (const pid of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(pid)) continue
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [] as string[])
    for (const fd of fds) {
      if (await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '') === target) {
        return (await stat(`/proc/${pid}`).catch(() => undefined))?.uid
      }
    }
  }
  return undefined
}
