/**
 * The per-attempt timeouts of a transport, on one timer. A `setTimeout` and a `clearTimeout` per
 * request were ~10 µs of the client's CPU per publish at 256 in flight (Deno's timers), more
 * than the rest of a stream request; here an attempt costs a `Set` insert and delete. The timer
 * is armed for the earliest deadline while any attempt is pending. Once none is, it must not
 * keep a script whose requests are done from exiting: where timers can be unref'd (Deno, Node)
 * it may stay armed but unref'd, so that a sequential caller's next attempt finds it set (a set and
 * a clear per request were ~7.5 µs of a sequential publish's ~150 µs of client CPU); elsewhere
 * it is cleared. A timer that fires with nothing pending is not armed again.
 *
 * Only `setTimeout` and `clearTimeout` are used, and the timer's own `ref` / `unref` where it
 * has them (the client runs in any runtime).
 *
 * @module
 */

/** A callback due at `at` (`Deadlines.add` sets it): one an attempt keeps anyway may be it. */
export interface Pending {
  at: number;
  fire(): void;
}

/** Runs callbacks after their delay unless cancelled first, on one timer for all. */
export class Deadlines {
  readonly #pending = new Set<Pending>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the timer fires (`Infinity`: not armed). */
  #armedAt = Infinity;
  /** The timer is armed but unref'd: nothing is pending (see the module doc). */
  #resting = false;

  /**
   * `keepWhenIdle`: once nothing is pending, keep the timer set but unref'd for the next `add`
   * where the runtime can unref it (see the module doc), else clear it. Deno's test sanitizer
   * reports such a timer as a leak: whoever keeps one clears it with `clearIdle` when done.
   */
  constructor(
    private readonly now: () => number = () => performance.now(),
    private readonly keepWhenIdle = false,
  ) {}

  /** Calls `fire` once `ms` have passed, unless the returned function is called before. */
  add(ms: number, fire: () => void): () => void {
    const p: Pending = { at: 0, fire };
    this.addPending(p, ms);
    return () => this.remove(p);
  }

  /** Calls `p.fire()` once `ms` have passed, unless `remove(p)` is called before (no closures). */
  addPending(p: Pending, ms: number): void {
    p.at = this.now() + ms;
    this.#pending.add(p);
    if (p.at < this.#armedAt) this.#arm(p.at);
    else if (this.#resting) {
      this.#resting = false;
      holdable(this.#timer)?.ref();
    }
  }

  /** `p` will not fire (it has fired already, or is cancelled now). */
  remove(p: Pending): void {
    if (this.#pending.delete(p) && this.#pending.size === 0) this.#rest();
  }

  /** Callbacks waiting (for tests). */
  get size(): number {
    return this.#pending.size;
  }

  /** Whether a timer that keeps the event loop alive is set (for tests: never while nothing waits). */
  get armed(): boolean {
    return this.#timer !== undefined && !this.#resting;
  }

  /** Whether any timer is set, unref'd or not (for tests). */
  get timerSet(): boolean {
    return this.#timer !== undefined;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#armedAt = at;
    this.#resting = false;
    this.#timer = setTimeout(() => this.#run(), Math.max(0, at - this.now()));
  }

  /** Clears the timer if nothing is pending (a transport that closes). */
  clearIdle(): void {
    if (this.#pending.size === 0) this.#disarm();
  }

  /** Nothing is pending: the timer lets go of the loop, and stays for the next `add`. */
  #rest(): void {
    const timer = this.keepWhenIdle ? holdable(this.#timer) : undefined;
    if (timer === undefined) return this.#disarm();
    timer.unref();
    this.#resting = true;
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#resting = false;
  }

  /**
   * Fires what is due and arms the timer for the earliest deadline left. The deadline it was
   * armed for may have been cancelled since (an early wake-up, nothing due): one pass over the
   * pending callbacks (at most the attempts in flight) per wake-up.
   */
  #run(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
    this.#resting = false;
    const now = this.now();
    const due: Pending[] = [];
    let next = Infinity;
    for (const p of this.#pending) {
      if (p.at <= now) due.push(p);
      else if (p.at < next) next = p.at;
    }
    for (const p of due) this.#pending.delete(p);
    if (next < Infinity && next < this.#armedAt) this.#arm(next);
    for (const p of due) p.fire();
  }
}

/** A timer's `ref` / `unref` (Deno's and Node's timers have them), or undefined. */
function holdable(
  timer: ReturnType<typeof setTimeout> | undefined,
): { ref(): void; unref(): void } | undefined {
  const t = timer as { ref?: unknown; unref?: unknown } | undefined;
  return typeof t?.ref === "function" && typeof t.unref === "function"
    ? t as { ref(): void; unref(): void }
    : undefined;
}
