/**
 * The LogStore port: the durable Raft log (Raft §5.3, dissertation §3.5), in the manner of
 * hashicorp/raft's `LogStore`. Implementations: `FileLogStore` (segment files, fsync) and
 * `MemoryLogStore`; both pass the one contract suite in `log_store_contract_test.ts`.
 *
 * @module
 */

import type { Entry } from "../raft/mod.ts";

/** Options of `LogStore.append`. */
export interface AppendOptions {
  /**
   * Make the entries durable on the calling thread: the file store's `fdatasync` then blocks the
   * event loop instead of running on a worker thread. For a caller that has nothing to do until
   * the append resolves (a follower, whose answer waits for it): it saves the hop to the worker
   * thread and back (two context switches, a duplicated file handle and a wake-up of the event
   * loop per append). The durability promise is the same either way. Stores without a blocking
   * sync ignore it.
   */
  readonly blocking?: boolean;
}

/**
 * An ordered, contiguous run of entries `firstIndex()..lastIndex()`.
 *
 * Contract (every implementation):
 * - Operations (`append`, `compact`, `reset`, `close`) are applied one at a time in call order,
 *   even when called without awaiting the previous one.
 * - A resolved `append` means its entries are durable (for the file store: written and
 *   fdatasync'ed, and any suffix it replaced is durably gone).
 * - A rejected operation whose cause is an I/O failure (write, fsync, unlink) stops the store:
 *   every later call rejects too. The caller must treat it as fatal and stop the node; retrying
 *   an fsync is never safe (docs/reliability.md item 1). A precondition violation (a caller bug)
 *   rejects only that call and leaves the store unchanged.
 * - `firstIndex()`/`lastIndex()` reflect completed operations only. An empty log has
 *   `lastIndex() === firstIndex() - 1`.
 */
export interface LogStore {
  /**
   * Read every entry `firstIndex()..lastIndex()` (used once at start for the `InitialState`).
   * The file store reads and re-verifies the segments; entries' data may view a shared read
   * buffer: treat it as immutable.
   */
  load(): Promise<{ entries: Entry[] }>;

  /**
   * Append `entries` (contiguous indexes) durably. `entries[0].index` must be
   * `<= lastIndex() + 1`; a lower start first removes the log's suffix from that index on (a
   * follower's conflicting tail, Raft §5.3), and that removal is durable before any later append
   * resolves. On an empty log any start index is accepted: the log then begins there (after a
   * snapshot install or a compaction that emptied the log). An empty `entries` is a no-op that
   * resolves once earlier operations have.
   */
  append(entries: readonly Entry[], opts?: AppendOptions): Promise<void>;

  /**
   * Forget entries `<= throughIndex`, which a durable snapshot now covers (Raft §7). Storage
   * whose every entry is covered is released (the file store deletes whole segments, so a
   * segment partly covered may keep its older entries on disk, and after a restart `load()` may
   * return them again: `loadInitialState` drops them). When `throughIndex >= lastIndex()` the
   * log becomes empty and the next append may start at any index. Never moves `firstIndex()`
   * backwards.
   */
  compact(throughIndex: number): Promise<void>;

  /**
   * Discard every entry; afterwards `firstIndex() === nextIndex`. For an installed snapshot that
   * does not match the log (Raft §7: "discard the entire log"), and for `loadInitialState` when
   * the log on disk is not contiguous with the snapshot.
   */
  reset(nextIndex: number): Promise<void>;

  /** Index of the first entry held, or of the next entry when the log is empty. */
  firstIndex(): number;

  /** Index of the last durable entry; `firstIndex() - 1` when empty. */
  lastIndex(): number;

  /** The term of the entry at `index`, or undefined when it is not held. */
  term(index: number): number | undefined;

  /**
   * Read entries `lo..hi-1` back, synchronously, stopping before the entry that would take
   * their bytes past `maxBytes` (always at least one). It lets the Raft core keep only its
   * newest entries in memory (`RaftConfig.logCacheBytes`); the core asks only for entries whose
   * append resolved and that are committed (no later operation removes them, except `compact`
   * and `reset`, which the core never reads behind). Throws when `lo..hi-1` is not held. A
   * store without it makes the core keep every entry in memory.
   */
  readEntries?(lo: number, hi: number, maxBytes: number): Entry[];

  /** Wait for queued operations, then release files. Later calls reject. */
  close(): Promise<void>;
}

/** Check that `entries` have contiguous indexes and non-decreasing terms (Raft §5.3). */
export function assertContiguous(entries: readonly Entry[], what: string): void {
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1];
    const cur = entries[i];
    if (cur.index !== prev.index + 1) {
      throw new Error(`${what}: entry ${cur.index} does not follow entry ${prev.index}`);
    }
    if (cur.term < prev.term) {
      throw new Error(`${what}: entry ${cur.index} has term ${cur.term} < term ${prev.term}`);
    }
  }
}
