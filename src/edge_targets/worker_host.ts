/**
 * The Worker's stream to the cluster without a Durable Object in the way: one stream per isolate,
 * opened and used only by the request that hosts it, to which the other requests hand their
 * calls (docs/edge.md, "Deploying to Cloudflare Workers").
 *
 * A Worker may not use an I/O object (a WebSocket, a timer) made while serving one request while
 * serving another. What it may do is hand plain data across, and settle and await each other's
 * promises: a promise made by request A and resolved by request B runs its continuations as A
 * (workerd's cross-request promise resolution), and B awaiting a promise made by A resumes as B
 * (cross-request awaits). So the request that finds no host becomes one: it keeps itself alive
 * past its answer (`waitUntil`), and everything that touches the stream (the `Upstream`, its
 * socket, its timers) runs as that request. Another request posts its call (method, path,
 * headers, body: plain data) with a promise the host made, wakes the host, and awaits that
 * promise; the host sends the calls that arrived meanwhile in one message and settles each
 * promise with the node's answer (plain data too).
 *
 * A Worker's request lives at most 30 s after its answer (`waitUntil`), so a host takes calls
 * for `hostMs` (default 20 s), then the next request opens a new host (and stream) and the old
 * one closes once its calls are answered. Long polls (`.../receive`) and `/v1/stream` may
 * outlast that, so the Worker sends them to the Durable Object (`worker.ts`).
 *
 * @module
 */

import { StreamLost } from "../client/mod.ts";
import { type CallPort, NoUpstream, type StreamAnswer, Upstream } from "../edge/mod.ts";

/** How long a host takes new calls, ms: a Worker's `waitUntil` ends 30 s after the answer. */
export const HOST_MS_DEFAULT = 20_000;

/** The request's `ctx`, as much of it as the host uses. */
export interface HostContext {
  waitUntil(promise: Promise<unknown>): void;
}

/** A promise and its settlers (`crossRequestPromise`). */
interface Pending<T = StreamAnswer> {
  readonly promise: Promise<T>;
  readonly resolve: (value: T) => void;
  readonly reject: (error: unknown) => void;
}

/** One call handed to the host: plain data, and the host's promise its answer settles. */
interface Job {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  readonly pending: Pending;
}

/** Promises the host keeps made ahead: more than the calls that arrive in one of its turns. */
const POOL = 1024;

/**
 * Longest wait for the host's answer: calls that may wait longer (long polls) go to the Durable
 * Object, and the stream's own probe closes a silent stream within 40 s (`Upstream`).
 */
const ANSWER_MS = 60_000;

/**
 * A promise that another request may settle, made with `Promise.withResolvers`, never with
 * `new Promise`. `workerd` tags each promise with the request that made it, and settling a tagged
 * promise from another request runs its reactions as the request that made it (cross-request
 * promise resolution). The tag is set where V8's builtins make a promise, but a `new Promise` in
 * code V8 has optimized with TurboFan is made inline, untagged (`workerd` 1.20261123's V8 patch
 * stores no tag there), and an untagged promise's reactions run as whoever settles it: once the
 * hand-off was optimized (after ~17,000 calls through one isolate), each waiting request resumed
 * as the host, and its answer's body was the host's (500 "Cannot perform I/O on behalf of a
 * different request"). `Promise.withResolvers` is a builtin that TurboFan calls, not inlines, so
 * its promise is tagged however hot the caller (`worker_host_test.ts`, with V8 optimizing early).
 */
function crossRequestPromise<T>(): Pending<T> {
  return Promise.withResolvers<T>();
}

/** One request's hosting of the isolate's stream. */
class Host {
  readonly upstream: Upstream;
  readonly startedMs = Date.now();
  /** Set when a newer host took over: this one closes once its calls are answered. */
  retired = false;
  /** Set when the host stopped taking calls (retired and idle, or given up on: `abandon`). */
  ended = false;
  #queue: Job[] = [];
  #inFlight = 0;
  /** Resolves the host's wait for calls (made by the host: settling it resumes the host). */
  #wake: (() => void) | undefined;
  readonly #pool: Pending[] = [];
  /** Settled by the host after each turn's refill (a request found the pool empty). */
  #refilled!: Promise<void>;
  #refill!: () => void;

  constructor(makeUpstream: () => Upstream, ctx: HostContext) {
    this.upstream = makeUpstream();
    this.#fill();
    ctx.waitUntil(this.#run());
  }

  /** Hands a call to the host; its answer comes back as the host read it. */
  send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<StreamAnswer> {
    // Not an async function when the pool has a promise (nearly always): a promise and a turn
    // fewer per call.
    const pending = this.ended ? undefined : this.#pool.pop();
    if (pending === undefined) return this.#sendAfterRefill(method, path, headers, body);
    this.#queue.push({ method, path, headers, body, pending });
    this.#wakeUp();
    return this.#awaited(pending.promise);
  }

  /** `send` when the pool is empty (or the host has stopped: `NoUpstream`). */
  async #sendAfterRefill(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<StreamAnswer> {
    // Bounded: each pass waits for one turn of the host, which refills the pool.
    for (let pass = 0; pass < 100; pass++) {
      if (this.ended) throw new NoUpstream("The isolate's stream host has stopped");
      const pending = this.#pool.pop();
      if (pending !== undefined) {
        this.#queue.push({ method, path, headers, body, pending });
        this.#wakeUp();
        return await this.#awaited(pending.promise);
      }
      const refilled = this.#refilled;
      this.#wakeUp();
      await this.#awaited(refilled);
    }
    throw new NoUpstream("The isolate's stream host made no promises in 100 turns");
  }

  /**
   * A promise of the host, awaited with a timer of the waiting request's own, which bounds the
   * wait: a request awaiting another's promise has nothing pending in the runtime's eyes, and a
   * host that the runtime stopped answers nothing. The host is then given up on (`ended`; the next
   * request opens another), and the call ends as on a lost stream.
   *
   * The wait is a promise of this request's own (`crossRequestPromise`: it must carry the
   * request's tag), settled by a reaction on the host's: the request's continuation then runs as
   * the request, whose answer's body is its own.
   */
  #awaited<T>(promise: Promise<T>): Promise<T> {
    const own = crossRequestPromise<T>();
    const timer = setTimeout(() => {
      this.ended = true;
      own.reject(new StreamLost(`The isolate's stream host did not answer in ${ANSWER_MS} ms`));
    }, ANSWER_MS);
    promise.then((value) => {
      clearTimeout(timer);
      own.resolve(value);
    }, (error) => {
      clearTimeout(timer);
      own.reject(error);
    });
    return own.promise;
  }

  /** Called by the request that takes over: this host closes once its calls are answered. */
  retire(): void {
    this.retired = true;
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Runs as the hosting request, until retired and idle. */
  async #run(): Promise<void> {
    // Something pending of its own, so that the runtime never takes an idle host for a hung one.
    const beat = setInterval(() => {}, 10_000);
    try {
      // Bounded by the host's life: it ends once retired with nothing in flight.
      for (let turn = 0; turn < Number.MAX_SAFE_INTEGER; turn++) {
        if (this.#queue.length === 0) {
          if (this.retired && this.#inFlight === 0) {
            this.ended = true;
            return;
          }
          const woken = crossRequestPromise<void>();
          this.#wake = woken.resolve;
          await woken.promise;
        }
        const jobs = this.#queue;
        this.#queue = [];
        for (const job of jobs) this.#start(job);
        this.#fill();
      }
    } finally {
      this.ended = true;
      clearInterval(beat);
      await this.upstream.stop();
    }
  }

  /** Sends one call (the calls started in one turn leave in one message: `StreamConnection`). */
  #start(job: Job): void {
    this.#inFlight++;
    const { resolve, reject } = job.pending;
    // One reaction per call (not a `then` and a `finally`: a promise fewer each).
    this.upstream.send(job.method, job.path, job.headers, job.body).then((answer) => {
      resolve(answer);
      this.#answered();
    }, (error) => {
      reject(error);
      this.#answered();
    });
  }

  #answered(): void {
    this.#inFlight--;
    if (this.retired && this.#inFlight === 0) this.#wakeUp();
  }

  #fill(): void {
    while (this.#pool.length < POOL) this.#pool.push(crossRequestPromise<StreamAnswer>());
    this.#refill?.();
    const refilled = crossRequestPromise<void>();
    this.#refilled = refilled.promise;
    this.#refill = refilled.resolve;
  }
}

/**
 * The isolate's `CallPort`: `host(ctx)` at the start of every request makes that request the
 * host when there is none (or the current one has hosted for `hostMs`); `send` hands the call to
 * the current host.
 */
export class IsolateCalls implements CallPort {
  #current: Host | undefined;

  constructor(
    readonly makeUpstream: (first: string | undefined) => Upstream,
    readonly hostMs = HOST_MS_DEFAULT,
  ) {}

  get node(): string | undefined {
    return this.#current?.upstream.node;
  }

  /** Makes sure a host takes calls; the request with `ctx` becomes it when none does. */
  host(ctx: HostContext): void {
    const current = this.#current;
    if (current !== undefined && !current.ended && Date.now() - current.startedMs < this.hostMs) {
      return;
    }
    // The new stream opens where the old one was (the leader, once followed).
    const first = current?.upstream.url;
    this.#current = new Host(() => this.makeUpstream(first), ctx);
    current?.retire();
  }

  gather(): undefined {
    // Calls gather by themselves: those that arrive before the host's next turn leave together.
    return undefined;
  }

  send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body?: string,
  ): Promise<StreamAnswer> {
    const host = this.#current;
    if (host === undefined) {
      return Promise.reject(new NoUpstream("No request hosts the isolate's stream"));
    }
    return host.send(method, path, headers, body);
  }
}
