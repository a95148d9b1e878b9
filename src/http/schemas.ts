/**
 * The zod schemas of HTTP API v1: every body, path parameter and query the routes validate, and
 * the response shapes. `/openapi.json` is generated from these same objects (`openapi.ts`), so
 * the document cannot drift from what the routes accept.
 *
 * Objects are strict: an unknown field is an `invalid_request` naming it.
 *
 * @module
 */

import { z } from "zod";
import {
  checkHeaderMatch,
  checkPattern,
  checkSubject,
  DURATION_MS_MAX,
  FILTERS_MAX,
  HEADER_MATCH_MAX,
} from "../broker/mod.ts";

/** The named schemas that become `components.schemas` of `/openapi.json`. */
export const apiRegistry = z.registry<{ id: string; description?: string }>();

/**
 * Queue, topic and subscription names. Not `.` or `..`: URLs take those segments as "this" and
 * "the parent" (fetch, browsers, the client), so such a resource could be made by a raw request but
 * never reached again by its path.
 */
export const NAME_PATTERN = /^(?!\.\.?$)[A-Za-z0-9._-]{1,128}$/;

export const nameSchema = z.string().regex(
  NAME_PATTERN,
  "must be 1-128 characters of A-Z a-z 0-9 . _ -, and not . or ..",
);

const ms = (max: number) => z.number().int().min(0).max(max);
const positiveInt = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

export const deliveryModeSchema = z.enum(["at_most_once", "at_least_once", "exactly_once"]);

const queueOptionFields = {
  deliveryMode: deliveryModeSchema.optional(),
  leaseMs: ms(DURATION_MS_MAX).min(1).optional(),
  maxDeliveries: positiveInt.optional(),
  deadLetterQueue: nameSchema.optional(),
  dedupWindowMs: ms(DURATION_MS_MAX).optional(),
  fifo: z.boolean().optional(),
  maxMessages: positiveInt.optional(),
  maxBytes: positiveInt.optional(),
  messageTtlMs: ms(DURATION_MS_MAX).min(1).optional(),
};

/** `PUT /v1/queues/{q}` body. */
export const queuePutSchema = z.strictObject(queueOptionFields).register(apiRegistry, {
  id: "QueueOptions",
});

/** Any JSON value, but present. */
export const jsonValueSchema = z.custom<unknown>((v) => v !== undefined, {
  message: "is required (any JSON value)",
}).meta({ description: "Any JSON value" });

/** A string the broker's own check accepts; its reason is the issue's message. */
const checked = (check: (v: string) => string | undefined, description: string) =>
  z.string().superRefine((v, ctx) => {
    const e = check(v);
    if (e !== undefined) ctx.addIssue({ code: "custom", message: e });
  }).meta({ description });

/** A published subject: dot-separated tokens, 1-255 bytes, no wildcards. */
export const subjectSchema = checked(
  checkSubject,
  'Dot-separated tokens ("orders.eu.created"), 1-255 bytes; no "*" or ">"',
);

/** A subject pattern: `*` is one token, `>` one or more and only last. */
export const patternSchema = checked(
  (v) => checkPattern(v),
  'A subject pattern: "*" matches one token, ">" one or more (last token only)',
);

/** A subscription's header conditions: equal to a string, or `{ exists }`. */
export const headerMatchSchema = z.record(
  z.string().max(256),
  z.union([z.string().max(8192), z.strictObject({ exists: z.boolean() })]),
).superRefine((v, ctx) => {
  const e = checkHeaderMatch(v);
  if (e !== undefined) ctx.addIssue({ code: "custom", message: e });
}).meta({
  description: `1..${HEADER_MATCH_MAX} conditions, all of which must hold: a header equal to a ` +
    "string, or { exists: true | false }",
});

const messageFields = {
  subject: subjectSchema.optional(),
  body: jsonValueSchema,
  id: z.string().min(1).max(256).optional(),
  group: z.string().min(1).max(256).optional(),
  delayMs: ms(DURATION_MS_MAX).optional(),
  ttlMs: ms(DURATION_MS_MAX).min(1).optional(),
  headers: z.record(z.string().max(256), z.string().max(8192)).optional(),
  retain: z.enum(["set", "clear"]).optional().meta({
    description: "Topics, with a subject: `set` keeps the message as its subject's retained " +
      "message, `clear` drops that one (it is published as usual either way)",
  }),
  once: z.strictObject({
    claim: nameSchema,
    slot: z.number().int().min(1).max(65535),
    holder: z.string().min(1).max(256).optional(),
  }).optional().meta({
    description: "Topics: the same message (subject and body) under a held slot of a claim key " +
      "answers the first seq as a duplicate, until the slot is freed " +
      "(`POST /v1/topics/{t}/claims/{key}/free`) or 24 h pass; another message takes the slot. " +
      "With `holder`: refused `session_moved` (nothing applied) unless it holds the claim now",
  }),
};

/** One message to publish. */
export const messageSchema = z.strictObject(messageFields).register(apiRegistry, {
  id: "NewMessage",
});

/** A batch of messages to publish. */
export const publishBatchSchema = z.strictObject({
  messages: z.array(messageSchema).min(1).max(1000),
});

/** `POST .../messages` body: one message, or a batch. */
export const publishSchema = z.union([messageSchema, publishBatchSchema]).register(apiRegistry, {
  id: "PublishRequest",
});

/** Longest long poll; a client wanting more polls again. */
export const MAX_WAIT_MS = 60_000;

/** `POST .../receive` body. */
export const receiveSchema = z.strictObject({
  max: z.number().int().min(1).max(1000).optional(),
  waitMs: ms(MAX_WAIT_MS).optional(),
  leaseMs: ms(DURATION_MS_MAX).min(1).optional(),
}).register(apiRegistry, { id: "ReceiveRequest" });

const receipts = z.array(z.string().min(1).max(512)).min(1).max(1000);

export const ackSchema = z.strictObject({ receipts }).register(apiRegistry, { id: "AckRequest" });
export const nackSchema = z.strictObject({ receipts, delayMs: ms(DURATION_MS_MAX).optional() })
  .register(apiRegistry, { id: "NackRequest" });
export const extendSchema = z.strictObject({ receipts, leaseMs: ms(DURATION_MS_MAX).min(1) })
  .register(apiRegistry, { id: "ExtendRequest" });

/** `PUT /v1/topics/{t}` body. */
export const topicPutSchema = z.strictObject({
  maxAgeMs: ms(DURATION_MS_MAX).min(1).optional(),
  maxMessages: positiveInt.optional(),
  maxBytes: positiveInt.optional(),
  dedupWindowMs: ms(DURATION_MS_MAX).optional(),
  maxRetained: positiveInt.optional(),
  maxRetainedBytes: positiveInt.optional(),
  /** `limits` (default) or `interest`: keep a message only while a subscription holds it. */
  retention: z.enum(["limits", "interest"]).optional(),
}).register(apiRegistry, { id: "TopicOptions" });

/** `PUT /v1/topics/{t}/subscriptions/{s}` body. */
export const subscriptionPutSchema = z.strictObject({
  ...queueOptionFields,
  startAt: z.union([
    z.enum(["earliest", "latest"]),
    z.strictObject({ seq: z.number().int().min(0) }),
  ]).optional(),
  filter: patternSchema.optional(),
  filters: z.array(patternSchema).min(1).max(FILTERS_MAX).optional(),
  headers: headerMatchSchema.optional(),
}).refine((o) => o.filter === undefined || o.filters === undefined, {
  message: "give filter (one pattern) or filters (a list), not both",
  path: ["filters"],
}).register(apiRegistry, { id: "SubscriptionOptions" });

/** `POST /v1/transactions` body. */
export const transactionSchema = z.strictObject({
  ack: z.array(z.union([
    z.strictObject({ queue: nameSchema, receipt: z.string().min(1).max(512) }),
    z.strictObject({
      topic: nameSchema,
      subscription: nameSchema,
      receipt: z.string().min(1).max(512),
    }),
  ])).max(1000).default([]),
  publish: z.array(z.union([
    z.strictObject({ queue: nameSchema, ...messageFields }),
    z.strictObject({ topic: nameSchema, ...messageFields }),
  ])).max(1000).default([]),
}).refine((t) => t.ack.length + t.publish.length > 0, "needs at least one ack or publish")
  .register(apiRegistry, { id: "TransactionRequest" });

/** `POST /v1/cluster/members` body. */
export const memberAddSchema = z.strictObject({
  id: nameSchema,
  url: z.url({ protocol: /^https?$/ }),
}).register(apiRegistry, { id: "MemberAdd" });

/** `POST /v1/cluster/leadership-transfer` body. */
export const leadershipTransferSchema = z.strictObject({
  to: nameSchema.optional(),
  wait: z.boolean().optional().describe(
    "Answer once the outcome is known: 200 when another node leads, 409 conflict when the " +
      "transfer was abandoned (ask again), 504 unknown_outcome when neither within 10 s",
  ),
}).register(apiRegistry, { id: "LeadershipTransfer" });

// ---- Path parameters and queries ----

export const queueParams = z.strictObject({ q: nameSchema });
export const topicParams = z.strictObject({ t: nameSchema });
export const subscriptionParams = z.strictObject({ t: nameSchema, s: nameSchema });
export const messageParams = z.strictObject({ q: nameSchema, id: z.string().min(1).max(256) });
export const memberParams = z.strictObject({ id: nameSchema });

/** `?consistency=stale` answers from the local replica; default: linearizable. */
export const consistencyQuery = z.strictObject({
  consistency: z.enum(["linearizable", "stale"]).default("linearizable"),
});

const intString = (min: number, max: number) =>
  z.string().regex(/^\d{1,16}$/, "must be a non-negative integer").transform(Number)
    .pipe(z.number().int().min(min).max(max));

/** `GET /v1/topics/{t}/messages` query. */
export const topicReadQuery = z.strictObject({
  fromSeq: intString(0, Number.MAX_SAFE_INTEGER).optional(),
  subject: patternSchema.optional(),
  limit: intString(1, 1000).optional(),
  consistency: z.enum(["linearizable", "stale"]).default("linearizable"),
});

/** `GET /v1/queues/{q}/peek` query. */
export const peekQuery = z.strictObject({
  fromSeq: intString(0, Number.MAX_SAFE_INTEGER).optional(),
  limit: intString(1, 1000).optional(),
  consistency: z.enum(["linearizable", "stale"]).default("linearizable"),
});

/** `POST /v1/queues/{q}/purge` body: nothing to say. */
export const purgeSchema = z.strictObject({}).register(apiRegistry, { id: "PurgeRequest" });

/** `POST /v1/queues/{q}/redrive` body: these seqs, or (absent) all, 10,000 at a time. */
export const redriveSchema = z.strictObject({
  seqs: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(10_000)
    .optional(),
}).register(apiRegistry, { id: "RedriveRequest" });

/** The `Idempotency-Key` header. */
export const idempotencyKeySchema = z.string().regex(
  /^[\x21-\x7e]{1,256}$/,
  "must be 1-256 printable ASCII characters without spaces",
);

// ---- Response shapes (documentation; the handlers build these) ----

export const problemSchema = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  errors: z.array(z.object({ path: z.string().optional(), message: z.string() })).optional(),
}).register(apiRegistry, { id: "Problem" });

const stats = {
  ready: z.number(),
  leased: z.number(),
  delayed: z.number(),
  published: z.number(),
  acked: z.number(),
  delivered: z.number(),
  deadLettered: z.number(),
  bytes: z.number(),
};

export const queueInfoSchema = z.object({ name: z.string(), ...queueOptionFields, ...stats })
  .register(apiRegistry, { id: "QueueInfo" });

export const publishResultSchema = z.object({
  seq: z.number(),
  id: z.string(),
  duplicate: z.boolean(),
}).register(apiRegistry, { id: "PublishResult" });

export const deliverySchema = z.object({
  seq: z.number(),
  id: z.string(),
  body: jsonValueSchema,
  headers: z.record(z.string(), z.string()),
  group: z.string().nullable(),
  subject: z.string().nullable(),
  attempt: z.number(),
  receipt: z.string(),
  leaseExpiresAt: z.number(),
  publishedAt: z.number(),
}).register(apiRegistry, { id: "Delivery" });

export const receiveResultSchema = z.object({ messages: z.array(deliverySchema) })
  .register(apiRegistry, { id: "ReceiveResult" });

export const settleResultSchema = z.object({
  results: z.array(z.object({
    receipt: z.string(),
    status: z.enum(["acked", "nacked", "extended", "already_acked", "stale", "not_found"]),
    leaseExpiresAt: z.number().optional(),
  })),
}).register(apiRegistry, { id: "SettleResults" });

export const messageStatusSchema = z.object({
  id: z.string(),
  seq: z.number(),
  state: z.enum(["ready", "delayed", "leased", "acked", "dead"]),
  attempt: z.number(),
}).register(apiRegistry, { id: "MessageStatus" });

export const peekResultSchema = z.object({
  messages: z.array(z.object({
    seq: z.number(),
    id: z.string(),
    state: z.enum(["ready", "delayed", "leased"]),
    attempt: z.number(),
    body: jsonValueSchema,
    headers: z.record(z.string(), z.string()),
    group: z.string().nullable(),
    publishedAt: z.number(),
  })),
  nextSeq: z.number(),
}).register(apiRegistry, { id: "PeekResult" });

export const purgeResultSchema = z.object({ purged: z.number() })
  .register(apiRegistry, { id: "PurgeResult" });

export const redriveResultSchema = z.object({
  redriven: z.number(),
  skipped: z.array(z.object({
    seq: z.number(),
    reason: z.enum(["not_found", "leased", "no_origin", "origin_not_found", "origin_full"]),
  })),
  remaining: z.number(),
}).register(apiRegistry, { id: "RedriveResult" });

export const clusterViewSchema = z.object({
  nodeId: z.string(),
  leaderId: z.string().nullable(),
  term: z.number(),
  commitIndex: z.number(),
  appliedIndex: z.number(),
  members: z.array(z.object({
    id: z.string(),
    url: z.string(),
    role: z.string(),
    matchIndex: z.number(),
    lastContactMs: z.number().nullable(),
  })),
}).register(apiRegistry, { id: "ClusterView" });
