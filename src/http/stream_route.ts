/**
 * The upgrade of `GET /v1/stream` to the client stream (`stream.ts`). With auth on, a request
 * that carries an `Authorization` header is authenticated here (401 before any upgrade when the
 * token is not valid); one without waits for the stream's `hello` frame.
 *
 * @module
 */

import type { Handler } from "hono";
import type { AppDeps, AppEnv } from "./context.ts";
import { ProblemError } from "./problems.ts";
import { type Dispatch, StreamSession } from "./stream.ts";

/** Where the stream is served. */
export const STREAM_PATH = "/v1/stream";

/** The handler of `GET /v1/stream`. */
export function streamRoute(deps: AppDeps, dispatch: Dispatch): Handler<AppEnv> {
  return async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new ProblemError(
        "invalid_request",
        "/v1/stream is a WebSocket endpoint: open it with an Upgrade: websocket request",
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
    const { socket, response } = Deno.upgradeWebSocket(c.req.raw);
    new StreamSession(socket, deps, dispatch, authorized);
    return response;
  };
}
