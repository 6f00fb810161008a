import type {Target} from '../../net/index.js'
import {forEachOf} from './types.js'
import type {CommitReport, FirewallBackend, InitReport, ListedEntry, ListKind, ListOptions, SetEntry, SetEntrySource} from './types.js'

/** A backend that keeps the sets in memory, for unit tests of the layers above the kernel. */
export class MemoryBackend implements FirewallBackend {
  readonly name = 'memory'
  /** Every commit, in order: what reached the "kernel" in each batch. */
  readonly commits: Array<{adds: SetEntry[]; dels: Target[]}> = []
  private readonly sets: Record<ListKind, Map<string, {entry: SetEntry; expiresAt?: number}>> = {
    allow: new Map(),
    block: new Map(),
  }

  private ops: Array<() => void> = []
  private batch: {adds: SetEntry[]; dels: Target[]} = {adds: [], dels: []}

  constructor(private readonly now: () => number = Date.now) {}

  get pending(): number {
    return this.ops.length
  }

  async init(): Promise<InitReport> {
    return {created: [], leftovers: [], migrated: []}
  }

  add(list: ListKind, entry: SetEntry): void {
    this.batch.adds.push(entry)
    this.ops.push(() => {
      this.sets[list].set(entry.target.text, {entry, expiresAt: entry.ttlSec ? this.now() + entry.ttlSec * 1000 : undefined})
    })
  }

  del(list: ListKind, target: Target): void {
    this.batch.dels.push(target)
    this.ops.push(() => this.sets[list].delete(target.text))
  }

  async commit(): Promise<CommitReport> {
    const report = {added: this.batch.adds.length, removed: this.batch.dels.length}
    for (const op of this.ops) op()
    if (this.ops.length > 0) this.commits.push(this.batch)
    this.ops = []
    this.batch = {adds: [], dels: []}
    return report
  }

  async has(list: ListKind, target: Target): Promise<boolean> {
    this.expire(list)
    return this.sets[list].has(target.text)
  }

  async list(list: ListKind, {family, signal}: ListOptions = {}): Promise<ListedEntry[]> {
    signal?.throwIfAborted()
    this.expire(list)
    return [...this.sets[list].values()].filter(({entry}) => family === undefined || entry.target.family === family).map(({entry, expiresAt}) => ({
      comment: entry.comment,
      target: entry.target,
      ttlSec: expiresAt === undefined ? undefined : Math.ceil((expiresAt - this.now()) / 1000),
    }))
  }

  async count(list: ListKind): Promise<number> {
    this.expire(list)
    return this.sets[list].size
  }

  /** Like a staging set: the list changes only once the stream has ended; a stream that throws changes nothing. */
  async replace(list: ListKind, entries: SetEntrySource): Promise<void> {
    const staged = new Map<string, {entry: SetEntry; expiresAt?: number}>()
    const adds: SetEntry[] = []
    for await (const item of entries) {
      forEachOf(item, (entry) => {
        adds.push(entry)
        staged.set(entry.target.text, {entry, expiresAt: entry.ttlSec ? this.now() + entry.ttlSec * 1000 : undefined})
      })
    }
    this.sets[list] = staged
    this.commits.push({adds, dels: []})
  }

  async destroy(): Promise<void> {
    this.sets.allow.clear()
    this.sets.block.clear()
  }

  async close(): Promise<void> {}

  private expire(list: ListKind): void {
    const now = this.now()
    for (const [key, {expiresAt}] of this.sets[list]) if (expiresAt !== undefined && expiresAt <= now) this.sets[list].delete(key)
  }
}
