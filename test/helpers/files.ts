import {chmodSync, mkdirSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'

/** iptables-save output without the `#` comment lines and with the packet counters zeroed. */
export function normaliseSave(text: string): string {
  return text.split('\n').filter((l) => !l.startsWith('#')).map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]')).join('\n')
}

/** Writes `text` to `path` (creating its directory), optionally executable. */
export function put(path: string, text = '', mode?: number): void {
  mkdirSync(join(path, '..'), {recursive: true})
  writeFileSync(path, text)
  if (mode !== undefined) chmodSync(path, mode)
}
