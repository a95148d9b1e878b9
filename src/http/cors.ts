/**
 * CORS of the HTTP API (`--cors-origin`, docs/http.md), shared by a node's app and the edge
 * gateway (docs/edge.md), so that a browser app meets the same rules at either. Portable (only
 * Hono): the gateway imports it.
 *
 * @module
 */

import { cors } from "hono/cors";
import type { MiddlewareHandler } from "hono";

/** Request headers a browser app may send: the ones the API reads. */
const ALLOW_HEADERS = ["authorization", "content-type", "idempotency-key", "quorumq-session"];

/** Answer headers a browser app may read besides the CORS-safelisted ones. */
const EXPOSE_HEADERS = ["retry-after", "location"];

/**
 * The CORS middleware of `/v1/*` for `origins` (`*`: any). Mounted before auth: a preflight
 * carries no token and must be answered. `expose` adds answer headers a page may read.
 */
export function corsMiddleware(
  origins: readonly string[],
  expose: readonly string[] = [],
): MiddlewareHandler {
  return cors({
    origin: origins.includes("*") ? "*" : [...origins],
    allowMethods: ["GET", "PUT", "POST", "DELETE"],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: [...EXPOSE_HEADERS, ...expose],
    maxAge: 600,
  });
}

/**
 * Whether a browser page of `origin` may open the stream at `url`. WebSockets are outside CORS:
 * a page of any origin may open one, so the upgrade checks the `Origin` itself (cross-site
 * WebSocket hijacking): its own origin, or one of `allowed` (`*`: any).
 */
export function originAllowed(origin: string, url: string, allowed: readonly string[]): boolean {
  if (allowed.includes("*") || allowed.includes(origin)) return true;
  return origin === new URL(url).origin;
}

/**
 * `https://a.example,http://localhost:3000` or `*`: each an origin (scheme, host, port). The
 * list without trailing slashes, or why it is not one.
 */
export function parseOrigins(value: string | readonly string[] | undefined): string[] | string {
  const list = (typeof value === "string" || value === undefined ? (value ?? "").split(",") : value)
    .map((o) => o.trim()).filter((o) => o !== "");
  for (const o of list) {
    if (o === "*") continue;
    let url: URL;
    try {
      url = new URL(o);
    } catch {
      return `"${o}" is not an origin like https://app.example`;
    }
    if (url.origin !== o.replace(/\/$/, "")) return `"${o}" is not an origin (no path)`;
  }
  return list.map((o) => o.replace(/\/$/, ""));
}
