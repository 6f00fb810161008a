/**
 * The thread of exec-thread.ts: runs each requested program with {@link exec} and posts the result,
 * or the error as plain data. Runs only as a worker thread.
 */
import {parentPort} from 'node:worker_threads'

import {CommandFailedError, MissingDependencyError} from '../errors.js'
import {DEFAULT_EXEC_TIMEOUT_MS, exec} from './exec.js'
import type {ExecResult} from './exec.js'

/** One program to run. */
export interface ExecThreadRequest {
  id: number
  program: string
  args: string[]
  options: {env?: Record<string, string>; input?: string; timeoutMs?: number}
}

/** Why a program failed, as plain data (errors lose their class between threads). */
export type ExecThreadError =
  | {kind: 'failed'; program: string; args: string[]; exitCode?: number; stderr: string; timedOut: boolean; timeoutMs?: number}
  | {kind: 'missing'; program: string}
  | {kind: 'other'; message: string}

/** What became of it. */
export type ExecThreadReply = {id: number; ok: true; result: ExecResult} | {id: number; ok: false; error: ExecThreadError}

if (parentPort !== null) {
  const port = parentPort
  port.on('message', (request: ExecThreadRequest) => {
    exec(request.program, request.args, request.options).then(
      (result) => port.postMessage({id: request.id, ok: true, result} satisfies ExecThreadReply),
      (error: unknown) => port.postMessage({error: describe(error, request), id: request.id, ok: false} satisfies ExecThreadReply),
    )
  })
}

function describe(error: unknown, request: ExecThreadRequest): ExecThreadError {
  if (error instanceof MissingDependencyError) return {kind: 'missing', program: error.program}
  if (error instanceof CommandFailedError) {
    const timeoutMs = error.timedOut ? request.options.timeoutMs ?? DEFAULT_EXEC_TIMEOUT_MS : undefined
    return {args: [...error.args], kind: 'failed', program: error.program, stderr: error.stderr, timedOut: error.timedOut,
      ...(error.programExitCode === undefined ? {} : {exitCode: error.programExitCode}), ...(timeoutMs === undefined ? {} : {timeoutMs})}
  }
  return {kind: 'other', message: error instanceof Error ? error.message : String(error)}
}
