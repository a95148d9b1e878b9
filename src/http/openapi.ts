/**
 * `/openapi.json`, generated: every operation below names the zod schemas its route validates
 * with (imported from `schemas.ts`, the same objects), and `z.toJSONSchema` turns them into the
 * document. A test checks that every route of the app has an operation here and vice versa.
 *
 * @module
 */

import { z } from "zod";
import { PROBLEMS, type ProblemType } from "./problems.ts";
import * as s from "./schemas.ts";
import * as sessions from "./schemas_sessions.ts";
import * as claims from "./schemas_claims.ts";

type Method = "get" | "put" | "post" | "delete";

/** One documented operation. */
export interface OperationSpec {
  readonly method: Method;
  /** OpenAPI path (`/v1/queues/{q}`). */
  readonly path: string;
  readonly summary: string;
  readonly params?: z.ZodObject;
  readonly query?: z.ZodObject;
  readonly body?: z.ZodType;
  /** Success status and schema (undefined: no body). */
  readonly ok: readonly [number, z.ZodType | undefined];
  /** Another success status, when a body option asks for it (its schema: `ok`'s). */
  readonly alsoOk?: { readonly status: number; readonly when: string };
  /** Writes take Idempotency-Key and may be forwarded to the leader. */
  readonly write: boolean;
  /** Problem types specific to this operation (beyond the common ones). */
  readonly problems?: readonly ProblemType[];
}

const Q = "/v1/queues/{q}";
const T = "/v1/topics/{t}";
const S = "/v1/topics/{t}/subscriptions/{s}";
const any = z.record(z.string(), z.unknown());

/** Every operation of HTTP API v1. */
export const OPERATIONS: readonly OperationSpec[] = [
  op("get", "/v1/queues", "List queues", { query: s.consistencyQuery, ok: [200, any] }),
  op("get", Q, "Queue config and stats", {
    params: s.queueParams,
    query: s.consistencyQuery,
    ok: [200, s.queueInfoSchema],
    problems: ["queue_not_found"],
  }),
  write("put", Q, "Create (201) or update (200) a queue", s.queueParams, s.queuePutSchema, 201),
  write("delete", Q, "Delete a queue", s.queueParams, undefined, 204),
  write(
    "post",
    `${Q}/messages`,
    "Publish one message or a batch",
    s.queueParams,
    s.publishSchema,
    201,
    s.publishResultSchema,
  ),
  write(
    "post",
    `${Q}/receive`,
    "Receive (lease) messages, long poll with waitMs",
    s.queueParams,
    s.receiveSchema,
    200,
    s.receiveResultSchema,
  ),
  write(
    "post",
    `${Q}/ack`,
    "Acknowledge receipts",
    s.queueParams,
    s.ackSchema,
    200,
    s.settleResultSchema,
  ),
  write(
    "post",
    `${Q}/nack`,
    "Return receipts to the queue",
    s.queueParams,
    s.nackSchema,
    200,
    s.settleResultSchema,
  ),
  write(
    "post",
    `${Q}/extend`,
    "Extend leases",
    s.queueParams,
    s.extendSchema,
    200,
    s.settleResultSchema,
  ),
  op("get", `${Q}/messages/{id}`, "Message status by id", {
    params: s.messageParams,
    query: s.consistencyQuery,
    ok: [200, s.messageStatusSchema],
    problems: ["queue_not_found", "message_not_found"],
  }),
  op("get", `${Q}/peek`, "Stored messages by seq, leasing nothing", {
    params: s.queueParams,
    query: s.peekQuery,
    ok: [200, s.peekResultSchema],
    problems: ["queue_not_found"],
  }),
  write(
    "post",
    `${Q}/purge`,
    "Drop every ready and delayed message",
    s.queueParams,
    s.purgeSchema,
    200,
    s.purgeResultSchema,
  ),
  write(
    "post",
    `${Q}/redrive`,
    "Move dead-lettered messages back to their origin queue",
    s.queueParams,
    s.redriveSchema,
    200,
    s.redriveResultSchema,
  ),
  op("get", "/v1/topics", "List topics", { query: s.consistencyQuery, ok: [200, any] }),
  op("get", T, "Topic config and log bounds", {
    params: s.topicParams,
    query: s.consistencyQuery,
    ok: [200, any],
    problems: ["topic_not_found"],
  }),
  write("put", T, "Create (201) or update (200) a topic", s.topicParams, s.topicPutSchema, 201),
  write("delete", T, "Delete a topic", s.topicParams, undefined, 204),
  write(
    "post",
    `${T}/messages`,
    "Publish to a topic",
    s.topicParams,
    s.publishSchema,
    201,
    s.publishResultSchema,
  ),
  op("get", `${T}/messages`, "Read the retained log by seq", {
    params: s.topicParams,
    query: s.topicReadQuery,
    ok: [200, any],
    problems: ["topic_not_found"],
  }),
  op("get", `${T}/retained`, "The retained message of each subject (matching `subject`)", {
    params: s.topicParams,
    query: claims.retainedQuery,
    ok: [200, any],
    problems: ["topic_not_found"],
  }),
  op("get", `${T}/claims/{key}`, "A claim: its holder and data", {
    params: claims.claimParams,
    query: s.consistencyQuery,
    ok: [200, any],
    problems: ["not_found"],
  }),
  write(
    "put",
    `${T}/claims/{key}`,
    "Take a claim (a client session) for a holder; the previous holder is told by the change",
    claims.claimParams,
    claims.claimTakeSchema,
    200,
    claims.claimTakenSchema,
  ),
  write(
    "post",
    `${T}/claims/{key}/release`,
    "Release a claim if the holder still holds it (it ends after its expiry)",
    claims.claimParams,
    claims.claimReleaseSchema,
    200,
    claims.claimReleasedSchema,
  ),
  write(
    "post",
    `${T}/claims/{key}/free`,
    "Free slots of a claim (publishes with `once`): each may carry another message",
    claims.claimParams,
    claims.claimFreeSchema,
    200,
    claims.claimFreedSchema,
  ),
  write(
    "post",
    `${T}/claims/{key}/settle`,
    "Ack receipts of a subscription and hold packet ids a PUBREL is owed for, in one entry",
    claims.claimParams,
    claims.claimSettleSchema,
    200,
    claims.claimSettledSchema,
  ),
  write(
    "put",
    S,
    "Create (201) or update (200) a subscription",
    s.subscriptionParams,
    s.subscriptionPutSchema,
    201,
  ),
  op("get", S, "Subscription config, stats and cursor", {
    params: s.subscriptionParams,
    query: s.consistencyQuery,
    ok: [200, any],
    problems: ["topic_not_found", "subscription_not_found"],
  }),
  write("delete", S, "Delete a subscription", s.subscriptionParams, undefined, 204),
  write(
    "post",
    `${S}/receive`,
    "Receive from a subscription",
    s.subscriptionParams,
    s.receiveSchema,
    200,
    s.receiveResultSchema,
  ),
  write(
    "post",
    `${S}/ack`,
    "Acknowledge subscription receipts",
    s.subscriptionParams,
    s.ackSchema,
    200,
    s.settleResultSchema,
  ),
  write(
    "post",
    `${S}/nack`,
    "Return subscription receipts",
    s.subscriptionParams,
    s.nackSchema,
    200,
    s.settleResultSchema,
  ),
  write(
    "post",
    `${S}/extend`,
    "Extend subscription leases",
    s.subscriptionParams,
    s.extendSchema,
    200,
    s.settleResultSchema,
  ),
  {
    ...write(
      "post",
      "/v1/transactions",
      "Acks and publishes, all or nothing",
      undefined,
      s.transactionSchema,
      200,
    ),
    problems: ["transaction_failed"],
  },
  {
    ...write(
      "post",
      "/v1/sessions",
      "Open a client session",
      undefined,
      sessions.sessionOpenSchema,
      201,
      sessions.sessionOpenedSchema,
    ),
    problems: ["sessions_full"],
  },
  {
    ...write(
      "post",
      "/v1/sessions/{id}/keepalive",
      "Keep a session open",
      sessions.sessionParams,
      undefined,
      200,
    ),
    problems: ["session_expired"],
  },
  write("delete", "/v1/sessions/{id}", "End a session", sessions.sessionParams, undefined, 204),
  write(
    "delete",
    "/v1/idempotency-keys/{key}",
    "Forget the caller's Idempotency-Key now (MQTT QoS 2 PUBREL)",
    sessions.idempotencyKeyParams,
    undefined,
    204,
  ),
  op("get", "/v1/stream", "Open the client stream: a WebSocket upgrade (docs/stream.md)", {
    ok: [101, undefined],
  }),
  op("get", "/v1/cluster", "The cluster as this node sees it", {
    query: s.consistencyQuery,
    ok: [200, s.clusterViewSchema],
  }),
  write(
    "post",
    "/v1/cluster/members",
    "Add a voting member",
    undefined,
    s.memberAddSchema,
    200,
    s.clusterViewSchema,
  ),
  write(
    "delete",
    "/v1/cluster/members/{id}",
    "Remove a member",
    s.memberParams,
    undefined,
    200,
    s.clusterViewSchema,
  ),
  {
    ...write(
      "post",
      "/v1/cluster/leadership-transfer",
      "Transfer leadership",
      undefined,
      s.leadershipTransferSchema,
      202,
      s.clusterViewSchema,
    ),
    alsoOk: { status: 200, when: "with wait: another node leads" },
  },
  op("get", "/healthz", "The process is up", { ok: [200, any] }),
  op("get", "/readyz", "A leader is known and this node has applied what it heard committed", {
    ok: [200, any],
    problems: ["unavailable"],
  }),
  op("get", "/metrics", "Prometheus text", { ok: [200, undefined] }),
  op("get", "/openapi.json", "This document", { ok: [200, any] }),
];

function op(
  method: Method,
  path: string,
  summary: string,
  rest: Omit<OperationSpec, "method" | "path" | "summary" | "write">,
): OperationSpec {
  return { method, path, summary, write: false, ...rest };
}

function write(
  method: Method,
  path: string,
  summary: string,
  params: z.ZodObject | undefined,
  body: z.ZodType | undefined,
  status: number,
  answer?: z.ZodType,
): OperationSpec {
  return {
    method,
    path,
    summary,
    write: true,
    ok: [status, status === 204 ? undefined : answer ?? any],
    ...(params ? { params } : {}),
    ...(body ? { body } : {}),
  };
}

const COMMON_PROBLEMS: readonly ProblemType[] = [
  "invalid_request",
  "unauthorized",
  "forbidden",
  "internal_error",
];
const WRITE_PROBLEMS: readonly ProblemType[] = [
  "payload_too_large",
  "unsupported_media_type",
  "idempotency_conflict",
  "not_leader",
  "no_leader",
  "unknown_outcome",
  "queue_full",
  "retained_full",
  "session_expired",
  "sessions_full",
  "session_moved",
];

let cached: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document of the API (built once). */
export function openApiDocument(): Record<string, unknown> {
  if (cached !== undefined) return cached;
  const registered = z.toJSONSchema(s.apiRegistry, {
    uri: (id) => `#/components/schemas/${id}`,
    unrepresentable: "any",
    io: "input",
  }).schemas;
  const schemas: Record<string, unknown> = {};
  for (const [id, schema] of Object.entries(registered)) {
    const { $schema: _s, $id: _i, ...rest } = schema as Record<string, unknown>;
    schemas[id] = rest;
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const o of OPERATIONS) {
    paths[o.path] ??= {};
    paths[o.path][o.method] = operationObject(o);
  }
  cached = {
    openapi: "3.1.0",
    info: {
      title: "quorumq HTTP API",
      version: "1",
      description: "Errors are application/problem+json; see docs/http.md.",
    },
    components: {
      schemas,
      securitySchemes: { bearer: { type: "http", scheme: "bearer" } },
    },
    security: [{}, { bearer: [] }],
    paths,
  };
  return cached;
}

function jsonSchemaOf(schema: z.ZodType): unknown {
  const id = s.apiRegistry.get(schema)?.id;
  if (id !== undefined) return { $ref: `#/components/schemas/${id}` };
  const { $schema: _s, ...rest } = z.toJSONSchema(schema, {
    unrepresentable: "any",
    io: "input",
  }) as Record<string, unknown>;
  return rest;
}

function parameters(schema: z.ZodObject | undefined, where: "path" | "query"): unknown[] {
  if (schema === undefined) return [];
  return Object.entries(schema.shape).map(([name, field]) => ({
    name,
    in: where,
    required: where === "path" || !(field as z.ZodType).safeParse(undefined).success,
    schema: jsonSchemaOf(field as z.ZodType),
  }));
}

function operationObject(o: OperationSpec): Record<string, unknown> {
  const problems = [...COMMON_PROBLEMS, ...(o.write ? WRITE_PROBLEMS : []), ...(o.problems ?? [])];
  const responses: Record<string, unknown> = {
    [o.ok[0]]: o.ok[1] === undefined ? { description: "Success" } : {
      description: "Success",
      content: { "application/json": { schema: jsonSchemaOf(o.ok[1]) } },
    },
  };
  if (o.alsoOk !== undefined && o.ok[1] !== undefined) {
    responses[o.alsoOk.status] = {
      description: `Success (${o.alsoOk.when})`,
      content: { "application/json": { schema: jsonSchemaOf(o.ok[1]) } },
    };
  }
  for (const type of new Set(problems)) {
    const status = String(PROBLEMS[type].status);
    const entry = (responses[status] ??= {
      description: "",
      content: { "application/problem+json": { schema: jsonSchemaOf(s.problemSchema) } },
    }) as { description: string };
    entry.description = entry.description ? `${entry.description}, ${type}` : type;
  }
  const parameterList = [
    ...parameters(o.params, "path"),
    ...parameters(o.query, "query"),
    ...(o.write
      ? [{
        name: "Idempotency-Key",
        in: "header",
        required: false,
        schema: jsonSchemaOf(s.idempotencyKeySchema),
      }, {
        name: "Quorumq-Session",
        in: "header",
        required: false,
        description: "<session>/<seq>/<lowest unanswered seq> (docs/broker.md, Sessions)",
        schema: { type: "string", pattern: "^\\d+/\\d+/\\d+$" },
      }]
      : []),
  ];
  return {
    summary: o.summary,
    ...(parameterList.length > 0 ? { parameters: parameterList } : {}),
    ...(o.body
      ? {
        requestBody: {
          required: true,
          content: { "application/json": { schema: jsonSchemaOf(o.body) } },
        },
      }
      : {}),
    responses,
  };
}
