import {endianness} from 'node:os'

import {parseAddress} from '../../src/lib/net/index.js'

/** States of /proc/net/tcp used by the tests. */
export const TCP_STATE = {CLOSE: 0x07, ESTABLISHED: 0x01, LISTEN: 0x0a} as const

/** An endpoint as /proc/net prints it (each 32-bit word in the host's byte order): `0100007F:0016`. */
export function procNetEndpoint(ip: string, port: number, littleEndian = endianness() === 'LE'): string {
  const address = parseAddress(ip)
  const bytes: number[] = address.family === 4
    ? ip.split('.').map(Number)
    : expandV6(address.text)
  let hex = ''
  for (let w = 0; w < bytes.length; w += 4) {
    const word = bytes.slice(w, w + 4)
    for (const b of littleEndian ? word.reverse() : word) hex += b.toString(16).padStart(2, '0').toUpperCase()
  }
  return `${hex}:${port.toString(16).padStart(4, '0').toUpperCase()}`
}

/** A /proc/net/{tcp,udp}{,6} table with its header line, one socket per `[local, remote, state]`. */
export function procNetTable(sockets: ReadonlyArray<readonly [local: string, remote: string, state: number]>): string {
  const lines = sockets.map(([local, remote, state], i) =>
    `${String(i).padStart(4)}: ${local} ${remote} ${state.toString(16).padStart(2, '0').toUpperCase()} 00000000:00000000 00:00000000 00000000     0        0 ${1000 + i} 1 0000000000000000 100 0 0 10 0`)
  return ['  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode', ...lines, ''].join('\n')
}

function expandV6(text: string): number[] {
  const [head = '', tail = ''] = text.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const groups = text.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h
  return groups.flatMap((g) => {
    const n = Number.parseInt(g, 16)
    return [n >> 8, n & 255]
  })
}
