/**
 * Long-running programs of the lab (nats-server, daemons, server scripts), started through
 * src/lib/system and registered in the cleanup registry, so that an interrupted run stops them too.
 */
import {netnsPrefix, type ProcessExit, type SpawnedProcess, spawnProcess as spawnSystemProcess} from '../system/index.js'
import {registerCleanup} from './cleanup.js'

export type {ProcessExit, SpawnedProcess}

/** Options of {@link spawnProcess}. */
export interface SpawnProcessOptions {
  /** Run the program inside this network namespace (`ip netns exec NAME program args…`). */
  netns?: string
  /** Extra environment variables, added to this process's environment. */
  env?: Record<string, string>
  /** Working directory; this process's by default. */
  cwd?: string
}

/**
 * Starts a long-running program with an argument array (never a shell), optionally inside a network
 * namespace, in its own process group so that stopping it also stops whatever it started (see
 * system's spawnProcess()). The process is registered for removal at exit and does not keep this
 * process alive by itself.
 * Throws MissingDependencyError when the program (or `ip`) cannot be started.
 */
export function spawnProcess(program: string, args: readonly string[] = [], options: SpawnProcessOptions = {}): SpawnedProcess {
  const wrap = options.netns === undefined ? [] : netnsPrefix(options.netns)
  const spawned = spawnSystemProcess(program, args, {cwd: options.cwd, env: options.env, wrap})
  const unregister = registerCleanup({
    description: `process ${spawned.pid} (${[...wrap, program, ...args].join(' ')})`,
    remove: async () => {
      await spawned.stop()
    },
    removeSync: () => spawned.signal('SIGKILL'),
  })
  spawned.onExit(unregister)
  return spawned
}
