/**
 * `POST /v1/transactions`: acks and publishes applied as ONE replicated command, all or nothing
 * (HTTP API v1, "Transactions"). A refusal is 409 `transaction_failed` with per-item reasons.
 *
 * @module
 */

import { Hono } from "hono";
import { callOf, respond } from "./call.ts";
import type { Command } from "../broker/mod.ts";
import { readJsonBody, validate } from "./body.ts";
import type { AppDeps, AppEnv } from "./context.ts";
import { authorize } from "./authorize.ts";
import { publishJson, toMessageInput } from "./render.ts";
import { answerWrite } from "./write.ts";
import { transactionSchema } from "./schemas.ts";

/** The transaction route, to mount at `/v1/transactions`. */
export function transactionRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();

  app.post("/", async (c) => {
    const body = await readJsonBody(c.req.raw, deps.limits.maxBodyBytes);
    const tx = validate(transactionSchema, body.json, "body");
    for (const a of tx.ack) {
      if ("queue" in a) authorize(callOf(c), deps, "consume", "queue", a.queue);
      else authorize(callOf(c), deps, "consume", "topic", a.topic);
    }
    for (const p of tx.publish) {
      if ("queue" in p) authorize(callOf(c), deps, "publish", "queue", p.queue);
      else authorize(callOf(c), deps, "publish", "topic", p.topic);
    }
    const cmd: Command = {
      op: "transaction",
      ack: tx.ack.map((a) =>
        "queue" in a
          ? { queue: a.queue, receipt: a.receipt }
          : { topic: a.topic, subscription: a.subscription, receipt: a.receipt }
      ),
      publish: tx.publish.map((p) => {
        const { body: _b, id: _i, group: _g, delayMs: _d, ttlMs: _t, headers: _h, ...target } = p;
        return { ...target, ...toMessageInput(p) };
      }),
    };
    const command = cmd as Extract<Command, { op: "transaction" }>;
    return respond(
      c,
      await answerWrite(callOf(c), deps, command, body, (v) => ({
        status: 200,
        text: JSON.stringify({
          ack: v.ack.map((r) => ({ receipt: r.receipt, status: r.status })),
          publish: v.publish.map(publishJson),
        }),
      })),
    );
  });

  return app;
}
