/**
 * A stream's hot requests without Hono: publish (one or a batch) to a queue or a topic, receive,
 * and ack / nack / extend on a queue or a subscription. A stream sends these by the thousand per
 * second; through the app each one cost a `Request`, a context and three middlewares (~27 KB
 * allocated per message, garbage collection ~20% of a leader's CPU). Here the frame becomes a
 * `Call` and goes to the same handler function the Hono route calls (`handlers_messages.ts`),
 * so permissions, validation, the write pipeline, problems and answers are the route's own. What
 * the middlewares do for such a request is done here by the functions they use too: the
 * shutdown answer (`shutdownAnswer`), the error mapping (`errorAnswer`), the latency metric
 * under the route's pattern.
 *
 * Only a path whose every segment is plainly a name (`NAME_PATTERN`, not `.` or `..`: nothing a
 * URL would resolve, decode or split differently) is taken here; any other request goes through
 * the app as before, so a path the router would read another way never gets a second reading.
 *
 * @module
 */

import type { ConsumerTarget } from "../broker/mod.ts";
import type { Principal } from "./auth.ts";
import type { Answer, Outcome } from "./answer.ts";
import {
  type JsonBody,
  jsonBodyOfText,
  type RawBody,
  rawBodyOfText,
  readJsonBody,
  readRawBody,
} from "./body.ts";
import { bearerPrincipal } from "./authorize.ts";
import { GATEWAY_PROOF_HEADER } from "./gateway_proof.ts";
import { isInProcess, requestSignal, streamPrincipals } from "./in_process.ts";
import { responseOf } from "./render.ts";
import type { Call } from "./call.ts";
import type { AppDeps } from "./context.ts";
import { SHUTTING_DOWN } from "./drain.ts";
import {
  publishMessages,
  type PublishTarget,
  receiveMessages,
  type Settle,
  settleMessages,
} from "./handlers_messages.ts";
import type { HttpMetrics } from "./metrics.ts";
import { problemAnswer, ProblemError, PROBLEMS } from "./problems.ts";
import { NAME_PATTERN } from "./schemas.ts";

/** A request matched to a direct route: its pattern (the metric's label) and what it runs. */
export type DirectMatch =
  | { readonly route: string; readonly op: "publish"; readonly target: PublishTarget }
  | {
    readonly route: string;
    readonly op: "receive" | Settle;
    readonly target: ConsumerTarget;
  };

/** The operations of a consumer's path, with their route patterns (constants: metric labels). */
const QUEUE_OPS: ReadonlyMap<string, [Settle | "receive", string]> = new Map([
  ["receive", ["receive", "/v1/queues/:q/receive"]],
  ["ack", ["ack", "/v1/queues/:q/ack"]],
  ["nack", ["nack", "/v1/queues/:q/nack"]],
  ["extend", ["extend", "/v1/queues/:q/extend"]],
]);
const SUBSCRIPTION_OPS: ReadonlyMap<string, [Settle | "receive", string]> = new Map([
  ["receive", ["receive", "/v1/topics/:t/subscriptions/:s/receive"]],
  ["ack", ["ack", "/v1/topics/:t/subscriptions/:s/ack"]],
  ["nack", ["nack", "/v1/topics/:t/subscriptions/:s/nack"]],
  ["extend", ["extend", "/v1/topics/:t/subscriptions/:s/extend"]],
]);

const isName = (s: string | undefined): s is string =>
  s !== undefined && NAME_PATTERN.test(s) && s !== "." && s !== "..";

/**
 * Matches of the paths seen last (frozen: every request of a path shares one), so a stream that
 * publishes to the same queue again and again does not split and check its path each time (a
 * split, five strings and two objects per request). Emptied when full: bounded, and a path
 * never matches differently later (the match is a function of the path alone).
 */
const MATCHES = new Map<string, DirectMatch | null>();
const MATCHES_MAX = 1024;

/** The direct route of `method path`, or undefined: the app runs the request. */
export function matchDirect(method: string, path: string): DirectMatch | undefined {
  if (method !== "POST" || path.length > 1024) return undefined;
  const known = MATCHES.get(path);
  if (known !== undefined) return known ?? undefined;
  if (MATCHES.size >= MATCHES_MAX) MATCHES.clear();
  const m = matchPath(path);
  if (m !== undefined) {
    Object.freeze(m.target);
    Object.freeze(m);
  }
  MATCHES.set(path, m ?? null);
  return m;
}

/** `matchDirect` of a POST to `path`, worked out. */
function matchPath(path: string): DirectMatch | undefined {
  if (!path.startsWith("/v1/")) return undefined;
  const parts = path.split("/");
  const [, , kind, name, op] = parts;
  if (!isName(name) || op === undefined) return undefined;
  if (kind === "queues" && parts.length === 5) {
    const target = { queue: name };
    if (op === "messages") return { route: "/v1/queues/:q/messages", op: "publish", target };
    const known = QUEUE_OPS.get(op);
    return known === undefined ? undefined : { route: known[1], op: known[0], target };
  }
  if (kind !== "topics") return undefined;
  if (parts.length === 5 && op === "messages") {
    return { route: "/v1/topics/:t/messages", op: "publish", target: { topic: name } };
  }
  const [, , , , , subscription, sop] = parts;
  if (parts.length !== 7 || op !== "subscriptions" || !isName(subscription)) return undefined;
  const known = SUBSCRIPTION_OPS.get(sop);
  if (known === undefined) return undefined;
  return { route: known[1], op: known[0], target: { topic: name, subscription } };
}

/** The answer of a request refused because the node is shutting down (the drain middleware's). */
export function shutdownAnswer(): Answer {
  return problemAnswer("unavailable", SHUTTING_DOWN, {}, { connection: "close" });
}

/**
 * A handler's throw as its answer: a `ProblemError` is its problem (logged when it is a 5xx),
 * anything else is a bug, logged with its stack, answered 500 (the app's error handler's).
 */
export function errorAnswer(deps: AppDeps, method: string, path: string, error: unknown): Answer {
  if (error instanceof ProblemError) {
    // unknown_outcome is worth an operator's eye; no_leader/unavailable come in floods
    // during an election, so they are debug (nothing per request at the default level).
    if (PROBLEMS[error.problemType].status >= 500) {
      const level = error.problemType === "unknown_outcome" ? "warn" : "debug";
      deps.log[level]("request_unavailable", {
        method,
        path,
        type: error.problemType,
        detail: error.detail,
      });
    }
    return problemAnswer(error.problemType, error.detail, error.extras);
  }
  deps.log.error("request_failed", { method, path, error });
  return problemAnswer("internal_error", "An unexpected error occurred; it was logged");
}

/** Runs matched requests as the app would (see the module doc). */
export class DirectRoutes {
  /**
   * `cors`: the node answers browsers of other origins (`--cors-origin`); their requests from
   * the network then go through the app, whose CORS middleware sets their headers.
   */
  constructor(readonly deps: AppDeps, readonly metrics: HttpMetrics, readonly cors: boolean) {}

  /**
   * The answer to `request` (from the network, or made in process by the MQTT gateway) when it
   * is a direct route's, else undefined: the app runs it. The app also takes a request with a
   * gateway proof (`app.ts`), and, with CORS on, any request from the network.
   */
  serve(request: Request): Promise<Response> | undefined {
    if (request.method !== "POST") return undefined;
    const url = request.url;
    const start = url.indexOf("/", url.indexOf("://") + 3);
    if (start < 0) return undefined;
    // With a query, the last segment is not a plain name: no match.
    const path = url.slice(start);
    const m = matchDirect("POST", path);
    if (m === undefined) return undefined;
    const inProcess = isInProcess(request);
    if (this.cors && !inProcess) return undefined;
    if (this.deps.auth !== undefined && request.headers.has(GATEWAY_PROOF_HEADER)) {
      return undefined;
    }
    return this.#serve(request, m, path, inProcess);
  }

  #serve(
    request: Request,
    m: DirectMatch,
    path: string,
    inProcess: boolean,
  ): Promise<Response> {
    const call = new RequestCall(request, path, inProcess);
    // The auth middleware's rules: a principal given by an in-process caller, else the token.
    call.principal = streamPrincipals.get(request);
    return this.#run(m, call, this.#gate(call), (outcome) => responseOf(outcome, inProcess));
  }

  /**
   * A write a follower forwarded (the leader's end of the forwarding channel), as `serve` would
   * run the in-process request made of it (`forwardedRequest` in src/server), without making it:
   * `headers` by lower-case name, `text` its UTF-8 body. Undefined where `serve` would leave
   * that request to the app: not a direct route, or a gateway's proof with auth on.
   */
  forwarded(
    method: string,
    path: string,
    headers: Readonly<Record<string, string>>,
    text: string | undefined,
    request: () => Request,
  ): Promise<Outcome> | undefined {
    const m = matchDirect(method, path);
    if (m === undefined) return undefined;
    if (this.deps.auth !== undefined && headers[GATEWAY_PROOF_HEADER] !== undefined) {
      return undefined;
    }
    // In process, its token checked by the gate (no principal yet), never aborted early.
    const call = new DirectCall(method, path, undefined, headers, text, NEVER, request);
    return this.run(m, call, this.#gate(call));
  }

  /**
   * An in-process caller's request (the MQTT gateway's), run as `serve` would run the in-process
   * `Request` that `request` builds, without building it: `principal` is whom the caller
   * authenticated (auth on; undefined with auth off), `headers` by lower-case name are that
   * request's (its token and gateway proof too, for a forward to the leader), `text` its JSON
   * body, or that body's value (`BodyValue`). Undefined where the app must run that request: not a direct route, a header value the
   * `Request` would read another way, or auth on without a principal (the gateway's own request,
   * proven by its proof, which only the app checks).
   */
  inProcess(
    method: string,
    path: string,
    principal: Principal | undefined,
    headers: Readonly<Record<string, string>>,
    text: string | BodyValue | undefined,
    signal: AbortSignal,
    request: () => Request,
  ): Promise<Outcome> | undefined {
    const m = matchDirect(method, path);
    if (m === undefined || !plainHeaders(headers)) return undefined;
    if (this.deps.auth !== undefined && principal === undefined) return undefined;
    const call = new DirectCall(method, path, principal, headers, text, signal, request);
    return this.run(m, call);
  }

  /** The auth middleware's token check of `call` when it has no principal yet and auth is on. */
  #gate(
    call: { readonly principal: Principal | undefined; header(name: string): string | undefined },
  ): (() => Promise<Answer | undefined>) | undefined {
    const auth = this.deps.auth;
    if (call.principal !== undefined || auth === undefined) return undefined;
    return async () => {
      const who = await bearerPrincipal(auth, call.header("authorization"));
      if ("refused" in who) return who.refused;
      (call as { principal: Principal | undefined }).principal = who.principal;
      return undefined;
    };
  }

  /**
   * The outcome of `call`, matched as `m`, after `gate` (authentication) lets it through; never
   * throws.
   */
  run(
    m: DirectMatch,
    call: Call,
    gate?: () => Promise<Answer | undefined>,
  ): Promise<Outcome> {
    return this.#run(m, call, gate, sameOutcome);
  }

  /**
   * `run`, its outcome given to `map` in the same step (a request from the network: its
   * `Response`). Not an async function: the handler's promise and one `then` per request, no
   * async frame of its own, and without a gate (a stream's request) no `await` of nothing.
   */
  #run<T>(
    m: DirectMatch,
    call: Call,
    gate: (() => Promise<Answer | undefined>) | undefined,
    map: (outcome: Outcome) => T,
  ): Promise<T> {
    const started = performance.now();
    const done = (outcome: Outcome): T => {
      const seconds = (performance.now() - started) / 1000;
      this.metrics.observe(call.method, m.route, outcome.status, seconds);
      return map(outcome);
    };
    const failed = (error: unknown) => done(errorAnswer(this.deps, call.method, call.path, error));
    let handled: Promise<Outcome>;
    try {
      if (this.deps.drain.draining) handled = Promise.resolve(shutdownAnswer());
      else if (gate === undefined) handled = this.#handle(m, call);
      else handled = gate().then((refused) => refused ?? this.#handle(m, call));
    } catch (error) {
      handled = Promise.reject(error);
    }
    return handled.then(done, failed);
  }

  #handle(m: DirectMatch, call: Call): Promise<Outcome> {
    const { deps } = this;
    if (m.op === "publish") return publishMessages(deps, call, m.target);
    if (m.op === "receive") return receiveMessages(deps, call, m.target);
    return settleMessages(deps, call, m.target, m.op);
  }
}

/**
 * Header values a direct request takes as they are: printable ASCII, no space at either end. A
 * `Request` would trim or refuse other values, so a request with one goes through the app.
 */
export const PLAIN_VALUE = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/;

/** Whether every value of `headers` is one a `Request` would read the same (`PLAIN_VALUE`). */
export function plainHeaders(headers: Readonly<Record<string, string>>): boolean {
  for (const name in headers) if (!plainValue(headers[name])) return false;
  return true;
}

/**
 * `PLAIN_VALUE.test(v)` by hand: the regex was ~0.3 µs of a leader's CPU per stream request (two
 * headers each), a loop over a short value a fraction of it (property-tested against the regex).
 */
export function plainValue(v: string): boolean {
  const n = v.length;
  if (n === 0) return true;
  if (v.charCodeAt(0) === 0x20 || v.charCodeAt(n - 1) === 0x20) return false;
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

/**
 * A body handed over as its value instead of its JSON text (the MQTT gateway's batch publishes,
 * built as objects): `json` is what parsing the text would give (plain objects, arrays, strings,
 * finite numbers, booleans, null), and `bytesAtMost` bounds the UTF-8 bytes of its text
 * (`JSON.stringify(json)`). Within the node's body limit it is read as it is, without making the
 * text and parsing it again (its bytes are made only if asked for: a write a follower forwards);
 * beyond it the text is made and read as any text is (the limit's own check and answer).
 */
export interface BodyValue {
  readonly json: unknown;
  readonly bytesAtMost: number;
}

const encoder = new TextEncoder();

/** A body taken as its value (`BodyValue`), its text and bytes made when asked for. */
class ValueBody implements JsonBody {
  #bytes: Uint8Array | undefined;
  constructor(readonly json: unknown) {}
  get bytes(): Uint8Array {
    return this.#bytes ??= encoder.encode(JSON.stringify(this.json));
  }
}

/** `body` as text, a value's made from it. */
function textOf(body: string | BodyValue): string {
  return typeof body === "string" ? body : JSON.stringify(body.json);
}

const EMPTY: JsonBody = { bytes: new Uint8Array(0), json: undefined };
const EMPTY_RAW: RawBody = { bytes: EMPTY.bytes, parse: () => EMPTY };
/** The content type a body value is taken with as it is (any other reads its text: `body.ts`). */
const JSON_TYPE = "application/json";

/**
 * A request taken directly (a stream's, an in-process caller's, or a write forwarded to this
 * leader): what the app would have read from its `Request`.
 */
export class DirectCall implements Call {
  readonly hasQuery = false;
  readonly inProcess = true;

  constructor(
    readonly method: string,
    readonly path: string,
    /** Whom it runs as; undefined until the gate checks its token (a forwarded write). */
    public principal: Principal | undefined,
    /** The headers the app would see, by lower-case name (`content-type` set with a body). */
    readonly headers: Readonly<Record<string, string>>,
    /** The body's JSON text, or its value (`BodyValue`); undefined without a body. */
    readonly text: string | BodyValue | undefined,
    readonly signal: AbortSignal,
    /** Builds the app request, for forwarding the request whole to the leader. */
    readonly request: () => Request,
  ) {}

  header(name: string): string | undefined {
    return this.headers[name];
  }

  query(): Record<string, string> {
    return {};
  }

  /** At once: the text is here (no promise and turn of the microtask queue per request). */
  body(maxBytes: number): JsonBody {
    const body = this.text;
    if (body === undefined) return EMPTY;
    const contentType = this.headers["content-type"] ?? null;
    if (typeof body !== "string" && body.bytesAtMost <= maxBytes && contentType === JSON_TYPE) {
      return new ValueBody(body.json);
    }
    return jsonBodyOfText(textOf(body), contentType, maxBytes);
  }

  // deno-lint-ignore require-await
  async rawBody(maxBytes: number): Promise<RawBody> {
    if (this.text === undefined) return EMPTY_RAW;
    return rawBodyOfText(textOf(this.text), this.headers["content-type"] ?? null, maxBytes);
  }
}

/** `run`'s map: the outcome as it is. */
const sameOutcome = (outcome: Outcome): Outcome => outcome;

/** The signal of a forwarded request: nothing ends it early (as the `Request`'s, never aborted). */
const NEVER = new AbortController().signal;

/** A request from the network (or the MQTT gateway's) for a direct route, as the route reads it. */
class RequestCall implements Call {
  readonly method = "POST";
  readonly hasQuery = false;
  principal: Principal | undefined;

  constructor(readonly raw: Request, readonly path: string, readonly inProcess: boolean) {}

  header(name: string): string | undefined {
    return this.raw.headers.get(name) ?? undefined;
  }

  query(): Record<string, string> {
    return {};
  }

  get signal(): AbortSignal {
    return requestSignal(this.raw);
  }

  body(maxBytes: number): Promise<JsonBody> {
    return readJsonBody(this.raw, maxBytes);
  }

  rawBody(maxBytes: number): Promise<RawBody> {
    return readRawBody(this.raw, maxBytes);
  }

  request(): Request {
    return this.raw;
  }
}
