/**
 * Typed errors: one class per problem `type` of HTTP API v1, built from ONE table so that
 * `catch (e) { if (e instanceof QueueFull) ... }` works and a new type is one line.
 *
 * @module
 */

/** An `application/problem+json` body as the server sends it. */
export interface Problem {
  type: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: unknown[];
  [field: string]: unknown;
}

/** Every error the client throws for an answer of the server (or for no answer at all). */
export class QuorumqError extends Error {
  /** The stable problem code, e.g. `queue_full`; `network_error` when no node answered. */
  readonly type: string;
  /** The HTTP status; 0 when no answer was received. */
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  /** Per-item reasons (validation errors, transaction items), as sent. */
  readonly errors: unknown[];
  /** The whole problem body, extension members included. */
  readonly problem: Problem;

  constructor(problem: Problem, status: number, options?: { cause?: unknown }) {
    const title = problem.title ?? problem.type;
    const detail = problem.detail ?? "";
    super(detail ? `${title}: ${detail}` : title, options);
    this.name = new.target.name;
    this.type = problem.type;
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

/** 400: the request is malformed; `errors` says which fields. */
export class InvalidRequest extends QuorumqError {}
/** 404: no such queue. */
export class QueueNotFound extends QuorumqError {}
/** 404: no such topic. */
export class TopicNotFound extends QuorumqError {}
/** 404: no such subscription. */
export class SubscriptionNotFound extends QuorumqError {}
/** 404: no such resource (message id forgotten, unknown route). */
export class NotFound extends QuorumqError {}
/** 405. */
export class MethodNotAllowed extends QuorumqError {}
/** The node is not the leader (normally the server forwards, so this is rare). */
export class NotLeader extends QuorumqError {}
/** 503: no leader is known right now; the client retries, honouring Retry-After. */
export class NoLeader extends QuorumqError {}
/**
 * The write may or may not have been applied. Thrown only after the retries (all with the same
 * ids and Idempotency-Key) are exhausted: retrying later with the same key is safe.
 */
export class UnknownOutcome extends QuorumqError {}
/** 413. */
export class PayloadTooLarge extends QuorumqError {}
/** 409: the same Idempotency-Key came with a different request body. */
export class IdempotencyConflict extends QuorumqError {}
/** 401. */
export class Unauthorized extends QuorumqError {}
/** 403. */
export class Forbidden extends QuorumqError {}
/**
 * 403: the node has no auth file and is a cluster member (or listens beyond loopback), so callers
 * without a token may only read; `detail` names the flag to add (`--auth-file` or
 * `--allow-anonymous`).
 */
export class AnonymousRefused extends QuorumqError {}
/** The queue is at `maxMessages` or `maxBytes`. */
export class QueueFull extends QuorumqError {}
/**
 * 409: a retained message for a new subject (or a larger one) beyond the topic's `maxRetained` /
 * `maxRetainedBytes`; nothing was applied.
 */
export class RetainedFull extends QuorumqError {}
/** 409: a transaction was not applied; `errors` holds the per-item reasons. */
export class TransactionFailed extends QuorumqError {}
/**
 * 409: the write named a session that is not open (it expired after its idle timeout, was closed,
 * or never existed): nothing was applied. The client opens a new session by itself between calls;
 * it throws this (as the cause of `UnknownOutcome`) only when a call's earlier attempt may have
 * applied under the old session.
 */
export class SessionExpired extends QuorumqError {}
/**
 * 409: a claim write or `once` publish named a holder that no longer holds the claim (another
 * connection took the session, or it was released): nothing was applied.
 */
export class SessionMoved extends QuorumqError {}
/**
 * 503: no room for another session, Idempotency-Key or stored answer; nothing was applied.
 * Retried after `Retry-After` like `no_leader`.
 */
export class SessionsFull extends QuorumqError {}
/** 404: the message id is not (or no longer) remembered. */
export class MessageNotFound extends QuorumqError {}
/** 404: no such cluster member. */
export class MemberNotFound extends QuorumqError {}
/** 409: the request conflicts with the current state (e.g. a membership change in progress). */
export class Conflict extends QuorumqError {}
/** 415: the body must be `application/json`. */
export class UnsupportedMediaType extends QuorumqError {}
/** 500: a bug on the server (retried: the client cannot tell whether a write was applied). */
export class InternalError extends QuorumqError {}
/** 503: the node cannot answer right now (retried like `no_leader`). */
export class Unavailable extends QuorumqError {}
/** No node answered (network errors or timeouts on every attempt) for a read. */
export class NetworkError extends QuorumqError {}

type ErrorClass = new (
  problem: Problem,
  status: number,
  options?: { cause?: unknown },
) => QuorumqError;

/** The one table from problem `type` to error class. */
export const ERROR_CLASSES: Readonly<Record<string, ErrorClass>> = {
  invalid_request: InvalidRequest,
  queue_not_found: QueueNotFound,
  topic_not_found: TopicNotFound,
  subscription_not_found: SubscriptionNotFound,
  not_found: NotFound,
  method_not_allowed: MethodNotAllowed,
  not_leader: NotLeader,
  no_leader: NoLeader,
  unknown_outcome: UnknownOutcome,
  payload_too_large: PayloadTooLarge,
  idempotency_conflict: IdempotencyConflict,
  unauthorized: Unauthorized,
  forbidden: Forbidden,
  anonymous_refused: AnonymousRefused,
  queue_full: QueueFull,
  retained_full: RetainedFull,
  transaction_failed: TransactionFailed,
  session_expired: SessionExpired,
  session_moved: SessionMoved,
  sessions_full: SessionsFull,
  message_not_found: MessageNotFound,
  member_not_found: MemberNotFound,
  conflict: Conflict,
  unsupported_media_type: UnsupportedMediaType,
  internal_error: InternalError,
  unavailable: Unavailable,
  network_error: NetworkError,
};

/** Builds the typed error for a problem; unknown types give a plain `QuorumqError`. */
export function errorFromProblem(
  problem: Problem,
  status: number,
  options?: { cause?: unknown },
): QuorumqError {
  const Class = Object.hasOwn(ERROR_CLASSES, problem.type)
    ? ERROR_CLASSES[problem.type]
    : QuorumqError;
  return new Class(problem, status, options);
}

/**
 * Reads a problem out of any error answer. A body that is not a problem (a proxy's HTML page)
 * still gives a usable problem whose type names the status, e.g. `http_502`.
 */
export function toProblem(status: number, statusText: string, body: unknown): Problem {
  if (typeof body === "object" && body !== null && typeof (body as Problem).type === "string") {
    return body as Problem;
  }
  const text = typeof body === "string" ? body.slice(0, 200) : "";
  return { type: `http_${status}`, title: statusText || `HTTP ${status}`, status, detail: text };
}
