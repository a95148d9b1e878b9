/**
 * The write pipeline of every route that changes state: propose the command (with the request's
 * Idempotency-Key) and wait for it to apply here; when this node is not the leader, forward the
 * whole request to the leader and return its answer; map a broker refusal to its problem.
 * `answerWrite` is the whole of a write route after validation.
 *
 * @module
 */

import type { Command, Proposal, Result, ResultByOp } from "../broker/mod.ts";
import type { Outcome } from "./answer.ts";
import type { Call } from "./call.ts";
import type { AppDeps } from "./context.ts";
import { forwardToLeader, HOP_HEADER } from "./forward.ts";
import { idempotencyOf } from "./idempotency.ts";
import { ownerOf, sessionOf } from "./session.ts";
import { shuttingDown } from "./drain.ts";
import { expectOk, ProblemError } from "./problems.ts";
import { type WriteAnswer, writeAnswerOf } from "./render.ts";
import type { ProposeOutcome } from "./node_port.ts";
import { noQuery } from "./request.ts";

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
  call: Call,
  deps: AppDeps,
  cmd: Command,
  request: WriteRequest,
  extraTimeoutMs = 0,
): Promise<WriteOutcome> {
  const outcome = await deps.node.propose(proposalOf(call, cmd, request), {
    timeoutMs: deps.limits.proposeTimeoutMs,
  });
  if (outcome.ok) {
    const result = resultOf(cmd, outcome.result);
    return { kind: "result", result, replayed: result.replayed === true };
  }
  return {
    kind: "forwarded",
    response: await notProposed(call, deps, outcome, request, extraTimeoutMs),
  };
}

/** The proposal of `cmd` with the request's Idempotency-Key, session and owner, if any. */
function proposalOf(call: Call, cmd: Command, request: WriteRequest): Proposal {
  const session = sessionOf(call);
  const idem = session === undefined ? idempotencyOf(call, request.json) : undefined;
  const owner = ownerOf(call);
  // No time here: the node stamps the entry time when it proposes, and only a leader's proposal
  // is accepted (a follower forwards the whole request, and the leader stamps it).
  // Fields set one by one (same keys, same order): no spread of a temporary per write.
  const proposal: { -readonly [K in keyof Proposal]: Proposal[K] } = { cmd };
  if (idem) proposal.idem = idem;
  if (session) proposal.session = session;
  if (owner !== undefined) proposal.owner = owner;
  return proposal;
}

/** The broker's result of an applied proposal (see `assertResult`). */
function resultOf(cmd: Command, result: unknown): Result {
  assertResult(cmd, result);
  return result as Result;
}

/**
 * A proposal that was not applied here: the leader's answer to the forwarded request
 * (`not_leader`), else the problem thrown for `no_leader` and `unknown_outcome`.
 */
function notProposed(
  call: Call,
  deps: AppDeps,
  outcome: Exclude<ProposeOutcome, { ok: true }>,
  request: WriteRequest,
  extraTimeoutMs: number,
): Promise<Response> {
  switch (outcome.reason) {
    case "not_leader":
      return forwardNotLeader(call, deps, outcome, request, extraTimeoutMs);
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
  call: Call,
  deps: AppDeps,
  hint: { readonly leaderId?: string; readonly leaderUrl?: string },
  request: WriteRequest,
  extraTimeoutMs = 0,
): Promise<Response> {
  if (call.header(HOP_HEADER) !== undefined || hint.leaderUrl === undefined) {
    return notLeader(call, hint.leaderId, hint.leaderUrl);
  }
  deps.log.debug("forward_to_leader", { leaderId: hint.leaderId, path: call.path });
  // A long poll (extra time) is cut when this node shuts down: its caller gets 503 at once, and
  // a lease the leader may have granted ends by itself. Other writes finish.
  const longPoll = extraTimeoutMs > 0;
  try {
    return await forwardToLeader({
      request: call.request(),
      bodyBytes: request.bytes,
      leaderUrl: hint.leaderUrl,
      nodeId: deps.node.nodeId,
      leaderFetch: deps.leaderFetch,
      timeoutMs: deps.limits.forwardTimeoutMs + extraTimeoutMs,
      ...(longPoll ? { cut: deps.drain.signal } : {}),
    });
  } catch (error) {
    if (longPoll && deps.drain.draining) throw shuttingDown();
    throw error;
  }
}

/**
 * A follower's write, forwarded to the leader before it is read: the leader reads, judges and
 * answers it, and its answer is this one, whatever it is. Reading the body (JSON, validation,
 * the Idempotency-Key's fingerprint) here as well was a second full reading of every forwarded
 * write. The route has authorized the caller; the body is read only up to the limit (what the
 * leader would refuse as too large is refused here, as before).
 *
 * Undefined when the route runs the request itself, as before: this node leads, or cannot
 * forward (no leader URL known, or the request was forwarded once already: then it answers its
 * own refusal or `not_leader` after reading it), or the request has a query (refused by the
 * route). When forwarding fails (nothing sent: `no_leader`; or no answer: `unknown_outcome`),
 * the request is judged here after all (`judge`: the route's parse and validation of the body,
 * then the write's own headers), so a request the route refuses gets the answer it got before:
 * the refusal (nothing was applied: the leader refuses it too), never the forward's failure.
 */
export function forwardUnread(
  call: Call,
  deps: AppDeps,
  judge: (json: unknown) => void,
): Promise<Response> | undefined {
  const hint = deps.node.leaderToAsk?.();
  if (
    hint === undefined || hint.leaderUrl === undefined || call.hasQuery ||
    call.header(HOP_HEADER) !== undefined
  ) return undefined;
  // Not async itself: a leader's writes (most) go on without a promise of this.
  return forwardRaw(call, deps, hint, judge);
}

async function forwardRaw(
  call: Call,
  deps: AppDeps,
  hint: { readonly leaderId?: string; readonly leaderUrl?: string },
  judge: (json: unknown) => void,
): Promise<Response> {
  const raw = await call.rawBody(deps.limits.maxBodyBytes);
  try {
    return await forwardNotLeader(call, deps, hint, { bytes: raw.bytes, json: undefined });
  } catch (error) {
    const { json } = raw.parse();
    judge(json);
    // The write pipeline's own reading of the request (`proposeWrite`).
    if (sessionOf(call) === undefined) idempotencyOf(call, json);
    throw error;
  }
}

function notLeader(call: Call, leaderId?: string, leaderUrl?: string): never {
  const forwarded = call.header(HOP_HEADER);
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
  call: Call,
  deps: AppDeps,
  cmd: C,
  request: WriteRequest,
  extraTimeoutMs = 0,
): Promise<Response | { readonly value: ResultByOp[C["op"]]; readonly replayed: boolean }> {
  noQuery(call);
  const out = await proposeWrite(call, deps, cmd, request, extraTimeoutMs);
  if (out.kind === "forwarded") return out.response;
  const value = expectOk(out.result) as unknown as ResultByOp[C["op"]];
  return { value, replayed: out.replayed };
}

/**
 * A write route after validation: runs `cmd` through the write pipeline and answers the broker's
 * success value as `render` puts it, or the leader's forwarded answer as it is.
 */
export function answerWrite<C extends Command>(
  call: Call,
  deps: AppDeps,
  cmd: C,
  request: WriteRequest,
  render: (value: ResultByOp[C["op"]]) => WriteAnswer,
  extraTimeoutMs = 0,
): Promise<Outcome> {
  // `runWrite` and `proposeWrite` in one function, and not an async one: the proposal's promise
  // and one `then` per write (an async frame and its await were ~0.4 KB allocated per message).
  // A throw before the proposal (the request's headers) is the promise's rejection, as it was.
  try {
    noQuery(call);
    const proposed = deps.node.propose(proposalOf(call, cmd, request), {
      timeoutMs: deps.limits.proposeTimeoutMs,
    });
    return proposed.then((outcome): Outcome | Promise<Outcome> => {
      if (!outcome.ok) return notProposed(call, deps, outcome, request, extraTimeoutMs);
      const result = resultOf(cmd, outcome.result);
      const value = expectOk(result) as unknown as ResultByOp[C["op"]];
      return writeAnswerOf(render(value), result.replayed === true);
    });
  } catch (error) {
    return Promise.reject(error);
  }
}
