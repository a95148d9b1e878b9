/**
 * The fake disk of one simulated node. Writes from a Ready land in an unsynced layer and become
 * durable only when the simulator decides the fsync completed; a crash keeps the durable state
 * plus, at most, a prefix of the unsynced writes (the OS may have flushed some pages on its own),
 * and loses the rest. Snapshots the application takes (`compact`) are written and synced at once,
 * as a snapshot store that fsyncs before returning would do.
 *
 * @module
 */

import type {
  ConfState,
  Entry,
  HardState,
  InitialState,
  Snapshot,
} from "../../cluster/raft/mod.ts";
import type { Prng } from "./prng.ts";

/** What a node has on disk: hard state, latest snapshot, and the log after it (contiguous). */
export interface DiskState {
  hardState: HardState;
  snapshot: Snapshot | undefined;
  entries: Entry[];
}

/** One persist request from a Ready, in the contract's order: snapshot, entries, hard state. */
export interface DiskWrite {
  readonly snapshot?: Snapshot;
  readonly entries: readonly Entry[];
  readonly hardState?: HardState;
}

/** The empty hard state of a node that never ran. */
export const EMPTY_HARD_STATE: HardState = { term: 0, vote: "", commit: 0 };

/** Index of the last entry of `s` (or of its snapshot, or 0). */
export function lastIndexOf(s: DiskState): number {
  if (s.entries.length > 0) return s.entries[s.entries.length - 1].index;
  return s.snapshot?.meta.index ?? 0;
}

/** The term of the entry at `index` in `s`, or undefined when `s` does not hold it. */
export function termAt(s: DiskState, index: number): number | undefined {
  const snapIndex = s.snapshot?.meta.index ?? 0;
  if (index === snapIndex) return s.snapshot?.meta.term ?? 0;
  if (index < snapIndex || s.entries.length === 0) return undefined;
  const e = s.entries[index - s.entries[0].index];
  return e?.term;
}

function cloneState(s: DiskState): DiskState {
  return { hardState: s.hardState, snapshot: s.snapshot, entries: s.entries.slice() };
}

/**
 * Applies `w` to `s` and returns the entries it removed (overwritten or discarded), so the
 * invariants can check that a leader never loses its own entries.
 */
function applyWrite(s: DiskState, w: DiskWrite, what: string): Entry[] {
  const removed: Entry[] = [];
  if (w.snapshot !== undefined) installSnapshot(s, w.snapshot, removed);
  if (w.entries.length > 0) {
    const first = w.entries[0].index;
    const last = lastIndexOf(s);
    if (first > last + 1) {
      throw new Error(
        `Cannot persist ${what}: entries start at ${first} but the log ends at ${last}`,
      );
    }
    const snapIndex = s.snapshot?.meta.index ?? 0;
    // Entries at or below the snapshot are committed and already covered by it.
    const fresh = first <= snapIndex ? w.entries.filter((e) => e.index > snapIndex) : w.entries;
    if (fresh.length > 0) {
      const from = fresh[0].index;
      const base = s.entries.length > 0 ? s.entries[0].index : snapIndex + 1;
      const cutAt = Math.max(0, from - base);
      for (let i = cutAt; i < s.entries.length; i++) removed.push(s.entries[i]);
      s.entries.length = cutAt;
      for (const e of fresh) s.entries.push(e);
    }
  }
  if (w.hardState !== undefined) s.hardState = w.hardState;
  return removed;
}

/** Raft §7: keep the log after the snapshot only when it matches the snapshot's last entry. */
function installSnapshot(s: DiskState, snap: Snapshot, removed: Entry[]): void {
  const { index, term } = snap.meta;
  const matches = termAt(s, index) === term;
  const keep = matches ? s.entries.filter((e) => e.index > index) : [];
  // Without a match the whole log is discarded. Entries after the snapshot index count as
  // removed (they conflicted); entries at or below it are covered by the snapshot.
  if (!matches) {
    for (const e of s.entries) if (e.index > index) removed.push(e);
  }
  s.snapshot = snap;
  s.entries = keep;
}

/** The disk of one node. `written` is what the node would read back now; `durable` survives. */
export class Disk {
  durable: DiskState = { hardState: EMPTY_HARD_STATE, snapshot: undefined, entries: [] };
  written: DiskState = { hardState: EMPTY_HARD_STATE, snapshot: undefined, entries: [] };
  readonly #pending: DiskWrite[] = [];
  /** Counters for the trace. */
  readonly stats = { writes: 0, syncs: 0, lostWrites: 0 };

  /** Queues `w` in the unsynced layer; returns the entries it removed from the written log. */
  write(w: DiskWrite): Entry[] {
    this.stats.writes++;
    this.#pending.push(w);
    return applyWrite(this.written, w, "a Ready");
  }

  /** True when some write is not yet durable. */
  hasUnsynced(): boolean {
    return this.#pending.length > 0;
  }

  /** The fsync completed: every queued write is durable. */
  sync(): void {
    this.stats.syncs++;
    for (const w of this.#pending) applyWrite(this.durable, w, "a synced write");
    this.#pending.length = 0;
  }

  /**
   * Power loss: a random prefix of the unsynced writes happens to be on disk, the rest is lost.
   * Returns how many writes were lost.
   */
  crash(prng: Prng): number {
    const survive = prng.int(this.#pending.length + 1);
    for (let i = 0; i < survive; i++) applyWrite(this.durable, this.#pending[i], "a flushed write");
    const lost = this.#pending.length - survive;
    this.stats.lostWrites += lost;
    this.#pending.length = 0;
    this.written = cloneState(this.durable);
    return lost;
  }

  /**
   * The application's snapshot at `snap.meta.index`, written and synced at once. The log behind
   * it is dropped from both layers (the entries it covers are committed, hence durable).
   */
  saveSnapshot(snap: Snapshot): void {
    for (const s of [this.durable, this.written]) {
      const cur = s.snapshot?.meta.index ?? 0;
      if (snap.meta.index <= cur) continue;
      if (termAt(s, snap.meta.index) !== snap.meta.term) {
        throw new Error(
          `Cannot save snapshot at ${snap.meta.index}/${snap.meta.term}: the log does not hold it`,
        );
      }
      s.snapshot = snap;
      s.entries = s.entries.filter((e) => e.index > snap.meta.index);
    }
  }

  /** What a restarted node reads back: the durable state. */
  initialState(bootstrapConf: ConfState): InitialState & { readonly snapshot?: Snapshot } {
    const d = this.durable;
    const base = { hardState: d.hardState, bootstrapConf, entries: d.entries.slice() };
    return d.snapshot === undefined ? base : { ...base, snapshot: d.snapshot };
  }
}
