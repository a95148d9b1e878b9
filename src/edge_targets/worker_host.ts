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

/**
 * One call handed to the host: plain data, the waiting request's own promise's settlers (which
 * the host calls: the request then resumes as itself), and that request's timer (`send`).
 */
interface Job {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | undefined;
  readonly resolve: (answer: StreamAnswer) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

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

  constructor(makeUpstream: () => Upstream, ctx: HostContext) {
    this.upstream = makeUpstream();
    ctx.waitUntil(this.#run());
  }

  /**
   * Hands a call to the host; its answer comes back as the host read it. The wait is a promise
   * of this request's own (`crossRequestPromise`: it must carry the request's tag), which the host
   * settles: the request's continuation then runs as the request, whose answer's body is its own.
   * A timer of the waiting request's own bounds the wait: a request awaiting another's promise
   * has nothing pending in the runtime's eyes, and a host that the runtime stopped answers
   * nothing. The host is then given up on (`ended`; the next request opens another), and the call
   * ends as on a lost stream.
   */
  send(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<StreamAnswer> {
    if (this.ended) {
      return Promise.reject(new NoUpstream("The isolate's stream host has stopped"));
    }
    const own = crossRequestPromise<StreamAnswer>();
    const timer = setTimeout(() => {
      this.ended = true;
      own.reject(new StreamLost(`The isolate's stream host did not answer in ${ANSWER_MS} ms`));
    }, ANSWER_MS);
    this.#queue.push({
      method,
      path,
      headers,
      body,
      resolve: own.resolve,
      reject: own.reject,
      timer,
    });
    this.#wakeUp();
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
    // One reaction per call (not a `then` and a `finally`: a promise fewer each), which settles
    // the waiting request's own promise straight away.
    this.upstream.send(job.method, job.path, job.headers, job.body).then((answer) => {
      clearTimeout(job.timer);
      job.resolve(answer);
      this.#answered();
    }, (error) => {
      clearTimeout(job.timer);
      job.reject(error);
      this.#answered();
    });
  }

  #answered(): void {
    this.#inFlight--;
    if (this.retired && this.#inFlight === 0) this.#wakeUp();
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
