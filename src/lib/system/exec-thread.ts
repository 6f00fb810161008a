/**
 * An Exec that starts its programs from a worker thread. Starting a process from Node blocks the
 * calling thread until the child has called exec(2): ~2.5 ms on an idle machine with a small heap,
 * tens of milliseconds on a busy one. The daemon's event loop must stay free for the packet that
 * arrives meanwhile, so the programs it runs beside the ban path (`ss -K` and `conntrack` after a ban,
 * `ip -j addr` every 30 s) start from one helper thread instead. Results and errors are the ones of
 * {@link exec}: MissingDependencyError and CommandFailedError are rebuilt on this side. The same thread
 * reads files for the daemon's connection lookup after a ban (connected.ts): fs.promises.readFile()
 * of a /proc table takes five thread-pool round trips (open, fstat, two reads, close), each waking the
 * event loop; the thread reads it in one go and answers with one message.
 */
import {Worker} from 'node:worker_threads'

import {CommandFailedError, MissingDependencyError} from '../errors.js'
import type {ExecThreadError, ExecThreadReply, ExecThreadRequest} from './exec-worker.js'
import {exec as mainThreadExec} from './exec.js'
import type {Exec, ExecOptions, ExecResult} from './exec.js'
import {keepV8Flags} from './v8-flags.js'

/** An Exec whose programs start from a worker thread; close() ends the thread. */
export interface ThreadExec extends Exec {
  /** The text (UTF-8) of a file, read on the thread; undefined when it does not exist or may not be read. */
  readText(path: string): Promise<string | undefined>
  close(): Promise<void>
}

const WORKER_URL = new URL('./exec-worker.js', import.meta.url)

/**
 * Makes an Exec that runs programs from one worker thread (started at the first call, not holding the
 * process open while idle). Calls with an AbortSignal or `processGroup` run on the calling thread
 * ({@link exec}): they are not on a hot path.
 */
export function threadExec(): ThreadExec {
  let worker: Worker | undefined
  let nextId = 0
  const pending = new Map<number, {resolve: (r: unknown) => void; reject: (e: unknown) => void}>()

  /** The thread `w` ended: its calls fail (a new thread starts at the next call). */
  const failAll = (w: Worker, error: unknown): void => {
    if (worker !== w) return
    for (const {reject} of pending.values()) reject(error)
    pending.clear()
    worker = undefined
  }
  const start = (): Worker => {
    const w = startWorker()
    w.on('message', (reply: ExecThreadReply) => {
      const call = pending.get(reply.id)
      if (call === undefined) return
      pending.delete(reply.id)
      if (pending.size === 0) w.unref()
      if (!reply.ok) call.reject(rebuildError(reply.error))
      else call.resolve('text' in reply ? reply.text ?? undefined : reply.result)
    })
    w.on('error', (error) => failAll(w, error))
    w.on('exit', () => failAll(w, new Error('the process thread ended')))
    w.unref()
    return w
  }

  const ask = <T>(request: ExecThreadRequest): Promise<T> => {
    worker ??= start()
    const result = new Promise<T>((resolve, reject) => pending.set(request.id, {reject, resolve: resolve as (r: unknown) => void}))
    worker.ref()
    worker.postMessage(request)
    return result
  }
  const run = async (program: string, args: readonly string[], options: ExecOptions = {}): Promise<ExecResult> => {
    if (options.signal !== undefined || options.processGroup || options.inputStream !== undefined) return mainThreadExec(program, args, options)
    const {env, input, timeoutMs} = options
    return ask<ExecResult>({args: [...args], id: ++nextId, kind: 'exec', options: {env, input, timeoutMs}, program})
  }
  return Object.assign(run, {
    readText: (path: string) => ask<string | undefined>({id: ++nextId, kind: 'read', path}),
    async close(): Promise<void> {
      const w = worker
      if (w === undefined) return
      failAll(w, new Error('the process thread was closed'))
      await w.terminate()
    },
  })
}

/** The error of a program run on the thread, as {@link exec} would have thrown it. */
function rebuildError(error: ExecThreadError): Error {
  if (error.kind === 'missing') return new MissingDependencyError(error.program)
  if (error.kind === 'failed') {
    return new CommandFailedError(error.program, error.args, error.exitCode, error.stderr,
      {timedOut: error.timedOut, ...(error.timeoutMs === undefined ? {} : {timeoutMs: error.timeoutMs})})
  }
  return new Error(error.message)
}

/**
 * Starts the thread without the parent's node options. From the TypeScript sources (tsx: tests, bench)
 * there is no exec-worker.js, and Node 20 applies no `--import` hooks to a worker's entry module, so
 * there the thread loads exec-worker.ts through tsx's API (as the kmsg reader does).
 */
function startWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return keepV8Flags(new Worker(WORKER_URL, {execArgv: []}))
  const source = new URL('./exec-worker.ts', import.meta.url).href
  const tsx = import.meta.resolve('tsx/esm/api')
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(source)}, ${JSON.stringify(import.meta.url)}))`
  return keepV8Flags(new Worker(bootstrap, {eval: true, execArgv: []}))
}
