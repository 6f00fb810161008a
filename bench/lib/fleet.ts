/**
 * Throwaway network namespaces for benchmarks ("the fleet"): named hosts, optional veth links with
 * addresses from the benchmarking range (198.18.0.0/15, 2001:db8:b::/48, which diswall does not
 * protect), and removal of everything on close(), on failure, at exit and on Ctrl-C/SIGTERM (the
 * test harness's cleanup registry). Benchmarks run firewall programs only through `host.exec`, so the
 * machine's own firewall is never touched.
 */
import {cleanupAll, connectNetns, createNetns, type Netns, type VethPair} from '../../src/lib/lab/index.js'

/** What to build: host roles and the links between them. */
export interface FleetSpec {
  /** Role names, e.g. `['kernel']` or `['hub', 'server', 'host1', 'host2', 'attacker']`. */
  hosts: readonly string[]
  /** veth links between two roles; each gets its own /24 and /64. */
  links?: ReadonlyArray<readonly [string, string]>
}

/** A built fleet. */
export interface Fleet {
  /** The namespace of a role; throws for an unknown role. */
  host(role: string): Netns
  /** The link between two roles (in either order); throws when they are not linked. */
  link(a: string, b: string): VethPair
  /** Every namespace (and the processes inside) removed. Safe to call twice. */
  close(): Promise<void>
}

/** At most this many links: one /24 each in 198.18.0.0/15. */
export const MAX_LINKS = 512

/**
 * Creates the namespaces and links of `spec`. If anything fails half-way, what was built is removed
 * before the error is thrown.
 */
export async function openFleet(spec: FleetSpec): Promise<Fleet> {
  const hosts = new Map<string, Netns>()
  const links = new Map<string, VethPair>()
  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const errors: unknown[] = []
      for (const ns of [...hosts.values()].reverse()) {
        try {
          await ns.remove()
        } catch (error) {
          errors.push(error)
        }
      }

      if (errors.length > 0) throw new AggregateError(errors, 'removing the benchmark namespaces failed')
    })()
    return closing
  }

  try {
    for (const role of spec.hosts) {
      if (hosts.has(role)) throw new Error(`duplicate host role ${role}`)
      hosts.set(role, await createNetns())
    }

    const specLinks = spec.links ?? []
    if (specLinks.length > MAX_LINKS) throw new Error(`at most ${MAX_LINKS} links, got ${specLinks.length}`)
    for (const [i, [a, b]] of specLinks.entries()) {
      const v4 = `198.${18 + (i >> 8)}.${i & 255}`
      const v6 = `2001:db8:b:${i.toString(16)}`
      const pair = await connectNetns(getHost(hosts, a), getHost(hosts, b), {
        ipv4: [`${v4}.1`, `${v4}.2`],
        ipv6: [`${v6}::1`, `${v6}::2`],
      })
      links.set(linkKey(a, b), pair)
    }
  } catch (error) {
    await close().catch(() => {})
    throw error
  }

  return {
    close,
    host: (role) => getHost(hosts, role),
    link(a, b) {
      const pair = links.get(linkKey(a, b))
      if (!pair) throw new Error(`no link between ${a} and ${b}`)
      // Orient the pair as asked: `a` is the first role given.
      return pair.a.netns === getHost(hosts, a) ? pair : {...pair, a: pair.b, b: pair.a}
    },
  }
}

/** Runs `body` with a fleet and removes the fleet afterwards, also when `body` throws. */
export async function withFleet<T>(spec: FleetSpec, body: (fleet: Fleet) => Promise<T>): Promise<T> {
  const fleet = await openFleet(spec)
  try {
    return await body(fleet)
  } finally {
    await fleet.close()
  }
}

/** Removes whatever the harness still holds (namespaces, processes, directories); for the end of a run. */
export async function removeLeftovers(): Promise<void> {
  await cleanupAll()
}

function getHost(hosts: Map<string, Netns>, role: string): Netns {
  const ns = hosts.get(role)
  if (!ns) throw new Error(`unknown host role ${role}`)
  return ns
}

function linkKey(a: string, b: string): string {
  return [a, b].sort().join('\u0000')
}
