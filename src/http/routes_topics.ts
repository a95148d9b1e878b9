/**
 * `/v1/topics`: topics, their retained log, and subscriptions with the queue shapes for
 * receive/ack/nack/extend (HTTP API v1, "Topics").
 *
 * Permissions: topic create/delete need `admin`; publish needs `publish`; reading the log and
 * everything on a subscription (create, delete, receive, settle) needs `consume` on the topic.
 *
 * @module
 */

import { Hono } from "hono";
import { callOf, respond } from "./call.ts";
import { publishMessages, receiveMessages, settleMessages } from "./handlers_messages.ts";
import { readJsonBody, validate } from "./body.ts";
import type { AppDeps, AppEnv } from "./context.ts";
import { authorize, authorizeRead } from "./authorize.ts";
import {
  jsonResponse,
  noContent,
  renderTopicMessages,
  subscriptionJson,
  topicJson,
} from "./render.ts";
import { params, query } from "./request.ts";
import { readBarrier } from "./read.ts";
import { answerWrite } from "./write.ts";
import { ProblemError } from "./problems.ts";
import { claimRoutes } from "./routes_claims.ts";
import {
  consistencyQuery,
  subscriptionParams,
  subscriptionPutSchema,
  topicParams,
  topicPutSchema,
  topicReadQuery,
} from "./schemas.ts";

/** Default and largest page of a topic log read. */
const READ_LIMIT_DEFAULT = 100;

/** The topic routes, to mount at `/v1/topics`. */
export function topicRoutes(deps: AppDeps): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  configRoutes(app, deps);
  messageRoutes(app, deps);
  subscriptionRoutes(app, deps);
  subscriptionSettleRoutes(app, deps);
  claimRoutes(app, deps);
  return app;
}

/** List, get, create/update, delete. */
function configRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  const limit = deps.limits.maxBodyBytes;

  app.get("/", async (c) => {
    const { consistency } = query(c, consistencyQuery);
    await readBarrier(deps, consistency);
    const principal = c.get("principal");
    const topics = deps.node.broker().listTopics().filter((t) =>
      deps.auth === undefined || principal === undefined ||
      (["publish", "consume", "admin"] as const).some((p) => principal.can(p, "topic", t.name))
    );
    return c.json({ topics: topics.map(topicJson) });
  });

  app.get("/:t", async (c) => {
    const { t } = params(c, topicParams);
    authorizeRead(callOf(c), deps, "topic", t);
    const { consistency } = query(c, consistencyQuery);
    await readBarrier(deps, consistency);
    return c.json(topicJson(topicOrThrow(deps, t)));
  });

  app.put("/:t", async (c) => {
    const { t } = params(c, topicParams);
    authorize(callOf(c), deps, "admin", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    const options = validate(topicPutSchema, body.json ?? {}, "body");
    return respond(
      c,
      await answerWrite(callOf(c), deps, { op: "topic_put", topic: t, options }, body, (v) => ({
        status: v.created ? 201 : 200,
        text: JSON.stringify({ name: t, ...v.config }),
      })),
    );
  });

  app.delete("/:t", async (c) => {
    const { t } = params(c, topicParams);
    authorize(callOf(c), deps, "admin", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    return respond(
      c,
      await answerWrite(callOf(c), deps, { op: "topic_delete", topic: t }, body, noContent),
    );
  });
}

/** Publish, and read the retained log. */
function messageRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  app.post("/:t/messages", async (c) => {
    const { t } = params(c, topicParams);
    return respond(c, await publishMessages(deps, callOf(c), { topic: t }));
  });

  app.get("/:t/messages", async (c) => {
    const { t } = params(c, topicParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const q = query(c, topicReadQuery);
    await readBarrier(deps, q.consistency);
    const info = topicOrThrow(deps, t);
    const fromSeq = q.fromSeq ?? info.firstSeq;
    const limit = q.limit ?? READ_LIMIT_DEFAULT;
    // With a subject pattern a page can end before `limit` matches: nextSeq says where it did.
    const page = deps.node.broker().readTopicPage(t, fromSeq, limit, q.subject);
    if (page === undefined) throw new ProblemError("topic_not_found", `Topic ${t} does not exist`);
    return jsonResponse(200, renderTopicMessages(page.messages, page.nextSeq), false);
  });
}

/** Create/update, get, delete a subscription, and receive from it. */
function subscriptionRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  const limit = deps.limits.maxBodyBytes;
  const base = "/:t/subscriptions/:s";

  app.put(base, async (c) => {
    const { t, s } = params(c, subscriptionParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    const options = validate(subscriptionPutSchema, body.json ?? {}, "body");
    const cmd = { op: "subscription_put" as const, topic: t, subscription: s, options };
    return respond(
      c,
      await answerWrite(callOf(c), deps, cmd, body, (v) => ({
        status: v.created ? 201 : 200,
        text: JSON.stringify({ topic: t, name: s, ...v.config, startSeq: v.startSeq }),
      })),
    );
  });

  app.get(base, async (c) => {
    const { t, s } = params(c, subscriptionParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const { consistency } = query(c, consistencyQuery);
    await readBarrier(deps, consistency);
    topicOrThrow(deps, t);
    const info = deps.node.broker().subscription(t, s);
    if (info === undefined) {
      throw new ProblemError("subscription_not_found", `Topic ${t} has no subscription ${s}`);
    }
    return c.json(subscriptionJson(info));
  });

  app.delete(base, async (c) => {
    const { t, s } = params(c, subscriptionParams);
    authorize(callOf(c), deps, "consume", "topic", t);
    const body = await readJsonBody(c.req.raw, limit);
    const cmd = { op: "subscription_delete" as const, topic: t, subscription: s };
    return respond(c, await answerWrite(callOf(c), deps, cmd, body, noContent));
  });

  app.post(`${base}/receive`, async (c) => {
    const { t, s } = params(c, subscriptionParams);
    const target = { topic: t, subscription: s };
    return respond(c, await receiveMessages(deps, callOf(c), target));
  });
}

/** Ack, nack, extend on a subscription. */
function subscriptionSettleRoutes(app: Hono<AppEnv>, deps: AppDeps): void {
  for (const how of ["ack", "nack", "extend"] as const) {
    app.post(`/:t/subscriptions/:s/${how}`, async (c) => {
      const { t, s } = params(c, subscriptionParams);
      const target = { topic: t, subscription: s };
      return respond(c, await settleMessages(deps, callOf(c), target, how));
    });
  }
}

function topicOrThrow(deps: AppDeps, t: string) {
  const info = deps.node.broker().topic(t);
  if (info === undefined) throw new ProblemError("topic_not_found", `Topic ${t} does not exist`);
  return info;
}
