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

/**
 * `<id>/<seq>/<lowest>`, each 1 to 15 decimal digits (below 2^53: exact in a number), as
 * `/^(\d{1,15})\/(\d{1,15})\/(\d{1,15})$/` read it, or undefined. By hand: the regex's match
 * array and three substrings, on every session write the leader takes.
 */
export function parseSessionRef(text: string): SessionRef | undefined {
  const n = text.length;
  let at = 0, id = 0, seq = 0, lowest = 0;
  for (let k = 0; k < 3; k++) {
    if (k > 0) {
      if (at >= n || text.charCodeAt(at) !== 0x2f) return undefined; // "/"
      at++;
    }
    let v = 0, digits = 0;
    for (; at < n; at++) {
      const c = text.charCodeAt(at) - 0x30;
      if (c < 0 || c > 9) break;
      if (++digits > 15) return undefined;
      v = v * 10 + c;
    }
    if (digits === 0) return undefined;
    if (k === 0) id = v;
    else if (k === 1) seq = v;
    else lowest = v;
  }
  return at === n ? { id, seq, lowest } : undefined;
}

/** The request's session reference, or undefined when it has none. */
export function sessionOf(call: Call): SessionRef | undefined {
  const header = call.header(SESSION_HEADER);
  if (header === undefined) return undefined;
  const ref = parseSessionRef(header.trim());
  if (ref === undefined || ref.seq < 1 || ref.lowest > ref.seq) {
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
  return ref;
}

/** The owner of the request's sessions and keys: the token's name with auth on, else none. */
export function ownerOf(call: Call): string | undefined {
  return call.principal?.name;
}
