import {parseAddress} from '../../net/index.js'
import type {Address} from '../../net/index.js'
import {exec as defaultExec} from '../../system/index.js'
import type {Exec} from '../../system/index.js'

/** Addresses of the host's interfaces from `ip -j addr show` output (pure); unparsable ones are skipped. */
export function parseIpAddrJson(json: string): Address[] {
  const out: Address[] = []
  for (const link of JSON.parse(json) as Array<{addr_info?: Array<{local?: string}>}>) {
    for (const info of link.addr_info ?? []) {
      if (!info.local) continue
      try {
        out.push(parseAddress(info.local))
      } catch {
        // e.g. an address with a zone we do not model; it cannot be a ban target anyway
      }
    }
  }

  return out
}

/** The host's own addresses (in the network namespace the process runs in). */
export async function listOwnAddresses(exec: Exec = defaultExec): Promise<Address[]> {
  return parseIpAddrJson((await exec('ip', ['-j', 'addr', 'show'])).stdout)
}
