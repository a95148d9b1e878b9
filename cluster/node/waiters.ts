/**
 * Promises that wait for the applied index to reach a value, with deadlines in ticks.
 *
 * @module
 */

interface Waiter {
  readonly index: number;
  readonly deadlineTick: number;
  readonly resolve: (reached: boolean) => void;
}

/** Waiters on an index that only grows. */
export class Waiters {
  #waiting: Waiter[] = [];

  /** Resolves true once `release(i)` is called with `i >= index`, false at the deadline. */
  wait(index: number, deadlineTick: number): Promise<boolean> {
    return new Promise((resolve) => this.#waiting.push({ index, deadlineTick, resolve }));
  }

  /** The index reached `index`: resolve every waiter at or below it. */
  release(index: number): void {
    if (this.#waiting.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiting) {
      if (w.index <= index) w.resolve(true);
      else still.push(w);
    }
    this.#waiting = still;
  }

  /** The clock is at `tick`: fail every waiter whose deadline passed. */
  expire(tick: number): void {
    if (this.#waiting.length === 0) return;
    const still: Waiter[] = [];
    for (const w of this.#waiting) {
      if (w.deadlineTick <= tick) w.resolve(false);
      else still.push(w);
    }
    this.#waiting = still;
  }

  /** Fail every waiter (shutdown). */
  failAll(): void {
    for (const w of this.#waiting) w.resolve(false);
    this.#waiting = [];
  }
}
