/**
 * A topic's retained messages (`GET /v1/topics/{t}/retained`) and claims
 * (`/v1/topics/{t}/claims/{key}`): who holds a client session now, replicated, so a new holder
 * on any node ends the old one's connection wherever it is (the MQTT gateway's session
 * takeover and session expiry), and the slots of `once` publishes (MQTT QoS 2). Everything
 * here needs `consume` on the topic; freeing slots needs `publish`.
 *
 * @module
 */

import type { Hono } from "hono";
import { callOf, respond } from "./call.ts";
import { readJsonBody, validate } from "./body.ts";
import type { AppDeps, AppEnv } from "./context.ts";
import { authorize } from "./authorize.ts";
import { jsonResponse, renderTopicMessages } from "./render.ts";
import { params, query } from "./request.ts";
import { readBarrier } from "./read.ts";
import { answerWrite } from "./write.ts";
import { ProblemError } from "./problems.ts";
import { topicParams } from "./schemas.ts";
import {
  claimFreeSchema,
  claimParams,
  claimReleaseSchema,
  claimSettleSchema,
  claimTakeSchema,
  retainedQuery,
} from "./schemas_claims.ts";

/** Adds the routes to the topic routes (mounted at `/v1/topics`). */
export function claimRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.get("/:t/retained", async (c) => {
    const { t } = params(c, topicParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const q = query(c, retainedQuery);
    await readBarrier(deps, q.consistency);
    const messages = deps.node.broker().retained(t, q.subject);
    if (messages === undefined) {
      throw new ProblemError("topic_not_found", `Topic ${t} does not exist`);
    }
    const next = deps.node.broker().topic(t)?.nextSeq ?? 0;
    return jsonResponse(200, renderTopicMessages(messages, next), false);
  });

  claimWrites(app, deps);

  app.get("/:t/claims/:key", async (c) => {
    const { t, key } = params(c, claimParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const q = query(c, retainedQuery.pick({ consistency: true }));
    await readBarrier(deps, q.consistency);
    const claim = deps.node.broker().claim(t, key);
    if (claim === undefined) {
      throw new ProblemError("not_found", `Topic ${t} has no claim ${key}`);
    }
    return c.json(claim);
  });
}

/** Take, release, free, settle. */
function claimWrites(app: Hono<AppEnv>, deps: AppDeps): void {
  const limit = deps.limits.maxBodyBytes;

  app.put("/:t/claims/:key", async (c) => {
    const { t, key } = params(c, claimParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    const req = validate(claimTakeSchema, body.json, "body");
    const cmd = { op: "claim_take" as const, topic: t, key, ...req };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: 200,
        text: JSON.stringify({
          previous: v.previous,
          present: v.present,
          data: v.data,
          stamp: v.stamp,
          pubrels: v.pubrels,
        }),
      })),
    );
  });

  app.post("/:t/claims/:key/release", async (c) => {
    const { t, key } = params(c, claimParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    const req = validate(claimReleaseSchema, body.json, "body");
    const cmd = { op: "claim_release" as const, topic: t, key, ...req };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: 200,
        text: JSON.stringify({ released: v.released }),
      })),
    );
  });

  app.post("/:t/claims/:key/free", async (c) => {
    const { t, key } = params(c, claimParams);
    authorize(callOf(c), deps, "publish", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    const req = validate(claimFreeSchema, body.json, "body");
    const cmd = { op: "claim_free" as const, topic: t, key, ...req };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: 200,
        text: JSON.stringify({ freed: v.freed }),
      })),
    );
  });

  app.post("/:t/claims/:key/settle", async (c) => {
    const { t, key } = params(c, claimParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    const req = validate(claimSettleSchema, body.json, "body");
    const cmd = { op: "claim_settle" as const, topic: t, key, ...req };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: 200,
        text: JSON.stringify({ results: v.results, kept: v.kept }),
      })),
    );
  });
}
