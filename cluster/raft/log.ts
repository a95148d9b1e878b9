/**
 * The Raft log as the core sees it: a snapshot offset, the entries after it (one array, appended in
 * place), and three cursors:
 *
 * - `stable`: the last index known durable (the driver called `advance()` for the Ready carrying
 *   it). Entries after it are "unstable" and go out in the next Ready.
 * - `committed`: the last index known committed. Invariant: `committed <= lastIndex()`.
 * - `applied`: the last index the application applied (advanced). `applied <= committed`.
 *
 * Entries are kept in one array whose element `i` has index `snapshotIndex + 1 + i`. Appends push
 * (amortized O(1)); a conflict truncates the tail in place; compaction copies the suffix once.
 *
 * With a `LogCache` the log keeps the data of its newest entries only, up to `bytes`: the oldest
 * entries that are durable and applied (so committed: storage holds them as they are, for good)
 * beyond that become stubs of index, term and kind, and `slice` and `entry` read their data back
 * from storage (a lagging follower's appends). The memory of a log then no longer grows with the entries between two snapshots
 * (20,000 entries that carry batches of proposals held ~280 MB).
 *
 * @module
 */

import type { Entry, EntryReader, Snapshot, StoredSnapshot } from "./types.ts";

/** Where a log's older entries are read back from, and how many bytes of entries it holds. */
export interface LogCache {
  readonly reader: EntryReader;
  readonly bytes: number;
}

/** The data of a stub: an entry whose data was let go (see `LogCache`). */
const NOT_HELD = new Uint8Array(0);

/** Where a follower's log last agrees with a term: the (index, term) used for fast back-off. */
export interface IndexTerm {
  readonly index: number;
  readonly term: number;
}

/** Approximate wire size of an entry, used for `maxAppendBytes`. */
export function entryBytes(e: Entry): number {
  return e.data.byteLength + 24;
}

/** The in-memory Raft log of one node. */
export class RaftLog {
  /** The index the log starts after (compacted or restored from a snapshot); 0 when none. */
  snapshotIndex: number;
  /** The term of the entry at `snapshotIndex`. */
  snapshotTerm: number;
  /** entries[i].index === snapshotIndex + 1 + i. */
  private entries: Entry[];
  committed: number;
  applied: number;
  stable: number;
  /** A snapshot received from the leader that the driver has yet to persist. */
  unstableSnapshot: Snapshot | undefined;
  /** The latest snapshot, sent to followers whose `next` is behind the log's first index. */
  snapshot: StoredSnapshot | undefined;
  private readonly cache: LogCache | undefined;
  /** Entries before this index (after the snapshot) are stubs; the rest hold their data. */
  private heldFrom: number;
  /** `entryBytes` of the entries from `heldFrom` on. */
  private heldBytes = 0;

  constructor(
    snapshot: StoredSnapshot | undefined,
    entries: readonly Entry[],
    commit: number,
    cache?: LogCache,
  ) {
    this.cache = cache;
    this.snapshot = snapshot;
    this.unstableSnapshot = undefined;
    this.snapshotIndex = snapshot?.meta.index ?? 0;
    this.snapshotTerm = snapshot?.meta.term ?? 0;
    this.entries = [];
    for (const e of entries) {
      const want = this.snapshotIndex + 1 + this.entries.length;
      if (e.index !== want) {
        throw new Error(
          `Cannot load the Raft log: entry index ${e.index} where ${want} was expected`,
        );
      }
      this.entries.push(e);
      this.heldBytes += entryBytes(e);
    }
    this.heldFrom = this.snapshotIndex + 1;
    this.stable = this.lastIndex();
    if (commit > this.lastIndex()) {
      throw new Error(
        `Cannot load the Raft log: commit ${commit} is beyond the last index ${this.lastIndex()}`,
      );
    }
    this.committed = Math.max(commit, this.snapshotIndex);
    this.applied = this.snapshotIndex;
    this.trim();
  }

  /** Bytes of entry data held in memory (`entryBytes` of each entry not let go). */
  get bytesHeld(): number {
    return this.heldBytes;
  }

  /**
   * Lets go of the oldest entries' data beyond the cache's bytes: entries that are durable and
   * were handed to the application (`applied`, so committed). Not earlier: a restarted node's
   * committed entries go to its apply queue with the first Ready, and reading back entries it
   * loaded moments ago would hold them twice.
   */
  private trim(): void {
    if (this.cache === undefined) return;
    const limit = Math.min(this.stable, this.applied);
    // Bounded: every turn moves `heldFrom` up, never past `limit`.
    while (this.heldBytes > this.cache.bytes && this.heldFrom <= limit) {
      const k = this.heldFrom - this.snapshotIndex - 1;
      const e = this.entries[k];
      this.heldBytes -= entryBytes(e);
      this.entries[k] = { index: e.index, term: e.term, kind: e.kind, data: NOT_HELD };
      this.heldFrom++;
    }
  }

  /**
   * Entries `lo..hi-1` (all stubs) read back from storage up to `maxBytes`, checked against the
   * stubs' indexes and terms: storage that answered with other entries would be a bug.
   */
  private readBack(lo: number, hi: number, maxBytes: number): Entry[] {
    const got = this.cache!.reader.readEntries(lo, hi, maxBytes);
    if (got.length === 0 || got.length > hi - lo) {
      throw new Error(`Cannot read entries ${lo}..${hi - 1} back: storage returned ${got.length}`);
    }
    for (let k = 0; k < got.length; k++) {
      const want = this.entries[lo + k - this.snapshotIndex - 1];
      if (got[k].index !== want.index || got[k].term !== want.term) {
        throw new Error(
          `Cannot read entry ${want.index} back: storage returned entry ${got[k].index} term ` +
            `${got[k].term} where the log holds term ${want.term}`,
        );
      }
    }
    return got;
  }

  firstIndex(): number {
    return this.snapshotIndex + 1;
  }

  lastIndex(): number {
    return this.snapshotIndex + this.entries.length;
  }

  lastTerm(): number {
    return this.term(this.lastIndex()) ?? 0;
  }

  /** The term of the entry at `i`, or undefined when `i` is compacted away or beyond the log. */
  term(i: number): number | undefined {
    if (i === this.snapshotIndex) return this.snapshotTerm;
    if (i < this.snapshotIndex || i > this.lastIndex()) return undefined;
    return this.entries[i - this.snapshotIndex - 1].term;
  }

  matchTerm(i: number, t: number): boolean {
    return this.term(i) === t;
  }

  /** The entry at `i`; the caller knows it exists. */
  entry(i: number): Entry {
    const e = this.entries[i - this.snapshotIndex - 1];
    if (e === undefined || e.index !== i) {
      throw new Error(
        `Cannot read entry ${i}: the log holds ${this.firstIndex()}..${this.lastIndex()}`,
      );
    }
    return e.data === NOT_HELD ? this.readBack(i, i + 1, Infinity)[0] : e;
  }

  /** Raft §5.4.1: a candidate's log is at least as up to date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * The index of the first entry of `ents` that is not in our log with the same term (a conflict or
   * a new entry), or 0 when all of them are already present. Stale or reordered appends whose
   * entries we already hold therefore never truncate anything (docs/reliability.md item 8).
   */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Fast back-off (as etcd's findConflictByTerm): the largest index <= `index` whose term is <=
   * `term`. Every entry after it up to `index` has a larger term, so none can match the leader's.
   */
  findConflictByTerm(index: number, term: number): IndexTerm {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.snapshotIndex; i--) {
      const t = this.term(i)!;
      if (t <= term) return { index: i, term: t };
    }
    return { index: this.snapshotIndex, term: this.snapshotTerm };
  }

  /**
   * The follower side of AppendEntries (Raft §5.3): when our entry at `prevIndex` has `prevTerm`,
   * append `ents` (truncating only at a real conflict) and commit up to min(commit, last new
   * index). Returns the last index now known to match the leader, or undefined on mismatch.
   */
  maybeAppend(
    prevIndex: number,
    prevTerm: number,
    commit: number,
    ents: readonly Entry[],
  ): number | undefined {
    if (!this.matchTerm(prevIndex, prevTerm)) return undefined;
    const lastNew = prevIndex + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new Error(
          `Cannot append at ${ci}: it conflicts with committed entries up to ${this.committed}`,
        );
      }
      this.append(ents.slice(ci - prevIndex - 1));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** Appends entries, replacing any suffix from `ents[0].index`. Returns the last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const first = ents[0].index;
    if (first <= this.committed) {
      throw new Error(`Cannot append at ${first}: entries up to ${this.committed} are committed`);
    }
    if (first > this.lastIndex() + 1) {
      throw new Error(`Cannot append at ${first}: the log ends at ${this.lastIndex()}`);
    }
    if (first <= this.lastIndex()) {
      // Uncommitted, so all held (`trim` lets go of committed entries only).
      const keep = first - this.snapshotIndex - 1;
      for (let k = keep; k < this.entries.length; k++) {
        this.heldBytes -= entryBytes(this.entries[k]);
      }
      this.entries.length = keep;
      this.stable = Math.min(this.stable, first - 1);
    }
    for (let k = 0; k < ents.length; k++) {
      if (ents[k].index !== first + k) {
        throw new Error(`Cannot append: entries are not contiguous at ${ents[k].index}`);
      }
      this.entries.push(ents[k]);
      this.heldBytes += entryBytes(ents[k]);
    }
    this.trim();
    return this.lastIndex();
  }

  /**
   * Entries [lo, hi) limited to `maxBytes` (at least one entry). `lo` must be >= firstIndex().
   */
  slice(lo: number, hi: number, maxBytes = Infinity): Entry[] {
    if (lo >= hi) return [];
    if (lo < this.firstIndex() || hi > this.lastIndex() + 1) {
      throw new Error(
        `Cannot slice [${lo}, ${hi}): the log holds ${this.firstIndex()}..${this.lastIndex()}`,
      );
    }
    const base = this.snapshotIndex + 1;
    if (lo < this.heldFrom) {
      // The stubs' part from storage, then what fits of the held part after it.
      const stop = Math.min(hi, this.heldFrom);
      const got = this.readBack(lo, stop, maxBytes);
      if (got.length < stop - lo) return got;
      let bytes = 0;
      for (const e of got) bytes += entryBytes(e);
      for (let i = stop - base; i < hi - base; i++) {
        bytes += entryBytes(this.entries[i]);
        if (bytes > maxBytes) break;
        got.push(this.entries[i]);
      }
      return got;
    }
    let end = lo - base;
    let bytes = 0;
    const stop = hi - base;
    while (end < stop) {
      bytes += entryBytes(this.entries[end]);
      if (bytes > maxBytes && end > lo - base) break;
      end++;
    }
    return this.entries.slice(lo - base, end);
  }

  commitTo(i: number): void {
    if (i <= this.committed) return;
    if (i > this.lastIndex()) {
      throw new Error(`Cannot commit ${i}: the log ends at ${this.lastIndex()}`);
    }
    this.committed = i;
  }

  /** Entries not yet handed to the driver for persistence. */
  unstableEntries(): Entry[] {
    return this.slice(this.stable + 1, this.lastIndex() + 1);
  }

  /** The driver persisted entries up to `i` with term `t` (ignored when since replaced). */
  stableTo(i: number, t: number): void {
    if (i > this.stable && this.matchTerm(i, t)) this.stable = i;
    this.trim();
  }

  /** Committed entries the application has not applied yet. */
  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applied, this.snapshotIndex) + 1;
    return this.slice(lo, this.committed + 1);
  }

  /**
   * True when an entry in (applied, committed] satisfies `pred`, which sees each entry's index,
   * term and kind (its data may be let go: see `LogCache`).
   */
  someUnapplied(pred: (e: Entry) => boolean): boolean {
    const lo = Math.max(this.applied, this.snapshotIndex) + 1;
    for (let i = lo; i <= this.committed; i++) {
      if (pred(this.entries[i - this.snapshotIndex - 1])) return true;
    }
    return false;
  }

  appliedTo(i: number): void {
    if (i < this.applied) return;
    if (i > this.committed) {
      throw new Error(`Cannot mark ${i} applied: only ${this.committed} is committed`);
    }
    this.applied = i;
    this.trim();
  }

  /** The application took `snap` at or before `applied`: drop the log up to it (§7). */
  compact(snap: StoredSnapshot): void {
    const i = snap.meta.index;
    if (i > this.applied) {
      throw new Error(`Cannot compact at ${i}: only ${this.applied} is applied`);
    }
    if (i === this.snapshotIndex && snap.meta.term === this.snapshotTerm && this.snapshot) {
      // The same snapshot, kept another way (read back from storage instead of held in memory).
      this.snapshot = snap;
      return;
    }
    if (i <= this.snapshotIndex) return;
    if (i > this.stable) {
      throw new Error(`Cannot compact at ${i}: only ${this.stable} is known durable`);
    }
    if (this.term(i) !== snap.meta.term) {
      throw new Error(
        `Cannot compact at ${i}: the snapshot's term ${snap.meta.term} is not the log's ${
          this.term(i)
        }`,
      );
    }
    for (let k = this.heldFrom - this.snapshotIndex - 1; k < i - this.snapshotIndex; k++) {
      this.heldBytes -= entryBytes(this.entries[k]);
    }
    this.heldFrom = Math.max(this.heldFrom, i + 1);
    this.entries = this.entries.slice(i - this.snapshotIndex);
    this.snapshotIndex = i;
    this.snapshotTerm = snap.meta.term;
    this.snapshot = snap;
  }

  /** Replaces the whole log with a snapshot from the leader (§7: the log conflicts or is short). */
  restore(snap: Snapshot): void {
    this.entries = [];
    this.heldFrom = snap.meta.index + 1;
    this.heldBytes = 0;
    this.snapshotIndex = snap.meta.index;
    this.snapshotTerm = snap.meta.term;
    this.committed = snap.meta.index;
    this.stable = snap.meta.index;
    this.unstableSnapshot = snap;
    this.snapshot = snap;
  }
}
