/**
 * The broker state machine as the simulator's replicated application: every simulated node
 * applies the log to a real `BrokerState`, snapshots and restores it, and digests it, so the
 * harness compares whole broker states across replicas at every applied index.
 *
 * @module
 */

import type { Entry } from "../../cluster/raft/mod.ts";
import {
  BrokerState,
  EntryClock,
  type EntryClockSources,
  restoreSnapshot,
  type Result,
  snapshotBytes,
} from "../../src/broker/mod.ts";
import { fnv32, type SimApp } from "./app.ts";

/** What one node's broker answered for an index (its term tells whose entry it was). */
export interface AppliedResult {
  readonly term: number;
  /** Undefined for a no-op or a membership change. */
  readonly result: Result | undefined;
}

/** A simulated node's broker. Results are kept per index so the client can learn outcomes. */
export class BrokerSimApp implements SimApp {
  broker = new BrokerState();
  readonly results = new Map<number, AppliedResult>();
  /**
   * This process's entry clock, as a real node keeps it (`src/server/start.ts`): what the
   * simulated clients stamp their proposals with on the node they propose to. Absent when the
   * harness stamps entries itself.
   */
  readonly clock: EntryClock | undefined;

  constructor(clocks?: Omit<EntryClockSources, "lastEntryTs">) {
    this.clock = clocks && new EntryClock({ ...clocks, lastEntryTs: () => this.broker.lastTs });
  }

  apply(entry: Entry): Uint8Array {
    const result = entry.kind === 0 ? this.broker.applyEntry(entry.index, entry.data) : undefined;
    this.results.set(entry.index, { term: entry.term, result });
    this.clock?.observe();
    return new Uint8Array(0);
  }

  snapshot(): Uint8Array {
    return snapshotBytes(this.broker);
  }

  restore(bytes: Uint8Array): void {
    this.broker = restoreSnapshot(bytes);
    this.clock?.observe();
    // Answers for indexes inside the snapshot are unknown here: the client treats them so.
    this.results.clear();
  }

  /** The whole encoded state, hashed: equal on every replica at the same applied index. */
  digest(): string {
    const bytes = snapshotBytes(this.broker);
    return `${fnv32(bytes).toString(16)}/${bytes.length}`;
  }
}
