/**
 * One interval timer for a node's periodic work: Raft's tick, the leader's timed-event check,
 * the idle collector's look, the peer links' keepalives and the event-loop probe while the node is
 * quiet (`loop_monitor.ts`) each run every so many of its beats instead of on a timer of their own.
 *
 * Why: a timer that wakes an idle process costs far more than its callback (the wake-up, the
 * runtime's timer bookkeeping, the turn of the loop: ~80–100 µs of CPU per wake-up on a loaded
 * machine, against a few µs of work), and a node at rest does little else than run its timers.
 * Work whose period is a multiple of the beat rides on the beat that is due anyway.
 *
 * @module
 */

interface Rider {
  readonly everyBeats: number;
  readonly fn: () => void;
  /** Beats since `fn` last ran. */
  beats: number;
}

export class NodeTicker {
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #riders = new Set<Rider>();

  /** `beatMs`: the period of the one timer; work runs every whole number of beats. */
  constructor(readonly beatMs: number) {}

  /**
   * Runs `fn` every `everyMs` (rounded to whole beats, at least one) from the next due beat on;
   * returns what stops it. A period that is not a multiple of the beat gets a timer of its own.
   */
  every(everyMs: number, fn: () => void): () => void {
    const everyBeats = everyMs / this.beatMs;
    if (!Number.isInteger(everyBeats) || everyBeats < 1) {
      const own = setInterval(fn, everyMs);
      return () => clearInterval(own);
    }
    const rider: Rider = { everyBeats, fn, beats: 0 };
    this.#riders.add(rider);
    this.#timer ??= setInterval(() => this.beat(), this.beatMs);
    return () => {
      this.#riders.delete(rider);
      if (this.#riders.size === 0) this.stop();
    };
  }

  /** One beat: runs the work that is due (the timer's callback; tests call it directly). */
  beat(): void {
    for (const rider of this.#riders) {
      if (++rider.beats < rider.everyBeats) continue;
      rider.beats = 0;
      rider.fn();
    }
  }

  /** Stops the timer (and every rider with it). */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#riders.clear();
  }
}
