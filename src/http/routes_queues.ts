/**
 * `/v1/queues`: create/update, list, stats, delete, publish, receive, ack, nack, extend, and
 * message status (HTTP API v1, "Queues").
 *
 * @module
 */

import { Hono } from "hono";
import { callOf, respond } from "./call.ts";
import { publishMessages, receiveMessages, settleMessages } from "./handlers_messages.ts";
import { readJsonBody, validate } from "./body.ts";
import type { AppDeps, AppEnv } from "./context.ts";
import { authorize, authorizeRead } from "./authorize.ts";
import { noContent, queueJson } from "./render.ts";
import { params, query } from "./request.ts";
import { readBarrier } from "./read.ts";
import { answerWrite } from "./write.ts";
import { ProblemError } from "./problems.ts";
import { consistencyQuery, messageParams, queueParams, queuePutSchema } from "./schemas.ts";

/** The queue routes, to mount at `/v1/queues`. */
export function queueRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  configRoutes(app, deps);
  messageRoutes(app, deps);
  settleRoutes(app, deps);
  return app;
}

/** List, stats, create/update, delete. */
function configRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  const limit = deps.limits.maxBodyBytes;

  app.get("/", async (c) => {
    const { consistency } = query(c, consistencyQuery);
    await readBarrier(deps, consistency);
    const principal = c.get("principal");
    const queues = deps.node.broker().listQueues().filter((q) =>
      deps.auth === undefined || principal === undefined ||
      (["publish", "consume", "admin"] as const).some((p) => principal.can(p, "queue", q.name))
    );
    return c.json({ queues: queues.map(queueJson) });
  });

  app.get("/:q", async (c) => {
    const { q } = params(c, queueParams);
    authorizeRead(callOf(c), deps, "queue", q);
    const { consistency } = query(c, consistencyQuery);
    await readBarrier(deps, consistency);
    const info = deps.node.broker().queue(q);
    if (info === undefined) throw new ProblemError("queue_not_found", `Queue ${q} does not exist`);
    return c.json(queueJson(info));
  });

  app.put("/:q", async (c) => {
    const { q } = params(c, queueParams);
    authorize(callOf(c), deps, "admin", "queue", q);
    const body = await readJsonBody(c.req.raw, limit);
    const options = validate(queuePutSchema, body.json ?? {}, "body");
    return respond(
      c,
      await answerWrite(callOf(c), deps, { op: "queue_put", queue: q, options }, body, (v) => ({
        status: v.created ? 201 : 200,
        text: JSON.stringify({ name: q, ...v.config }),
      })),
    );
  });

  app.delete("/:q", async (c) => {
    const { q } = params(c, queueParams);
    authorize(callOf(c), deps, "admin", "queue", q);
    const body = await readJsonBody(c.req.raw, limit);
    return respond(
      c,
      await answerWrite(callOf(c), deps, { op: "queue_delete", queue: q }, body, noContent),
    );
  });
}

/** Publish, receive, and message status. */
function messageRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post("/:q/messages", async (c) => {
    const { q } = params(c, queueParams);
    return respond(c, await publishMessages(deps, callOf(c), { queue: q }));
  });

  app.post("/:q/receive", async (c) => {
    const { q } = params(c, queueParams);
    return respond(c, await receiveMessages(deps, callOf(c), { queue: q }));
  });

  app.get("/:q/messages/:id", async (c) => {
    const { q, id } = params(c, messageParams);
    authorizeRead(callOf(c), deps, "queue", q);
    const { consistency } = query(c, consistencyQuery);
    await readBarrier(deps, consistency);
    const broker = deps.node.broker();
    if (broker.queue(q) === undefined) {
      throw new ProblemError("queue_not_found", `Queue ${q} does not exist`);
    }
    const status = broker.messageStatus(q, id);
    if (status === undefined) {
      throw new ProblemError(
        "message_not_found",
        `Message ${id} is not remembered in queue ${q} (never published, or past its dedup window)`,
      );
    }
    return c.json({ id: status.id, seq: status.seq, state: status.state, attempt: status.attempt });
  });
}

/** Ack, nack, extend. */
function settleRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  for (const how of ["ack", "nack", "extend"] as const) {
    app.post(`/:q/${how}`, async (c) => {
      const { q } = params(c, queueParams);
      return respond(c, await settleMessages(deps, callOf(c), { queue: q }, how));
    });
  }
}
