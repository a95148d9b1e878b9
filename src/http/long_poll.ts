/**
 * Long-poll waiting for `receive` with `waitMs`. A waiter sleeps until one of:
 * - an applied batch (`NodePort.onApplied`) makes its queue/subscription deliverable,
 * - the broker's next delay or lease end (`Deliverability.nextAt`, in entry time) arrives,
 * - its deadline passes, or its request is aborted (client gone),
 * - the node shuts down (`close()`: the request is answered 503 at once, `drain.ts`).
 * There is no polling loop: each waiter holds one timer, and applied batches are the only other
 * wake-up source.
 *
 * Fairness: waiters of one target form a FIFO ordered by arrival. When a batch makes the target
 * deliverable, waiters are woken from the head, as many as there are ready messages (each woken
 * waiter's receive takes up to its `max`; the receive command decides who really gets what,
 * since it is applied in proposal order). A woken waiter that then gets nothing re-enters with
 * its ORIGINAL arrival number, so it keeps its place ahead of later arrivals.
 *
 * @module
 */

/** Why a wait ended; `closing`: the node is shutting down (`close()`). */
export type WaitEnd = "deliverable" | "deadline" | "aborted" | "closing";

/** What a waiter asks about its target each time a batch is applied. */
export interface WaitProbe {
  /**
   * Whether a message is deliverable now, an upper bound of ready messages (how many to wake),
   * and in how many ms the next delay or lease ends, if any (entry time is the probe's
   * business: the hub counts only its own clock).
   */
  check(): {
    readonly deliverableNow: boolean;
    readonly readyCount: number;
    readonly nextInMs?: number;
  };
}

interface Waiter {
  readonly arrival: number;
  readonly resolve: (end: WaitEnd) => void;
}

interface Target {
  probe: WaitProbe;
  /** Sorted by `arrival`. */
  readonly waiters: Waiter[];
  /** One timer per target for the broker's next delay/lease end (never per waiter). */
  timer?: ReturnType<typeof setTimeout>;
  timerAtMs?: number;
}

/** The registry of long-poll waiters of one app. */
export class LongPollHub {
  readonly #targets = new Map<string, Target>();
  readonly #nowMs: () => number;
  #arrivals = 0;
  #unsubscribe: (() => void) | undefined;
  #closed = false;

  /** `subscribe` is `node.onApplied`; the hub listens only while someone waits. */
  constructor(
    private readonly subscribe: (listener: () => void) => () => void,
    nowMs: () => number = Date.now,
  ) {
    this.#nowMs = nowMs;
  }

  /** A fresh arrival number: take one per request and pass it to every `wait` of it. */
  arrival(): number {
    return ++this.#arrivals;
  }

  /** Ends every wait with `closing`, now and from now on (the node is shutting down). */
  close(): void {
    this.#closed = true;
    for (const target of [...this.#targets.values()]) {
      for (const waiter of [...target.waiters]) waiter.resolve("closing");
    }
  }

  /** Number of waiters now (metrics, tests). */
  get waiting(): number {
    let n = 0;
    for (const t of this.#targets.values()) n += t.waiters.length;
    return n;
  }

  /**
   * Waits for the target named `key` (e.g. `q/orders`) as described in the module doc.
   * Resolves with why it ended; never rejects.
   */
  wait(
    key: string,
    probe: WaitProbe,
    arrival: number,
    deadlineMs: number,
    signal?: AbortSignal,
  ): Promise<WaitEnd> {
    if (this.#closed) return Promise.resolve("closing");
    const now = this.#nowMs();
    const state = probe.check();
    if (state.deliverableNow) return Promise.resolve("deliverable");
    if (now >= deadlineMs) return Promise.resolve("deadline");
    if (signal?.aborted) return Promise.resolve("aborted");
    return new Promise<WaitEnd>((resolvePromise) => {
      let done = false;
      const finish = (end: WaitEnd) => {
        if (done) return;
        done = true;
        clearTimeout(deadlineTimer);
        signal?.removeEventListener("abort", onAbort);
        this.#remove(key, waiter);
        resolvePromise(end);
      };
      const onAbort = () => finish("aborted");
      const waiter: Waiter = { arrival, resolve: finish };
      const deadlineTimer = setTimeout(() => finish("deadline"), deadlineMs - now);
      signal?.addEventListener("abort", onAbort, { once: true });
      const target = this.#add(key, probe, waiter);
      this.#schedule(target, state.nextInMs, now);
    });
  }

  #add(key: string, probe: WaitProbe, waiter: Waiter): Target {
    let target = this.#targets.get(key);
    if (target === undefined) {
      target = { probe, waiters: [] };
      this.#targets.set(key, target);
    }
    target.probe = probe;
    const list = target.waiters;
    let i = list.length;
    while (i > 0 && list[i - 1].arrival > waiter.arrival) i--;
    list.splice(i, 0, waiter);
    if (this.#unsubscribe === undefined) {
      this.#unsubscribe = this.subscribe(() => this.#onApplied());
    }
    return target;
  }

  #remove(key: string, waiter: Waiter): void {
    const target = this.#targets.get(key);
    if (target === undefined) return;
    const i = target.waiters.indexOf(waiter);
    if (i !== -1) target.waiters.splice(i, 1);
    if (target.waiters.length === 0) {
      clearTimeout(target.timer);
      this.#targets.delete(key);
    }
    if (this.#targets.size === 0 && this.#unsubscribe !== undefined) {
      this.#unsubscribe();
      this.#unsubscribe = undefined;
    }
  }

  /** Arms the target's timer `nextInMs` from `nowMs` if that is sooner than the armed one. */
  #schedule(target: Target, nextInMs: number | undefined, nowMs: number): void {
    if (nextInMs === undefined) return;
    const nextAtMs = nowMs + nextInMs;
    if (target.timerAtMs !== undefined && target.timerAtMs <= nextAtMs) return;
    clearTimeout(target.timer);
    target.timerAtMs = nextAtMs;
    target.timer = setTimeout(() => {
      target.timer = undefined;
      target.timerAtMs = undefined;
      this.#wake(target, this.#nowMs());
    }, Math.max(0, nextAtMs - nowMs));
  }

  #wake(target: Target, nowMs: number): void {
    if (target.waiters.length === 0) return;
    const state = target.probe.check();
    if (!state.deliverableNow) {
      this.#schedule(target, state.nextInMs, nowMs);
      return;
    }
    const count = Math.max(1, Math.min(state.readyCount, target.waiters.length));
    for (const waiter of target.waiters.slice(0, count)) waiter.resolve("deliverable");
  }

  #onApplied(): void {
    const now = this.#nowMs();
    for (const target of [...this.#targets.values()]) this.#wake(target, now);
  }
}
