/**
 * The upgrade of `GET /v1/stream` to the client stream (`stream.ts`). With auth on, a request
 * that carries an `Authorization` header is authenticated here (401 before any upgrade when the
 * token is not valid); one without waits for the stream's `hello` frame.
 *
 * WebSockets are outside CORS: a page of any origin may open one, and the browser sends its
 * `Origin`. So the upgrade applies `--cors-origin` itself (cross-site WebSocket hijacking): a
 * request with an `Origin` that is neither this node's own nor an allowed one gets 403. Clients
 * outside a browser send no `Origin` and are unaffected.
 *
 * @module
 */

import type { Handler } from "hono";
import type { AppDeps, AppEnv } from "./context.ts";
import { originAllowed } from "./cors.ts";
import { ProblemError } from "./problems.ts";
import { type StreamApp, StreamSession } from "./stream.ts";

export { originAllowed };

/** Where the stream is served. */
export const STREAM_PATH = "/v1/stream";

/** The handler of `GET /v1/stream`. */
export function streamRoute(
  deps: AppDeps,
  app: StreamApp,
  corsOrigins: readonly string[] = [],
): Handler<AppEnv> {
  return async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ProblemError(
        "invalid_request",
        "/v1/stream is a WebSocket endpoint: open it with an Upgrade: websocket request",
      );
    }
    const origin = c.req.header("origin");
    if (origin !== undefined && !originAllowed(origin, c.req.url, corsOrigins)) {
      throw new ProblemError(
        "forbidden",
        `A page of ${origin} may not open the stream: it is not this node's origin nor one of --cors-origin`,
      );
    }
    const header = c.req.header("authorization");
    let authorized: ConstructorParameters<typeof StreamSession>[3];
    if (deps.auth !== undefined && header !== undefined) {
      const principal = await deps.auth.authenticate(header);
      if (principal === undefined) {
        throw new ProblemError("unauthorized", "The bearer token is not valid");
      }
      authorized = { principal, header };
    }
    // A client that pings (`?ping=1`) is watched by the stream itself (stream_liveness.ts), so
    // Deno's idle timer, re-armed on every message received, is left off; another one keeps it.
    const pings = c.req.query("ping") === "1";
    const { socket, response } = Deno.upgradeWebSocket(
      c.req.raw,
      pings ? { idleTimeout: 0 } : undefined,
    );
    new StreamSession(socket, deps, app, authorized, pings ? deps.limits.streamPingMs : undefined);
    return response;
  };
}
