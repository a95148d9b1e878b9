/**
 * `/v1/queues/{q}/peek|purge|redrive`: an operator's look at a queue's stored messages without
 * leasing them, dropping them, and moving dead-lettered ones back to where they came from.
 * Purge and redrive are replicated commands; peek is a read (linearizable unless `stale`).
 *
 * @module
 */

import { Hono } from "hono";
import { callOf, respond } from "./call.ts";
import { readJsonBody, validate } from "./body.ts";
import type { AppDeps, AppEnv } from "./context.ts";
import { authorize } from "./authorize.ts";
import { ProblemError } from "./problems.ts";
import { readBarrier } from "./read.ts";
import { renderPeeked } from "./render.ts";
import { params, query } from "./request.ts";
import { peekQuery, purgeSchema, queueParams, redriveSchema } from "./schemas.ts";
import { answerWrite } from "./write.ts";

/** Messages a peek shows when it names no `limit`. */
export const PEEK_LIMIT_DEFAULT = 100;

/** The routes, to mount at `/v1/queues` beside `queueRoutes`. */
export function queueAdminRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const limit = deps.limits.maxBodyBytes;

  // Peek shows bodies, so it takes what a receive takes: consume.
  app.get("/:q/peek", async (c) => {
    const { q } = params(c, queueParams);
    authorize(callOf(c), deps, "consume", "queue", q);
    const req = query(c, peekQuery);
    await readBarrier(deps, req.consistency);
    const fromSeq = req.fromSeq ?? 0;
    const messages = deps.node.broker().peekQueue(q, fromSeq, req.limit ?? PEEK_LIMIT_DEFAULT);
    if (messages === undefined) {
      throw new ProblemError("queue_not_found", `Queue ${q} does not exist`);
    }
    const nextSeq = messages.length > 0 ? messages[messages.length - 1].seq + 1 : fromSeq;
    return c.body(renderPeeked(messages, nextSeq), 200, { "content-type": "application/json" });
  });

  app.post("/:q/purge", async (c) => {
    const { q } = params(c, queueParams);
    authorize(callOf(c), deps, "admin", "queue", q);
    const body = await readJsonBody(c.req.raw, limit);
    validate(purgeSchema, body.json ?? {}, "body");
    return respond(
      c,
      await answerWrite(callOf(c), deps, { op: "queue_purge", queue: q }, body, (v) => ({
        status: 200,
        text: JSON.stringify({ purged: v.purged }),
      })),
    );
  });

  app.post("/:q/redrive", async (c) => {
    const { q } = params(c, queueParams);
    authorize(callOf(c), deps, "admin", "queue", q);
    const body = await readJsonBody(c.req.raw, limit);
    const { seqs } = validate(redriveSchema, body.json ?? {}, "body");
    const cmd = { op: "queue_redrive" as const, queue: q, ...(seqs ? { seqs } : {}) };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: 200,
        text: JSON.stringify({ redriven: v.redriven, skipped: v.skipped, remaining: v.remaining }),
      })),
    );
  });
  return app;
}
