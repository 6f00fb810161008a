/**
 * V8 flags set at run time, kept across worker threads. Starting a Worker puts the process's V8 flags
 * back to their start values (measured on Node 20: `--semi-space-growth-factor` set through
 * v8.setFlagsFromString no longer holds once a worker is online), so every worker diswall starts goes
 * through {@link keepV8Flags}, which sets them again as soon as the worker is online.
 */
import {setFlagsFromString} from 'node:v8'
import type {Worker} from 'node:worker_threads'

const flags = new Set<string>()

/** Sets a V8 flag (`--name=value`) for the rest of the process's life, worker starts included. */
export function setV8Flag(flag: string): void {
  flags.add(flag)
  setFlagsFromString(flag)
}

/** The flags set through {@link setV8Flag}, in the order first set. */
export function runtimeV8Flags(): string[] {
  return [...flags]
}

/** Re-applies the flags of {@link setV8Flag} once `worker` is online; returns the worker. */
export function keepV8Flags(worker: Worker): Worker {
  worker.once('online', () => {
    for (const flag of flags) setFlagsFromString(flag)
  })
  return worker
}
