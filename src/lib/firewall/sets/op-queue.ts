import type {Target} from '../../net/index.js'
import {isValidComment} from './comment.js'
import type {CommitReport, ListKind, SetEntry} from './types.js'

/** One queued kernel change. */
export type Op = {entry: SetEntry; kind: 'add'; list: ListKind} | {kind: 'del'; list: ListKind; target: Target}

/** The target an op is about. */
export function opTarget(op: Op): Target {
  return op.kind === 'add' ? op.entry.target : op.target
}

/** The queue behind add()/del()/commit() of the kernel backends: nothing runs until take(). */
export class OpQueue {
  private ops: Op[] = []

  get length(): number {
    return this.ops.length
  }

  add(list: ListKind, entry: SetEntry): void {
    // Callers validate comments first (checkComment); this guards the restore/nft script syntax.
    if (entry.comment !== undefined && !isValidComment(entry.comment)) {
      throw new TypeError(`invalid set comment ${JSON.stringify(entry.comment)}`)
    }

    this.ops.push({entry, kind: 'add', list})
  }

  del(list: ListKind, target: Target): void {
    this.ops.push({kind: 'del', list, target})
  }

  /** Empties the queue and returns what was in it. */
  take(): Op[] {
    const ops = this.ops
    this.ops = []
    return ops
  }
}

/** Counts the adds and dels of a committed batch. */
export function reportOf(ops: readonly Op[]): CommitReport {
  let added = 0
  for (const op of ops) if (op.kind === 'add') added++
  return {added, removed: ops.length - added}
}
