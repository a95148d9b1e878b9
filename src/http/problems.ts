/**
 * The one registry of API errors (like nats-server's errors.json): every error answer of HTTP
 * API v1 is an `application/problem+json` body built from this table, so a `type` code always
 * has the same status and title. Codes are stable: add new ones, never rename.
 *
 * @module
 */

import type { Failure, ProblemCode, Result } from "../broker/mod.ts";
import type { Answer } from "./answer.ts";

/** Registry entry: the HTTP status and the human title of one problem type. */
export interface ProblemSpec {
  readonly status: number;
  readonly title: string;
  /** Seconds for `Retry-After`, for types where retrying later is the cure. */
  readonly retryAfterS?: number;
}

/** Every problem type the API can answer. */
export const PROBLEMS = {
  invalid_request: { status: 400, title: "The request is not valid" },
  unauthorized: { status: 401, title: "A valid bearer token is required" },
  forbidden: { status: 403, title: "The token lacks the permission for this request" },
  anonymous_refused: {
    status: 403,
    title: "This node does not let callers without a token write or administer",
  },
  not_found: { status: 404, title: "No such resource" },
  queue_not_found: { status: 404, title: "No such queue" },
  topic_not_found: { status: 404, title: "No such topic" },
  subscription_not_found: { status: 404, title: "No such subscription" },
  message_not_found: { status: 404, title: "No such message id is remembered" },
  member_not_found: { status: 404, title: "No such cluster member" },
  method_not_allowed: { status: 405, title: "Method not allowed on this resource" },
  idempotency_conflict: {
    status: 409,
    title: "This Idempotency-Key was used with a different request",
  },
  transaction_failed: { status: 409, title: "The transaction was not applied" },
  session_expired: {
    status: 409,
    title: "The session is not open (expired, closed or unknown); nothing was applied",
  },
  session_moved: {
    status: 409,
    title:
      "The claim is no longer the named holder's (taken over or released); nothing was applied",
  },
  conflict: { status: 409, title: "The request conflicts with the current state" },
  retained_full: {
    status: 409,
    title: "The topic holds its most retained messages (maxRetained / maxRetainedBytes)",
  },
  payload_too_large: { status: 413, title: "The request body is too large" },
  unsupported_media_type: { status: 415, title: "The request body must be application/json" },
  not_leader: {
    status: 421,
    title: "This node is not the leader and cannot forward the request",
    retryAfterS: 1,
  },
  queue_full: { status: 429, title: "The queue is full", retryAfterS: 1 },
  internal_error: { status: 500, title: "Internal error" },
  no_leader: { status: 503, title: "No leader is known right now", retryAfterS: 1 },
  unavailable: { status: 503, title: "The node cannot answer right now", retryAfterS: 1 },
  sessions_full: {
    status: 503,
    title: "No room for another session, Idempotency-Key or stored answer; nothing was applied",
    retryAfterS: 5,
  },
  unknown_outcome: {
    status: 504,
    title: "The write may or may not have been applied: retry with the same id or Idempotency-Key",
  },
} as const satisfies Record<string, ProblemSpec>;

/** A stable problem code. */
export type ProblemType = keyof typeof PROBLEMS;

/**
 * The problem type of each reason the broker refuses a command with. Broker reasons are stored in
 * the log and in idempotency answers, so they keep their names; the one that differs is
 * `transaction_aborted`, answered as `transaction_failed`. docs/http.md's error table shows this
 * mapping next to the client's error classes; `test/tidy_test.ts` checks the two agree.
 */
export const BROKER_REASON_PROBLEMS: Readonly<Record<ProblemCode, ProblemType>> = {
  invalid_request: "invalid_request",
  queue_not_found: "queue_not_found",
  topic_not_found: "topic_not_found",
  subscription_not_found: "subscription_not_found",
  queue_full: "queue_full",
  retained_full: "retained_full",
  idempotency_conflict: "idempotency_conflict",
  transaction_aborted: "transaction_failed",
  session_expired: "session_expired",
  sessions_full: "sessions_full",
  session_moved: "session_moved",
};

/** One field-level reason (validation errors, transaction items). */
export interface ProblemItem {
  readonly path?: string;
  readonly message: string;
  [field: string]: unknown;
}

/** The body of a problem answer (RFC 9457 members, `type` being our stable code). */
export interface ProblemBody {
  readonly type: ProblemType;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly ProblemItem[];
  readonly [extension: string]: unknown;
}

/** Extra members of a problem body (`errors`, `leaderId`, ...). */
export type ProblemExtras = Record<string, unknown> & { errors?: readonly ProblemItem[] };

/**
 * Thrown by handlers and helpers for an expected failure; `app.onError` turns it into the
 * problem answer. Anything else thrown is a bug: a logged 500.
 */
export class ProblemError extends Error {
  constructor(
    readonly problemType: ProblemType,
    readonly detail: string,
    readonly extras: ProblemExtras = {},
  ) {
    super(`${problemType}: ${detail}`);
    this.name = "ProblemError";
  }
}

/** Builds the problem body for `type`. */
export function problemBody(
  type: ProblemType,
  detail: string,
  extras: ProblemExtras = {},
): ProblemBody {
  const spec: ProblemSpec = PROBLEMS[type];
  return { ...extras, type, title: spec.title, status: spec.status, detail };
}

/**
 * Builds the whole problem answer: status, `application/problem+json`, `Retry-After`, and
 * `headers` (lower-case names).
 */
export function problemAnswer(
  type: ProblemType,
  detail: string,
  extras: ProblemExtras = {},
  headers: Record<string, string> = {},
): Answer {
  const spec: ProblemSpec = PROBLEMS[type];
  const h: Record<string, string> = { ...headers, "content-type": "application/problem+json" };
  if (spec.retryAfterS !== undefined && h["retry-after"] === undefined) {
    h["retry-after"] = String(spec.retryAfterS);
  }
  return {
    status: spec.status,
    headers: h,
    text: JSON.stringify(problemBody(type, detail, extras)),
  };
}

/** `problemAnswer` as a `Response`. */
export function problemResponse(
  type: ProblemType,
  detail: string,
  extras: ProblemExtras = {},
  headers: Record<string, string> = {},
): Response {
  const { status, headers: h, text } = problemAnswer(type, detail, extras, headers);
  return new Response(text, { status, headers: h });
}

/** The problem for a broker refusal (its reason mapped by `BROKER_REASON_PROBLEMS`). */
export function failureProblem(failure: Failure): ProblemError {
  const errors: ProblemItem[] | undefined = failure.errors?.map((e) => ({
    path: e.item,
    message: e.detail,
    reason: e.reason,
  }));
  const extras = errors ? { errors } : {};
  return new ProblemError(BROKER_REASON_PROBLEMS[failure.reason], failure.detail, extras);
}

/** The broker's success result for `op`, or throws its refusal as a problem. */
export function expectOk<R extends Result>(result: R): Exclude<R, Failure> {
  if (result.ok === false) throw failureProblem(result as Failure);
  return result as Exclude<R, Failure>;
}
