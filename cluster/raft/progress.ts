/**
 * What a leader knows about each follower (etcd's tracker/progress.go): the highest index known
 * replicated (`match`), the next index to send (`next`), and a flow-control state:
 *
 * - `probe`: we do not know where the follower's log matches ours; send one append at a time and
 *   wait for the answer (at most one per heartbeat interval).
 * - `replicate`: steady state; appends are pipelined optimistically, up to `maxInflight` messages.
 * - `snapshot`: the follower needs entries we compacted; a snapshot is being transferred in chunks.
 *
 * @module
 */

import type { StoredSnapshot } from "./types.ts";

export type ProgressState = "probe" | "replicate" | "snapshot";

/**
 * A bounded FIFO of the last index of each append in flight to one follower, with its bytes of
 * entries: full at `capacity` appends or at `maxBytes` (etcd's MaxInflightBytes), whichever comes
 * first. An append is let go while the window is not full, so one larger than `maxBytes` still
 * goes, alone.
 */
export class Inflights {
  private readonly buf: number[];
  private readonly sizes: number[];
  private start = 0;
  count = 0;
  /** Bytes of entries of the appends in flight. */
  bytes = 0;

  constructor(readonly capacity: number, readonly maxBytes = Infinity) {
    if (capacity < 1) throw new Error(`Cannot create an inflight window of ${capacity}`);
    if (!(maxBytes > 0)) throw new Error(`Cannot create an inflight window of ${maxBytes} bytes`);
    this.buf = new Array<number>(capacity).fill(0);
    this.sizes = new Array<number>(capacity).fill(0);
  }

  full(): boolean {
    return this.count >= this.capacity || this.bytes >= this.maxBytes;
  }

  add(lastIndex: number, bytes = 0): void {
    if (this.full()) throw new Error("Cannot add an inflight append: the window is full");
    const at = (this.start + this.count) % this.capacity;
    this.buf[at] = lastIndex;
    this.sizes[at] = bytes;
    this.bytes += bytes;
    this.count++;
  }

  /** The follower acknowledged up to `index`: every append ending at or before it has arrived. */
  freeLE(index: number): void {
    while (this.count > 0 && this.buf[this.start] <= index) this.#freeFirst();
  }

  /** Frees one slot so that a follower answering heartbeats is not stuck behind lost appends. */
  freeFirstOne(): void {
    if (this.count > 0) this.#freeFirst();
  }

  #freeFirst(): void {
    this.bytes -= this.sizes[this.start];
    this.start = (this.start + 1) % this.capacity;
    this.count--;
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

/** An InstallSnapshot transfer to one follower: one chunk in flight at a time (§7). */
export interface SnapshotTransfer {
  readonly snapshot: StoredSnapshot;
  /** Bytes the follower acknowledged. The next chunk starts there. */
  ackedBytes: number;
  /** A chunk was sent and not yet acknowledged. */
  inFlight: boolean;
  /** Heartbeat answers seen while the chunk was in flight; after one round trip it is resent. */
  stalledRounds: number;
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = "probe";
  /** In probe state: an append was sent and we wait for its answer (or the next heartbeat). */
  probeSent = false;
  /** Heard from since the last check-quorum round (§6.2). */
  recentActive = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  transfer: SnapshotTransfer | undefined;
  readonly inflights: Inflights;
  /**
   * Since the leader's last heartbeat to it: an append went to it, and it acknowledged an entry
   * it had not before. Both together: it hears from the leader and answers without heartbeats
   * (`leaderHeartbeats`, leader.ts).
   */
  appendSentSinceBeat = false;
  ackedSinceBeat = false;

  constructor(
    next: number,
    maxInflight: number,
    public isLearner: boolean,
    maxInflightBytes = Infinity,
  ) {
    this.next = next;
    this.inflights = new Inflights(maxInflight, maxInflightBytes);
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.transfer = undefined;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    // After a snapshot the follower holds at least the snapshot's index.
    const floor = this.state === "snapshot" ? this.pendingSnapshot : 0;
    this.resetState("probe");
    this.next = Math.max(this.match + 1, floor + 1);
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshot: StoredSnapshot): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshot.meta.index;
    this.transfer = { snapshot, ackedBytes: 0, inFlight: false, stalledRounds: 0 };
  }

  /** An acknowledgement up to `n`. Returns true when `match` moved forward. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /**
   * The follower rejected an append at `rejected`; `hint` is where its log may match ours.
   * Returns false when the rejection is stale (we already moved on).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    // Stale (we moved on), or below what the follower already confirmed (a reordered old reply).
    if (this.next - 1 !== rejected || rejected <= this.match) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  /** No append may be sent now (flow control). */
  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.full();
      case "snapshot":
        return true;
    }
  }
}
