/**
 * The driver's proposals waiting for their entry to apply: tracked by index and term, settled by
 * the apply worker, failed when their time is up, when a snapshot jumps over them or at close.
 *
 * @module
 */

import { type Entry, EntryKind } from "../raft/mod.ts";
import type { DriverProposeOutcome } from "./driver_options.ts";

interface PendingProposal {
  readonly term: number;
  readonly deadlineTick: number;
  readonly resolve: (o: DriverProposeOutcome) => void;
}

/** Proposals by the index of their entry. */
export class PendingProposals {
  #proposals = new Map<number, PendingProposal>();
  /**
   * Membership changes applied here before the core counted them applied (the worker runs ahead
   * of `advance()`): answered after that advance, as the core refuses another change until then.
   */
  #confAnswersLater: Entry[] = [];
  /** The index the core counts applied. */
  readonly #coreApplied: () => number;

  constructor(coreApplied: () => number) {
    this.#coreApplied = coreApplied;
  }

  /** Whether membership changes wait for `answerConfChanges`. */
  get confAnswersWaiting(): boolean {
    return this.#confAnswersLater.length > 0;
  }

  /**
   * Waits for the entry proposed at (index, term). An older proposal still waiting on the same
   * index was overwritten: had it committed, this leader would hold it there (Raft §5.4).
   */
  track(index: number, term: number, deadlineTick: number): Promise<DriverProposeOutcome> {
    this.#proposals.get(index)?.resolve({ ok: false, reason: "dropped" });
    return new Promise((resolve) => {
      this.#proposals.set(index, { term, deadlineTick, resolve });
    });
  }

  /** Resolves the proposal waiting on `e.index`, if any: ours only if the term matches. */
  settle(e: Entry, result: unknown): void {
    const p = this.#proposals.get(e.index);
    if (!p) return;
    if (e.kind === EntryKind.ConfChange && this.#coreApplied() < e.index) {
      this.#confAnswersLater.push(e);
      return;
    }
    this.#proposals.delete(e.index);
    p.resolve(
      p.term === e.term ? { ok: true, index: e.index, result } : {
        ok: false,
        reason: "dropped",
      },
    );
  }

  /** Answers the membership changes the core now counts applied (see `#confAnswersLater`). */
  answerConfChanges(): void {
    const applied = this.#coreApplied();
    const due = this.#confAnswersLater.filter((e) => e.index <= applied);
    this.#confAnswersLater = this.#confAnswersLater.filter((e) => e.index > applied);
    for (const e of due) this.settle(e, undefined);
  }

  /** Proposals a restored snapshot jumped over: we cannot tell whether they were applied. */
  failThrough(index: number): void {
    for (const [at, p] of this.#proposals) {
      if (at <= index) {
        this.#proposals.delete(at);
        p.resolve({ ok: false, reason: "unknown_outcome" });
      }
    }
  }

  /** Fails proposals whose time is up. Their outcome is then unknown. */
  expire(tick: number): void {
    for (const [index, p] of this.#proposals) {
      if (p.deadlineTick <= tick) {
        this.#proposals.delete(index);
        p.resolve({ ok: false, reason: "unknown_outcome" });
      }
    }
  }

  /** Answers `closed` to every proposal (shutdown). */
  close(): void {
    for (const p of this.#proposals.values()) p.resolve({ ok: false, reason: "closed" });
    this.#proposals.clear();
  }
}
