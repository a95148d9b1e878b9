/**
 * The client-session header of a write, `Quorumq-Session: <id>/<seq>/<lowest>`: the session the
 * write belongs to, its sequence number, and the lowest sequence number whose answer the client
 * has not received yet (docs/broker.md "Sessions"). And the owner a write is proposed for: the
 * token's name when auth is on, so sessions and Idempotency-Keys are the caller's own.
 *
 * @module
 */

import type { SessionRef } from "../broker/mod.ts";
import type { Call } from "./call.ts";
import { ProblemError } from "./problems.ts";

/** The header a session write carries. */
export const SESSION_HEADER = "quorumq-session";

const PATTERN = /^(\d{1,15})\/(\d{1,15})\/(\d{1,15})$/;

/** The request's session reference, or undefined when it has none. */
export function sessionOf(call: Call): SessionRef | undefined {
  const header = call.header(SESSION_HEADER);
  if (header === undefined) return undefined;
  const m = PATTERN.exec(header.trim());
  // Read one by one: no array of the groups per write.
  const id = m === null ? 0 : Number(m[1]);
  const seq = m === null ? 0 : Number(m[2]);
  const lowest = m === null ? 0 : Number(m[3]);
  if (m === null || seq < 1 || lowest > seq) {
    throw new ProblemError(
      "invalid_request",
      "Quorumq-Session must be <id>/<seq>/<lowest> in decimal, with seq >= 1 and lowest <= seq",
    );
  }
  if (call.header("idempotency-key") !== undefined) {
    throw new ProblemError(
      "invalid_request",
      "A write carries either Quorumq-Session or Idempotency-Key, not both",
    );
  }
  return { id, seq, lowest };
}

/** The owner of the request's sessions and keys: the token's name with auth on, else none. */
export function ownerOf(call: Call): string | undefined {
  return call.principal?.name;
}
