/**
 * A stream's incoming frames, handed to the session a slice at a time, the next slice after the
 * microtasks of the one before have run (docs/stream.md "Overlapping the four processes").
 *
 * A client with 256 publishes in flight sends them in one message. Taken in one synchronous
 * step, all 256 became one Raft entry only once the last was read (~1.3 ms of the leader's CPU
 * at load), while the followers and the client had nothing to do: the client, the leader, the
 * followers, the leader again worked in turn, each waiting for the one before (lock-step), and
 * a third of the two cores stayed idle. After `INTAKE_SLICE_FRAMES` frames the rest waits for
 * `setImmediate`: the microtasks of the slice run first, so its proposals reach the batcher and
 * the node driver makes them an entry, whose appends leave at once (the peer links write in the
 * call) and whose log write starts, and the followers write it on the other core while the
 * leader reads the next slice. The rounds of the two halves then drift apart and stay apart:
 * the client's turn for one half overlaps the nodes' for the other.
 *
 * Not a `MessageChannel` message: importing `node:worker_threads` (msgpackr does) replaces the
 * global class with Node's, whose messages come after one microtask, before the driver's
 * proposals. Not `setTimeout(0)`: ~2 ms in Deno 2.9. `setImmediate` (~7 µs) runs before the
 * event loop reads or writes sockets, so the client's WebSocket answers still leave when the turn
 * ends: the overlap comes from the peer links, which write in the call.
 *
 * Frames are taken in arrival order, across messages: a message that arrives while slices of
 * an earlier one wait is queued behind them.
 *
 * @module
 */

/** Frames taken in one step before the rest waits for the next turn. */
export const INTAKE_SLICE_FRAMES = 128;

/**
 * Slices only while the log's fsyncs take less than this on average (since the last look). The
 * second slice's entry is proposed once the first's persist on the leader ended, so a sliced
 * round pays two fsyncs one after the other where a whole one paid one: a gain while an fsync is
 * well under half the leader's read of 256 frames (~0.5-0.7 ms): ~1.3x under the lock on tmpfs,
 * a wash on the shared disk at load (fsyncs of 0.5-3 ms; docs/stream.md). A quiet disk's is
 * 0.13-0.17 ms.
 */
export const SLICE_FSYNC_MAX_SECONDS = 0.0004;

/** The log's fsync latencies so far, as a node's metrics give them (none: memory storage). */
export type FsyncTotals = () => { readonly sum: number; readonly count: number } | undefined;

/**
 * Whether the fsyncs since the last call averaged under `SLICE_FSYNC_MAX_SECONDS` (the answer
 * before, when there were none since; true with no fsyncs at all).
 */
export class RecentFsyncs {
  #sum = 0;
  #count = 0;
  #short = true;
  readonly #totals: FsyncTotals;

  constructor(totals: FsyncTotals) {
    this.#totals = totals;
  }

  short(): boolean {
    const t = this.#totals();
    if (t === undefined) return true;
    const n = t.count - this.#count;
    if (n > 0) this.#short = (t.sum - this.#sum) / n < SLICE_FSYNC_MAX_SECONDS;
    this.#sum = t.sum;
    this.#count = t.count;
    return this.#short;
  }
}

/** Runs `fn` once the microtasks queued so far have run (see the module doc). */
export function nextTurn(fn: () => void): void {
  setImmediate(fn);
}

/**
 * A queue of messages' items taken `slice` at a time: `take` is called for each item in order
 * and says whether to go on with the message (false drops the rest of that message: a frame
 * that closed the stream or refused what follows it).
 */
export class SlicedIntake<T> {
  readonly #messages: { readonly items: readonly T[]; at: number }[] = [];
  #scheduled = false;
  #stopped = false;
  readonly #take: (item: T) => boolean;
  readonly #slice: number;
  readonly #slicing: () => boolean;

  /**
   * `slicing` is asked when a message longer than a slice arrives with nothing waiting: false
   * takes it whole at once (the fsyncs are long: `RecentFsyncs`).
   */
  constructor(
    take: (item: T) => boolean,
    slice = INTAKE_SLICE_FRAMES,
    slicing: () => boolean = () => true,
  ) {
    this.#take = take;
    this.#slice = slice;
    this.#slicing = slicing;
  }

  /** Items not taken yet. */
  get waiting(): number {
    let n = 0;
    for (const m of this.#messages) n += m.items.length - m.at;
    return n;
  }

  /** Takes a message's items: now, up to a slice, when nothing waits; else behind what waits. */
  push(items: readonly T[]): void {
    if (this.#stopped || items.length === 0) return;
    this.#messages.push({ items, at: 0 });
    if (this.#scheduled) return;
    this.#run(items.length > this.#slice && !this.#slicing() ? items.length : this.#slice);
  }

  /** Drops everything waiting, and what comes later (the stream ended). */
  stop(): void {
    this.#stopped = true;
    this.#messages.length = 0;
  }

  readonly #continue = () => {
    this.#scheduled = false;
    this.#run(this.#slice);
  };

  #run(budget: number): void {
    while (this.#messages.length > 0 && !this.#stopped) {
      const m = this.#messages[0];
      if (budget === 0) {
        this.#scheduled = true;
        nextTurn(this.#continue);
        return;
      }
      const item = m.items[m.at++];
      budget--;
      const go = this.#take(item);
      if (!go || m.at >= m.items.length) this.#messages.shift();
    }
  }
}
