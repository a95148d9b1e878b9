/**
 * The driver's persist step of each Ready: snapshot, then entries, then hard state (the order of
 * the Ready contract), and what is durable on this node as a result.
 *
 * @module
 */

import type { Entry, HardState, Ready } from "../raft/mod.ts";
import type { NodeDriverOptions } from "./driver_options.ts";
import { hardStateToSave } from "./hard_state_policy.ts";

/** Persists Readies in order and tracks the durable log's last index and the saved hard state. */
export class ReadyPersister {
  readonly #o: NodeDriverOptions;
  /** The last index of the durable log here (what a crash now would keep). */
  durableIndex: number;
  #savedHard: HardState;

  constructor(o: NodeDriverOptions, hard: HardState) {
    this.#o = o;
    this.#savedHard = hard;
    this.durableIndex = o.storage.log.lastIndex();
  }

  /** Snapshot, then entries, then hard state (the order of the Ready contract). */
  async persist(rd: Ready): Promise<void> {
    const { log, hardState, snapshots } = this.#o.storage;
    const t0 = this.#o.nowMs?.() ?? 0;
    if (rd.snapshot) {
      const meta = rd.snapshot.meta;
      await snapshots.save(rd.snapshot);
      // Raft §7: keep the log's suffix only when it holds the snapshot's last entry.
      if (log.term(meta.index) === meta.term) await log.compact(meta.index);
      else await log.reset(meta.index + 1);
    }
    if (rd.entries.length > 0) {
      await log.append(rd.entries);
      // A suffix replaced by a new leader's entries is gone: what is durable ends here.
      this.durableIndex = rd.entries[rd.entries.length - 1].index;
    } else if (rd.snapshot) this.durableIndex = Math.max(log.lastIndex(), rd.snapshot.meta.index);
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

  /** How many of `entries` (in index order) are durable here already. */
  durablePrefix(entries: readonly Entry[]): number {
    let n = 0;
    while (n < entries.length && entries[n].index <= this.durableIndex) n++;
    return n;
  }
}
