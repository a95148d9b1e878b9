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
 * @module
 */

import type { Entry, Snapshot, StoredSnapshot } from "./types.ts";

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

  constructor(snapshot: StoredSnapshot | undefined, entries: readonly Entry[], commit: number) {
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
    }
    this.stable = this.lastIndex();
    if (commit > this.lastIndex()) {
      throw new Error(
        `Cannot load the Raft log: commit ${commit} is beyond the last index ${this.lastIndex()}`,
      );
    }
    this.committed = Math.max(commit, this.snapshotIndex);
    this.applied = this.snapshotIndex;
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
    return e;
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
      this.entries.length = first - this.snapshotIndex - 1;
      this.stable = Math.min(this.stable, first - 1);
    }
    for (let k = 0; k < ents.length; k++) {
      if (ents[k].index !== first + k) {
        throw new Error(`Cannot append: entries are not contiguous at ${ents[k].index}`);
      }
      this.entries.push(ents[k]);
    }
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
  }

  /** Committed entries the application has not applied yet. */
  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applied, this.snapshotIndex) + 1;
    return this.slice(lo, this.committed + 1);
  }

  /** True when an entry in (applied, committed] satisfies `pred`. */
  someUnapplied(pred: (e: Entry) => boolean): boolean {
    const lo = Math.max(this.applied, this.snapshotIndex) + 1;
    for (let i = lo; i <= this.committed; i++) if (pred(this.entry(i))) return true;
    return false;
  }

  appliedTo(i: number): void {
    if (i < this.applied) return;
    if (i > this.committed) {
      throw new Error(`Cannot mark ${i} applied: only ${this.committed} is committed`);
    }
    this.applied = i;
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
    this.entries = this.entries.slice(i - this.snapshotIndex);
    this.snapshotIndex = i;
    this.snapshotTerm = snap.meta.term;
    this.snapshot = snap;
  }

  /** Replaces the whole log with a snapshot from the leader (§7: the log conflicts or is short). */
  restore(snap: Snapshot): void {
    this.entries = [];
    this.snapshotIndex = snap.meta.index;
    this.snapshotTerm = snap.meta.term;
    this.committed = snap.meta.index;
    this.stable = snap.meta.index;
    this.unstableSnapshot = snap;
    this.snapshot = snap;
  }
}
