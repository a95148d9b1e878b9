/**
 * The leader's commit notice (`deferCommitNotice`): a commit that no append carried to the
 * followers goes to them once it has waited a whole `delayMs`, unless the next proposal's append
 * carries it first. With a publisher that keeps a window in flight that append comes within a
 * round (2–3 ms), so the notice is almost never sent; the question is what waiting for it costs.
 *
 * It touches no timer per round. It used to start the timer at the end of every round and cancel
 * it when the next append carried the commit (a refresh and a dropped callback): a Deno timer
 * that is cleared, refreshed or set again does not move the runtime's own wake-up, which still
 * comes at the old deadline, finds nothing due and sleeps again. A lone process whose socket
 * reads refresh a 10 ms timer every 2 ms turned its event loop 720 times for 500 reads against
 * 508 without the refresh, and clearing and setting it again cost the same (736): ~0.4 wake-ups
 * of the leader per round, for nothing (docs/mqtt.md, "Session 16: per-entry costs"). Now one
 * timer is started when a commit goes unsent and none is pending, and left to run: when it fires,
 * a commit still unsent since before it started is sent; a commit that went unsent later (an
 * append carried the earlier one meanwhile) gets a timer of its own, so it too waits a whole
 * delay, and at most two; nothing unsent, nothing is done. So a busy leader's timer fires about
 * once per `delayMs` whatever the rounds do, and sends nothing while appends carry the commits.
 *
 * @module
 */

import type { StartTimer } from "./ports.ts";

/** What the notice needs of the Raft core and the driver. */
export interface CommitNoticeHost {
  /** The core's `commitUnsent`: the commit moved since the followers were told it. */
  commitUnsent(): boolean;
  /** The core's `sendCommit` (with the next Ready), and a turn of the ready loop for it. */
  sendCommit(): void;
  isClosed(): boolean;
}

export class CommitNotice {
  readonly #host: CommitNoticeHost;
  readonly #start: StartTimer | undefined;
  readonly #delayMs: number;
  #cancel: (() => void) | undefined;
  /** Counts the spells of an unsent commit: a new one each time a commit goes unsent after an
   * append (or heartbeat) carried the one before. */
  #spell = 0;
  /** The current unsent commit was counted as a spell. */
  #counted = false;

  /** `start` undefined: the commit goes out as soon as the ready loop is done (no delay). */
  constructor(host: CommitNoticeHost, start: StartTimer | undefined, delayMs: number) {
    this.#host = host;
    this.#start = start;
    this.#delayMs = delayMs;
  }

  /** After a Ready's messages left: when the commit is no longer unsent, a Ready carried it. */
  afterSends(): void {
    if (!this.#host.commitUnsent()) this.#counted = false;
  }

  /** The ready loop is done: a commit it left unsent waits for the timer (one at a time). */
  afterLoop(): void {
    if (!this.#host.commitUnsent()) {
      this.#counted = false;
      return;
    }
    if (!this.#counted) {
      this.#counted = true;
      this.#spell++;
    }
    if (this.#cancel !== undefined) return;
    if (this.#start === undefined) return this.#host.sendCommit();
    this.#arm();
  }

  /** Stops the pending timer (the driver closes). */
  close(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  #arm(): void {
    const spell = this.#spell;
    this.#cancel = this.#start!(this.#delayMs, () => {
      this.#cancel = undefined;
      if (this.#host.isClosed() || !this.#host.commitUnsent()) return;
      // A later commit than the one this timer was started for: a whole delay of its own.
      if (this.#spell !== spell) return this.#arm();
      this.#host.sendCommit();
    });
  }
}
