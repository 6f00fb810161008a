/**
 * /etc/services: service names for `incoming.d/NN-NAME` files and for the port lines of `whitelist.d/` and
 * `blacklist.d/` files.
 */
import {readFile} from 'node:fs/promises'

import {RulesetError} from './resolve.js'
import type {PortProto} from './resolve.js'

/** One service: its port and the protocols /etc/services defines it for. */
export interface Service {
  port: number
  protos: Set<PortProto>
}

/** Services by lower-cased name (aliases included). */
export type ServiceMap = Map<string, Service>

/** Where the system keeps its services list (Debian package netbase). */
export const DEFAULT_SERVICES_PATH = '/etc/services'

const ENTRY = /^([0-9]+)\/(tcp|udp)$/i

/**
 * Parses /etc/services text: `name port/proto [aliases…]`, `#` starts a comment. Only tcp and udp entries
 * count (sctp, ddp, … are skipped), names and aliases are lower-cased, and the first definition of a name
 * wins: a later line for the same name adds its protocol only when it has the same port. Lines that do not
 * fit are skipped, as the C library does. Pure.
 *
 * Unlike Symbiosis, the protocol is kept: `ntp` (123/udp only) opens only UDP, `ssh` (22/tcp) only TCP,
 * and `https` (443/tcp and 443/udp) both.
 */
export function parseServices(text: string): ServiceMap {
  const services: ServiceMap = new Map()
  for (const raw of text.split(/\r?\n/)) {
    const hash = raw.indexOf('#')
    const fields = (hash === -1 ? raw : raw.slice(0, hash)).trim().split(/\s+/)
    if (fields.length < 2) continue
    const match = ENTRY.exec(fields[1])
    if (match === null) continue
    const port = Number(match[1])
    if (port < 1 || port > 65_535) continue
    const proto = match[2].toLowerCase() as PortProto
    for (const name of [fields[0], ...fields.slice(2)]) {
      const key = name.toLowerCase()
      const known = services.get(key)
      if (known === undefined) services.set(key, {port, protos: new Set([proto])})
      else if (known.port === port) known.protos.add(proto)
    }
  }
  return services
}

/**
 * Reads and parses a services file (see {@link parseServices}).
 * @throws RulesetError when the file cannot be read, with a hint to install netbase.
 */
export async function loadServices(path = DEFAULT_SERVICES_PATH): Promise<ServiceMap> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    const reason = code === 'ENOENT' ? 'the services file was not found' : `cannot read the services file (${code ?? String(error)})`
    throw new RulesetError({file: path}, reason,
      'Install it (apt-get install netbase), or use port numbers instead of service names.', {cause: error})
  }
  return parseServices(text)
}

/** The protocols of a service in a stable order (tcp before udp). */
export function serviceProtos(service: Service): PortProto[] {
  return (['tcp', 'udp'] as const).filter((p) => service.protos.has(p))
}
