/**
 * `forgetRequestHeaders`: tells Deno's server that the handler kept no `Headers` of a request,
 * so that the server does not copy the request's whole header list when the answer is set.
 *
 * Why: when a handler has read `request.headers`, `Deno.serve` (2.9) copies every header of the
 * request into that `Headers` once the handler's answer is set (`cacheRequestHeaders`: an op that
 * lists them all, a `[name, value]` array each), so that the request's headers stay readable
 * after the connection's request is closed. The gateway reads its few headers one by one
 * (`headers.get`, one op each, nothing copied) before it sends a call, and never again; the copy
 * was 17% of the Deno gateway's allocations under 64 clients and ~4% of its JavaScript time
 * (docs/edge.md, "Session 12"). The copy is made only when the request's headers cache (a field
 * of Deno's own, found by its symbol's description) holds a `Headers`; emptied, the server
 * skips it, and a later `request.headers` makes a new `Headers` that reads the request as
 * before (while the request is open; the gateway reads none after it answers).
 *
 * This module checks once, on a probe, that the field is there and means what it meant (the
 * `Headers` that `request.headers` gives, made again once emptied); when it is not (another
 * Deno), it does nothing. `deno_request_test.ts` serves requests and shows the copy skipped.
 *
 * @module
 */

/** The request's headers cache, when this Deno has it as expected; undefined otherwise. */
const CACHE: symbol | undefined = probe();

function probe(): symbol | undefined {
  try {
    const request = new Request("http://probe.invalid/", { headers: { "x-probe": "1" } });
    const cache = Object.getOwnPropertySymbols(request).find((s) =>
      s.description === "headers cache"
    );
    if (cache === undefined) return undefined;
    const r = request as unknown as Record<symbol, unknown>;
    const headers = request.headers;
    if (r[cache] !== headers || !(headers instanceof Headers)) return undefined;
    r[cache] = undefined;
    const again = request.headers;
    if (again === headers || r[cache] !== again || again.get("x-probe") !== "1") return undefined;
    return cache;
  } catch {
    return undefined;
  }
}

/** Whether `forgetRequestHeaders` does anything in this Deno. */
export const FORGET_HEADERS_AVAILABLE = CACHE !== undefined;

/**
 * Empties `request`'s headers cache (see the module doc): call it once the handler has read
 * every header it needs, before its answer is set.
 */
export function forgetRequestHeaders(request: Request): void {
  if (CACHE !== undefined) (request as unknown as Record<symbol, unknown>)[CACHE] = undefined;
}
