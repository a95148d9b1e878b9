/**
 * The per-attempt timeouts of a transport, on one timer. A `setTimeout` and a `clearTimeout` per
 * request were ~10 µs of the client's CPU per publish at 256 in flight (Deno's timers), more
 * than the rest of a stream request; here an attempt costs a `Set` insert and delete. The timer
 * is armed for the earliest deadline while any attempt is pending, and cleared once none is, so
 * a script whose requests are done still exits at once.
 *
 * Only `setTimeout` and `clearTimeout` are used (the client runs in any runtime).
 *
 * @module
 */

interface Pending {
  readonly at: number;
  readonly fire: () => void;
}

/** Runs callbacks after their delay unless cancelled first, on one timer for all. */
export class Deadlines {
  readonly #pending = new Set<Pending>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the timer fires (`Infinity`: not armed). */
  #armedAt = Infinity;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Calls `fire` once `ms` have passed, unless the returned function is called before. */
  add(ms: number, fire: () => void): () => void {
    const p: Pending = { at: this.now() + ms, fire };
    this.#pending.add(p);
    if (p.at < this.#armedAt) this.#arm(p.at);
    return () => {
      if (this.#pending.delete(p) && this.#pending.size === 0) this.#disarm();
    };
  }

  /** Callbacks waiting (for tests). */
  get size(): number {
    return this.#pending.size;
  }

  /** Whether the timer is set (for tests: never while nothing waits). */
  get armed(): boolean {
    return this.#timer !== undefined;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#armedAt = at;
    this.#timer = setTimeout(() => this.#run(), Math.max(0, at - this.now()));
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedAt = Infinity;
  }

  /**
   * Fires what is due and arms the timer for the earliest deadline left. The deadline it was
   * armed for may have been cancelled since (an early wake-up, nothing due): one pass over the
   * pending callbacks (at most the attempts in flight) per wake-up.
   */
  #run(): void {
    this.#timer = undefined;
    this.#armedAt = Infinity;
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
