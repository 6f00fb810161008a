/**
 * The thread of exec-thread.ts: runs each requested program with {@link exec}, or reads a file, and
 * posts the result, or the error as plain data. Runs only as a worker thread.
 */
import {readFileSync} from 'node:fs'
import {parentPort} from 'node:worker_threads'

import {CommandFailedError, MissingDependencyError} from '../errors.js'
import {DEFAULT_EXEC_TIMEOUT_MS, exec} from './exec.js'
import type {ExecResult} from './exec.js'

/** One program to run, or one file to read (UTF-8). */
export type ExecThreadRequest =
  | {id: number; kind: 'exec'; program: string; args: string[]; options: {env?: Record<string, string>; input?: string; timeoutMs?: number}}
  | {id: number; kind: 'read'; path: string}

/** Why a program failed, as plain data (errors lose their class between threads). */
export type ExecThreadError =
  | {kind: 'failed'; program: string; args: string[]; exitCode?: number; stderr: string; timedOut: boolean; timeoutMs?: number}
  | {kind: 'missing'; program: string}
  | {kind: 'other'; message: string}

/** What became of it; a file that does not exist or may not be read is `text: null`. */
export type ExecThreadReply =
  | {id: number; ok: true; result: ExecResult}
  | {id: number; ok: true; text: string | null}
  | {id: number; ok: false; error: ExecThreadError}

if (parentPort !== null) {
  const port = parentPort
  port.on('message', (request: ExecThreadRequest) => {
    if (request.kind === 'read') {
      port.postMessage(readText(request.id, request.path))
      return
    }
    exec(request.program, request.args, request.options).then(
      (result) => port.postMessage({id: request.id, ok: true, result} satisfies ExecThreadReply),
      (error: unknown) => port.postMessage({error: describe(error, request), id: request.id, ok: false} satisfies ExecThreadReply),
    )
  })
}

/** Reads one file at once, on this thread: one message each way, where fs.promises takes a round trip per step. */
function readText(id: number, path: string): ExecThreadReply {
  try {
    return {id, ok: true, text: readFileSync(path, 'utf8')}
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'EACCES') return {id, ok: true, text: null}
    return {error: {kind: 'other', message: error instanceof Error ? error.message : String(error)}, id, ok: false}
  }
}

function describe(error: unknown, request: Extract<ExecThreadRequest, {kind: 'exec'}>): ExecThreadError {
  if (error instanceof MissingDependencyError) return {kind: 'missing', program: error.program}
  if (error instanceof CommandFailedError) {
    const timeoutMs = error.timedOut ? request.options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS : undefined
    return {args: [...error.args], kind: 'failed', program: error.program, stderr: error.stderr, timedOut: error.timedOut,
      ...(error.programExitCode === undefined ? {} : {exitCode: error.programExitCode}), ...(timeoutMs === undefined ? {} : {timeoutMs})}
  }
  return {kind: 'other', message: error instanceof Error ? error.message : String(error)}
}
