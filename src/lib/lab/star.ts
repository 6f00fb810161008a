/**
 * A star network of namespaces: one hub namespace holding a Linux bridge, and member namespaces that
 * each have one veth port on it, all in one IPv4 /24 and one IPv6 /64. Any member reaches any other
 * directly (one L2 segment, no routes), which is what a fleet of servers behind one switch looks like:
 * the hub can run nats-server on the bridge's own address, hosts and attackers are members.
 *
 * Addresses come from the benchmarking range 198.18.0.0/15 and 2001:db8::/32 by default, which
 * diswall does not protect (a member can be banned).
 */
import {exec} from '../system/index.js'
import {LabError} from './errors.js'
import {createNetns, type Netns} from './netns.js'
import {waitFor} from './wait.js'

/** One member of a {@link StarNetwork}. */
export interface StarMember {
  /** The name it was added with (`host1`, `attacker`). */
  readonly name: string
  readonly netns: Netns
  /** Its interface on the bridge, inside `netns`. */
  readonly ifname: string
  readonly ipv4: string
  readonly ipv6: string
}

/** A hub with a bridge, and the members plugged into it. */
export interface StarNetwork {
  /** The hub namespace (the bridge lives here). */
  readonly hub: Netns
  /** The hub's own addresses on the bridge (`.254`, `::fe`): where a nats-server in the hub listens. */
  readonly hubIpv4: string
  readonly hubIpv6: string
  readonly members: readonly StarMember[]
  /** The member added as `name`; throws LabError for an unknown name. */
  member(name: string): StarMember
  /** Creates a namespace and plugs it in; names are unique, at most 253 members. */
  addMember(name: string): Promise<StarMember>
  /** Removes every member namespace and the hub (and the processes inside). Safe to call twice. */
  close(): Promise<void>
}

/** Options of {@link openStarNetwork}. */
export interface StarOptions {
  /** Members to add at once, in order. */
  members?: readonly string[]
  /** The first three octets of the IPv4 /24: `198.18.0` by default. */
  ipv4Net?: string
  /** The IPv6 /64 prefix without the host part: `2001:db8:b:0` by default. */
  ipv6Net?: string
}

const BRIDGE = 'dwbr0'
const MEMBER_IFNAME = 'dwlan0'
/** Members get `.1` … `.253`; the hub is `.254`. */
const MAX_MEMBERS = 253
const HUB_HOST = 254

/**
 * Builds the hub and its bridge, then adds `members`. Everything is created inside namespaces the lab
 * made (registered for removal at exit); if anything fails half-way, what was built is removed before
 * the error is thrown.
 */
export async function openStarNetwork(options: StarOptions = {}): Promise<StarNetwork> {
  const ipv4Net = options.ipv4Net ?? '198.18.0'
  const ipv6Net = options.ipv6Net ?? '2001:db8:b:0'
  const hub = await createNetns()
  const members: StarMember[] = []
  let closing: Promise<void> | undefined

  const network: StarNetwork = {
    async addMember(name) {
      if (closing) throw new LabError('the star network is closed')
      if (members.some((m) => m.name === name)) throw new LabError(`a member named ${name} exists`)
      if (members.length >= MAX_MEMBERS) throw new LabError(`at most ${MAX_MEMBERS} members`)
      const host = members.length + 1
      const netns = await createNetns()
      const port = `dwp${host}`
      const member: StarMember = {
        ifname: MEMBER_IFNAME,
        ipv4: `${ipv4Net}.${host}`,
        ipv6: `${ipv6Net}::${host.toString(16)}`,
        name,
        netns,
      }
      try {
        await exec('ip', ['-n', hub.name, 'link', 'add', port, 'type', 'veth', 'peer', 'name', MEMBER_IFNAME, 'netns', netns.name])
        await exec('ip', ['-n', hub.name, 'link', 'set', port, 'master', BRIDGE, 'up'])
        await exec('ip', ['-n', netns.name, 'link', 'set', MEMBER_IFNAME, 'up'])
        await exec('ip', ['-n', netns.name, 'addr', 'add', `${member.ipv4}/24`, 'dev', MEMBER_IFNAME])
        // nodad: without it the address stays tentative (unusable) for about a second.
        await exec('ip', ['-n', netns.name, '-6', 'addr', 'add', `${member.ipv6}/64`, 'dev', MEMBER_IFNAME, 'nodad'])
        await waitUp(netns, MEMBER_IFNAME)
      } catch (error) {
        await netns.remove().catch(() => {})
        throw error
      }

      members.push(member)
      return member
    },
    close() {
      closing ??= (async () => {
        const errors: unknown[] = []
        for (const ns of [...members.map((m) => m.netns).reverse(), hub]) {
          try {
            await ns.remove()
          } catch (error) {
            errors.push(error)
          }
        }

        if (errors.length > 0) throw new AggregateError(errors, 'removing the star network failed')
      })()
      return closing
    },
    hub,
    hubIpv4: `${ipv4Net}.${HUB_HOST}`,
    hubIpv6: `${ipv6Net}::${HUB_HOST.toString(16)}`,
    member(name) {
      const found = members.find((m) => m.name === name)
      if (!found) throw new LabError(`no member named ${name}`)
      return found
    },
    members,
  }

  try {
    await exec('ip', ['-n', hub.name, 'link', 'add', BRIDGE, 'type', 'bridge'])
    await exec('ip', ['-n', hub.name, 'link', 'set', BRIDGE, 'up'])
    await exec('ip', ['-n', hub.name, 'addr', 'add', `${network.hubIpv4}/24`, 'dev', BRIDGE])
    await exec('ip', ['-n', hub.name, '-6', 'addr', 'add', `${network.hubIpv6}/64`, 'dev', BRIDGE, 'nodad'])
    for (const name of options.members ?? []) await network.addMember(name)
  } catch (error) {
    await network.close().catch(() => {})
    throw error
  }

  return network
}

async function waitUp(netns: Netns, ifname: string): Promise<void> {
  // The kernel activates a veth's queue asynchronously once both ends are up; until then packets drop.
  await waitFor(async () => {
    const {stdout} = await exec('ip', ['-n', netns.name, '-o', 'link', 'show', ifname])
    return /state UP/.test(stdout)
  }, {timeoutMs: 5000, what: `link ${ifname} in ${netns.name} to come up`})
}
