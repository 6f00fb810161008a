import {spawn} from 'node:child_process'
import {fileURLToPath} from 'node:url'

/** The built CLI entry point (npm test builds first). */
export const CLI = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

export interface CliResult {
  code: number
  stdout: string
  stderr: string
  /** stdout parsed as JSON when the command ran with --json; undefined otherwise. */
  json?: any
}

/**
 * Runs `diswall ARGS…` as users do (a child process of the built bin/run.js), with optional stdin
 * and extra environment. Never throws on a non-zero exit: tests assert on code, stdout and stderr.
 */
export async function runCli(
  args: readonly string[],
  {env = {}, input, wrap = []}: {env?: Record<string, string>; input?: string; wrap?: readonly string[]} = {},
): Promise<CliResult> {
  const [program, ...prefix] = wrap.length > 0 ? wrap : [process.execPath]
  const argv = wrap.length > 0 ? [...prefix, process.execPath, CLI, ...args] : [CLI, ...args]
  const child = spawn(program, argv, {env: {...process.env, NO_COLOR: '1', ...env}, stdio: ['pipe', 'pipe', 'pipe']})
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  child.stdin.end(input ?? '')
  const code = await new Promise<number>((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (c) => resolve(c ?? 1))
  })
  let json: unknown
  if (args.includes('--json') || env.DISWALL_CONTENT_TYPE === 'json') {
    try {
      json = JSON.parse(stdout)
    } catch {
      json = undefined
    }
  }
  return {code, json, stderr, stdout}
}
