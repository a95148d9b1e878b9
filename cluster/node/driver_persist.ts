/**
 * The driver's persist step of each Ready: snapshot, then entries, then hard state (the order of
 * the Ready contract), and the hard state last saved.
 *
 * @module
 */

import type { HardState, Ready, Role } from "../raft/mod.ts";
import type { NodeDriverOptions } from "./driver_options.ts";
import { hardStateToSave } from "./hard_state_policy.ts";

const BLOCKING = { blocking: true } as const;

/**
 * Whether a node in `role` persists its entries with a blocking fdatasync. A follower's answer
 * to the leader waits for its fsync, and nothing else it does in the round is urgent: a blocking
 * sync saves the hop to a worker thread and back (docs/storage.md, "The follower's fdatasync on
 * its own thread"); heartbeats and messages that arrive meanwhile wait in the socket for one
 * fsync. A leader's does not block: its followers' answers (which commit without its own fsync)
 * and its clients' requests are read while its fsync runs.
 */
export function blockingPersist(role: Role): boolean {
  return role === "follower";
}

/** Persists Readies in order and tracks the saved hard state. */
export class ReadyPersister {
  readonly #o: NodeDriverOptions;
  #savedHard: HardState;

  constructor(o: NodeDriverOptions, hard: HardState) {
    this.#o = o;
    this.#savedHard = hard;
  }

  /**
   * Snapshot, then entries, then hard state (the order of the Ready contract). `blocking`: the
   * entries' fdatasync runs on this thread and holds the event loop (`AppendOptions.blocking`),
   * for a node with nothing to do meanwhile (see `blockingPersist`).
   */
  async persist(rd: Ready, blocking = false): Promise<void> {
    const { log, hardState, snapshots } = this.#o.storage;
    const t0 = this.#o.nowMs?.() ?? 0;
    if (rd.snapshot) {
      const meta = rd.snapshot.meta;
      await snapshots.save(rd.snapshot);
      // Raft §7: keep the log's suffix only when it holds the snapshot's last entry.
      if (log.term(meta.index) === meta.term) await log.compact(meta.index);
      else await log.reset(meta.index + 1);
    }
    if (rd.entries.length > 0) await log.append(rd.entries, blocking ? BLOCKING : undefined);
    // When the commit must be saved too: hard_state_policy.ts.
    const hs = hardStateToSave(this.#savedHard, rd, this.#o.snapshotEveryEntries);
    if (hs) {
      await hardState.save(hs);
      this.#savedHard = hs;
    }
    if (this.#o.observePersistMs && (rd.entries.length > 0 || rd.snapshot)) {
      this.#o.observePersistMs((this.#o.nowMs?.() ?? 0) - t0);
    }
  }
}
