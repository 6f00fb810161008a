import {NotRootError} from '../errors.js'

/** Throws NotRootError unless the process runs as root (kernel sets and rules need CAP_NET_ADMIN). */
export function assertRoot(what: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new NotRootError(what)
}
