/**
 * The message operations of queues and topics as plain functions: publish (one or a batch),
 * receive, and settle (ack, nack, extend). Each takes the validated path (its target) and the
 * `Call` (who calls, headers, body) and returns the answer; permissions, body validation, the
 * write pipeline and the answer are all here. The Hono routes (`routes_queues.ts`,
 * `routes_topics.ts`) and a stream's direct requests (`direct.ts`) both call these, so a request
 * is judged the same whichever way it came.
 *
 * @module
 */

import type { z } from "zod";
import type { ConsumerTarget } from "../broker/mod.ts";
import type { Outcome } from "./answer.ts";
import { type JsonBody, validate } from "./body.ts";
import type { Call } from "./call.ts";
import type { AppDeps } from "./context.ts";
import { authorize } from "./authorize.ts";
import {
  batchPublished,
  settled,
  singlePublish,
  toMessageInput,
  toMessageInputs,
  withBody,
} from "./render.ts";
import { answerWrite, forwardUnread } from "./write.ts";
import { handleReceive } from "./receive.ts";
import { plainPublish } from "./publish_check.ts";
import { bodiesGiven, bodiesInPlace } from "./batch_bodies.ts";
import { plainAck } from "./settle_check.ts";
import {
  ackSchema,
  extendSchema,
  nackSchema,
  publishBatchSchema,
  publishSchema,
} from "./schemas.ts";

/** Where a publish goes. */
export type PublishTarget = { readonly queue: string } | { readonly topic: string };

/** How a settle settles its receipts. */
export type Settle = "ack" | "nack" | "extend";

/**
 * `POST /v1/queues/{q}/messages`, `POST /v1/topics/{t}/messages`: one message or a batch. Not an
 * async function (a throw is its rejection, as if it were): a body that is here already (a
 * stream's) goes on to the proposal in the same step, with no promise of its own per message.
 */
export function publishMessages(
  deps: AppDeps,
  call: Call,
  target: PublishTarget,
): Promise<Outcome> {
  try {
    if ("queue" in target) authorize(call, deps, "publish", "queue", target.queue);
    else authorize(call, deps, "publish", "topic", target.topic);
    const forwarded = forwardUnread(call, deps, validatePublish);
    if (forwarded !== undefined) return forwarded;
    const body = call.body(deps.limits.maxBodyBytes);
    if (body instanceof Promise) return body.then((b) => publishBody(deps, call, target, b));
    return publishBody(deps, call, target, body);
  } catch (error) {
    return Promise.reject(error);
  }
}

/** `publishMessages` once the body is read. */
function publishBody(
  deps: AppDeps,
  call: Call,
  target: PublishTarget,
  body: JsonBody,
): Promise<Outcome> {
  const req = validatePublish(body.json);
  if ("messages" in req) {
    // The parsed body itself (a plain shape): its bodies may be in its bytes as they are stored.
    // Or, from an in-process caller (the MQTT gateway), bodies it had as JSON bytes already.
    const own = req === body.json;
    const messages = (own ? bodiesInPlace(body, req) ?? bodiesGiven(req.messages) : undefined) ??
      toMessageInputs(req.messages);
    const cmd = "queue" in target
      ? { op: "publish_batch" as const, queue: target.queue, messages }
      : { op: "topic_publish_batch" as const, topic: target.topic, messages };
    return answerWrite(call, deps, cmd, body, batchPublished);
  }
  // A compact single publish's body text is in the request as it is (`compact_publish.ts`).
  const message = body.bodyText !== undefined && req === body.json
    ? withBody(req, body.bodyText)
    : toMessageInput(req);
  if ("queue" in target) {
    const cmd = { op: "publish" as const, queue: target.queue, message };
    return answerWrite(call, deps, cmd, body, singlePublish);
  }
  const cmd = { op: "topic_publish" as const, topic: target.topic, message };
  return answerWrite(call, deps, cmd, body, singlePublish);
}

/** `POST .../receive` of a queue or a subscription (long poll: `receive.ts`). */
export function receiveMessages(
  deps: AppDeps,
  call: Call,
  target: ConsumerTarget,
): Promise<Outcome> {
  authorizeConsume(deps, call, target);
  return handleReceive(call, deps, target);
}

/** `POST .../ack`, `.../nack`, `.../extend` of a queue or a subscription. */
export async function settleMessages(
  deps: AppDeps,
  call: Call,
  target: ConsumerTarget,
  how: Settle,
): Promise<Outcome> {
  authorizeConsume(deps, call, target);
  const forwarded = forwardUnread(call, deps, (json) => {
    if (how === "ack") validateAck(json);
    else validate(how === "nack" ? nackSchema : extendSchema, json, "body");
  });
  if (forwarded !== undefined) return await forwarded;
  const body = await call.body(deps.limits.maxBodyBytes);
  switch (how) {
    case "ack": {
      const { receipts } = validateAck(body.json);
      const cmd = "queue" in target ? { op: "ack" as const, queue: target.queue, receipts } : {
        op: "subscription_ack" as const,
        topic: target.topic,
        subscription: target.subscription,
        receipts,
      };
      return await answerWrite(call, deps, cmd, body, settled);
    }
    case "nack": {
      const { receipts, delayMs } = validate(nackSchema, body.json, "body");
      const delay = delayMs !== undefined ? { delayMs } : {};
      const cmd = "queue" in target
        ? { op: "nack" as const, queue: target.queue, receipts, ...delay }
        : {
          op: "subscription_nack" as const,
          topic: target.topic,
          subscription: target.subscription,
          receipts,
          ...delay,
        };
      return await answerWrite(call, deps, cmd, body, settled);
    }
    case "extend": {
      const { receipts, leaseMs } = validate(extendSchema, body.json, "body");
      const cmd = "queue" in target
        ? { op: "extend" as const, queue: target.queue, receipts, leaseMs }
        : {
          op: "subscription_extend" as const,
          topic: target.topic,
          subscription: target.subscription,
          receipts,
          leaseMs,
        };
      return await answerWrite(call, deps, cmd, body, settled);
    }
  }
}

/** An ack body as `ackSchema` reads it: the common shape without zod (`plainAck`). */
function validateAck(json: unknown): z.output<typeof ackSchema> {
  return plainAck(json) ?? validate(ackSchema, json, "body");
}

/** Receive and settle need `consume` on the queue, or on the subscription's topic. */
function authorizeConsume(deps: AppDeps, call: Call, target: ConsumerTarget): void {
  if ("queue" in target) authorize(call, deps, "consume", "queue", target.queue);
  else authorize(call, deps, "consume", "topic", target.topic);
}

/**
 * A publish body as `publishSchema` reads it. The common shapes are checked without zod
 * (`plainPublish`). A valid batch is parsed as a batch at once: the
 * union would first try it as one message and fail (half the cost of a batch's validation,
 * measured: 135 µs against 70 for 100 messages). Anything else, a bad batch included, is read by
 * the union itself, so its problems are the union's.
 */
export function validatePublish(json: unknown): z.output<typeof publishSchema> {
  const plain = plainPublish(json);
  if (plain !== undefined) return plain;
  if (typeof json === "object" && json !== null && "messages" in json) {
    const batch = publishBatchSchema.safeParse(json);
    if (batch.success) return batch.data;
  }
  return validate(publishSchema, json, "body");
}
