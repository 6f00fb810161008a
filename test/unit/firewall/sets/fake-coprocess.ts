/**
 * An in-process stand-in for a long-running program read by the kernel-set sessions (`ipset -exist -`,
 * `nft -i`): it answers each line written to stdin asynchronously, as a pipe would.
 */
import {CommandFailedError} from '../../../../src/lib/errors.js'
import type {Coprocess, CoprocessExit, SpawnCoprocess, SpawnCoprocessOptions} from '../../../../src/lib/system/index.js'

/** What the fake does with one line: stderr text to write, stay silent, or exit. */
export type LineAction = string | undefined | {exit: number} | 'hang'

/** The fake's behaviour: the test's `react`, then the program's own `answer` when `react` says nothing. */
export interface FakeProgram {
  program: string
  args: readonly string[]
  /** The program's answer to a line the test does not react to (the sentinel or marker answer). */
  answer(line: string): string | undefined
}

let nextPid = 80_000

export class FakeCoprocess implements Coprocess {
  readonly pid = nextPid++
  readonly written: string[] = []
  readonly exited: Promise<CoprocessExit>
  closedStdin = false
  signals: string[] = []
  private exitNow!: (exit: CoprocessExit) => void
  private isRunning = true
  private hanging = false
  private readonly listeners = {stderr: [] as Array<(t: string) => void>, stdout: [] as Array<(t: string) => void>}

  constructor(private readonly program: FakeProgram, private readonly react: (line: string) => LineAction) {
    this.exited = new Promise((resolve) => {
      this.exitNow = (exit) => {
        if (!this.isRunning) return
        this.isRunning = false
        resolve(exit)
      }
    })
  }

  get running(): boolean {
    return this.isRunning
  }

  on(stream: 'stderr' | 'stdout', listener: (text: string) => void): void {
    this.listeners[stream].push(listener)
  }

  write(text: string): boolean {
    if (!this.isRunning || this.closedStdin) return false
    this.written.push(text)
    setImmediate(() => {
      for (const line of text.split('\n').slice(0, -1)) {
        if (!this.isRunning || this.hanging) return
        const action = this.react(line)
        if (action === 'hang') {
          this.hanging = true
          return
        }

        if (typeof action === 'object') {
          this.exitNow({error: new CommandFailedError(this.program.program, this.program.args, action.exit, ''), exitCode: action.exit})
          return
        }

        const out = action ?? this.program.answer(line)
        if (out) this.emit('stderr', out)
      }
    })
    return true
  }

  emit(stream: 'stderr' | 'stdout', text: string): void {
    for (const listener of this.listeners[stream]) listener(text)
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    this.signals.push(signal)
    setImmediate(() => this.exitNow({signal}))
  }

  async close(graceMs = 1000): Promise<CoprocessExit> {
    this.closedStdin = true
    const timer = setTimeout(() => this.kill('SIGTERM'), graceMs)
    // Like the real programs at EOF: the lines already written are answered, then it exits 0.
    setImmediate(() => setImmediate(() => this.exitNow({exitCode: 0})))
    const exit = await this.exited
    clearTimeout(timer)
    return exit
  }
}

/** A SpawnCoprocess that makes FakeCoprocesses of `program` and records what was started. */
export function fakeSpawner(program: FakeProgram, react: (line: string) => LineAction = () => undefined) {
  const started: Array<{args: readonly string[]; fake: FakeCoprocess; options?: SpawnCoprocessOptions; program: string}> = []
  const spawn: SpawnCoprocess = (name, args, options) => {
    const fake = new FakeCoprocess(program, react)
    started.push({args, fake, options, program: name})
    return fake
  }

  return {spawn, started}
}
