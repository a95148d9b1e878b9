/**
 * Entry time as one node sees it, and the stamp a leader puts on what it proposes. Every timer
 * of the broker (leases, delays, TTLs, dedup windows, idempotency keys, topic age) runs on the
 * entry time the state machine applies (`Envelope.ts`, clamped non-decreasing).
 *
 * @module
 */

import type { Envelope, Proposal } from "./commands.ts";

/** Where a node's entry clock reads time from. */
export interface EntryClockSources {
  /** A monotonic clock in ms from any origin (`performance.now()`). */
  readonly monoNowMs: () => number;
  /** The wall clock in ms since the epoch (`Date.now()`). */
  readonly wallNowMs: () => number;
  /** The entry time of the last entry applied here (`BrokerState.lastTs`; 0 before any). */
  readonly lastEntryTs: () => number;
}

/** One node's entry clock. */
export class EntryClock {
  readonly #s: EntryClockSources;

  constructor(sources: EntryClockSources) {
    this.#s = sources;
  }

  /** The entry time now, as this node would stamp it. */
  now(): number {
    return this.#s.wallNowMs();
  }

  /** Call after every applied batch. */
  observe(): void {}

  /** The envelope of a proposal made now by this node. */
  stamp(proposal: Proposal): Envelope {
    return { ts: this.now(), ...proposal };
  }
}
