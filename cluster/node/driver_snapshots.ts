/**
 * The snapshots a node takes of its own state: when one is due (by entries applied, by their
 * bytes against the last snapshot's size, by a cap on either), capturing it between two slices of
 * the apply worker, encoding and saving it in the background, and compacting the core's log and
 * the durable log behind it. Also what becomes of a restored snapshot's bytes.
 *
 * @module
 */

import type { ConfState, NodeId, Snapshot, SnapshotMeta, StoredSnapshot } from "../raft/mod.ts";
import { SnapshotSaveAbandoned } from "../storage/mod.ts";
import type { RestoreSnapshot } from "./driver_apply.ts";
import type { DriverHost } from "./driver_options.ts";
import { joinParts, snapshotParts } from "./membership.ts";
import { noPace } from "./pace.ts";
import type { Pace, SnapshotView } from "./ports.ts";

/** What the state machine holds: the index, term and membership of the last entry applied. */
export interface AppliedState {
  readonly index: number;
  readonly term: number;
  /**
   * The membership as of `index`, for the snapshots this node takes (Raft §7: a snapshot holds the
   * configuration as of its last included index). Not the core's: a leader's snapshot received
   * while a Ready is handled switches the core to that snapshot's later membership before the
   * driver has applied up to it.
   */
  readonly conf: ConfState;
}

/** The node's snapshots: when to take one, taking it, and compacting behind it. */
export class DriverSnapshots {
  readonly #host: DriverHost;
  #snapshotIndex: number;
  #snapshotting = false;
  /** Resolves once the snapshot being taken (captured, encoded, saved) is done or given up. */
  #busy: Promise<void> = Promise.resolve();
  /** Size of the last snapshot taken or restored, and entry bytes applied since it was taken. */
  #snapshotBytes = 0;
  #appliedBytesSinceSnapshot = 0;
  /** A snapshot taken here whose index the core has not counted applied yet. */
  #compactLater: StoredSnapshot | undefined;
  /**
   * Snapshots whose bytes nothing needs once the state machine restored them (the core keeps a
   * copy read back from storage instead): they are freed at once then, not at the garbage
   * collector's next full collection, which a small heap may not run for minutes.
   */
  #releaseAfterRestore = new WeakSet<object>();
  /** Received snapshots restored from their file instead: their bytes go once the core lets go. */
  #releaseWhenKept = new WeakSet<object>();

  constructor(host: DriverHost, snapshotIndex: number) {
    this.#host = host;
    this.#snapshotIndex = snapshotIndex;
  }

  /** True while a snapshot of this node's state is being taken (captured, encoded, saved). */
  get snapshotting(): boolean {
    return this.#snapshotting;
  }

  /** Counts the bytes of an entry just applied toward the next snapshot. */
  countApplied(bytes: number): void {
    this.#appliedBytesSinceSnapshot += bytes;
  }

  /** Frees `snap`'s bytes once it is restored (the core keeps the stored copy). */
  releaseAfterRestore(snap: StoredSnapshot): void {
    this.#releaseAfterRestore.add(snap);
  }

  /** The state machine restored `snap`: the next snapshot counts from it. */
  restored(snap: StoredSnapshot): void {
    this.#snapshotIndex = Math.max(this.#snapshotIndex, snap.meta.index);
    this.#snapshotBytes = snap.data.byteLength;
    this.#appliedBytesSinceSnapshot = 0;
  }

  /**
   * Frees a restored snapshot's bytes now if nothing needs them (`releaseAfterRestore`). Data read
   * on demand holds no bytes (its storage is closed by the apply worker).
   */
  releaseRestored(snap: StoredSnapshot): void {
    if (this.#releaseAfterRestore.has(snap) && snap.data instanceof Uint8Array) {
      releaseBytes(snap.data);
    }
  }

  /**
   * Takes a snapshot once enough entries, and enough bytes of them, were applied since the last
   * (`snapshotEveryEntries`, `snapshotLogFactor`). Called by the apply worker between slices and
   * resolves once the state is captured: the capture may work in paced steps, and nothing is
   * applied meanwhile (Raft goes on). Encoding and saving then run in the background.
   * `snapshotQueued`: a leader's snapshot waits in the apply queue.
   */
  async maybeSnapshot(applied: AppliedState, snapshotQueued: () => boolean): Promise<void> {
    const o = this.#host.o;
    if (this.#snapshotting || this.#host.isClosed()) return;
    // A leader's snapshot waits in the queue: it replaces this state, no use saving this one.
    if (snapshotQueued()) return;
    const entries = applied.index - this.#snapshotIndex;
    const bytesCapped = entries > 0 &&
      this.#appliedBytesSinceSnapshot >= (o.snapshotLogBytesMax ?? Infinity);
    if (entries < o.snapshotEveryEntries && !bytesCapped) return;
    const factor = o.snapshotLogFactor ?? 0;
    const capped = bytesCapped || entries >= (o.snapshotEntriesMax ?? Infinity);
    if (!capped && this.#appliedBytesSinceSnapshot < factor * this.#snapshotBytes) return;
    this.#snapshotting = true;
    let done!: () => void;
    this.#busy = new Promise<void>((r) => done = r);
    this.#appliedBytesSinceSnapshot = 0;
    const meta = {
      index: applied.index,
      term: applied.term,
      conf: applied.conf,
    };
    const urls = this.#host.urls.entries();
    const incarnations = this.#host.identities.entries();
    o.log("info", "snapshot_started", {
      index: meta.index,
      // The Raft log's entries in memory (bounded by `logCacheBytes` when the store reads back).
      logHeldMB: Math.round(this.#host.raw.status().logBytesHeld / 2 ** 20),
    });
    const t0 = o.nowMs?.() ?? 0;
    const pace = o.pace ?? noPace;
    let view: SnapshotView;
    try {
      view = await o.stateMachine.snapshot(pace);
    } catch (e) {
      this.#snapshotting = false;
      done();
      throw e;
    }
    const captureMs = (o.nowMs?.() ?? 0) - t0;
    (async () => {
      if (this.#host.isClosed()) return; // closed during the capture: the storage is not ours
      // Every step paced, so a large state never stalls ticks and I/O (no election on the way).
      const snapshot = await this.#save(meta, view, urls, incarnations, pace);
      if (this.#host.isClosed() || meta.index <= this.#snapshotIndex) return;
      this.compactCore(snapshot);
      this.#snapshotIndex = meta.index;
      this.#snapshotBytes = snapshot.data.byteLength;
      o.log("info", "snapshot_taken", {
        index: meta.index,
        bytes: snapshot.data.byteLength,
        captureMs: Math.round(captureMs),
        ms: Math.round((o.nowMs?.() ?? 0) - t0),
      });
    })().catch((e) => {
      if (!(e instanceof SnapshotSaveAbandoned)) this.#host.fatal(e);
    }).finally(() => {
      this.#snapshotting = false;
      done();
    });
  }

  /**
   * Resolves once no snapshot is being taken. After the node closed, a streamed save stops at its
   * next part (its temporary file removed): the storage's owner may close or remove it then.
   */
  settled(): Promise<void> {
    return this.#busy;
  }

  /** Encodes and saves a captured state with the member URLs and incarnations as of its index. */
  async #save(
    meta: SnapshotMeta,
    view: SnapshotView,
    urls: [NodeId, string][],
    incarnations: [NodeId, string][],
    pace: Pace,
  ): Promise<StoredSnapshot> {
    const store = this.#host.o.storage.snapshots;
    if (store.saveStream && view.stream) {
      // Each part written and let go before the next is encoded: never the whole state.
      const [header] = snapshotParts(urls, [], incarnations);
      const stream = view.stream(pace);
      const host = this.#host;
      return await store.saveStream(
        meta,
        (async function* () {
          yield header;
          // A closed node's storage belongs to its owner again: give up between parts.
          for await (const part of stream) {
            if (host.isClosed()) throw new SnapshotSaveAbandoned();
            yield part;
          }
        })(),
      );
    }
    const app = await view.serialize(pace);
    return await this.#saveParts(meta, snapshotParts(urls, app, incarnations), pace);
  }

  /**
   * Saves a snapshot taken here. A store that writes parts streams them to its file and reads
   * them back for the core on demand: no copy of the whole state is made or kept. Otherwise the
   * parts are joined (paced) and the core keeps those bytes.
   */
  async #saveParts(
    meta: SnapshotMeta,
    parts: readonly Uint8Array[],
    pace: Pace,
  ): Promise<StoredSnapshot> {
    const store = this.#host.o.storage.snapshots;
    if (store.saveParts) return await store.saveParts(meta, parts);
    const snapshot: Snapshot = { meta, data: await joinParts(parts, pace) };
    await store.save(snapshot);
    return snapshot;
  }

  /**
   * A leader's snapshot, now saved, as the state machine will restore it: opened from its file
   * when the store can (`openSaved`), so the received bytes (360 MB at 1,000,000 messages) are
   * freed as soon as the core keeps the stored copy (`keepStoredSnapshot`), not held beside the
   * old state and the new one until the restore ends; else the received bytes.
   */
  async toRestore(received: Snapshot): Promise<RestoreSnapshot> {
    const opened = await this.#host.o.storage.snapshots.openSaved?.(received.meta);
    if (opened === undefined) return received;
    this.#releaseWhenKept.add(received);
    return opened;
  }

  /**
   * A leader's snapshot, now persisted, is kept by the core as the store reads it back (not the
   * received bytes, which go at once when the state machine restores from the file, else once
   * it restored them).
   */
  keepStoredSnapshot(received: Snapshot): void {
    const { index, term } = received.meta;
    const stored = this.#host.o.storage.snapshots.stored?.();
    if (stored && stored.meta.index === index && stored.meta.term === term) {
      const compacted = this.compactCore(stored);
      // Released only once the core holds the stored copy: till then it may send these bytes.
      if (!this.#releaseWhenKept.has(received)) this.#releaseAfterRestore.add(received);
      else if (compacted) releaseBytes(received.data);
    }
  }

  /** Compacts the core behind a snapshot taken here that waited for `advance()`, if any. */
  compactPending(): void {
    if (this.#compactLater) this.compactCore(this.#compactLater);
  }

  /**
   * Compacts the core's log behind a snapshot this node took, then the durable log. The apply
   * worker may run ahead of the core's applied index (it applies committed entries while a
   * Ready's persist runs, and the core counts them applied at `advance()`), and a leader's
   * applied index ahead of its own durable log (entries its followers committed while its write
   * of them runs: `RawNode.applyAheadIndex`): then the compaction waits for the `advance()` that
   * makes both reach the snapshot, so the durable log is never compacted past what it holds.
   * (A snapshot saved meanwhile and a crash leave a snapshot beyond the log's end: the load
   * drops the log behind it, and the node holds every entry up to it, committed, in the
   * snapshot.) The durable log is compacted only behind the core: the core reads entries it let
   * go of back from it (`RaftConfig.logCacheBytes`), up to its own first index. Returns whether
   * the core compacted now.
   */
  compactCore(snapshot: StoredSnapshot): boolean {
    const raw = this.#host.raw;
    const st = raw.status();
    if (st.applied < snapshot.meta.index || st.stableIndex < snapshot.meta.index) {
      this.#compactLater = snapshot;
      return false;
    }
    this.#compactLater = undefined;
    raw.compact(snapshot);
    // Through the snapshot's index, which is durable (never the core's first index: a leader's
    // snapshot received meanwhile moves that before its file is saved).
    this.#host.o.storage.log.compact(snapshot.meta.index).catch((e) => this.#host.fatal(e));
    return true;
  }
}

/**
 * Frees the memory under `bytes` now (`ArrayBuffer.prototype.transfer(0)` detaches it): for
 * bytes, such as a restored snapshot's, that nothing will read again.
 */
function releaseBytes(bytes: Uint8Array): void {
  try {
    (bytes.buffer as ArrayBuffer).transfer(0);
  } catch {
    // Not detachable (a shared or a host-owned buffer): the garbage collector frees it later.
  }
}
