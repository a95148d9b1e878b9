/**
 * Client sessions (docs/broker.md "Sessions"): `POST /v1/sessions` opens one,
 * `POST /v1/sessions/{id}/keepalive` keeps it open, `DELETE /v1/sessions/{id}` ends it. Writes
 * name their session in the `Quorumq-Session` header. A session is its opener's: with auth on,
 * any valid token may open one, and only the same token may use it.
 *
 * @module
 */

import { Hono } from "hono";
import { callOf, respond } from "./call.ts";
import { z } from "zod";
import { readJsonBody, validate } from "./body.ts";
import type { AppContext, AppDeps, AppEnv } from "./context.ts";
import { refuseAnonymous } from "./authorize.ts";
import { ProblemError } from "./problems.ts";
import { answerWrite } from "./write.ts";
import { params } from "./request.ts";
import { idempotencyKeyParams, sessionOpenSchema, sessionParams } from "./schemas_sessions.ts";

/**
 * With auth on, a session needs a valid token (of any permission); with auth off, anonymous
 * writes must be allowed (sessions and keys are replicated writes).
 */
function authenticated(c: AppContext, deps: AppDeps): void {
  refuseAnonymous(deps);
  if (deps.auth !== undefined && c.get("principal") === undefined) {
    throw new ProblemError("unauthorized", "A bearer token is required");
  }
}

/** The session routes, to mount at `/v1/sessions`. */
export function sessionRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post("/", async (c) => {
    authenticated(c, deps);
    const body = await readJsonBody(c.req.raw, deps.limits.maxBodyBytes);
    const o = validate(sessionOpenSchema, body.json ?? {}, "body") as z.infer<
      typeof sessionOpenSchema
    >;
    const cmd = o.timeoutMs === undefined
      ? { op: "session_open" as const }
      : { op: "session_open" as const, timeoutMs: o.timeoutMs };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: 201,
        text: JSON.stringify({ session: v.session, timeoutMs: v.timeoutMs }),
      })),
    );
  });

  app.post("/:id/keepalive", async (c) => {
    authenticated(c, deps);
    const { id } = params(c, sessionParams);
    const body = await readJsonBody(c.req.raw, deps.limits.maxBodyBytes);
    const cmd = { op: "session_keepalive" as const, session: id };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: 200,
        text: JSON.stringify({ expiresAt: v.expiresAt }),
      })),
    );
  });

  app.delete("/:id", async (c) => {
    authenticated(c, deps);
    const { id } = params(c, sessionParams);
    const body = await readJsonBody(c.req.raw, deps.limits.maxBodyBytes);
    const cmd = { op: "session_close" as const, session: id };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, () => ({ status: 204, text: "" })),
    );
  });

  return app;
}

/**
 * `DELETE /v1/idempotency-keys/{key}`: the caller's Idempotency-Key is forgotten now, so it may
 * carry another request (the MQTT gateway's QoS 2 PUBREL). 204 whether or not it was held.
 */
export function idempotencyKeyRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  app.delete("/:key", async (c) => {
    authenticated(c, deps);
    const { key } = params(c, idempotencyKeyParams);
    const body = await readJsonBody(c.req.raw, deps.limits.maxBodyBytes);
    const cmd = { op: "idempotency_release" as const, key };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, () => ({ status: 204, text: "" })),
    );
  });
  return app;
}
