/**
 * A stream request as the node runs it (`stream.ts`): its body, the headers a frame may set, and
 * its direct call (`direct.ts`).
 *
 * @module
 */

import type { Principal } from "./auth.ts";
import { DirectCall } from "./direct.ts";
import type { StreamSession } from "./stream.ts";

/** A body that is JSON text already (a `req` frame's `j`). */
export class JsonText {
  constructor(readonly text: string) {}
}

/**
 * Headers a `req` frame may set; the rest come from the stream. `authorization` is taken only
 * on a relay stream, or with auth off (`#relayedAuthorization`).
 */
const PASSED_HEADERS = new Set(["idempotency-key", "quorumq-session", "content-type"]);

/**
 * A stream request's direct call. Its app request (`Call.request`: for forwarding it whole to
 * the leader) is built only when asked for, by one function for every call (`buildRequest`, a
 * method of the call) instead of a closure per request.
 */
export class StreamCall extends DirectCall {
  constructor(
    readonly stream: StreamSession,
    readonly frameHeaders: Record<string, string> | undefined,
    readonly frameBody: unknown,
    method: string,
    path: string,
    principal: Principal | undefined,
    h: Record<string, string>,
    text: string | undefined,
    signal: AbortSignal,
  ) {
    super(method, path, principal, h, text, signal, buildRequest);
  }
}

function buildRequest(this: StreamCall): Request {
  return this.stream.internalRequest(
    this.method,
    this.path,
    this.frameHeaders,
    this.frameBody,
    this.signal,
  );
}

/**
 * The headers of a frame's request that the app takes (`PASSED_HEADERS`), by lower-case name, and
 * a relayed `authorization` apart (`#relaying`). A plain record, not a `Headers`: `new Request`
 * copies either, and a record is the cheaper copy (~2 µs per request).
 */
export function passedHeaders(
  headers: Record<string, string> | undefined,
): { h: Record<string, string>; relayed: string | undefined } {
  const h: Record<string, string> = {};
  let relayed: string | undefined;
  if (headers === undefined) return { h, relayed };
  for (const name in headers) {
    const lower = name.toLowerCase();
    if (PASSED_HEADERS.has(lower)) h[lower] = headers[name];
    else if (lower === "authorization") relayed = headers[name];
  }
  return { h, relayed };
}
