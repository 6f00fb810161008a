/** The NATS server's addresses, which every host protects from bans (a ban would cut it off the fleet). */
import {lookup} from 'node:dns/promises'

import {NetworkList, parseAddress} from '../net/index.js'

/**
 * The addresses of the NATS server (every A/AAAA record of its name, or the address itself). A name
 * that does not resolve now yields an empty list and a warning; it is resolved again at each reconnect
 * by nats.js, and the never-ban list is refreshed by {@link refreshServerAddresses}.
 */
export async function resolveServerAddresses(server: string): Promise<NetworkList> {
  const list = new NetworkList()
  try {
    list.add(parseAddress(server))
    return list
  } catch {
    // a host name
  }
  const records = await lookup(server, {all: true})
  for (const {address} of records) list.add(parseAddress(address))
  return list
}

/** Fills `list` with the server's current addresses (keeps the old ones when the lookup fails). */
export async function refreshServerAddresses(server: string, list: NetworkList): Promise<boolean> {
  try {
    const fresh = await resolveServerAddresses(server)
    for (const net of fresh) list.add(net)
    return true
  } catch {
    return false
  }
}

