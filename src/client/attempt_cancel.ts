/**
 * How a request on the stream learns that it is to end early: its attempt's timeout, or the
 * caller's signal. A stream call needs only `aborted`, `reason` and an `abort` listener
 * (`CallSignal`), which an `AbortSignal` has; `AttemptCancel` is that and no more. An
 * `AbortController` per attempt, with the listener its signal took for the call, was ~10% of the
 * client's CPU per publish at 256 in flight (test/bench/client_cpu_bench.ts): Deno's event
 * listeners cost ~0.2 µs each, and their objects made the scavenges slower.
 *
 * @module
 */

/**
 * An abort listener: a function, or an object whose `handleEvent` is called (as an
 * `AbortSignal` takes it), so that a stream call listens with the object it keeps anyway instead
 * of a closure of its own.
 */
export type AbortListener = (() => void) | { handleEvent(): void };

/** What a stream call listens to for its end: an `AbortSignal`, or an `AttemptCancel`. */
export interface CallSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: "abort", listener: AbortListener, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: AbortListener): void;
}

/**
 * An abort for one attempt, as an `AbortController` and its signal in one object: `abort` runs
 * each listener once (as `{ once: true }`), in the order they were added; listeners added after
 * the abort never run (as with an `AbortSignal`: the caller checks `aborted` first).
 */
export class AttemptCancel implements CallSignal {
  aborted = false;
  reason: unknown = undefined;
  /**
   * When the attempt times out (`Deadlines.addPending`: the attempt is its own deadline, no
   * closures), after `timeoutMs`.
   */
  at = 0;

  constructor(readonly timeoutMs = 0) {}

  /** The attempt's deadline passed. */
  fire(): void {
    this.abort(new Error(`Request timed out after ${this.timeoutMs} ms`));
  }
  /** The first listener, and the others (rare: a stream call adds one). */
  #first: AbortListener | undefined;
  #more: AbortListener[] | undefined;

  /** Itself, as `AbortController.signal`. */
  get signal(): AttemptCancel {
    return this;
  }

  /** Every listener runs at most once, so `{ once: true }` is what it always does. */
  addEventListener(_type: "abort", listener: AbortListener, _options?: { once?: boolean }): void {
    if (this.aborted) return;
    if (this.#first === undefined && this.#more === undefined) this.#first = listener;
    else (this.#more ??= []).push(listener);
  }

  removeEventListener(_type: "abort", listener: AbortListener): void {
    if (this.#first === listener) {
      this.#first = undefined;
      return;
    }
    const at = this.#more?.indexOf(listener) ?? -1;
    if (at >= 0) this.#more!.splice(at, 1);
  }

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    const first = this.#first;
    const more = this.#more;
    this.#first = undefined;
    this.#more = undefined;
    if (first !== undefined) call(first);
    for (const listener of more ?? []) call(listener);
  }
}

function call(listener: AbortListener): void {
  if (typeof listener === "function") listener();
  else listener.handleEvent();
}
