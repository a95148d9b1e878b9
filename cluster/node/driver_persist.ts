/**
 * The driver's persist step of each Ready: snapshot, then entries, then hard state (the order of
 * the Ready contract), and the hard state last saved.
 *
 * @module
 */

import type { HardState, Ready } from "../raft/mod.ts";
import type { NodeDriverOptions } from "./driver_options.ts";
import { hardStateToSave } from "./hard_state_policy.ts";

/** Persists Readies in order and tracks the saved hard state. */
export class ReadyPersister {
  readonly #o: NodeDriverOptions;
  #savedHard: HardState;

  constructor(o: NodeDriverOptions, hard: HardState) {
    this.#o = o;
    this.#savedHard = hard;
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
    if (rd.entries.length > 0) await log.append(rd.entries);
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
