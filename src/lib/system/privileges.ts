import {NotRootError} from '../errors.js'

/** Whether the process runs as root (true where there are no user ids, as on Windows). */
export function isRoot(): boolean {
  return typeof process.getuid !== 'function' || process.getuid() === 0
}

/** Throws NotRootError unless the process runs as root (kernel sets and rules need CAP_NET_ADMIN). */
export function assertRoot(what: string): void {
  if (!isRoot()) throw new NotRootError(what)
}
