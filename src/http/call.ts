/**
 * `Call`: one API request as the handlers see it, whoever carried it. A request from the network
 * (or one the MQTT gateway runs in process) comes through Hono (`callOf(c)`); a stream's hot
 * requests (publish, receive, settle) come straight from their frame (`direct.ts`), with no
 * `Request`, context or middleware per message. The pipelines (`authorize.ts`, `write.ts`,
 * `receive.ts`, `session.ts`, `idempotency.ts`) and the handlers of those routes
 * (`handlers_messages.ts`) take a `Call`, so both carriers run the same rules.
 *
 * @module
 */

import type { Principal } from "./auth.ts";
import { type JsonBody, type RawBody, readJsonBody, readRawBody } from "./body.ts";
import type { AppContext } from "./context.ts";
import { isInProcess, requestSignal } from "./in_process.ts";
import type { Outcome } from "./answer.ts";
import { responseOf } from "./render.ts";

/** A request as the handlers read it. */
export interface Call {
  readonly method: string;
  /** The path, without its query. */
  readonly path: string;
  /** Who calls: the authenticated principal with auth on, else undefined. */
  readonly principal: Principal | undefined;
  /** A request header by its lower-case name. */
  header(name: string): string | undefined;
  /** Whether the request has a query string at all (writes take none). */
  readonly hasQuery: boolean;
  /** The query's fields. */
  query(): Record<string, string>;
  /** Ends the request: the client went away, or a stream's `cancel` (a long poll listens). */
  readonly signal: AbortSignal;
  /** Made in process (a stream's, the MQTT gateway's): its answer is read as text, no body. */
  readonly inProcess: boolean;
  /**
   * The body, read and parsed with the node's limit and checks (`body.ts`); at once (and thrown
   * at once) by a call that holds its text already (a stream's), a promise for one to read.
   */
  body(maxBytes: number): JsonBody | Promise<JsonBody>;
  /** The body read with the limit, not parsed yet (`RawBody`): instead of `body`, never both. */
  rawBody(maxBytes: number): Promise<RawBody>;
  /** The whole request, to forward to the leader as it came (built on demand by a stream). */
  request(): Request;
}

/** The `Call` of a request that came through Hono. */
export function callOf(c: AppContext): Call {
  return new HonoCall(c);
}

class HonoCall implements Call {
  constructor(readonly c: AppContext) {}
  get method(): string {
    return this.c.req.method;
  }
  get path(): string {
    return this.c.req.path;
  }
  get principal(): Principal | undefined {
    return this.c.get("principal");
  }
  header(name: string): string | undefined {
    return this.c.req.header(name);
  }
  get hasQuery(): boolean {
    // A URL's query starts at its first `?`.
    return this.c.req.url.includes("?");
  }
  query(): Record<string, string> {
    return this.c.req.query();
  }
  get signal(): AbortSignal {
    return requestSignal(this.c.req.raw);
  }
  get inProcess(): boolean {
    return isInProcess(this.c.req.raw);
  }
  body(maxBytes: number): Promise<JsonBody> {
    return readJsonBody(this.c.req.raw, maxBytes);
  }
  rawBody(maxBytes: number): Promise<RawBody> {
    return readRawBody(this.c.req.raw, maxBytes);
  }
  request(): Request {
    return this.c.req.raw;
  }
}

/** The `Response` of a Hono route's outcome (`responseOf`, knowing whether it is in process). */
export function respond(c: AppContext, outcome: Outcome): Response {
  return responseOf(outcome, isInProcess(c.req.raw));
}
