/**
 * The inbound pump's waits for a client's next read (`Inbound.#awaitRead`): each ends at the
 * next read, or when its deadline's timer fires. A batch's answers wait several times in a row
 * for the same deadline (one wait per held answer, then for the rest of the refill), and each
 * wait used to set and clear a timer of its own: ~3-5 per window of 64 on a three-node leader,
 * ~0.5 µs per message of its CPU in a profile (Deno's `setTimeout` makes a Node `Timeout` and a
 * core timer each). Here the waits of one series share one timer, cleared by `end`.
 *
 * @module
 */

export class ReadWait {
  #resolve: ((read: boolean) => void) | undefined;
  /** When the pending wait's own timer would have fired (`performance.now()` time). */
  #until = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** When the armed timer is due (`performance.now()` time). */
  #timerAt = 0;

  /** A read came: the pending wait, if any, ends with true. */
  read(): void {
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.(true);
  }

  /**
   * Until the next read (true) or `until` (`performance.now()` time; false); undefined: one timer
   * turn, as a timer of 0 ms. A timer already armed for no later than `until` is kept (and set
   * again for the rest when it fires first); only one wait is pending at a time (a second ends
   * the first with false).
   */
  wait(until: number | undefined): Promise<boolean> {
    this.#resolve?.(false);
    const now = performance.now();
    let at = until ?? now;
    const armed = this.#timer !== undefined && this.#timerAt <= at;
    // One timer turn: an armed timer already due is that turn.
    if (armed && until === undefined) at = this.#timerAt;
    this.#until = at;
    const { promise, resolve } = Promise.withResolvers<boolean>();
    this.#resolve = resolve;
    if (!armed) this.#arm(at, now);
    return promise;
  }

  /** Clears the timer (the series is over) and ends a pending wait with false. */
  end(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve?.(false);
  }

  #arm(at: number, now: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, Math.max(0, at - now));
  }

  readonly #fire = (): void => {
    this.#timer = undefined;
    if (this.#resolve === undefined) return;
    // Armed for an earlier wait of the series: this one's deadline is later.
    if (this.#timerAt < this.#until) return this.#arm(this.#until, performance.now());
    const resolve = this.#resolve;
    this.#resolve = undefined;
    resolve(false);
  };
}
