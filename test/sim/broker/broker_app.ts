/**
 * The broker state machine as the simulator's replicated application: every simulated node
 * applies the log to a real `BrokerState`, snapshots and restores it, and digests it, so the
 * harness compares whole broker states across replicas at every applied index.
 *
 * @module
 */

import type { Entry } from "../../../cluster/raft/mod.ts";
import {
  BatchResults,
  BrokerState,
  type DecodedEntry,
  decodeEntry,
  encodeEntry,
  EntryClock,
  type EntryClockSources,
  ownEntry,
  type PackedProposal,
  packProposal,
  restoreSnapshot,
  type Result,
  snapshotBytes,
  type Stamp,
} from "../../../src/broker/mod.ts";
import { fnv32, type SimApp } from "../app.ts";
import type { SessionLedger } from "./session_ledger.ts";

/** Where the app reports session writes, and a planted bug for the checker to catch. */
export interface BrokerAppChecks {
  readonly ledger?: SessionLedger;
  /** Broken on purpose: apply writes as if they carried no session (retries apply again). */
  readonly ignoreSessions?: boolean;
  /**
   * Apply entries without answers while none of this node's proposals waits, as a real node does
   * (`BrokerMachine.answerOwnProposalsOnly`), so replicas that applied entries without answers
   * are compared with those that made them. Only for clients that propose through `propose`.
   */
  readonly answerOwnOnly?: boolean;
}

/** What one node's broker answered for an index (its term tells whose entry it was). */
export interface AppliedResult {
  readonly term: number;
  /** Undefined for a no-op, a membership change or a batch. */
  readonly result: Result | undefined;
  /** A batch entry's results, one per proposal in order (`resultAt`). */
  readonly batch?: readonly Result[];
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

  /**
   * Entries this node proposed, decoded already: it applies them as a real leader does
   * (`BrokerMachine.keep`, `ownEntry`), while the other replicas decode the bytes; the digests
   * compare both ways at every index.
   */
  readonly #own = new WeakMap<Uint8Array, DecodedEntry>();

  /** Encodes an entry this node proposes, keeping what it decodes to (see `#own`). */
  propose(stamp: Stamp, run: readonly PackedProposal[]): Uint8Array {
    const data = encodeEntry(stamp, run);
    const own = ownEntry(stamp, run);
    if (own !== undefined) this.#own.set(data, own);
    this.#waiting.add(data);
    return data;
  }

  /**
   * Entries this node proposed and has not applied as those very bytes (`answerOwnOnly`): a real
   * node counts proposals until the driver settles them; here one applied from other bytes (a
   * peer's copy) or never committed stays, and keeps this node answering, which is only safer.
   */
  readonly #waiting = new Set<Uint8Array>();

  apply(entry: Entry): Uint8Array {
    const decoded = entry.kind === 0 && entry.data.length > 0 ? tryDecode(entry.data) : undefined;
    const sessions = decoded?.items.map((p) => p?.session) ?? [];
    let data = entry.data;
    if (decoded !== undefined && this.checks.ignoreSessions && sessions.some((s) => s)) {
      const items = decoded.items.map((p) => {
        if (p === undefined) throw new Error(`entry ${entry.index} holds a malformed item`);
        const { session: _dropped, ...rest } = p;
        return packProposal(rest);
      });
      data = encodeEntry(decoded.stamp, items);
    }
    const own = data === entry.data ? this.#own.get(data) : undefined;
    const answers = this.checks.answerOwnOnly !== true || this.#waiting.size > 0;
    this.#waiting.delete(data);
    const out = entry.kind === 0
      ? this.broker.applyEntry(entry.index, data, own, answers)
      : undefined;
    const applied: AppliedResult = out instanceof BatchResults
      ? { term: entry.term, result: undefined, batch: out.results }
      : { term: entry.term, result: out };
    sessions.forEach((session, pos) => {
      if (session === undefined || this.checks.ledger === undefined) return;
      this.checks.ledger.record(entry.index, pos, session, resultAt(applied, pos));
    });
    this.results.set(entry.index, applied);
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

function tryDecode(data: Uint8Array): DecodedEntry | undefined {
  try {
    return decodeEntry(data);
  } catch {
    return undefined;
  }
}

/** The result of the command at `pos` of an entry (0 for a single-envelope entry). */
export function resultAt(applied: AppliedResult, pos: number): Result | undefined {
  return applied.batch === undefined ? applied.result : applied.batch[pos];
}
