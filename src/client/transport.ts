/**
 * The request engine under every client call: picks a node, sends one HTTP request with a
 * per-attempt timeout, and retries with exponential backoff and jitter on network errors,
 * 503 `no_leader` (honouring Retry-After), `unknown_outcome` and other 5xx. A mutating call gets
 * its place in the client's session (`session.ts`: id and seq) once, before the first attempt,
 * and sends the same place and body on every retry: a retry can therefore never apply a write
 * twice (docs/reliability.md item 7). With `sessions: false` it gets an Idempotency-Key instead.
 *
 * Only `fetch`, `AbortController`, `setTimeout` and `crypto.randomUUID` are used, so this runs in
 * Deno, Node 20+, browsers and edge runtimes.
 *
 * @module
 */

import { errorFromProblem, toProblem, UnknownOutcome } from "./errors.ts";
import { Deadlines } from "./deadlines.ts";
import { stripUndefined } from "./_shared.ts";
import { AttemptCancel } from "./attempt_cancel.ts";
import { SessionNumbers } from "./session.ts";
import { Answered, parseBody, type ReadAnswer, readResponse } from "./answer_read.ts";
import {
  type Attempt,
  type Dedup,
  exhausted,
  judge,
  leaderHint,
  parseRetryAfterMs,
  sleep,
} from "./retry_policy.ts";
import type { StreamDial } from "./stream.ts";
import { StreamPool } from "./stream_pool.ts";

export { parseRetryAfterMs, sleep } from "./retry_policy.ts";

/** How hard to try before giving up. */
export interface RetryOptions {
  /** Attempts in all, the first included. Default 10. */
  attempts?: number;
  /** Give up when the next attempt would start after this much time. Default 30 000. */
  totalMs?: number;
  /** The first backoff step. Default 50. */
  baseDelayMs?: number;
  /** The largest backoff step (Retry-After may ask for more, within `totalMs`). Default 2000. */
  maxDelayMs?: number;
}

/** What the transport needs; `fetch`, `random`, `sleep` and `now` are seams for tests. */
export interface TransportOptions {
  /** Base URLs of the nodes, e.g. `http://127.0.0.1:8081`. Any node answers any request. */
  nodes: string[];
  /** Sent as `Authorization: Bearer <token>`. */
  token?: string;
  fetch?: typeof fetch;
  /**
   * Opens the stream's socket to a `wss:`/`ws:` URL. Default (`default_dial.ts`): in Deno the
   * nodes' own WebSocket client, with TCP_NODELAY (Deno's `WebSocket` clears it); elsewhere
   * `new WebSocket(url)`. With `fetch`, how a runtime's own TLS options reach the client, e.g. a
   * private CA (docs/client.md). Given, it wins, and the stream is used in `auto` mode even with
   * a `fetch` seam.
   */
  dial?: StreamDial;
  /** Per-attempt timeout, on top of a long poll's `waitMs`. Default 10 000. */
  timeoutMs?: number;
  retry?: RetryOptions;
  /** Uniform in [0, 1). Default Math.random. */
  random?: () => number;
  /** Waits `ms`, rejecting early when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Milliseconds since some epoch. Default Date.now. */
  now?: () => number;
  /**
   * Writes go in a client session (default true): exactly-once for as long as the session is
   * open. False: every write carries its own Idempotency-Key instead (the broker keeps keys 24 h
   * and refuses new ones at its bound).
   */
  sessions?: boolean;
  /** Idle timeout asked for the session, 1000..86 400 000 ms. Default: the broker's (1 h). */
  sessionTimeoutMs?: number;
  /**
   * How requests travel: `stream` (one WebSocket per node, `/v1/stream`, many requests in
   * flight), `http` (one HTTP request each), or `auto` (default): the stream where `WebSocket`
   * exists and no `fetch` seam is given, else HTTP. Same API, semantics and errors either way.
   */
  transport?: "auto" | "stream" | "http";
  /**
   * A stream with nothing in flight for this long closes (the next call opens a new one), so a
   * script that never calls `client.close()` still exits. Default 2000; 0 keeps streams open.
   */
  streamIdleMs?: number;
  /**
   * The stream moves to the leader (default true): after a stream opens, and at most once a
   * second while it is used, the client asks its node's `/readyz` who leads; when that names
   * another node, new requests ride a stream to it (a follower would forward each write: one hop
   * more) and the old stream closes once what it carries is done. False: stay on the node.
   */
  followLeader?: boolean;
}

/** One logical request (all its attempts). */
export interface RequestSpec {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  body?: unknown;
  /** A write: it carries an Idempotency-Key, and an ambiguous failure is `UnknownOutcome`. */
  mutating: boolean;
  /** Use this key instead of generating one (to continue an earlier call). */
  idempotencyKey?: string;
  /** Continue a call that ended `UnknownOutcome` in a session (its `session` and `seq`). */
  resume?: { readonly session: number; readonly seq: number };
  /** A write without key or session (opening a session). */
  plain?: boolean;
  /** Added to the per-attempt timeout (a long poll's `waitMs`). */
  extraTimeoutMs?: number;
  signal?: AbortSignal;
}

/** A successful answer. */
export interface Answer {
  status: number;
  body: unknown;
  headers: Headers;
  /** `Idempotent-Replayed: true`: the server answered from its stored response. */
  replayed: boolean;
  /**
   * The node that answered (its base URL): over the stream, the one whose stream carried the
   * call (the leader the client moved to); over HTTP, the one it was sent to (docs/client.md).
   */
  node: string;
  /** The key that was sent, if any. */
  idempotencyKey?: string;
}

const DEFAULTS = { attempts: 10, totalMs: 30_000, baseDelayMs: 50, maxDelayMs: 2_000 };

/** A request that is not a write: no key, no session place. */
const NO_DEDUP: Dedup = { kind: "none" };

/** Sends requests to a set of nodes with retries; see the module doc. */
export class Transport {
  readonly nodes: readonly string[];
  readonly #options: TransportOptions;
  readonly #retry: Required<RetryOptions>;
  readonly #fetch: typeof fetch;
  /** Index of the node to try first: the last one that answered. */
  #current = 0;
  readonly #sessions: SessionNumbers | undefined;
  /**
   * Long polls (a receive with `waitMs`) go in a session of their own: a call in flight holds back
   * the answers after it (its seq is the lowest unanswered), and a poll of up to a minute in the
   * session of a busy publisher would hold a minute of its answers on the broker.
   */
  readonly #pollSessions: SessionNumbers | undefined;
  /** The streams requests ride on, when the transport is the stream. */
  readonly streams: StreamPool | undefined;
  /** The attempts' timeouts, on one timer (kept set between attempts over the stream). */
  readonly #deadlines: Deadlines;

  constructor(options: TransportOptions) {
    if (options.nodes.length === 0) {
      throw new Error("Cannot create a quorumq client: `nodes` lists no node URL");
    }
    this.nodes = options.nodes.map((url) => url.replace(/\/+$/, ""));
    this.#options = options;
    this.#retry = { ...DEFAULTS, ...stripUndefined(options.retry ?? {}) };
    this.streams = useStream(options)
      ? new StreamPool(options.token, options.streamIdleMs, options.dial, {
        ...(options.followLeader === undefined ? {} : { followLeader: options.followLeader }),
      })
      : undefined;
    this.#deadlines = new Deadlines(undefined, this.streams !== undefined);
    this.#fetch = this.streams?.fetch ?? options.fetch ?? ((input, init) => fetch(input, init));
    const numbers = () => new SessionNumbers((signal) => this.#openSession(signal));
    this.#sessions = options.sessions === false ? undefined : numbers();
    this.#pollSessions = options.sessions === false ? undefined : numbers();
  }

  /** `stream` or `http`: how requests travel. */
  get kind(): "stream" | "http" {
    return this.streams === undefined ? "http" : "stream";
  }

  /** Closes the streams and the idle timer (HTTP holds nothing open); requests reopen them. */
  async close(): Promise<void> {
    this.#deadlines.clearIdle();
    await this.streams?.close();
  }

  /** The id of the session writes go in now, if one is open (for tests and tools). */
  get sessionId(): number | undefined {
    return this.#sessions?.currentId;
  }

  /**
   * Ends the current session on the broker (its stored answers go at once instead of after its
   * idle timeout); the next write opens a new one. Calls still in flight in it may then answer
   * `UnknownOutcome`: close when the calls are done.
   */
  async closeSession(): Promise<void> {
    for (const numbers of [this.#sessions, this.#pollSessions]) {
      const id = numbers?.forget();
      if (id === undefined) continue;
      await this.request({
        method: "DELETE",
        path: `/v1/sessions/${id}`,
        mutating: true,
        plain: true,
      });
    }
  }

  async #openSession(signal?: AbortSignal): Promise<number> {
    const timeoutMs = this.#options.sessionTimeoutMs;
    const answer = await this.request({
      method: "POST",
      path: "/v1/sessions",
      body: timeoutMs === undefined ? {} : { timeoutMs },
      mutating: true,
      plain: true,
      ...(signal ? { signal } : {}),
    });
    return (answer.body as { session: number }).session;
  }

  /**
   * How `spec` is made exactly-once, when that needs no wait: all but a write's first place in a
   * session not open yet (`#dedup`), and no promise for them. Undefined when it must wait.
   */
  #dedupNow(spec: RequestSpec): Dedup | undefined {
    if (!spec.mutating || spec.plain) return NO_DEDUP;
    if (spec.idempotencyKey !== undefined) return { kind: "key", key: spec.idempotencyKey };
    if (this.#sessions === undefined || this.#pollSessions === undefined) {
      return { kind: "key", key: crypto.randomUUID() };
    }
    if (spec.resume !== undefined) {
      const { session, seq } = spec.resume;
      const numbers = this.#pollSessions.currentId === session
        ? this.#pollSessions
        : this.#sessions;
      return { kind: "session", ticket: numbers.resume(session, seq), numbers };
    }
    const numbers = this.#numbersOf(spec);
    const ticket = numbers.beginNow();
    return ticket === undefined ? undefined : { kind: "session", ticket, numbers };
  }

  /** A write's first place in a session that must be opened first. */
  async #dedup(spec: RequestSpec): Promise<Dedup> {
    const numbers = this.#numbersOf(spec);
    return { kind: "session", ticket: await numbers.begin(spec.signal), numbers };
  }

  /** The session a write goes in: a long poll's own (see `#pollSessions`), or the writes'. */
  #numbersOf(spec: RequestSpec): SessionNumbers {
    return (spec.extraTimeoutMs ?? 0) > 0 ? this.#pollSessions! : this.#sessions!;
  }

  /**
   * Runs one logical request to success, a final error, or the end of the retry budget. The body
   * is JSON text once, before anything else: every attempt sends the same (and a body that is
   * not JSON fails here, a `TypeError`, with nothing sent).
   */
  request(spec: RequestSpec): Promise<Answer> {
    return this.#request(spec, false) as Promise<Answer>;
  }

  /** `request`, resolving with the answer's body alone (a client call's result). */
  requestBody(spec: RequestSpec): Promise<unknown> {
    return this.#request(spec, true);
  }

  async #request(spec: RequestSpec, bodyOnly: boolean): Promise<Answer | unknown> {
    const bodyText = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    const dedup = this.#dedupNow(spec) ?? await this.#dedup(spec);
    try {
      // The first attempt here, the others in `#retrying`: one async function for most calls
      // (on the stream without a caller's signal, the attempt itself too: `#attempt` in line).
      const deadline = (this.#options.now ?? Date.now)() + this.#retry.totalMs;
      const node = this.nodes[this.#current];
      spec.signal?.throwIfAborted();
      const streams = this.streams;
      let first: Attempt;
      if (streams !== undefined && spec.signal === undefined) {
        const cancel = new AttemptCancel(this.#timeoutMs(spec));
        this.#deadlines.addPending(cancel, cancel.timeoutMs);
        try {
          first = this.#outcome(
            node,
            dedup,
            await this.#callStream(streams, node, spec, dedup, bodyText, cancel),
          );
        } catch (error) {
          first = { kind: "network", error };
        } finally {
          this.#deadlines.remove(cancel);
        }
      } else first = await this.#attempt(node, spec, dedup, bodyText);
      const answer = first.kind === "answer"
        ? this.#answered(node, first.answer)
        : await this.#retrying(spec, dedup, bodyText, node, deadline, first);
      if (dedup.kind === "session") dedup.numbers.finish(dedup.ticket);
      return bodyOnly ? answer.body : answer;
    } catch (error) {
      if (dedup.kind === "session") {
        if (error instanceof UnknownOutcome) dedup.numbers.park(dedup.ticket);
        else dedup.numbers.finish(dedup.ticket);
      }
      throw error;
    }
  }

  #answered(node: string, answer: Answer): Answer {
    this.#current = Math.max(0, this.nodes.indexOf(node));
    return answer;
  }

  /** The attempts after a first one that failed (`first`), to the end of the retry budget. */
  async #retrying(
    spec: RequestSpec,
    dedup: Dedup,
    bodyText: string | undefined,
    node: string,
    deadline: number,
    first: Exclude<Attempt, { kind: "answer" }>,
  ): Promise<Answer> {
    const now = this.#options.now ?? Date.now;
    let ambiguous = false;
    let lastError: unknown;
    for (let attempt = 1; attempt <= this.#retry.attempts; attempt++) {
      if (attempt > 1) spec.signal?.throwIfAborted();
      const outcome = attempt === 1 ? first : await this.#attempt(node, spec, dedup, bodyText);
      if (outcome.kind === "answer") return this.#answered(node, outcome.answer);
      if (outcome.kind === "problem" && outcome.error.type === "session_expired") {
        if (dedup.kind !== "session") throw outcome.error;
        const id = dedup.ticket.session.id;
        dedup.numbers.expired(id);
        // An earlier attempt may have applied under the old session: a new one could apply it
        // again, so the outcome is unknown. Otherwise nothing was applied: renew and go on.
        if (ambiguous || spec.resume !== undefined) {
          throw exhausted(spec, dedup, true, outcome.error);
        }
        dedup.numbers.finish(dedup.ticket);
        dedup.ticket = await dedup.numbers.begin(spec.signal);
        lastError = outcome.error;
        continue;
      }
      const verdict = judge(outcome);
      lastError = outcome.error;
      if (!verdict.retry) throw outcome.error;
      ambiguous ||= verdict.ambiguous;
      node = this.#pickNode(node, verdict.nextNode);
      const delayMs = Math.max(verdict.minDelayMs, this.#backoffMs(attempt));
      if (attempt === this.#retry.attempts || now() + delayMs > deadline) break;
      await (this.#options.sleep ?? sleep)(delayMs, spec.signal);
    }
    throw exhausted(spec, dedup, ambiguous, lastError);
  }

  async #attempt(
    node: string,
    spec: RequestSpec,
    dedup: Dedup,
    bodyText: string | undefined,
  ): Promise<Attempt> {
    const timeoutMs = this.#timeoutMs(spec);
    const streams = this.streams;
    // See AttemptCancel's doc; on the stream it is the attempt's deadline too (no closures).
    const controller = streams ? new AttemptCancel(timeoutMs) : new AbortController();
    const cancelTimeout = controller instanceof AttemptCancel ? undefined : this.#deadlines.add(
      timeoutMs,
      () => controller.abort(new Error(`Request timed out after ${timeoutMs} ms`)),
    );
    if (controller instanceof AttemptCancel) this.#deadlines.addPending(controller, timeoutMs);
    const signal = spec.signal;
    const onAbort = signal === undefined ? undefined : () => controller.abort(signal.reason);
    if (onAbort !== undefined) signal!.addEventListener("abort", onAbort, { once: true });
    try {
      const response: ReadAnswer = streams !== undefined
        ? await this.#callStream(streams, node, spec, dedup, bodyText, controller as AttemptCancel)
        : await readResponse(
          await this.#fetch(node + spec.path, {
            method: spec.method,
            headers: this.#headers(spec, dedup),
            body: bodyText,
            signal: (controller as AbortController).signal,
          }),
        );
      return this.#outcome(node, dedup, response);
    } catch (error) {
      // The caller's own abort is final; a timeout or a broken socket is a network error.
      if (signal?.aborted) throw signal.reason;
      return { kind: "network", error };
    } finally {
      if (cancelTimeout !== undefined) cancelTimeout();
      else this.#deadlines.remove(controller as AttemptCancel);
      if (onAbort !== undefined) signal!.removeEventListener("abort", onAbort);
    }
  }

  /** An attempt's timeout: the transport's, and a long poll's wait on top. */
  #timeoutMs(spec: RequestSpec): number {
    return (this.#options.timeoutMs ?? 10_000) + (spec.extraTimeoutMs ?? 0);
  }

  /** One attempt on the stream (`StreamPool.callPath`), ended early by `cancel`. */
  #callStream(
    streams: StreamPool,
    node: string,
    spec: RequestSpec,
    dedup: Dedup,
    bodyText: string | undefined,
    cancel: AttemptCancel,
  ): Promise<ReadAnswer> {
    return streams.callPath(
      node,
      spec.path,
      spec.method,
      dedup.kind === "key" ? dedup.key : undefined,
      dedup.kind === "session" ? sessionPlace(dedup) : undefined,
      bodyText,
      cancel,
    );
  }

  /** What an attempt's answer is: a success, or the problem it answered. */
  #outcome(node: string, dedup: Dedup, response: ReadAnswer): Attempt {
    const body = parseBody(response);
    const status = response.status;
    if (status >= 200 && status <= 299) {
      return {
        kind: "answer",
        answer: new Answered(
          status,
          body,
          response.headers,
          response.raw,
          response.servedBy ?? node,
          dedup.kind === "key" ? dedup.key : undefined,
        ),
      };
    }
    const problem = toProblem(status, response.statusText ?? "", body);
    return {
      kind: "problem",
      error: errorFromProblem(problem, status),
      retryAfterMs: parseRetryAfterMs(response.headers["retry-after"] ?? null, Date.now()),
      leaderUrl: leaderHint(problem),
    };
  }

  #headers(spec: RequestSpec, dedup: Dedup): Record<string, string> {
    const headers: Record<string, string> = { accept: "application/json" };
    if (spec.body !== undefined) headers["content-type"] = "application/json";
    if (this.#options.token) headers["authorization"] = `Bearer ${this.#options.token}`;
    if (dedup.kind === "key") headers["idempotency-key"] = dedup.key;
    if (dedup.kind === "session") headers["quorumq-session"] = sessionPlace(dedup);
    return headers;
  }

  #pickNode(node: string, next: "same" | "next" | string): string {
    if (next === "same") return node;
    if (next !== "next") return next.replace(/\/+$/, "");
    const index = this.nodes.indexOf(node);
    this.#current = (index + 1) % this.nodes.length;
    return this.nodes[this.#current];
  }

  /** Exponential backoff with "equal jitter": half the step fixed, half random. */
  #backoffMs(attempt: number): number {
    const stepMs = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    const random = this.#options.random ?? Math.random;
    return stepMs / 2 + random() * (stepMs / 2);
  }
}

/** A write's `Quorumq-Session` header: `<id>/<seq>/<lowest>` (docs/client.md). */
function sessionPlace(dedup: Extract<Dedup, { kind: "session" }>): string {
  const { ticket } = dedup;
  return `${ticket.session.id}/${ticket.seq}/${dedup.numbers.lowest(ticket)}`;
}

function useStream(options: TransportOptions): boolean {
  const mode = options.transport ?? "auto";
  if (mode !== "auto") return mode === "stream";
  return options.dial !== undefined ||
    (options.fetch === undefined && typeof WebSocket === "function");
}
