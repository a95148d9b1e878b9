/**
 * The driver's apply worker: state-machine work, in log order, apart from the ready loop. It
 * restores snapshots and applies committed entries in paced slices, so the node votes, appends
 * and answers heartbeats while a large snapshot restores or a long log replays: Raft's log does
 * not need the state machine. It settles proposals as their entries apply and takes a snapshot
 * when one is due, between two slices.
 *
 * @module
 */

import {
  applyConfChange,
  type ConfState,
  decodeConfChange,
  type Entry,
  EntryKind,
  type Snapshot,
  type SnapshotData,
} from "../raft/mod.ts";
import type { OpenedSnapshot } from "../storage/mod.ts";
import type { DriverHost } from "./driver_options.ts";
import type { PendingProposals } from "./driver_proposals.ts";
import type { DriverSnapshots } from "./driver_snapshots.ts";
import { unwrapSnapshot } from "./membership.ts";
import { noPace } from "./pace.ts";
import type { Pace, StateMachine } from "./ports.ts";
import { Waiters } from "./waiters.ts";

/**
 * A snapshot to restore: its bytes (received from a leader), or opened with its data read from
 * storage on demand (the one a node starts from), closed once restored or moot.
 */
export type RestoreSnapshot = Snapshot | OpenedSnapshot;

/** State-machine work, in log order: restore a snapshot, or apply committed entries. */
export type ApplyWork =
  | { readonly snapshot: RestoreSnapshot }
  | { readonly entries: readonly Entry[] };

/** Entries applied between two `pace()` calls of the apply worker, at most... */
const APPLY_SLICE_ENTRIES = 64;
/**
 * ...and bytes of entries, at most (a slice ends after the entry that reaches it): an entry
 * carries a batch of up to 256 proposals, so 64 of them could hold the loop for 100s of ms (a
 * replay after a restart: /healthz waited up to 311 ms, and peer handshakes timed out under load).
 */
const APPLY_SLICE_BYTES = 64 * 1024;

/** Where the slice of `entries` that starts at `at` ends (see `APPLY_SLICE_BYTES`). */
function sliceEnd(entries: readonly Entry[], at: number): number {
  let end = at, bytes = 0;
  while (end < entries.length && end - at < APPLY_SLICE_ENTRIES && bytes < APPLY_SLICE_BYTES) {
    bytes += entries[end++].data.length;
  }
  return end;
}

/** Applies committed entries and restores snapshots, in order, paced. */
export class ApplyWorker {
  readonly #host: DriverHost;
  readonly #proposals: PendingProposals;
  readonly #snapshots: DriverSnapshots;
  #queue: ApplyWork[] = [];
  #running = false;
  #restoringAtStart = false;
  /** The snapshot being restored now, closed with the worker if the driver closes meanwhile. */
  #restoringNow: RestoreSnapshot | undefined;
  /** What the state machine holds: 0 until the snapshot loaded at start is restored. */
  #index = 0;
  #term = 0;
  /** The membership as of `#index` (see `AppliedState.conf`). */
  #conf: ConfState;
  /** Waiters on the applied index. */
  readonly waiters = new Waiters();
  readonly #listeners = new Set<() => void>();
  /** Where a restart's replay stands, logged as the applied index passes each (`watchReplay`). */
  #replayMarks: { readonly index: number; readonly event: string }[] = [];
  #replayStartMs = 0;

  constructor(host: DriverHost, proposals: PendingProposals, snapshots: DriverSnapshots) {
    this.#host = host;
    this.#proposals = proposals;
    this.#snapshots = snapshots;
    // Without a snapshot the core starts from no members and applies the bootstrap entries.
    this.#conf = { voters: [], learners: [] };
  }

  /** The last index applied to the state machine. */
  get index(): number {
    return this.#index;
  }

  /** The membership as of the applied index. */
  get conf(): ConfState {
    return this.#conf;
  }

  /** True until the snapshot this node started from is restored into the state machine. */
  get restoring(): boolean {
    return this.#restoringAtStart;
  }

  /** Calls `listener` after every slice applied and every snapshot restored. */
  onApplied(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Logs how long a restart's replay took: `replay_committed` once the applied index reaches the
   * commit the node started with (what it applies without a leader), `replay_done` once it
   * reaches the last entry of the log it opened with (the rest waits for a leader's commit).
   */
  watchReplay(commit: number, lastIndex: number): void {
    this.#replayStartMs = this.#host.o.nowMs?.() ?? 0;
    this.#replayMarks = [
      { index: commit, event: "replay_committed" },
      { index: lastIndex, event: "replay_done" },
    ].filter((m) => m.index > 0);
  }

  #passReplayMarks(): void {
    const o = this.#host.o;
    while (this.#replayMarks.length > 0 && this.#index >= this.#replayMarks[0].index) {
      const { index, event } = this.#replayMarks.shift()!;
      o.log("info", event, {
        index,
        applied: this.#index,
        ms: Math.round((o.nowMs?.() ?? 0) - this.#replayStartMs),
      });
    }
  }

  /** Queues the restore of the snapshot the node starts from. */
  restoreAtStart(snapshot: RestoreSnapshot): void {
    this.#restoringAtStart = true;
    this.enqueue({ snapshot });
  }

  /** Queues state-machine work and starts the apply worker if it is idle. */
  enqueue(w: ApplyWork): void {
    if ("entries" in w && w.entries.length === 0) return;
    // A snapshot holds everything queued before it (the core accepts only a snapshot beyond its
    // commit index): restoring it makes that work moot.
    if ("snapshot" in w) {
      for (const moot of this.#queue) if ("snapshot" in moot) closeData(moot.snapshot);
      this.#queue.length = 0;
    }
    this.#queue.push(w);
    if (this.#running) return;
    this.#running = true;
    queueMicrotask(() => this.#run());
  }

  /**
   * The apply worker: restores and applies queued work in order, a slice at a time with a
   * `pace()` between slices, so a long replay never holds the event loop; takes a snapshot when
   * one is due, between two slices (capture sees one applied index).
   */
  async #run(): Promise<void> {
    const pace = this.#host.o.pace ?? noPace;
    try {
      for (
        let guard = 0;
        guard < 1e9 && !this.#host.isClosed() && this.#queue.length > 0;
        guard++
      ) {
        const w = this.#queue.shift()!;
        if ("snapshot" in w) await this.#restore(w.snapshot);
        else {
          for (
            let at = 0, end = 0;
            at < w.entries.length && !this.#host.isClosed();
            at = end
          ) {
            end = sliceEnd(w.entries, at);
            this.#apply(w.entries.slice(at, end));
            // Between slices, and after the last one while more is queued: work that piled up
            // (many small items, say while a capture held the worker) must not run back to back
            // without a turn. Not when nothing is left: the worker stops and the loop gets its
            // turn anyway, while a pace is a real wait on a node (a timer, 1-4 ms) that an entry
            // committed meanwhile sat behind (a sequential publisher's round, once per 10 ms).
            if (end < w.entries.length || this.#queue.length > 0) await pace();
          }
        }
        await this.#snapshots.maybeSnapshot(
          { index: this.#index, term: this.#term, conf: this.#conf },
          () => this.#queue.some((w) => "snapshot" in w),
        );
      }
    } catch (e) {
      this.#host.fatal(e);
    } finally {
      this.#running = false;
    }
  }

  #apply(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const { o, urls, identities } = this.#host;
    for (const e of entries) {
      if (e.index <= this.#index) continue;
      let result: unknown = undefined;
      if (e.kind === EntryKind.ConfChange) {
        const cc = decodeConfChange(e.data);
        urls.applyConfChange(cc);
        identities.applyConfChange(cc);
        this.#conf = applyConfChange(this.#conf, cc);
        o.log("info", "membership_changed", { index: e.index, ...cc });
      } else if (e.data.length > 0) {
        result = o.stateMachine.apply(e.index, e.data);
      }
      this.#snapshots.countApplied(e.data.length);
      this.#index = e.index;
      this.#term = e.term;
      this.#proposals.settle(e, result);
    }
    this.waiters.release(this.#index);
    for (const l of this.#listeners) l();
    if (this.#replayMarks.length > 0) this.#passReplayMarks();
  }

  /** Lets go of the storage of every snapshot still queued (the driver closes). */
  close(): void {
    for (const w of this.#queue) if ("snapshot" in w) closeData(w.snapshot);
    if (this.#restoringNow) closeData(this.#restoringNow);
  }

  async #restore(snap: RestoreSnapshot): Promise<void> {
    const { o } = this.#host;
    const t0 = o.nowMs?.() ?? 0;
    this.#restoringNow = snap;
    try {
      const { urls: members, incarnations, app } = unwrapSnapshot(snap.data);
      await restoreApp(o.stateMachine, app, o.pace ?? noPace);
      this.#restored(snap, members, incarnations, t0);
    } finally {
      this.#restoringNow = undefined;
      closeData(snap);
    }
    o.collectGarbage?.();
    // Like applied entries: waiters and listeners (the transport follows `urls`) hear of it now,
    // not with whatever entry applies next.
    this.waiters.release(this.#index);
    for (const l of this.#listeners) l();
    if (this.#replayMarks.length > 0) this.#passReplayMarks();
  }

  #restored(
    snap: RestoreSnapshot,
    members: [string, string][],
    incarnations: [string, string][],
    t0: number,
  ): void {
    const { o, urls, identities } = this.#host;
    urls.replace(members);
    identities.replace(incarnations);
    // Proposals the snapshot jumped over: we cannot tell whether they were applied.
    this.#proposals.failThrough(snap.meta.index);
    this.#index = Math.max(this.#index, snap.meta.index);
    this.#restoringAtStart = false;
    this.#term = snap.meta.term;
    this.#conf = snap.meta.conf;
    this.#snapshots.restored(snap);
    o.log("info", "snapshot_restored", {
      index: snap.meta.index,
      bytes: snap.data.byteLength,
      ms: Math.round((o.nowMs?.() ?? 0) - t0),
    });
    this.#snapshots.releaseRestored(snap);
  }
}

/**
 * Restores the application's part of a snapshot: bytes as they are; data read on demand through
 * `restoreStored` when the state machine has it (never whole in memory), else read whole first.
 */
async function restoreApp(
  machine: StateMachine,
  app: SnapshotData,
  pace: Pace,
): Promise<void> {
  if (app instanceof Uint8Array) await machine.restore(app, pace);
  else if (machine.restoreStored) await machine.restoreStored(app, pace);
  else await machine.restore(app.subarray(0, app.byteLength), pace);
}

/** Closes the storage behind an opened snapshot's data (idempotent); bytes need nothing. */
function closeData(snap: RestoreSnapshot): void {
  if (!(snap.data instanceof Uint8Array)) (snap.data as OpenedSnapshot["data"]).close();
}
