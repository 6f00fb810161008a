import {CommandFailedError} from '../../errors.js'
import type {Address, Target} from '../../net/index.js'

/** The two kernel lists diswall keeps: bans and allow entries. */
export type ListKind = 'allow' | 'block'

/** One entry to write. Block entries are single addresses; allow entries may be networks. */
export interface SetEntry {
  target: Target
  /** Seconds until the kernel drops the entry; 0 or undefined = never (allow) / the set default (block). */
  ttlSec?: number
  /** Stored with allow entries (ipset `comment`, nft element comment); block sets keep no comments. */
  comment?: string
}

/**
 * A list copy as it streams in, read once: entries one by one, or in batches (one per network message,
 * so that a 1M-entry copy costs no async step per entry).
 */
export type SetEntrySource = AsyncIterable<readonly SetEntry[] | SetEntry> | Iterable<SetEntry>

/** Hands each entry of one item of a {@link SetEntrySource} (an entry or a batch) to `visit`. */
export function forEachOf(item: readonly SetEntry[] | SetEntry, visit: (entry: SetEntry) => void): void {
  if (isBatch(item)) for (const entry of item) visit(entry)
  else visit(item)
}

function isBatch(item: readonly SetEntry[] | SetEntry): item is readonly SetEntry[] {
  return Array.isArray(item)
}

/** One entry read back from the kernel. */
export interface ListedEntry {
  target: Target
  /** Remaining seconds; undefined when the entry does not expire. */
  ttlSec?: number
  comment?: string
}

/** Options of FirewallBackend.list() and forEachEntry(). */
export interface ListOptions {
  /** Only the sets of this address family (a never-ban check of IPv4 addresses reads the IPv4 allow set). */
  family?: 4 | 6
  /** Stops a listing that is no longer wanted (a periodic snapshot when the daemon stops). */
  signal?: AbortSignal
}

export interface CommitReport {
  added: number
  removed: number
}

/** What init() found and did. */
export interface InitReport {
  /** Sets created now (absent before). */
  created: string[]
  /** Sets recreated with the right parameters (too small, missing timeout or comment support), entries kept. */
  migrated: string[]
  /** Staging sets or tables left by a crashed run, removed. */
  leftovers: string[]
}

/**
 * The kernel sets of diswall behind one interface (ipset + iptables, or nftables).
 * add() and del() only queue; nothing reaches the kernel before commit(), which sends the whole
 * batch in one process. Every other method runs at once.
 */
export interface FirewallBackend {
  readonly name: 'ipset' | 'memory' | 'nftables'
  /** Ensures the sets and the rules that make them effective exist (idempotent); removes leftovers. */
  init(): Promise<InitReport>
  /**
   * Starts reading, without changing anything, what the next init() checks, so that the reading runs
   * beside other work of a command (the never-ban check of `block add`); that init() uses it. Only for
   * an init() that follows within the same command.
   */
  prepareInit?(): void
  add(list: ListKind, entry: SetEntry): void
  del(list: ListKind, target: Target): void
  /** Number of queued operations. */
  readonly pending: number
  /** Sends the queued operations in one batch. Deleting an absent entry is not an error. */
  commit(): Promise<CommitReport>
  has(list: ListKind, target: Target): Promise<boolean>
  /**
   * One IPv4 ban in one process, when it is not there yet (`block add` of a new address: no test
   * before the add): true when it was added; false when it was there already (nothing changed: the
   * caller refreshes its timeout with add() and commit()); undefined when this path cannot tell (a set
   * missing or full): the caller takes has() and commit(), which report or repair it. Runs at once,
   * beside the queue.
   */
  addIfAbsent?(entry: SetEntry & {target: Address}): Promise<boolean | undefined>
  /**
   * The same for lifting one IPv4 ban (`block del`, after init()): true when it was there and is gone
   * now; false when it was not there (nothing changed); undefined when this path cannot tell.
   */
  delIfPresent?(target: Address): Promise<boolean | undefined>
  /**
   * Every entry with remaining timeout and comment; with `family`, only the sets of that family are
   * read. Not for the hot path: it reads the whole set. Aborting `signal` stops the listing program;
   * the call then rejects with `signal.reason`.
   */
  list(list: ListKind, options?: ListOptions): Promise<ListedEntry[]>
  /**
   * Hands every entry to `visit`, as list() finds them, without holding them all as objects (a snapshot
   * of 1M bans). Not for the hot path: it reads the whole set. Backends without it are read with list().
   * Aborting `signal` stops the listing program; the call then rejects with `signal.reason`.
   */
  forEachEntry?(list: ListKind, visit: (entry: ListedEntry) => void, options?: ListOptions): Promise<void>
  /** Number of entries in the list (both families). */
  count(list: ListKind): Promise<number>
  /**
   * Replaces the whole list atomically (staging set + swap, or one nft transaction). The entries are
   * read once, as they come, and streamed to the kernel program without being held (a 1M-entry init);
   * when the stream throws or the program fails, the list is left exactly as it was and the call
   * rejects (with the stream's error, or CommandFailedError).
   */
  replace(list: ListKind, entries: SetEntrySource): Promise<void>
  /** Removes the sets and rules of diswall (uninstall, tests). */
  destroy(): Promise<void>
  /**
   * Releases what the backend holds between calls (IpsetBackend's session process) and waits for it;
   * the kernel sets stay. Commits after close() still work, without that process. Safe to call twice.
   */
  close(): Promise<void>
}

/** A reading of prepareInit() older than this is not used: init() reads again (a backend kept between commands). */
export const PREPARED_INIT_MAX_AGE_MS = 2000

/**
 * One single-element change of addIfAbsent() / delIfPresent(): true when `run` succeeded; false when
 * the program refused it with `refusal` (the element was there already, or was not there: nothing
 * changed); undefined for any other refusal (the caller then takes the usual path). Other errors throw.
 */
export async function changeOneElement(run: () => Promise<unknown>, refusal: RegExp): Promise<boolean | undefined> {
  try {
    await run()
    return true
  } catch (error) {
    if (!(error instanceof CommandFailedError)) throw error
    return refusal.test(error.stderr) ? false : undefined
  }
}

/** The address family's set: `v4` for IPv4, `v6` for IPv6. */
export interface FamilyNames {
  v4: string
  v6: string
}

/** Picks the set of the target's family. */
export function setFor(names: FamilyNames, target: Address | Target): string {
  return target.family === 4 ? names.v4 : names.v6
}
