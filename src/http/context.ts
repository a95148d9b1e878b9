/**
 * What every route file shares: the app's dependencies, the Hono env type, and the two pipelines
 * of the API: writes (build envelope → propose → forward to the leader when this node is not
 * it → map the broker's result) and linearizable reads (read barrier, unless `stale`).
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Context } from "hono";
import { z } from "zod";
import { type Command, type Failure, type Result, type ResultByOp } from "../broker/commands.ts";
import type { Logger } from "../log.ts";
import type { Authenticator, Permission, Principal, ResourceKind } from "./auth.ts";
import { validate } from "./body.ts";
import { forwardToLeader, HOP_HEADER, type LeaderFetch } from "./forward.ts";
import type { LongPollHub } from "./long_poll.ts";
import type { NodePort } from "./node_port.ts";
import { BROKER_REASON_PROBLEMS, ProblemError, type ProblemItem } from "./problems.ts";
import { idempotencyKeySchema } from "./schemas.ts";

/** Limits and timeouts of the HTTP layer. */
export interface HttpLimits {
  /** Largest request body; more: 413 while reading. Default 1 MiB. */
  readonly maxBodyBytes: number;
  /** How long a proposal may take to apply before `unknown_outcome`. Default 10 000. */
  readonly proposeTimeoutMs: number;
  /** How long a read barrier may take before 503. Default 5 000. */
  readonly readTimeoutMs: number;
  /** Bound on forwarding one request to the leader (a long poll adds its waitMs). */
  readonly forwardTimeoutMs: number;
}

/** Defaults for `HttpLimits`. */
export const DEFAULT_LIMITS: HttpLimits = {
  maxBodyBytes: 1 << 20,
  proposeTimeoutMs: 10_000,
  readTimeoutMs: 5_000,
  forwardTimeoutMs: 15_000,
};

/** The dependencies of the app, built once by `createApp`. */
export interface AppDeps {
  readonly node: NodePort;
  readonly auth: Authenticator | undefined;
  readonly limits: HttpLimits;
  readonly log: Logger;
  readonly leaderFetch: LeaderFetch;
  readonly longPoll: LongPollHub;
  /** Clock for long-poll deadlines. */
  readonly nowMs: () => number;
}

/** Hono env of every route: the authenticated principal, when auth is on. */
export type AppEnv = { Variables: { principal: Principal | undefined } };

export type AppContext = Context<AppEnv>;

/** Throws 403 unless the principal (when auth is on) holds `permission` on the resource. */
export function authorize(
  c: AppContext,
  deps: AppDeps,
  permission: Permission,
  kind?: ResourceKind,
  name?: string,
): void {
  if (deps.auth === undefined) return;
  const principal = c.get("principal");
  if (principal === undefined) {
    throw new ProblemError("unauthorized", "A bearer token is required");
  }
  if (!principal.can(permission, kind, name)) {
    const what = name === undefined ? "the cluster" : `${kind} ${name}`;
    throw new ProblemError("forbidden", `Token ${principal.name} may not ${permission} on ${what}`);
  }
}

/** Reading a queue or topic needs any permission on it. */
export function authorizeRead(
  c: AppContext,
  deps: AppDeps,
  kind: ResourceKind,
  name: string,
): void {
  if (deps.auth === undefined) return;
  const principal = c.get("principal");
  if (principal?.can("consume", kind, name) || principal?.can("publish", kind, name)) return;
  authorize(c, deps, "admin", kind, name);
}

/** Validated path parameters. */
export function params<S extends Parameters<typeof validate>[0]>(c: AppContext, schema: S) {
  return validate(schema, c.req.param(), "params");
}

const emptyQuery = z.strictObject({});

/** Writes take no query parameters: an unknown one is an `invalid_request` naming it. */
export function noQuery(c: AppContext): void {
  validate(emptyQuery, c.req.query(), "query");
}

/** Validated query. */
export function query<S extends Parameters<typeof validate>[0]>(c: AppContext, schema: S) {
  return validate(schema, c.req.query(), "query");
}

/** The outcome of the write pipeline: the broker's result here, or the leader's whole answer. */
export type WriteOutcome =
  | { readonly kind: "result"; readonly result: Result; readonly replayed: boolean }
  | { readonly kind: "forwarded"; readonly response: Response };

/** The request as read: its raw bytes (forwarded unchanged) and the parsed JSON. */
export interface WriteRequest {
  readonly bytes: Uint8Array;
  readonly json: unknown;
}

/**
 * Proposes `cmd` (with the request's Idempotency-Key, if any) and waits for it to apply here.
 * Not the leader: forwards the whole request to the leader, unless it was already forwarded
 * once (hop header), which answers `not_leader`. Throws `ProblemError` for `no_leader` and
 * `unknown_outcome`.
 */
export async function proposeWrite(
  c: AppContext,
  deps: AppDeps,
  cmd: Command,
  request: WriteRequest,
  extraTimeoutMs = 0,
): Promise<WriteOutcome> {
  const idem = idempotencyOf(c, request.json);
  // No time here: the node stamps the entry time when it proposes, and only a leader's proposal
  // is accepted (a follower forwards the whole request, and the leader stamps it).
  const outcome = await deps.node.propose({ cmd, ...(idem ? { idem } : {}) }, {
    timeoutMs: deps.limits.proposeTimeoutMs,
  });
  if (outcome.ok) {
    const result = outcome.result as Result;
    assertResult(cmd, result);
    return { kind: "result", result, replayed: result.replayed === true };
  }
  switch (outcome.reason) {
    case "not_leader": {
      const response = await forwardNotLeader(c, deps, outcome, request, extraTimeoutMs);
      return { kind: "forwarded", response };
    }
    case "no_leader":
      throw new ProblemError("no_leader", "No leader is known; retry after Retry-After seconds");
    case "unknown_outcome":
      throw new ProblemError(
        "unknown_outcome",
        "The write was accepted but its outcome is unknown (leadership changed or it timed " +
          "out before being applied); retry with the same message id or Idempotency-Key",
      );
  }
}

/**
 * This node is not the leader: forwards the request to the leader and returns its answer, or
 * throws `not_leader` / `no_leader` when it cannot (already forwarded once, or no URL known).
 */
export async function forwardNotLeader(
  c: AppContext,
  deps: AppDeps,
  hint: { readonly leaderId?: string; readonly leaderUrl?: string },
  request: WriteRequest,
  extraTimeoutMs = 0,
): Promise<Response> {
  if (c.req.header(HOP_HEADER) !== undefined || hint.leaderUrl === undefined) {
    return notLeader(c, hint.leaderId, hint.leaderUrl);
  }
  deps.log.debug("forward_to_leader", { leaderId: hint.leaderId, path: c.req.path });
  return await forwardToLeader({
    request: c.req.raw,
    bodyBytes: request.bytes,
    leaderUrl: hint.leaderUrl,
    nodeId: deps.node.nodeId,
    leaderFetch: deps.leaderFetch,
    timeoutMs: deps.limits.forwardTimeoutMs + extraTimeoutMs,
  });
}

function notLeader(c: AppContext, leaderId?: string, leaderUrl?: string): never {
  const forwarded = c.req.header(HOP_HEADER);
  const why = forwarded !== undefined
    ? `it was already forwarded by ${forwarded} (no second hop)`
    : "the leader's URL is unknown";
  if (leaderId === undefined || leaderId === "") {
    throw new ProblemError("no_leader", `This node is not the leader and ${why}`);
  }
  throw new ProblemError("not_leader", `This node is not the leader and ${why}`, {
    leaderId,
    ...(leaderUrl ? { leaderUrl } : {}),
  });
}

/** The Idempotency-Key of the request with its fingerprint, or undefined when absent. */
function idempotencyOf(
  c: AppContext,
  json: unknown,
): { key: string; fingerprint: string } | undefined {
  const header = c.req.header("idempotency-key");
  if (header === undefined) return undefined;
  const key = validate(idempotencyKeySchema, header, "header");
  return { key, fingerprint: fingerprint(c.req.method, c.req.path, json) };
}

/**
 * SHA-256 of method, path and the canonical JSON of the body (keys sorted, so the same request
 * with other whitespace or key order matches). A cryptographic hash rather than a fast 32/64-bit
 * one: keys come from clients and a collision would hand one request another's stored answer.
 * `node:crypto`'s synchronous hash costs ~3 µs here; `crypto.subtle.digest` is an async op that
 * cost ~30 µs and a thread-pool round trip per request, the largest cost of a publish in the
 * profile.
 */
export function fingerprint(method: string, path: string, json: unknown): string {
  const text = `${method.toUpperCase()} ${path}\n${canonicalJson(json)}`;
  return createHash("sha256").update(text).digest("base64");
}

/** JSON with object keys sorted at every level; `undefined` (no body) is `null`. */
export function canonicalJson(value: unknown): string {
  if (value === undefined || value === null) return "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (typeof value === "object") {
    const keys = Object.keys(value as Record<string, unknown>).sort();
    const parts = keys.map((k) =>
      `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`
    );
    return `{${parts.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Throws the problem for a broker refusal. */
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

/** Answers JSON text (already serialized) with the replay marker when it is a replay. */
export function jsonAnswer(status: number, text: string, replayed: boolean): Response {
  const headers = new Headers({ "content-type": "application/json" });
  if (replayed) headers.set("idempotent-replayed", "true");
  return new Response(status === 204 ? null : text, { status, headers });
}

/**
 * Makes the local replica current for a linearizable read (ReadIndex: dissertation §6.4), unless
 * the client asked for `stale`. A follower does the barrier itself; reads are never forwarded.
 */
export async function readBarrier(
  deps: AppDeps,
  consistency: "linearizable" | "stale",
): Promise<void> {
  if (consistency === "stale") return;
  const outcome = await deps.node.readBarrier({ timeoutMs: deps.limits.readTimeoutMs });
  if (outcome.ok) return;
  switch (outcome.reason) {
    case "not_leader":
    case "no_leader":
      throw new ProblemError(
        outcome.leaderId ? "not_leader" : "no_leader",
        "A linearizable read needs a leader; retry, or ask with ?consistency=stale",
        outcome.leaderId ? { leaderId: outcome.leaderId, leaderUrl: outcome.leaderUrl } : {},
      );
    case "timeout":
      throw new ProblemError(
        "unavailable",
        "The read barrier timed out; retry, or ask with ?consistency=stale",
      );
  }
}

/** A broker result is always an object with `ok`; anything else is a bug in the driver. */
function assertResult(cmd: Command, result: unknown): void {
  if (typeof result !== "object" || result === null || !("ok" in result)) {
    throw new Error(`Broker returned a non-result for ${cmd.op}: ${JSON.stringify(result)}`);
  }
}

/**
 * The write pipeline for one command: propose, then either the leader's forwarded answer (a
 * `Response`, to return as it is) or the broker's success value; a broker refusal is thrown as
 * its problem.
 */
export async function runWrite<C extends Command>(
  c: AppContext,
  deps: AppDeps,
  cmd: C,
  request: WriteRequest,
  extraTimeoutMs = 0,
): Promise<Response | { readonly value: ResultByOp[C["op"]]; readonly replayed: boolean }> {
  noQuery(c);
  const out = await proposeWrite(c, deps, cmd, request, extraTimeoutMs);
  if (out.kind === "forwarded") return out.response;
  const value = expectOk(out.result) as unknown as ResultByOp[C["op"]];
  return { value, replayed: out.replayed };
}
