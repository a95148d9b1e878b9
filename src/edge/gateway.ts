/**
 * `createGateway`: the edge gateway's fetch handler (docs/edge.md). Every call of HTTP API v1 is
 * sent as it came (method, path and query, JSON body, content type, Idempotency-Key, session,
 * and the caller's own `Authorization`) over the gateway's one stream to the cluster, and the
 * node's answer comes back unchanged: the node runs its own routes, validation, permissions and
 * write pipeline, so there is one set of routes and every answer is the node's own. The gateway
 * holds no broker state and no tokens.
 *
 * What the gateway answers itself: `/healthz` (this gateway is up), a path outside the API
 * (404), a body over its limit (413), CORS preflights (`corsOrigins`), a stale read it answered
 * moments ago (`stale_cache.ts`, marked so), and the two outcomes of the stream, with the node's
 * problem types: `no_leader` when no node could be reached (nothing was sent), and
 * `unknown_outcome` when the stream was lost after a request was sent (a GET is sent again
 * once instead: reads change nothing). `/v1/stream` is relayed (`relay.ts`).
 *
 * Portable: nothing here uses a runtime's own API (the tidy rule `edgePortable`).
 *
 * @module
 */

import { Hono } from "hono";
import { problemResponse } from "../http/problems.ts";
import { hasBodyStatus, jsonTextResponse } from "../http/fast_response.ts";
import { StreamLost } from "../client/mod.ts";
import { OPS_PATHS } from "../http/stream_protocol.ts";
import { corsMiddleware } from "../http/cors.ts";
import { CACHE_HEADER, StaleCache } from "./stale_cache.ts";
import { type CallPort, NoUpstream, Upstream } from "./upstream.ts";
import { type AcceptSocket, relayStream } from "./relay.ts";

/** Options of `createGateway`. */
export interface GatewayOptions {
  /**
   * The stream to the cluster: every forwarded call goes there, and `/v1/stream` relays ride it
   * when it is an `Upstream` (a `CallPort` that hands calls elsewhere serves no relay).
   */
  readonly upstream: Upstream | CallPort;
  /**
   * Accepts a WebSocket upgrade (`Deno.upgradeWebSocket`, a Worker's `WebSocketPair`): the entry
   * of each runtime gives its own. Absent (or `upstream` not an `Upstream`): `/v1/stream` is not
   * served.
   */
  readonly accept?: AcceptSocket;
  /** Largest request body the gateway reads; more: 413. Default 1 MiB (the node's default). */
  readonly maxBodyBytes?: number;
  /**
   * How long a `?consistency=stale` read's answer may be served again to the same caller, in
   * ms (`stale_cache.ts`); 0: never. Default `STALE_CACHE_MS_DEFAULT`.
   */
  readonly staleCacheMs?: number;
  /**
   * Origins whose browser apps may call the gateway (CORS, as a node's `--cors-origin`); `*`:
   * any. Default none: no CORS headers, preflights not answered, and a page of another origin
   * may not open `/v1/stream`.
   */
  readonly corsOrigins?: readonly string[];
}

/** How long a stale read's answer is served again by default, in ms. */
export const STALE_CACHE_MS_DEFAULT = 1000;

/** Request headers the node reads; the rest (cookies, proxies' own) stay at the gateway. */
const PASSED = ["authorization", "content-type", "idempotency-key", "quorumq-session"];

/** The gateway: a fetch handler, as a runtime's server or a Worker calls it. */
export interface Gateway {
  readonly fetch: (request: Request) => Response | Promise<Response>;
}

/** Builds the gateway's fetch handler. */
export function createGateway(options: GatewayOptions): Gateway {
  const app = new Hono();
  const maxBody = options.maxBodyBytes ?? 1 << 20;
  const cache = new StaleCache({ ttlMs: options.staleCacheMs ?? STALE_CACHE_MS_DEFAULT });
  const origins = options.corsOrigins ?? [];
  if (origins.length > 0) {
    // Before everything: a preflight carries no token and is the gateway's to answer.
    app.use("/v1/*", corsMiddleware(origins, [CACHE_HEADER, "age"]));
  }
  app.get(
    "/healthz",
    (c) => c.json({ status: "ok", gateway: true, upstream: options.upstream.node ?? null }),
  );
  app.get("/v1/stream", (c) => {
    const upstream = options.upstream;
    if (options.accept === undefined || !(upstream instanceof Upstream)) {
      return problemResponse("not_found", "This gateway does not serve /v1/stream");
    }
    return relayStream(c.req.raw, upstream, options.accept, origins);
  });
  app.all("*", (c) => forward(c.req.raw, options.upstream, maxBody, cache));
  app.onError((error, c) => failed(error, c.req.raw));
  if (origins.length > 0) return { fetch: app.fetch };
  // Without CORS every call but the gateway's own two paths is forwarded: straight there, without
  // the router (Hono's context and routing were ~3% of the gateway's CPU per publish).
  return {
    fetch: (request) => {
      // Read once: a runtime's `url` getter makes a new string each time.
      const url = request.url;
      const path = pathOf(url);
      if (path === "/healthz" || path === "/v1/stream") return app.fetch(request);
      return forward(request, options.upstream, maxBody, cache, url);
    },
  };
}

/** Anything thrown is a bug: logged with its stack, answered as a node answers one. */
function failed(error: unknown, request: Request): Response {
  console.error(JSON.stringify({
    event: "edge_request_failed",
    method: request.method,
    path: pathOf(request.url),
    error: error instanceof Error
      ? `${error.name}: ${error.message}\n${error.stack}`
      : String(error),
  }));
  return problemResponse("internal_error", "An unexpected error occurred; it was logged");
}

/** Where the path starts in an absolute URL as a server hands it over (`http://host/p?q`). */
function pathStart(url: string): number {
  const at = url.indexOf("/", url.indexOf("//") + 2);
  return at < 0 ? url.length : at;
}

/** The path of an absolute URL, without its query. */
function pathOf(url: string): string {
  const at = pathStart(url);
  const end = url.indexOf("?", at);
  return at === url.length ? "/" : url.slice(at, end < 0 ? url.length : end);
}

/**
 * Sends one request over the stream and answers what the node answered; anything thrown is
 * answered by `failed`. (Caught here rather than by a `catch` on its promise: that was a closure
 * and a promise more per call. And no closure is made in this function: one that captured a
 * variable would put its variables in a context allocated on every call.)
 */
async function forward(
  request: Request,
  upstream: CallPort,
  maxBody: number,
  cache: StaleCache,
  url = request.url,
): Promise<Response> {
  try {
    const start = pathStart(url);
    const end = url.indexOf("?", start);
    const pathname = start === url.length ? "/" : url.slice(start, end < 0 ? url.length : end);
    // The path with its query (a fragment never reaches a server).
    const path = url.slice(start) || "/";
    if (!pathname.startsWith("/v1/") && !OPS_PATHS.has(pathname)) {
      return problemResponse("not_found", `No route for ${request.method} ${pathname}`);
    }
    const head = request.method === "HEAD";
    const method = head ? "GET" : request.method;
    const headers: Record<string, string> = {};
    for (const name of PASSED) {
      const value = request.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const key = method === "GET" ? staleKey(cache, path, headers, request) : undefined;
    if (key !== undefined) {
      const hit = cache.lookup(key);
      if (hit !== undefined) return head ? new Response(null, hit) : hit;
    }
    let body: string | undefined;
    if (method !== "GET") {
      const text = await readText(request, maxBody);
      if (text === TOO_LARGE) {
        return problemResponse(
          "payload_too_large",
          `The request body is larger than ${maxBody} bytes`,
        );
      }
      body = text;
    }
    // A read is sent again once on a new stream (it changes nothing); a write is not: its outcome
    // is unknown, and the caller retries it with the same id, key or session place.
    const attempts = method === "GET" ? 2 : 1;
    const signal = waitSignal(request, pathname);
    const turn = upstream.gather();
    if (turn !== undefined) await turn;
    for (let attempt = 1;; attempt++) {
      try {
        // A silent stream is found by the upstream's probe (`Upstream`), one timer for all calls:
        // a timer per call would exceed a Worker's 10,000 active timeouts under load.
        const { status, headers: answerHeaders, text } = await upstream.send(
          method,
          path,
          headers,
          body,
          signal,
        );
        let answer = responseOf(status, answerHeaders, text);
        if (key !== undefined) answer = await cache.store(key, answer);
        return head ? new Response(null, answer) : answer;
      } catch (error) {
        if (error instanceof StreamLost && attempt < attempts) continue;
        return outcomeOf(error, method, request);
      }
    }
  } catch (error) {
    return failed(error, request);
  }
}

/**
 * The answer of a call the stream failed, with the node's problem types: `no_leader` when nothing
 * was sent, and for a lost stream `unknown_outcome` (a write) or `unavailable` (a read, already
 * sent again once). Anything else is rethrown (a bug), unless the caller went away.
 */
function outcomeOf(error: unknown, method: string, request: Request): Response {
  if (error instanceof NoUpstream) {
    return problemResponse("no_leader", `${error.message}; nothing was sent`);
  }
  if (!(error instanceof StreamLost)) {
    // The caller went away (its poll was cancelled on the node): no one reads this answer, and
    // nothing went wrong.
    if (request.signal.aborted) return problemResponse("unavailable", "The caller went away");
    throw error;
  }
  if (method === "GET") {
    return problemResponse("unavailable", `The stream to the cluster was lost: ${error.message}`);
  }
  return problemResponse(
    "unknown_outcome",
    `The stream to the cluster was lost after the request was sent (${error.message}); ` +
      "it may or may not have been applied: retry with the same message id, " +
      "Idempotency-Key or session place",
  );
}

/** The stale cache's key of a GET, if it may be answered from the cache. */
function staleKey(
  cache: StaleCache,
  path: string,
  headers: Record<string, string>,
  request: Request,
): string | undefined {
  return cache.key("GET", path, headers, () => request.headers.get("cache-control"));
}

/**
 * The caller's abort signal for a call that may wait on the node: only a receive does (a long
 * poll, `waitMs`), and a caller that goes away cancels it there. Any other call is answered at
 * once, and its answer dropped if no one reads it; reading a request's signal costs Deno's server
 * an `AbortSignal` and a cancel hook per request, so the others go without one.
 */
function waitSignal(request: Request, pathname: string): AbortSignal | undefined {
  return pathname.endsWith("/receive") ? request.signal : undefined;
}

/** `readText`'s answer for a body larger than the gateway's limit. */
const TOO_LARGE = Symbol("too large");

/**
 * The body as text (undefined: the request has none), or `TOO_LARGE` when it is larger than
 * `max` bytes (read no further). A body of declared length is read by `text()` without looking
 * at `request.body`: in Deno that getter turns the body the server already holds into a
 * `ReadableStream`, which `text()` then reads chunk by chunk (~9% of the Deno gateway's CPU per
 * publish, docs/edge.md "Session 12"); untouched, `text()` takes the held bytes at once. (Where a
 * declared body is empty or absent, `text()` gives "", which the node reads as no body.)
 */
function readText(request: Request, max: number): Promise<string | undefined | typeof TOO_LARGE> {
  const length = request.headers.get("content-length");
  if (length !== null && /^\d+$/.test(length)) {
    // Declared: refused before reading, else read whole. The server reads no more bytes than
    // declared (HTTP/1.1 framing), so the text is within `max` (UTF-16 units <= UTF-8 bytes).
    // Not an async function: its promise would be one more per call.
    return Number(length) > max ? Promise.resolve(TOO_LARGE) : request.text();
  }
  if (request.body === null) return Promise.resolve(undefined);
  return readChunked(request, max);
}

/** A body of undeclared length, read until it ends or exceeds `max` bytes (then `TOO_LARGE`). */
async function readChunked(
  request: Request,
  max: number,
): Promise<string | typeof TOO_LARGE> {
  const reader = request.body!.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  // Chunked: bounded by `max`, it stops reading once the body is larger.
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return TOO_LARGE;
    }
    parts.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.byteLength;
  }
  return new TextDecoder().decode(all);
}

/**
 * The caller's `Response` for a node's answer. A publish's 201 and the like: the runtime's fast
 * form of a JSON answer where it has one (`fast_response.ts`: Deno; elsewhere the constructor).
 * Else the answer's headers as the init's: one header list built, not a `Headers` and a copy.
 */
function responseOf(status: number, headers: Record<string, string>, text: string | null) {
  return text !== null && hasBodyStatus(status) && onlyJsonType(headers)
    ? jsonTextResponse(status, text)
    : new Response(text, { status, headers });
}

/** Whether a node's answer has one header, `content-type: application/json`. */
function onlyJsonType(headers: Record<string, string>): boolean {
  for (const name in headers) if (name !== "content-type") return false;
  return headers["content-type"] === "application/json";
}
