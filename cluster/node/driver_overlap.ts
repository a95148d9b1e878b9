/**
 * What the node driver does while one Ready's persist (its fsync) runs: it sends what needs no
 * persist of that Ready and, on a leader, applies committed entries that were durable before it
 * or that a majority of followers committed, instead of waiting for the persist to end (etcd's
 * asynchronous storage writes; the persistence contract in cluster/raft/raw_node.ts). A follower
 * applies after its persist and its answer (driver.ts `#handle`).
 *
 * @module
 */

import type { Entry, Message, RawNode } from "../raft/mod.ts";

/** What `PersistOverlap` needs from the driver. */
export interface OverlapHost {
  readonly raw: RawNode;
  /** Runs the proposal gatherer, if one is installed (`NodeDriver.setProposalGatherer`). */
  gather(): void;
  send(messages: readonly Message[]): void;
  /** Hands committed entries to the apply worker, after those handed before. */
  apply(entries: readonly Entry[]): void;
  isClosed(): boolean;
}

/** The driver's state and steps while a Ready persists. */
export class PersistOverlap {
  readonly #host: OverlapHost;
  /** The ready loop waits on a Ready's persist. */
  #persisting = false;
  /** Every committed entry of the persisting Ready went to the apply worker before the persist. */
  #applyInOrder = false;
  /** A `run` is queued as a microtask. */
  #soon = false;

  constructor(host: OverlapHost) {
    this.#host = host;
  }

  /**
   * A Ready's persist starts; `applyInOrder`: a leader's, none of whose committed entries waits
   * for it (committed entries then apply during it).
   */
  begin(applyInOrder: boolean): void {
    this.#persisting = true;
    this.#applyInOrder = applyInOrder;
  }

  end(): void {
    this.#persisting = false;
    this.#applyInOrder = false;
  }

  /**
   * Sends what needs no persist of the running one (`RawNode.takeMessages`): heartbeats and
   * their answers (saving a leader's large snapshot takes seconds, and a node silent that long
   * is taken for dead) and a leader's appends of entries proposed meanwhile, so followers write
   * them while the leader's fsync runs. The proposal gatherer runs here only when a follower
   * voter holds every entry (nothing in flight to it): otherwise proposals keep queueing, into
   * one entry, until an answer comes or the persist ends (group commit per follower round trip
   * as well as per fsync). On a leader (`begin` says), committed entries durable here before
   * this persist and those a majority of followers committed (`RawNode.takeCommittedAhead`) go
   * to the apply worker at once, unless an entry of the persisting Ready waits for the persist
   * before it applies (log order).
   */
  run(): void {
    const h = this.#host;
    if (!this.#persisting || h.isClosed()) return;
    if (h.raw.followerCaughtUp) h.gather();
    const msgs = h.raw.takeMessages();
    if (msgs.length > 0) h.send(msgs);
    if (!this.#applyInOrder) return;
    const entries = h.raw.takeCommittedAhead();
    if (entries.length > 0) h.apply(entries);
  }

  /** `run` once the current synchronous step is done (proposals made in it go together). */
  soon(): void {
    if (!this.#persisting || this.#soon || this.#host.isClosed()) return;
    this.#soon = true;
    queueMicrotask(() => {
      this.#soon = false;
      this.run();
    });
  }
}

/** How many of `entries` (in index order) have an index up to `last`. */
export function prefixThrough(entries: readonly Entry[], last: number): number {
  let n = 0;
  while (n < entries.length && entries[n].index <= last) n++;
  return n;
}
