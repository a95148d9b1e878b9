/**
 * Shutdown of the HTTP side, so that a node stops within seconds of SIGTERM whatever its callers
 * are waiting for. `begin()` (from `RunningNode.shutdown`) fires the signal, and:
 * - every long poll waiting here is answered at once: 503 `unavailable` with `Retry-After`
 *   (`long_poll.ts` ends its waits with `closing`; a receive forwarded to the leader is cut);
 * - each open stream answers what is in flight, sends an `error` frame and closes with 1001
 *   "node shutting down" (`stream.ts`);
 * - new requests get 503 `unavailable` with `Connection: close` and `/readyz` turns 503, so load
 *   balancers and clients move to another node; `/healthz` stays 200 (the process is alive).
 * A write already proposed still finishes and is answered.
 *
 * @module
 */

import { ProblemError } from "./problems.ts";

/** The detail of every shutdown answer. */
export const SHUTTING_DOWN = "The node is shutting down; retry on another node";

/** The shutdown switch of one app. */
export class Drain {
  readonly #controller = new AbortController();

  /** Aborted when the node begins to shut down. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  get draining(): boolean {
    return this.#controller.signal.aborted;
  }

  readonly #closing = new Set<Promise<void>>();

  /** Starts the drain; the second call does nothing. */
  begin(): void {
    this.#controller.abort(new ProblemError("unavailable", SHUTTING_DOWN));
  }

  /** Something that closes in its own time once the drain began (a stream saying goodbye). */
  track(closing: Promise<void>): void {
    this.#closing.add(closing);
    closing.finally(() => this.#closing.delete(closing));
  }

  /** Resolves when everything tracked has closed, or after `ms`. */
  async closed(ms: number): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<void>((r) => timer = setTimeout(r, ms));
    await Promise.race([Promise.allSettled([...this.#closing]), bound]);
    clearTimeout(timer);
  }
}

/** The problem every shutdown answer carries (503, `Retry-After`). */
export function shuttingDown(): ProblemError {
  return new ProblemError("unavailable", SHUTTING_DOWN);
}
