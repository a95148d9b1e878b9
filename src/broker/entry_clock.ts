/**
 * Entry time as one node sees it, and the stamp a leader puts on what it proposes. Every timer
 * of the broker (leases, delays, TTLs, dedup windows, idempotency keys, topic age) runs on the
 * entry time the state machine applies (`Envelope.ts`, clamped non-decreasing); see "Time" in
 * docs/broker.md.
 *
 * A node's entry time is the latest entry time it has applied plus what its MONOTONIC clock has
 * counted since it applied it (a follower's exactly so; a leader's never goes back, see
 * `observe`). The wall clock never moves it: a leader whose wall clock jumps
 * an hour forward ends no lease early, and a new leader whose wall clock is behind carries time
 * on from the entries (the previous leader's count) instead of holding it still until its own
 * clock catches up. Only the leader's stamp reaches an entry, as a node stamps in the same
 * synchronous step in which Raft accepts (leader) or refuses (anyone else) the proposal.
 *
 * The wall clock is read for one thing: the first entry time of a cluster, by a node that has
 * applied no entry time yet. Such a stamp is marked `wallClock`, and the state machine uses it
 * only where no entry before carried a time (a brand-new cluster); after entries that did, it
 * is ignored, so a restarted node that leads before it has replayed its log cannot bring its own
 * wall clock in either.
 *
 * @module
 */

import type { Envelope, Proposal, Stamp } from "./commands.ts";

/** Where a node's entry clock reads time from. */
export interface EntryClockSources {
  /** A monotonic clock in ms from any origin; wall-clock steps miss it. Injected by src/server. */
  readonly monoNowMs: () => number;
  /** The wall clock in ms since the epoch, injected: only for a cluster's first entry time. */
  readonly wallNowMs: () => number;
  /** The entry time of the last entry applied here (`BrokerState.lastTs`; 0 before any). */
  readonly lastEntryTs: () => number;
  /**
   * Whether this node leads now (the driver's `leading`). A node that does not lead takes the
   * time of each entry it applies as its own (see `observe`); absent: it never does so.
   */
  readonly leading?: () => boolean;
}

/** One node's entry clock. Cheap: call `now()` as often as needed. */
export class EntryClock {
  readonly #s: EntryClockSources;
  /** The entry time at monotonic instant `#anchorMono`; undefined until one was applied here. */
  #anchorTs: number | undefined;
  #anchorMono = 0;

  constructor(sources: EntryClockSources) {
    this.#s = sources;
  }

  /**
   * The entry time now: the anchor plus the monotonic time since, re-anchored to the last
   * applied entry time whenever that is later (another leader's count ran ahead of ours).
   * Never below the last applied entry time; 0 while no entry time is known. It never decreases
   * while this node leads; a follower's may, when it applies a leader's entry behind its count
   * (`observe`).
   */
  now(): number {
    const last = this.#s.lastEntryTs();
    const mono = this.#s.monoNowMs();
    if (this.#anchorTs === undefined) {
      if (!(last > 0)) return 0;
      this.#anchorTs = last;
      this.#anchorMono = mono;
      return last;
    }
    const counted = Math.floor(this.#anchorTs + Math.max(0, mono - this.#anchorMono));
    if (last > counted) {
      this.#anchorTs = last;
      this.#anchorMono = mono;
      return last;
    }
    return counted;
  }

  /**
   * Call after every applied batch (and restore): anchoring at once, rather than at the next
   * `now()`, counts the time from when an entry was applied, not from when it was next asked.
   */
  observe(): void {
    // A follower's time is the entries' time, counted on from when it applied the last one,
    // even where its own count ran ahead: a leader that restarted counts from its log's last
    // entry time (its downtime is not counted), and a follower that kept counting through it
    // would, on leading, move entry time ahead by that much at once, ending early the leases,
    // delays, dedup windows and keys that leader granted. A leader keeps its count: its own
    // entries come back a commit later, and anchoring to them would drop that time each entry.
    const leading = this.#s.leading;
    const last = this.#s.lastEntryTs();
    if (leading !== undefined && last > 0 && !leading()) {
      this.#anchorTs = last;
      this.#anchorMono = this.#s.monoNowMs();
      return;
    }
    this.now();
  }

  /** The envelope of a proposal made now by this node (see the module doc). */
  stamp(proposal: Proposal): Envelope {
    return { ...this.stampNow(), ...proposal };
  }

  /** The stamp of an entry proposed now by this node: one for every proposal of a batch. */
  stampNow(): Stamp {
    const ts = this.now();
    if (this.#anchorTs !== undefined) return { ts };
    return { ts: Math.floor(this.#s.wallNowMs()), wallClock: true };
  }
}
