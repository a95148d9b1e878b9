/**
 * Measures how long the event loop was held while background snapshot work ran: a 10 ms
 * interval timer that records how late each turn came. The node runs it only between the
 * driver's `snapshot_started` and `snapshot_taken` events and logs the worst delay with the
 * latter (`loopDelayMaxMs`), so a snapshot that stalls ticks and sockets shows in the log.
 *
 * @module
 */

const PROBE_MS = 10;

export class LoopMonitor {
  #timer: ReturnType<typeof setInterval> | undefined;
  #last = 0;
  #max = 0;

  /** Starts (or restarts) measuring from zero. */
  start(): void {
    this.stop();
    this.#max = 0;
    this.#last = performance.now();
    this.#timer = setInterval(() => {
      const now = performance.now();
      this.#max = Math.max(this.#max, now - this.#last - PROBE_MS);
      this.#last = now;
    }, PROBE_MS);
  }

  /** Stops and answers the worst delay seen since `start`, in ms (with the turn that is due). */
  stop(): number {
    if (this.#timer === undefined) return 0;
    clearInterval(this.#timer);
    this.#timer = undefined;
    return Math.max(this.#max, performance.now() - this.#last - PROBE_MS);
  }
}
