import {CommandFailedError} from '../../../../src/lib/errors.js'
import type {Exec, ExecResult} from '../../../../src/lib/system/index.js'

/** One recorded process start: program, argv and stdin. */
export interface Call {
  program: string
  args: string[]
  input?: string
}

/**
 * What the fake answers for a call: stdout/stderr, or undefined for empty output. To script a failure,
 * throw from the handler (e.g. `throw failure(call, 'ipset v7.17: …')`).
 */
export type Handler = (call: Call, index: number) => Partial<ExecResult> | undefined

/** A recording fake Exec: every call is kept in `calls` (with stdin, a streamed one read to its end) before the handler answers. */
export function recordingExec(handler: Handler = () => undefined): {calls: Call[]; exec: Exec} {
  const calls: Call[] = []
  const exec: Exec = async (program, args, {input: text, inputStream} = {}) => {
    let input = text
    if (inputStream !== undefined) {
      input = ''
      for await (const chunk of inputStream) input += chunk
    }
    const call: Call = input === undefined ? {args: [...args], program} : {args: [...args], input, program}
    calls.push(call)
    const out = handler(call, calls.length - 1)
    return {stderr: out?.stderr ?? '', stdout: out?.stdout ?? ''}
  }

  return {calls, exec}
}

/** The CommandFailedError a real exec would throw for this call. */
export function failure(call: Call, stderr: string, exitCode = 1): CommandFailedError {
  return new CommandFailedError(call.program, call.args, exitCode, stderr)
}

/** `program arg arg…`, for matching calls in handlers and compact assertions. */
export function line(call: Call): string {
  return [call.program, ...call.args].join(' ')
}
