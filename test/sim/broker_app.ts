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
  decodeEnvelope,
  encodeEnvelope,
  EntryClock,
  type EntryClockSources,
  restoreSnapshot,
  type Result,
  snapshotBytes,
} from "../../src/broker/mod.ts";
import { fnv32, type SimApp } from "./app.ts";
import type { SessionLedger } from "./session_ledger.ts";

/** Where the app reports session writes, and a planted bug for the checker to catch. */
export interface BrokerAppChecks {
  readonly ledger?: SessionLedger;
  /** Broken on purpose: apply writes as if they carried no session (retries apply again). */
  readonly ignoreSessions?: boolean;
}

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

  constructor(
    clocks?: Omit<EntryClockSources, "lastEntryTs">,
    readonly checks: BrokerAppChecks = {},
  ) {
    this.clock = clocks && new EntryClock({ ...clocks, lastEntryTs: () => this.broker.lastTs });
  }

  apply(entry: Entry): Uint8Array {
    const session = entry.kind === 0 && this.checks.ledger !== undefined && entry.data.length > 0
      ? sessionOf(entry.data)
      : undefined;
    let data = entry.data;
    if (session !== undefined && this.checks.ignoreSessions) {
      const { session: _dropped, ...rest } = decodeEnvelope(data);
      data = encodeEnvelope(rest);
    }
    const result = entry.kind === 0 ? this.broker.applyEntry(entry.index, data) : undefined;
    if (session !== undefined) this.checks.ledger!.record(entry.index, session, result);
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

function sessionOf(data: Uint8Array) {
  try {
    return decodeEnvelope(data).session;
  } catch {
    return undefined;
  }
}
